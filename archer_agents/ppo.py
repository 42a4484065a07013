"""Token-level PPO, the online baseline of LMRL-Gym that ArCHer compares with: every token of
an utterance is an action, a value head on the policy's hidden states estimates V at every
token, and the environment's reward arrives at the last token of each utterance.

One iteration = collect ``rollouts_per_iter`` whole trajectories (sampling at temperature
1.0), then ``ppo_epochs`` passes of shuffled mini-batches over their utterances. With π_old
the policy that collected the data and π_start the frozen start policy (e.g. BC's):

    reward:     r_t = −β (log π_old(a_t | ·) − log π_start(a_t | ·)),  + the env's reward at
                the utterance's last token (the KL penalty as a per-token reward, as LMRL-Gym)
    GAE:        δ_t = r_t + γ (1 − done_t) V(t + 1) − V(t),  A_t = δ_t + γλ (1 − done_t) A_{t+1}
                over the tokens of a whole episode, across its turns; R_t = A_t + V(t)
    whitening:  A ← (A − mean A) / std A over the iteration's tokens
    policy:     ρ = π / π_old,  loss = −mean_t min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)
    value:      loss = ½ mean_t max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²)

V(t) reads the hidden state that predicts token t, i.e. the state (s, a_<t). With
``value_trunk_grad`` false the value loss trains the head alone (the trunk's features stay
the policy's); the cpu preset does this so that the tiny policy is not pulled around by a
value regression. Episodes that end by truncation (a time limit, not the game) are treated as
ended: no env here truncates by default.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from archer_agents.config import Config
from archer_agents.models import PolicyAgent, PolicyLM, action_span, by_length
from archer_agents.rollout import collect_trajectories


@dataclass
class PPOConfig(Config):
    """Hyperparameters with LMRL-Gym's names (``cliprange``, ``cliprange_value``,
    ``init_kl_coef`` → ``kl_coef``). ``minibatch_size`` counts utterances."""

    label = "PPO"

    policy: str = "tiny"  # a preset of archer_agents.models or a pretrained name/path
    iterations: int = 16
    rollouts_per_iter: int = 64
    num_envs: int = 32
    ppo_epochs: int = 4
    minibatch_size: int = 64
    gamma: float = 1.0  # per token
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    value_loss_coef: float = 1.0
    kl_coef: float = 0.05  # β of the per-token KL penalty to the start policy
    whiten_advantages: bool = True
    value_trunk_grad: bool = True  # does the value loss train the LM's trunk too?
    value_init: float = 0.0  # the value head's starting output (LMRL-Gym: −4.1 on 20Q)
    value_warmup_iters: int = 0  # first iterations that train the value head alone
    lm_lr: float = 1e-5
    value_lr: float = 1e-5
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    max_new_tokens: int = 16
    eval_every: int = 4
    save_every: int = 1

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> PPOConfig:
        """``cpu``: the tiny policy from a BC start, minutes here; ``paper``: LMRL-Gym's
        settings with the 1,024 trajectories per update that ArCHer's paper counts."""
        if name == "cpu":
            # A fresh value head on frozen BC features warms up for two iterations before the
            # policy moves, its clip wide enough to reach returns of −2 to −10 (0.2 held it at
            # its start); β = 0.2, lm_lr 5e-5 and two epochs keep the tiny policy from drifting
            # (β 0.05, lm_lr 1e-4, four epochs: KL 1.5 nats per utterance and a sampled return
            # back down to −6 by iteration 16; docs/ppo-grpo-cpu.md).
            base = cls(
                iterations=16,
                rollouts_per_iter=64,
                ppo_epochs=2,
                minibatch_size=64,
                gamma=1.0,
                lam=0.95,
                cliprange_value=5.0,
                kl_coef=0.2,
                value_trunk_grad=False,
                value_init=-6.0,
                value_warmup_iters=2,
                lm_lr=5e-5,
                value_lr=3e-3,
                max_new_tokens=16,
            )
        elif name == "paper":
            base = cls(
                policy="gpt2",
                iterations=100,
                rollouts_per_iter=1024,
                num_envs=32,
                ppo_epochs=1,
                minibatch_size=256,
                gamma=1.0,
                lam=0.95,
                cliprange=0.2,
                cliprange_value=0.2,
                value_loss_coef=1.0,
                kl_coef=0.001,
                value_trunk_grad=True,
                value_init=-4.1,
                lm_lr=1e-5,
                value_lr=1e-5,
                max_new_tokens=32,
                eval_every=5,
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return base.replace(**overrides)


def token_gae(
    rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a sequence of tokens, all (T,): episodes laid end
    to end, ``dones[t]`` = 1 where token t is its episode's last (nothing is bootstrapped
    past it). Returns (advantages, returns = advantages + values)."""
    if len(rewards) == 0 or not dones[-1]:
        raise ValueError("token_gae needs at least one token, and the last must end an episode")
    advantages = torch.zeros_like(rewards)
    next_value, next_advantage = 0.0, 0.0
    for t in reversed(range(len(rewards))):
        alive = 1.0 - float(dones[t])
        delta = rewards[t] + gamma * alive * next_value - values[t]
        advantages[t] = delta + gamma * lam * alive * next_advantage
        next_value, next_advantage = values[t], advantages[t]
    return advantages, advantages + values


def whiten(values: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std over all entries."""
    return (values - values.mean()) / (values.std() + 1e-8) if len(values) > 1 else values * 0


class ValueHead(nn.Module):
    """V(s, a_<t) from the LM's last hidden state at every position: one linear layer (as
    LMRL-Gym's), its weights zero and its bias ``init`` so that it starts at a constant."""

    def __init__(self, width: int, init: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(width, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, init)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)


def token_log_probs_and_values(
    policy: PolicyLM,
    head: ValueHead,
    observations: list[str],
    actions: list[str],
    trunk_grad: bool = True,
):
    """log π(a_t | s, a_<t), the action mask and V(s, a_<t), each (batch, k) as
    ``PolicyLM.token_log_probs``, from one forward pass; the value reads the hidden state that
    predicts token t (detached from the trunk unless ``trunk_grad``)."""

    def outputs(observations, actions):
        input_ids, attention, action_mask = policy._sequences(observations, actions)
        k = action_span(action_mask)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # left padding: positions from 0
        output = policy.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            logits_to_keep=k + 1,
            output_hidden_states=True,
        )
        log_probs = torch.log_softmax(output.logits[:, :-1].float(), dim=-1)
        token = log_probs.gather(-1, input_ids[:, -k:, None]).squeeze(-1)
        hidden = output.hidden_states[-1][:, -k - 1 : -1]
        return token, action_mask[:, -k:], head(hidden if trunk_grad else hidden.detach())

    return by_length(outputs, observations, actions)


class PPO:
    """The trainer: the policy, its value head, the frozen start policy, one Adam optimizer
    (the policy at ``lm_lr``, the head at ``value_lr``). No replay buffer: on-policy."""

    def __init__(self, config: PPOConfig, policy: PolicyLM, seed: int = 0, accelerator: Any = None):
        self.config = config
        self.policy = policy
        self.value_head = ValueHead(policy.model.config.hidden_size, config.value_init).to(
            policy.device
        )
        self.reference = copy.deepcopy(policy).requires_grad_(False).eval()
        self.accelerator = accelerator
        self.processes = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        if self.processes > 1:
            raise ValueError("PPO runs in one process (accelerate launch with one process)")
        parameter_groups = [
            {"params": policy.parameters(), "lr": config.lm_lr},
            {"params": self.value_head.parameters(), "lr": config.value_lr},
        ]
        self.optimizer = torch.optim.Adam(parameter_groups)

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "value_head": self.value_head, "reference": self.reference}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ppo": self.optimizer}

    @torch.no_grad()
    def rollout_targets(self, trajectories: list[dict[str, Any]]) -> dict[str, Any]:
        """The iteration's utterances and, over their tokens laid end to end (episode by
        episode, turn by turn), π_old's log-probs, V_old, the advantages and the returns."""
        pairs = [(t["observation"], t["action"]) for r in trajectories for t in r["transitions"]]
        observations, actions = [p[0] for p in pairs], [p[1] for p in pairs]
        old, mask, values = token_log_probs_and_values(
            self.policy, self.value_head, observations, actions, self.config.value_trunk_grad
        )
        start, _ = self.reference.token_log_probs(observations, actions)
        lengths = mask.sum(-1)
        old_flat, values_flat = old[mask], values[mask]  # row by row, each row's tokens in order
        rewards = -self.config.kl_coef * (old_flat - start[mask])
        ends = lengths.cumsum(0) - 1  # each utterance's last token
        env_rewards = [t["reward"] for r in trajectories for t in r["transitions"]]
        rewards[ends] += torch.tensor(env_rewards, device=rewards.device)
        dones = torch.zeros_like(rewards)
        turns = torch.tensor([len(r["transitions"]) for r in trajectories]).cumsum(0) - 1
        dones[ends[turns.to(ends.device)]] = 1.0
        advantages, returns = token_gae(
            rewards.cpu(), values_flat.cpu(), dones.cpu(), self.config.gamma, self.config.lam
        )
        advantages, returns = advantages.to(rewards.device), returns.to(rewards.device)
        kl = (old_flat - start[mask]).sum() / len(pairs)
        if self.config.whiten_advantages:
            advantages = whiten(advantages)
        offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)[:-1]])
        return {
            "observations": observations,
            "actions": actions,
            "offsets": offsets,
            "lengths": lengths,
            "old": old_flat,
            "values": values_flat,
            "advantages": advantages,
            "returns": returns,
            "kl": kl.item(),
        }

    def minibatch_loss(
        self, data: dict[str, Any], rows: np.ndarray, actor: bool
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The clipped policy loss (if ``actor``) plus the clipped value loss on ``rows``."""
        config = self.config
        observations = [data["observations"][i] for i in rows]
        actions = [data["actions"][i] for i in rows]
        token, mask, values = token_log_probs_and_values(
            self.policy, self.value_head, observations, actions, config.value_trunk_grad
        )
        offsets, lengths = data["offsets"], data["lengths"]
        spans = [torch.arange(offsets[i], offsets[i] + lengths[i]) for i in rows]
        index = torch.cat(spans).to(token.device)
        new, value = token[mask], values[mask]
        old, advantage = data["old"][index], data["advantages"][index]
        old_value, target = data["values"][index], data["returns"][index]
        ratio = torch.exp(new - old)
        clipped_ratio = ratio.clamp(1 - config.cliprange, 1 + config.cliprange)
        policy_loss = torch.max(-advantage * ratio, -advantage * clipped_ratio).mean()
        value_change = (value - old_value).clamp(-config.cliprange_value, config.cliprange_value)
        clipped = old_value + value_change
        value_loss = 0.5 * torch.max((value - target) ** 2, (clipped - target) ** 2).mean()
        loss = config.value_loss_coef * value_loss + (policy_loss if actor else 0.0)
        with torch.no_grad():
            clipped = (ratio - 1).abs() > config.cliprange
            stats = {
                "policy_loss": policy_loss.item(),
                "value_loss": value_loss.item(),
                "approx_kl": (old - new).mean().item(),
                "clip_fraction": clipped.float().mean().item(),
            }
        return loss, stats

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """Collect ``rollouts_per_iter`` trajectories with the current policy, then
        ``ppo_epochs`` epochs of mini-batch updates on them (the value loss alone during the
        first ``value_warmup_iters`` iterations). ``seed`` fixes the episodes and the order of
        the mini-batches, so a resumed run repeats them."""
        config = self.config
        self.policy.eval()
        agent = PolicyAgent(self.policy, greedy=False, temperature=config.temperature)
        trajectories = collect_trajectories(
            agent, envs, config.rollouts_per_iter, seed=seed, progress=progress
        )
        data = self.rollout_targets(trajectories)
        actor = iteration >= config.value_warmup_iters
        rng = np.random.default_rng(seed)
        # the policy stays in eval mode: dropout would make ρ ≠ 1 on the data's own policy
        stats: list[dict[str, float]] = []
        count = len(data["observations"])
        for _ in range(config.ppo_epochs):
            order = rng.permutation(count)
            for start in range(0, count, config.minibatch_size):
                loss, step_stats = self.minibatch_loss(
                    data, order[start : start + config.minibatch_size], actor
                )
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [*self.policy.parameters(), *self.value_head.parameters()],
                    config.max_grad_norm,
                )
                self.optimizer.step()
                stats.append(step_stats)
        returns = [t["return"] for t in trajectories]
        metrics: dict[str, Any] = {
            "iteration": iteration,
            "rollout_return": float(np.mean(returns)),
            "rollout_success": float(np.mean([t["success"] for t in trajectories])),
            "kl": data["kl"],
            **{k: float(np.mean([s[k] for s in stats])) for k in stats[0]},
            "trajectories": trajectories,
        }
        return metrics
