"""The actor (``PolicyLM``: a GPT-2 causal LM) and the critic (``UtteranceCritic``: an encoder
with twin Q(s, a) and twin V(s) heads), each from a small preset built from a config and the
project's tokenizer, or from any pretrained name or path (``gpt2``, ``roberta-base``, a local
directory) through the same code."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    DynamicCache,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Model,
    RobertaConfig,
    RobertaModel,
)

from archer_agents.tokenizer import load_tokenizer

# Built from a config with the project's tokenizer; "gpt2-124m"/"roberta-base-size" are the
# paper's model sizes (their vocabulary sizes too) with random weights, to measure speed and
# memory without a download.
POLICY_PRESETS = {
    "tiny": dict(
        n_layer=2,
        n_embd=128,
        n_head=4,
        n_positions=512,
        activation_function="gelu_pytorch_tanh",  # GPT-2's gelu_new, as one fused kernel
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    ),
    "gpt2-124m": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257),
}
CRITIC_PRESETS = {
    "tiny": dict(
        num_hidden_layers=2,
        hidden_size=128,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=514,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    ),
    "roberta-base-size": dict(
        num_hidden_layers=12,
        hidden_size=768,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        vocab_size=50265,
    ),
}


# transformers 5 renamed the KV cache argument of forward from past_key_values to cache
CACHE_KEYWORD = (
    "cache"
    if "cache" in inspect.signature(GPT2LMHeadModel.forward).parameters
    else "past_key_values"
)


def _tokenizer_for(name: str, presets: dict, local_files_only: bool = False):
    return load_tokenizer(None if name in presets else name, local_files_only)


class PolicyLM(nn.Module):
    """A causal LM that reads an observation and writes one utterance (cut at the newline).

    ``max_length`` tokens of context are kept: long histories are truncated on the left so the
    newest turns survive. ``generate`` samples (or decodes greedily) a batch with the KV cache;
    ``log_probs`` returns each utterance's summed token log-probability, differentiable.
    With ``local_files_only``, a pretrained name must be a local directory or in the local
    Hugging Face cache: nothing is downloaded.
    """

    def __init__(
        self,
        name: str = "tiny",
        max_new_tokens: int = 32,
        max_length: int | None = None,
        lora: dict | None = None,
        local_files_only: bool = False,
    ):
        super().__init__()
        self.name = name
        self.tokenizer = _tokenizer_for(name, POLICY_PRESETS, local_files_only)
        if name in POLICY_PRESETS:
            sizes = {"vocab_size": len(self.tokenizer), **POLICY_PRESETS[name]}
            config = GPT2Config(
                bos_token_id=self.tokenizer.eos_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **sizes,
            )
            self.model = GPT2LMHeadModel(config)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(
                name, local_files_only=local_files_only
            )
        if lora:
            from peft import LoraConfig, get_peft_model  # optional, for large models

            self.model = get_peft_model(self.model, LoraConfig(task_type="CAUSAL_LM", **lora))
        self.max_new_tokens = max_new_tokens
        positions = getattr(self.model.config, "n_positions", None) or 1024
        self.max_length = max_length or positions
        self.max_prompt_length = self.max_length - max_new_tokens - 1
        newline = [i for t, i in self.tokenizer.get_vocab().items() if "Ċ" in t or "\n" in t]
        self.stop_ids = sorted({*newline, self.tokenizer.eos_token_id})

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _prompts(self, observations: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            [observation or self.tokenizer.eos_token for observation in observations],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_prompt_length,
        )
        return {k: v.to(self.device) for k, v in batch.items()}

    @torch.no_grad()
    def generate(
        self,
        observations: Sequence[str],
        greedy: bool = False,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> list[str]:
        """One utterance per observation: sampled at ``temperature`` (from ``generator``, or
        torch's global random state) or greedy. A plain loop over the KV cache: sampling is
        the exponential race argmax(p / E), E ~ Exp(1), exact and much cheaper on the CPU than
        ``torch.multinomial`` over the vocabulary."""
        texts: list[str] = [""] * len(observations)
        order = sorted(range(len(observations)), key=lambda i: len(observations[i] or ""))
        for start in range(0, len(order), 32):  # rows of similar length: little padding
            chunk = order[start : start + 32]
            rows = [observations[i] for i in chunk]
            generated = self._generate(rows, greedy, temperature, generator)
            for i, text in zip(chunk, generated, strict=True):
                texts[i] = text
        return texts

    def _generate(self, observations, greedy, temperature, generator) -> list[str]:
        prompts = self._prompts(observations)
        attention = prompts["attention_mask"]
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # left padding: positions from 0
        cache = {CACHE_KEYWORD: DynamicCache()}  # filled in place by every forward
        output = self.model(
            input_ids=prompts["input_ids"],
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **cache,
        )
        stops = torch.tensor(self.stop_ids, device=self.device)
        finished = torch.zeros(len(observations), dtype=torch.bool, device=self.device)
        tokens = []
        for _ in range(self.max_new_tokens):
            logits = output.logits[:, -1].float()
            if greedy:
                token = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                race = torch.empty_like(probs).exponential_(generator=generator)
                token = (probs / race).argmax(-1)
            token = token.masked_fill(finished, self.tokenizer.pad_token_id)
            tokens.append(token)
            finished |= torch.isin(token, stops)
            if finished.all():
                break
            attention = torch.cat([attention, attention.new_ones(len(token), 1)], dim=1)
            positions = positions[:, -1:] + 1
            output = self.model(
                input_ids=token[:, None],
                attention_mask=attention,
                position_ids=positions,
                use_cache=True,
                **cache,
            )
        texts = self.tokenizer.batch_decode(torch.stack(tokens, 1), skip_special_tokens=True)
        return [text.split("\n", 1)[0].strip() for text in texts]

    def _sequences(self, observations: Sequence[str], actions: Sequence[str]):
        return utterance_sequences(
            self.tokenizer, observations, actions, self.max_length, self.max_new_tokens, self.device
        )

    def token_log_probs(
        self, observations: Sequence[str], actions: Sequence[str], reference: PolicyLM | None = None
    ):
        """log π(a_t | s, a_<t) for the last k positions, (batch, k) with k the longest action,
        and the mask of the action's tokens, aligned with it. Actions end every row (left
        padding), so the LM head runs on those positions only, not on the prompt. With a
        ``reference`` policy, also KL(π ‖ π_ref) over the vocabulary at each of those
        positions, (batch, k), exact rather than sampled."""
        return by_length(lambda o, a: self._token_log_probs(o, a, reference), observations, actions)

    def _token_log_probs(self, observations, actions, reference=None):
        input_ids, attention, action_mask = self._sequences(observations, actions)
        k = action_span(action_mask)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # left padding: positions from 0

        def action_log_probs(model) -> torch.Tensor:  # (batch, k, vocabulary)
            logits = model(
                input_ids=input_ids,
                attention_mask=attention,
                position_ids=positions,
                logits_to_keep=k + 1,
            ).logits[:, :-1]
            return torch.log_softmax(logits.float(), dim=-1)

        log_probs = action_log_probs(self.model)
        token = log_probs.gather(-1, input_ids[:, -k:, None]).squeeze(-1)
        if reference is None:
            return token, action_mask[:, -k:]
        with torch.no_grad():
            reference_log_probs = action_log_probs(reference.model)
        kl = (log_probs.exp() * (log_probs - reference_log_probs)).sum(-1)
        return token, action_mask[:, -k:], kl

    def log_probs(self, observations: Sequence[str], actions: Sequence[str]) -> torch.Tensor:
        """Σ_t log π(a_t | s, a_<t) over each utterance's tokens, shape (batch,)."""
        token, mask = self.token_log_probs(observations, actions)
        return (token * mask).sum(-1)


def by_length(function, *columns: Sequence[str], size: int = 16) -> tuple[torch.Tensor, ...]:
    """``function(*columns)`` on chunks of ``size`` rows of similar length, the results put
    back in the rows' order. Each chunk is padded to its own longest row instead of the
    batch's: a batch of replay transitions mixes 3-token and 100-token observations, and the
    padding would otherwise cost most of the compute. 2-D results (batch, k) are left-padded
    with zeros to the widest chunk's k (they are aligned on the right, as the actions are)."""
    rows = len(columns[0])
    order = sorted(range(rows), key=lambda i: sum(len(column[i] or "") for column in columns))
    parts = []
    for start in range(0, rows, size):
        chunk = order[start : start + size]
        result = function(*[[column[i] for i in chunk] for column in columns])
        parts.append(result if isinstance(result, tuple) else (result,))
    inverse = torch.empty(rows, dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(rows)
    merged = []
    for pieces in zip(*parts, strict=True):
        if pieces[0].dim() == 2:
            width = max(piece.shape[1] for piece in pieces)
            pieces = [F.pad(piece, (width - piece.shape[1], 0)) for piece in pieces]
        merged.append(torch.cat(pieces)[inverse.to(pieces[0].device)])
    return tuple(merged)


def utterance_sequences(
    tokenizer,
    observations: Sequence[str],
    actions: Sequence[str],
    max_length: int,
    max_new_tokens: int,
    device: torch.device,
):
    """Left-padded (observation + action + newline) ids, the attention mask and a mask of the
    action's tokens (including the newline that ends it); observations are cut on the left so
    that a row fits ``max_length``."""
    rows, action_lengths = [], []
    for observation, action in zip(observations, actions, strict=True):
        target = tokenizer(action + "\n")["input_ids"][: max_new_tokens + 1]
        prompt = tokenizer(observation or tokenizer.eos_token)["input_ids"]
        prompt = prompt[max(0, len(prompt) - (max_length - len(target))) :]
        rows.append(prompt + target)
        action_lengths.append(len(target))
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    action_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (row, n) in enumerate(zip(rows, action_lengths, strict=True)):
        input_ids[i, width - len(row) :] = torch.tensor(row)
        attention[i, width - len(row) :] = 1
        action_mask[i, width - n :] = True
    return input_ids.to(device), attention.to(device), action_mask.to(device)


def action_span(action_mask: torch.Tensor) -> int:
    """The number of trailing positions that hold every row's action tokens."""
    return int(action_mask.sum(-1).max())


class PolicyAgent:
    """A policy as a batched agent of archer_envs (``None`` for finished episodes): greedy for
    evaluation, sampling at ``temperature`` for rollouts."""

    def __init__(
        self,
        policy: PolicyLM,
        greedy: bool = True,
        temperature: float = 1.0,
        name: str = "policy",
        seed: int | None = None,
    ):
        self.policy, self.greedy, self.temperature, self.name = policy, greedy, temperature, name
        # its own generator when seeded: sampled episodes reproducible from the seed, whatever
        # else used torch's global random state
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=policy.device).manual_seed(seed)

    def act(self, observations: Sequence[str | None]) -> list[str | None]:
        live = [i for i, obs in enumerate(observations) if obs is not None]
        actions: list[str | None] = [None] * len(observations)
        if live:
            texts = self.policy.generate(
                [observations[i] for i in live],
                greedy=self.greedy,
                temperature=self.temperature,
                generator=self.generator,
            )
            for i, text in zip(live, texts, strict=True):
                actions[i] = text
        return actions


class TokenBaseline(nn.Module):
    """The paper's token-level baseline: a separate small GPT-2 (the policy's tokenizer and
    sequence layout) with a scalar head that predicts, at every prefix (s, a_<t) of an
    utterance, the utterance's advantage. Output aligned with ``PolicyLM.token_log_probs``."""

    def __init__(self, policy: PolicyLM, preset: str = "tiny"):
        super().__init__()
        self.policy = [policy]  # a plain list: the policy is not a submodule of the baseline
        sizes = {
            **POLICY_PRESETS[preset],
            "n_positions": policy.max_length,
            "vocab_size": policy.model.config.vocab_size,
        }
        eos = policy.tokenizer.eos_token_id
        config = GPT2Config(bos_token_id=eos, eos_token_id=eos, **sizes)
        self.body = GPT2Model(config)
        self.head = nn.Linear(config.n_embd, 1)

    def forward(self, observations: Sequence[str], actions: Sequence[str]) -> torch.Tensor:
        input_ids, attention, action_mask = self.policy[0]._sequences(observations, actions)
        k = action_span(action_mask)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        states = self.body(
            input_ids=input_ids, attention_mask=attention, position_ids=positions
        ).last_hidden_state
        return self.head(states[:, -k - 1 : -1]).squeeze(-1)  # position t-1 predicts token t


class UtteranceCritic(nn.Module):
    """Utterance-level critic: one encoder for observations and actions (pooled separately, as
    upstream), twin Q_i = MLP([enc(s), enc(a)]) and twin V_i = MLP(enc(s)), and a target copy
    updated by Polyak averaging."""

    def __init__(self, name: str = "tiny", max_length: int = 512, hidden: int = 256):
        super().__init__()
        self.name = name
        self.tokenizer = _tokenizer_for(name, CRITIC_PRESETS)
        if name in CRITIC_PRESETS:
            sizes = {"vocab_size": len(self.tokenizer), **CRITIC_PRESETS[name]}
            config = RobertaConfig(
                pad_token_id=self.tokenizer.pad_token_id,
                bos_token_id=self.tokenizer.eos_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **sizes,
            )
            self.encoder = RobertaModel(config, add_pooling_layer=False)
        else:
            self.encoder = AutoModel.from_pretrained(name)
        self.max_length = min(max_length, self.encoder.config.max_position_embeddings - 2)
        width = self.encoder.config.hidden_size

        def head(inputs: int) -> nn.Module:
            return nn.Sequential(
                nn.Linear(inputs, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, 1),
            )

        self.q1, self.q2 = head(2 * width), head(2 * width)
        self.v1, self.v2 = head(width), head(width)
        self.target: UtteranceCritic | None = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled encoder states, (batch, hidden)."""
        return by_length(self._encode, texts)[0]

    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(
            list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length,
        ).to(self.device)
        states = self.encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def q(self, observations: Sequence[str], actions: Sequence[str]):
        """(Q1, Q2), each (batch,)."""
        return self.q_and_v(observations, actions)[:2]

    def q_and_v(self, observations: Sequence[str], actions: Sequence[str]):
        """(Q1, Q2, V1, V2), each (batch,), encoding the observations once."""
        state = self.encode(observations)
        joint = torch.cat([state, self.encode(actions)], dim=-1)
        return (
            self.q1(joint).squeeze(-1),
            self.q2(joint).squeeze(-1),
            self.v1(state).squeeze(-1),
            self.v2(state).squeeze(-1),
        )

    def v(self, observations: Sequence[str]):
        """(V1, V2), each (batch,)."""
        state = self.encode(observations)
        return self.v1(state).squeeze(-1), self.v2(state).squeeze(-1)

    def make_target(self) -> None:
        """The target critic starts as an exact copy and is never trained by gradients."""
        target = copy.deepcopy(self)
        target.target = None
        target.requires_grad_(False)
        object.__setattr__(self, "target", target)  # not a submodule: not in state_dict

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """target ← (1 − τ)·target + τ·online."""
        online = dict(self.named_parameters())
        for name, parameter in self.target.named_parameters():
            parameter.lerp_(online[name], tau)


class CausalCritic(nn.Module):
    """ArCHer's critic reading s ⊕ a as one sequence, on a copy of the actor's GPT-2 trunk (its
    tokenizer and sequence layout, and its weights when the actor comes from behaviour cloning,
    so that the critic starts with what imitation learned about the game). Twin Q_i = MLP(h at
    the utterance's last token) and twin V_i = MLP(h at the observation's last token), both
    from one pass: attention is causal, so V's position never sees the utterance. A target copy
    is updated by Polyak averaging, as ``UtteranceCritic``'s."""

    def __init__(self, policy: PolicyLM, hidden: int = 256):
        super().__init__()
        self.name = "policy"
        self.tokenizer = policy.tokenizer
        self.max_length, self.max_new_tokens = policy.max_length, policy.max_new_tokens
        self.trunk = copy.deepcopy(policy.model.base_model)  # GPT2Model: no LM head
        width = self.trunk.config.hidden_size

        def head() -> nn.Module:
            return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        self.q1, self.q2, self.v1, self.v2 = head(), head(), head(), head()
        self.target: CausalCritic | None = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _states(self, input_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # left padding: positions from 0
        return self.trunk(
            input_ids=input_ids, attention_mask=attention, position_ids=positions
        ).last_hidden_state

    def q_and_v(self, observations: Sequence[str], actions: Sequence[str]):
        """(Q1, Q2, V1, V2), each (batch,), from one pass over s ⊕ a."""
        return by_length(self._q_and_v, observations, actions)

    def _q_and_v(self, observations: Sequence[str], actions: Sequence[str]):
        input_ids, attention, action_mask = utterance_sequences(
            self.tokenizer, observations, actions, self.max_length, self.max_new_tokens, self.device
        )
        states = self._states(input_ids, attention)
        rows = torch.arange(len(states), device=states.device)
        before = states.shape[1] - 1 - action_mask.sum(-1)  # the observation's last token
        utterance, observation = states[:, -1], states[rows, before]
        return (
            self.q1(utterance).squeeze(-1),
            self.q2(utterance).squeeze(-1),
            self.v1(observation).squeeze(-1),
            self.v2(observation).squeeze(-1),
        )

    def q(self, observations: Sequence[str], actions: Sequence[str]):
        """(Q1, Q2), each (batch,)."""
        return self.q_and_v(observations, actions)[:2]

    def v(self, observations: Sequence[str]):
        """(V1, V2), each (batch,), from a pass over the observations alone."""
        return by_length(self._v, observations)

    def _v(self, observations: Sequence[str]):
        batch = self.tokenizer(
            [observation or self.tokenizer.eos_token for observation in observations],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length - self.max_new_tokens - 1,
        ).to(self.device)
        state = self._states(batch["input_ids"], batch["attention_mask"])[:, -1]
        return self.v1(state).squeeze(-1), self.v2(state).squeeze(-1)

    make_target = UtteranceCritic.make_target
    update_target = UtteranceCritic.update_target


def make_critic(name: str, policy: PolicyLM) -> UtteranceCritic | CausalCritic:
    """``"policy"``: a ``CausalCritic`` on a copy of ``policy``'s trunk (and weights); anything
    else: an ``UtteranceCritic`` preset or pretrained name/path."""
    return CausalCritic(policy) if name == "policy" else UtteranceCritic(name)
