"""ArCHer (Zhou et al., 2024): an utterance-level critic learned off-policy by TD, and a
token-level actor trained by REINFORCE with the critic's advantage as the utterance's reward.

One iteration = collect ``rollouts_per_iter`` trajectories (sampling at temperature 1.0) into
the replay buffer, ``critic_steps`` critic updates, then ``actor_steps`` actor updates (none in
the first ``warmup_iters`` iterations). With s′ the next state and a_π ~ π(· | s) a fresh
utterance from the current actor:

    critic:  Q_i(s, a) → r + γ (1 − done) V̄_i(s′)          (i = 1, 2; V̄ the target critic)
             V_i(s)    → Q̄_i(s, a_π)
             target ← (1 − τ) target + τ online, after every critic step
    actor:   A = min(Q1, Q2)(s, a_π) − min(V1, V2)(s)          (no gradient)
             loss = −mean(A · Σ_t log π(a_π,t | s, a_π,<t))

With ``token_baseline`` a separate small model b(s, a_<t) regresses A at every token prefix of
a_π, and the actor's per-token weight is the residual A − b(s, a_<t) instead of A.

Two options of this implementation, not the paper's, both off by default and on in the ``cpu``
preset: ``actor_samples`` = k > 1 draws k utterances per replay state and uses
A_j = min(Q1, Q2)(s, a_j) − mean_{i≠j} min(Q1, Q2)(s, a_i), which is exactly 0 where the actor
always says the same thing; ``kl_coef`` = β adds β · Σ_t KL(π(·|s, a_<t) ‖ π_start(·|s, a_<t))
over the utterance's tokens, the start policy frozen.

Several GPUs (or CPU processes), through accelerate: every process holds the same models and the
same replay buffer, collects its share of the rollouts (gathered by all), samples its share of
each batch from its own generator, and the gradients are averaged across processes before every
optimizer step, so that the replicas stay identical.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import broadcast, gather_object, reduce
from tqdm.auto import tqdm

from archer_agents.buffer import Batch, ReplayBuffer
from archer_agents.config import Config
from archer_agents.models import (
    CausalCritic,
    PolicyAgent,
    PolicyLM,
    TokenBaseline,
    UtteranceCritic,
    make_critic,
)
from archer_agents.rollout import collect_trajectories

# The paper's discount per environment (its hyperparameter table, second-hand).
PAPER_GAMMA = {
    "archer/TwentyQuestionsSubset-v0": 0.95,
    "archer/TwentyQuestions-v0": 0.95,
    "archer/GuessMyCity-v0": 0.95,
    "archer/Detective-v0": 0.98,
    "archer/WebShop-v0": 0.9,
}


@dataclass
class ArCHerConfig(Config):
    """Hyperparameters with the paper's names. ``batch_size`` is the number of replay
    transitions per update, split into ``grad_accum_steps`` chunks whose gradients are summed
    (upstream: 8 × 32)."""

    label = "ArCHer"

    policy: str = "tiny"  # a preset of archer_agents.models or a pretrained name/path
    critic: str = "tiny"
    iterations: int = 16
    rollouts_per_iter: int = 32
    num_envs: int = 32
    buffer_size: int = 10_000
    batch_size: int = 64
    grad_accum_steps: int = 1
    critic_steps: int = 10
    critic_warmup_steps: int = 0  # on the buffer's seed data (archer-train --buffer-data)
    actor_steps: int = 3
    actor_samples: int = 1  # utterances per state: 1 = the paper's Q − V; k > 1, Q − mean Q
    kl_coef: float = 0.0  # β of a KL(π ‖ π_start) term in the actor's loss (the paper: none)
    warmup_iters: int = 2
    gamma: float = 0.95
    tau: float = 0.1
    critic_lr: float = 1e-3
    lm_lr: float = 1e-4
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    max_new_tokens: int = 16
    token_baseline: bool = False
    baseline_lr: float = 1e-3
    eval_every: int = 4
    save_every: int = 1

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> ArCHerConfig:
        """``cpu``: tiny models that learn in minutes here (the demo's settings); ``paper``: the
        paper's table."""
        if name == "cpu":
            # The critic reads s ⊕ a on the BC policy's trunk and warms up on the seeded buffer
            # (there is no warm-up of the actor after it); four utterances per state with
            # leave-one-out advantages and a KL term keep the tiny actor's updates from
            # spreading its token distributions into utterances nobody has tried.
            base = cls(
                critic="policy",
                iterations=16,
                buffer_size=20_000,
                critic_warmup_steps=100,
                warmup_iters=0,
                critic_lr=3e-4,
                actor_steps=5,
                actor_samples=4,
                lm_lr=1e-4,
                kl_coef=0.5,
            )
        elif name == "paper":
            twenty_questions = env_id.startswith("archer/TwentyQuestions")
            base = cls(
                policy="gpt2",
                critic="roberta-base",
                iterations=500,
                rollouts_per_iter=512 if env_id.startswith("archer/WebShop") else 128,
                num_envs=32,
                buffer_size=10_000,
                batch_size=256,
                grad_accum_steps=8,
                critic_steps=50,
                actor_steps=3,
                warmup_iters=10 if env_id == "archer/Detective-v0" else 20,
                gamma=PAPER_GAMMA.get(env_id, 0.95),
                tau=0.1,
                critic_lr=2e-5,
                lm_lr=1e-6 if twenty_questions else 1e-5,
                max_grad_norm=1.0,
                max_new_tokens=32,
                eval_every=10,
                save_every=5,
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return base.replace(**overrides)


def td_target(
    rewards: torch.Tensor, dones: torch.Tensor, next_values: torch.Tensor, gamma: float
) -> torch.Tensor:
    """r + γ (1 − done) V̄(s′), all (batch,)."""
    return rewards + gamma * (1.0 - dones) * next_values


def utterance_advantage(q1, q2, v1, v2) -> torch.Tensor:
    """min(Q1, Q2) − min(V1, V2): the twin critics' pessimistic estimates, (batch,)."""
    return torch.minimum(q1, q2) - torch.minimum(v1, v2)


def _chunks(batch: Batch, count: int):
    """Split a batch into ``count`` near-equal parts (gradient accumulation)."""
    bounds = np.linspace(0, len(batch.observations), count + 1).astype(int)
    for start, end in itertools.pairwise(bounds):
        if end > start:
            yield Batch(
                batch.observations[start:end],
                batch.actions[start:end],
                batch.rewards[start:end],
                batch.next_observations[start:end],
                batch.dones[start:end],
            )


class ArCHer:
    """The trainer: owns the actor, the critic (with its target), the optional token baseline,
    their Adam optimizers and the replay buffer. With an ``accelerator`` of several processes,
    process 0's weights are copied to every process and the work is shared (module docstring)."""

    def __init__(
        self,
        config: ArCHerConfig,
        policy: PolicyLM,
        critic: UtteranceCritic | CausalCritic | None = None,
        seed: int = 0,
        accelerator: Accelerator | None = None,
    ):
        self.config = config
        self.policy = policy
        # by default the config's critic, built after the policy's (BC) weights are loaded
        self.critic = (
            critic if critic is not None else make_critic(config.critic, policy).to(policy.device)
        )
        critic = self.critic
        if critic.target is None:
            critic.make_target()
        self.baseline = TokenBaseline(policy) if config.token_baseline else None
        self.reference = None  # the start policy, frozen, for the KL term
        if config.kl_coef > 0:
            self.reference = copy.deepcopy(policy).requires_grad_(False).eval()
        self.accelerator = accelerator
        self.processes = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        if config.batch_size % self.processes or config.rollouts_per_iter < self.processes:
            raise ValueError(
                f"batch_size ({config.batch_size}) must be a multiple of the number of processes"
                f" ({self.processes}), and rollouts_per_iter ({config.rollouts_per_iter}) at"
                " least as large"
            )
        if config.actor_samples < 1 or (config.batch_size // self.processes) % config.actor_samples:
            raise ValueError(
                f"actor_samples ({config.actor_samples}) must be at least 1 and divide each"
                f" process's share of batch_size ({config.batch_size // self.processes})"
            )
        if self.processes > 1:
            for module in self.modules().values():
                for tensor in module.state_dict().values():
                    broadcast(tensor, from_process=0)  # in place
        self.actor_optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)
        self.critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.critic_lr)
        self.baseline_optimizer = (
            torch.optim.Adam(self.baseline.parameters(), lr=config.baseline_lr)
            if self.baseline is not None
            else None
        )
        self.buffer = ReplayBuffer(config.buffer_size, seed=seed + 1_000_003 * self.rank)

    def modules(self) -> dict[str, torch.nn.Module]:
        found = {"policy": self.policy, "critic": self.critic, "critic_target": self.critic.target}
        if self.baseline is not None:
            found["baseline"] = self.baseline
        if self.reference is not None:
            found["reference"] = self.reference
        return found

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        found = {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
        if self.baseline_optimizer is not None:
            found["baseline"] = self.baseline_optimizer
        return found

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Replace every process's gradients by their mean over the processes (no-op alone)."""
        if self.processes == 1:
            return
        parameters = [p for p in module.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        mean = reduce(torch.cat([g.flatten() for g in grads]), "mean")
        parts = mean.split([p.numel() for p in parameters])
        for parameter, part in zip(parameters, parts, strict=True):
            parameter.grad = part.view_as(parameter).clone()

    def sample(self) -> Batch:
        """This process's share of a batch of ``batch_size`` replay transitions."""
        return self.buffer.sample(self.config.batch_size // self.processes)

    # --- critic ----------------------------------------------------------------------------
    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The four MSE terms; the utterances a_π are sampled from the current actor."""
        device = self.critic.device
        rewards = torch.as_tensor(batch.rewards, device=device)
        dones = torch.as_tensor(batch.dones, device=device)
        with torch.no_grad():
            next_v1, next_v2 = self.critic.target.v(batch.next_observations)
            q_target1 = td_target(rewards, dones, next_v1, self.config.gamma)
            q_target2 = td_target(rewards, dones, next_v2, self.config.gamma)
            fresh = self.policy_actions(batch.observations)
            v_target1, v_target2 = self.critic.target.q(batch.observations, fresh)
        q1, q2, v1, v2 = self.critic.q_and_v(batch.observations, batch.actions)
        q_loss = F.mse_loss(q1, q_target1) + F.mse_loss(q2, q_target2)
        v_loss = F.mse_loss(v1, v_target1) + F.mse_loss(v2, v_target2)
        stats = {
            "q_loss": q_loss.item(),
            "v_loss": v_loss.item(),
            "q": q1.mean().item(),
            "v": v1.mean().item(),
        }
        return q_loss + v_loss, stats

    def policy_actions(self, observations: list[str]) -> list[str]:
        """a_π of the V target: one fresh utterance of the acting policy per observation (here
        the actor at ``temperature``; CHAI's best-of-k in ``archer_agents.chai``)."""
        return self.policy.generate(observations, temperature=self.config.temperature)

    def critic_step(self) -> dict[str, float]:
        batch = self.sample()
        self.critic_optimizer.zero_grad()
        stats: dict[str, float] = {}
        parts = list(_chunks(batch, self.config.grad_accum_steps))
        for part in parts:
            loss, part_stats = self.critic_loss(part)
            loss.backward()  # gradients summed over the chunks, as upstream
            for key, value in part_stats.items():
                stats[key] = stats.get(key, 0.0) + value / len(parts)
        self.average_gradients(self.critic)
        torch.nn.utils.clip_grad_norm_(self.critic.parameters(), self.config.max_grad_norm)
        self.critic_optimizer.step()
        self.critic.update_target(self.config.tau)
        return stats

    # --- actor -----------------------------------------------------------------------------
    def advantages(self, observations: list[str], actions: list[str]) -> torch.Tensor:
        """min(Q1, Q2)(s, a) − min(V1, V2)(s) from the online critic, without gradient."""
        with torch.no_grad():
            return utterance_advantage(*self.critic.q_and_v(observations, actions))

    def action_values(self, observations: list[str], actions: list[str]) -> torch.Tensor:
        """min(Q1, Q2)(s, a) from the online critic, without gradient, (batch,)."""
        with torch.no_grad():
            return torch.minimum(*self.critic.q(observations, actions))

    def sampled_advantages(self, observations: list[str], actions: list[str]) -> torch.Tensor:
        """With ``actor_samples`` = k > 1 utterances per state (consecutive rows): min(Q1, Q2)
        of each minus the mean of the state's k − 1 others, an unbiased estimate of
        Q(s, a) − V(s) that is exactly 0 wherever the actor always says the same thing (V's
        own error would make noise there)."""
        k = self.config.actor_samples
        q = self.action_values(observations, actions).view(-1, k)
        return (q - (q.sum(1, keepdim=True) - q) / (k - 1)).flatten()

    def actor_loss(self, observations: list[str]) -> tuple[torch.Tensor, dict[str, float]]:
        k = self.config.actor_samples
        observations = [s for s in observations for _ in range(k)]
        actions = self.policy.generate(observations, temperature=self.config.temperature)
        if k == 1:
            advantage = self.advantages(observations, actions)
        else:
            advantage = self.sampled_advantages(observations, actions)
        advantage = advantage.to(self.policy.device)
        if self.reference is not None:
            token_log_probs, mask, kl = self.policy.token_log_probs(
                observations, actions, self.reference
            )
        else:
            token_log_probs, mask = self.policy.token_log_probs(observations, actions)
        weight = advantage[:, None].expand_as(token_log_probs)
        stats = {
            "advantage": advantage.mean().item(),
            "advantage_std": advantage.std().item() if len(advantage) > 1 else 0.0,
        }
        if self.baseline is not None:
            predicted = self.baseline(observations, actions)  # (batch, length - 1)
            baseline_loss = ((predicted - weight) ** 2 * mask).sum() / mask.sum()
            self.baseline_optimizer.zero_grad()
            baseline_loss.backward()
            self.average_gradients(self.baseline)
            torch.nn.utils.clip_grad_norm_(self.baseline.parameters(), self.config.max_grad_norm)
            self.baseline_optimizer.step()
            weight = weight - predicted.detach()
            stats["baseline_loss"] = baseline_loss.item()
        loss = -((weight * token_log_probs * mask).sum(-1)).mean()
        if self.reference is not None:
            kl_per_utterance = (kl * mask).sum(-1).mean()
            loss = loss + self.config.kl_coef * kl_per_utterance
            stats["kl"] = kl_per_utterance.item()
        return loss, stats

    def actor_step(self) -> dict[str, float]:
        """``batch_size`` utterances: ``batch_size / actor_samples`` replay states, each with
        ``actor_samples`` fresh utterances of the actor."""
        states = self.config.batch_size // self.processes // self.config.actor_samples
        batch = self.buffer.sample(states)
        self.actor_optimizer.zero_grad()
        stats: dict[str, float] = {}
        parts = list(_chunks(batch, self.config.grad_accum_steps))
        for part in parts:
            loss, part_stats = self.actor_loss(part.observations)
            loss.backward()
            part_stats["actor_loss"] = loss.item()
            for key, value in part_stats.items():
                stats[key] = stats.get(key, 0.0) + value / len(parts)
        self.average_gradients(self.policy)
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.max_grad_norm)
        self.actor_optimizer.step()
        return stats

    # --- the loop ----------------------------------------------------------------------------
    def rollout_agent(self) -> PolicyAgent:
        """The agent that collects the iteration's trajectories: the actor, sampling at
        ``temperature`` (CHAI overrides it with its best-of-k agent)."""
        return PolicyAgent(self.policy, greedy=False, temperature=self.config.temperature)

    def seed(self, trajectories: list[dict[str, Any]], progress: bool = True) -> None:
        """Seed the replay buffer with trajectories (the BC data, scripted rollouts), then take
        ``critic_warmup_steps`` critic steps on it before the first rollout: the buffer is
        off-policy, so any episodes of the env teach the critic, and only episodes with
        mistakes in them teach it what mistakes cost."""
        self.buffer.add_trajectories(trajectories)
        self.critic.train()
        for _ in tqdm(
            range(self.config.critic_warmup_steps),
            leave=False,
            desc="critic warm-up on the buffer",
            disable=not (progress and self.rank == 0),
        ):
            self.critic_step()

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """Collect, then update the critic, then (after warm-up) the actor. ``seed`` makes the
        iteration's episodes reproducible (a resumed run replays the same ones). Each process
        plays its share of the rollouts; every process adds all of them to its buffer."""
        self.policy.eval()
        actor = self.rollout_agent()
        shares = np.array_split(np.arange(self.config.rollouts_per_iter), self.processes)
        share = len(shares[self.rank])
        trajectories = collect_trajectories(
            actor, envs, share, seed=seed + 100_003 * self.rank, progress=progress
        )
        if self.processes > 1:
            trajectories = gather_object(trajectories)
        self.buffer.add_trajectories(trajectories)
        returns = [t["return"] for t in trajectories]
        metrics: dict[str, Any] = {
            "iteration": iteration,
            "rollout_return": float(np.mean(returns)),
            "rollout_success": float(np.mean([t["success"] for t in trajectories])),
        }
        self.critic.train()
        critic_stats = [self.critic_step() for _ in range(self.config.critic_steps)]
        metrics.update({k: float(np.mean([s[k] for s in critic_stats])) for k in critic_stats[0]})
        if iteration >= self.config.warmup_iters and self.config.actor_steps > 0:
            self.policy.train()
            actor_stats = [self.actor_step() for _ in range(self.config.actor_steps)]
            self.policy.eval()
            metrics.update({k: float(np.mean([s[k] for s in actor_stats])) for k in actor_stats[0]})
        metrics["trajectories"] = trajectories
        return metrics
