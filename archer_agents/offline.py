"""Offline ArCHer (Zhou et al., 2024, the offline experiments): ArCHer's hierarchy learned from a
fixed trajectory dataset, nothing collected. An utterance-level critic by implicit Q-learning
(IQL) and a token-level actor by advantage-weighted regression (AWR) on the data's utterances.

With (s, a, r, s′, done) a transition of the dataset, V̄ and Q̄ the target critic's:

    critic (iql):    Q_i(s, a) → r + γ (1 − done) V̄_i(s′)                  (MSE, i = 1, 2)
                     V_i(s)    → Q̄_i(s, a)  by expectile regression, τ = ``expectile``
                     target ← (1 − tau) target + tau online, after every critic step
    actor (awr):     A = min(Q1, Q2)(s, a) − min(V1, V2)(s)                  (no gradient)
                     loss = −mean(min(exp(β A), max_weight) · Σ_t log π(a_t | s, a_<t))

The expectile loss of a residual u = Q̄ − V is |τ − 1(u < 0)| · u²: with τ = 0.9 a V above
Q̄ costs a ninth of one below it, so V tends to the upper expectile of the data's action values,
an estimate of max_a Q that never queries an action outside the data.

The paper's variants, by config key:

- ``critic_loss="sarsa"``: V regresses the *mean* of Q̄ over the data's actions (expectile 0.5),
  so Q(s, a) → r + γ E_{a′∼data} Q(s′, a′): the behaviour policy's value, SARSA's fixed point.
- ``actor_loss="reinforce"``: ArCHer's online actor on the offline critic: a_π ~ π(· | s)
  sampled fresh, loss = −mean(A(s, a_π) · Σ_t log π(a_π,t | s, a_π,<t)) (the paper: collapses
  without a BC term).
- ``bc_coef`` = λ > 0 adds λ · (mean per-token NLL of the data's utterance), as ``bc.bc_loss``.

One iteration = ``critic_steps`` critic updates, then ``actor_steps`` actor updates (none in
the first ``warmup_iters``), each on a fresh batch of ``batch_size`` transitions drawn uniformly
from the dataset; ``seed(trajectories)`` loads the dataset (archer-train ``--dataset``) and
takes ``critic_warmup_steps`` critic steps on it. The critic, its target, the replay buffer
that holds the dataset, the critic step and the multi-process gradient averaging are ArCHer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import broadcast
from tqdm.auto import tqdm

from archer_agents.archer import ArCHer, _chunks, td_target
from archer_agents.bc import bc_loss
from archer_agents.buffer import Batch, ReplayBuffer
from archer_agents.config import Config
from archer_agents.models import CausalCritic, PolicyLM, UtteranceCritic, make_critic

CRITIC_LOSSES = ("iql", "sarsa")
ACTOR_LOSSES = ("awr", "reinforce")


@dataclass
class OfflineArCHerConfig(Config):
    """Hyperparameters with the paper's names (upstream OfflineArcher's: ``critic_expectile``
    is ``expectile``, ``inv_temp`` is ``beta``, ``discount_factor`` is ``gamma``)."""

    label = "OfflineArCHer"

    policy: str = "tiny"  # a preset of archer_agents.models or a pretrained name/path
    critic: str = "tiny"  # "policy": ArCHer's causal critic on a copy of the policy's trunk
    critic_loss: str = "iql"  # or "sarsa"
    actor_loss: str = "awr"  # or "reinforce"
    bc_coef: float = 0.0  # λ of a BC term in the actor's loss
    iterations: int = 16
    buffer_size: int = 2_000_000  # transitions; a larger dataset is refused, not cut
    batch_size: int = 64
    grad_accum_steps: int = 1
    critic_steps: int = 20
    critic_warmup_steps: int = 0  # on the dataset, before the first iteration
    actor_steps: int = 5
    warmup_iters: int = 0
    expectile: float = 0.9  # τ of IQL's value regression
    beta: float = 1.0  # AWR's inverse temperature
    max_weight: float = 100.0  # AWR weights exp(β A) clipped here (IQL's usual clip)
    gamma: float = 0.99
    tau: float = 0.05  # Polyak constant of the target critic
    critic_lr: float = 1e-5
    lm_lr: float = 1e-4
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # sampling of a_π (actor_loss="reinforce")
    max_new_tokens: int = 16
    eval_every: int = 4
    save_every: int = 4

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> OfflineArCHerConfig:
        """``cpu``: tiny models that learn from a BC start in minutes here; ``paper``: upstream
        OfflineArcher's settings (GPT-2 actor, RoBERTa critic, actor lr 1e-4, critic lr 1e-5,
        γ 0.99, Polyak 0.05, expectile 0.9, β 1, batches of 32 × 4)."""
        if name == "cpu":
            # As ArCHer's cpu preset: the critic reads s ⊕ a on the BC policy's trunk and warms
            # up on the data before the actor moves; a tiny critic takes a larger rate.
            base = cls(
                critic="policy",
                iterations=16,
                batch_size=64,
                critic_steps=20,
                critic_warmup_steps=200,
                actor_steps=5,
                gamma=0.95,
                tau=0.1,
                critic_lr=3e-4,
                lm_lr=1e-4,
            )
        elif name == "paper":
            # 100 critic and 100 actor updates of 128 transitions per iteration: 1,000
            # iterations are ~8.6 passes over LMRL-Gym's 100k conversations (upstream: 10)
            base = cls(
                policy="gpt2",
                critic="roberta-base",
                iterations=1000,
                batch_size=128,
                grad_accum_steps=4,
                critic_steps=100,
                actor_steps=100,
                gamma=0.99,
                tau=0.05,
                critic_lr=1e-5,
                lm_lr=1e-4,
                max_new_tokens=32,
                eval_every=10,
                save_every=10,
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return base.replace(**overrides)


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """mean(|τ − 1(diff < 0)| · diff²): IQL's asymmetric squared loss of ``diff`` = target − V.
    τ = 0.5 is half the MSE."""
    weight = torch.where(diff < 0, 1.0 - tau, tau)
    return (weight * diff**2).mean()


def awr_weights(advantage: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """min(exp(β A), max_weight), (batch,)."""
    return torch.exp(beta * advantage).clamp(max=max_weight)


class OfflineArCHer:
    """The trainer: the actor, ArCHer's critic (with its target), their Adam optimizers and the
    dataset (in a ``ReplayBuffer``, so that a checkpoint holds it and a resumed run samples
    the same batches). With an ``accelerator`` of several processes, process 0's weights are
    copied to every process, each samples its share of every batch and the gradients are
    averaged, as in ``ArCHer``."""

    def __init__(
        self,
        config: OfflineArCHerConfig,
        policy: PolicyLM,
        critic: UtteranceCritic | CausalCritic | None = None,
        seed: int = 0,
        accelerator: Accelerator | None = None,
    ):
        if config.critic_loss not in CRITIC_LOSSES or config.actor_loss not in ACTOR_LOSSES:
            raise ValueError(
                f"critic_loss must be one of {CRITIC_LOSSES} and actor_loss one of "
                f"{ACTOR_LOSSES}, got {config.critic_loss!r} and "
                f"{config.actor_loss!r}"
            )
        if not 0.0 < config.expectile < 1.0 or config.bc_coef < 0 or config.max_weight <= 0:
            raise ValueError(
                f"expectile must be in (0, 1), bc_coef ≥ 0 and max_weight > 0, "
                f"got {config.expectile}, {config.bc_coef} and "
                f"{config.max_weight}"
            )
        self.config = config
        self.policy = policy
        self.critic = (
            critic if critic is not None else make_critic(config.critic, policy).to(policy.device)
        )
        if self.critic.target is None:
            self.critic.make_target()
        self.accelerator = accelerator
        self.processes = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        if config.batch_size % self.processes:
            raise ValueError(
                f"batch_size ({config.batch_size}) must be a multiple of the number "
                f"of processes ({self.processes})"
            )
        if self.processes > 1:
            for module in self.modules().values():
                for tensor in module.state_dict().values():
                    broadcast(tensor, from_process=0)  # in place
        self.actor_optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.buffer = ReplayBuffer(config.buffer_size, seed=seed + 1_000_003 * self.rank)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy, "critic": self.critic, "critic_target": self.critic.target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}

    # ArCHer's: batches of this process's share, the averaged gradients, the online advantage
    sample = ArCHer.sample
    average_gradients = ArCHer.average_gradients
    advantages = ArCHer.advantages

    # --- critic ----------------------------------------------------------------------------
    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Q's two TD terms and V's two expectile terms, on the data's actions only."""
        device = self.critic.device
        rewards = torch.as_tensor(batch.rewards, device=device)
        dones = torch.as_tensor(batch.dones, device=device)
        with torch.no_grad():
            next_v1, next_v2 = self.critic.target.v(batch.next_observations)
            q_target1 = td_target(rewards, dones, next_v1, self.config.gamma)
            q_target2 = td_target(rewards, dones, next_v2, self.config.gamma)
            v_target1, v_target2 = self.critic.target.q(batch.observations, batch.actions)
        q1, q2, v1, v2 = self.critic.q_and_v(batch.observations, batch.actions)
        q_loss = F.mse_loss(q1, q_target1) + F.mse_loss(q2, q_target2)
        tau = self.config.expectile if self.config.critic_loss == "iql" else 0.5
        v_loss = expectile_loss(v_target1 - v1, tau) + expectile_loss(v_target2 - v2, tau)
        stats = {
            "q_loss": q_loss.item(),
            "v_loss": v_loss.item(),
            "q": q1.mean().item(),
            "v": v1.mean().item(),
        }
        return q_loss + v_loss, stats

    critic_step = ArCHer.critic_step  # sample, sum the chunks' gradients, clip, step, Polyak

    # --- actor -----------------------------------------------------------------------------
    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """AWR on the data's utterances, or REINFORCE on fresh ones; plus the BC term."""
        observations = batch.observations
        if self.config.actor_loss == "awr":
            actions = batch.actions
            advantage = self.advantages(observations, actions).to(self.policy.device)
            weight = awr_weights(advantage, self.config.beta, self.config.max_weight)
        else:
            actions = self.policy.generate(observations, temperature=self.config.temperature)
            advantage = self.advantages(observations, actions).to(self.policy.device)
            weight = advantage
        loss = -(weight * self.policy.log_probs(observations, actions)).mean()
        stats = {"advantage": advantage.mean().item(), "weight": weight.mean().item()}
        if self.config.bc_coef > 0:
            imitation = bc_loss(self.policy, observations, batch.actions)
            loss = loss + self.config.bc_coef * imitation
            stats["bc_loss"] = imitation.item()
        return loss, stats

    def actor_step(self) -> dict[str, float]:
        batch = self.sample()
        self.actor_optimizer.zero_grad()
        stats: dict[str, float] = {}
        parts = list(_chunks(batch, self.config.grad_accum_steps))
        for part in parts:
            loss, part_stats = self.actor_loss(part)
            loss.backward()  # gradients summed over the chunks, as ArCHer's
            part_stats["actor_loss"] = loss.item()
            for key, value in part_stats.items():
                stats[key] = stats.get(key, 0.0) + value / len(parts)
        self.average_gradients(self.policy)
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.max_grad_norm)
        self.actor_optimizer.step()
        return stats

    # --- the loop ----------------------------------------------------------------------------
    def seed(self, trajectories: list[dict[str, Any]], progress: bool = True) -> None:
        """Load the dataset (trajectory records), then ``critic_warmup_steps`` critic steps."""
        transitions = sum(len(t["transitions"]) for t in trajectories)
        if transitions == 0:
            raise ValueError("offline ArCHer needs a dataset with at least one transition")
        if transitions > self.buffer.capacity:
            raise ValueError(
                f"the dataset holds {transitions} transitions, more than "
                f"buffer_size ({self.buffer.capacity}): raise buffer_size"
            )
        self.buffer.add_trajectories(trajectories)
        self.critic.train()
        for _ in tqdm(
            range(self.config.critic_warmup_steps),
            leave=False,
            desc="critic warm-up on the dataset",
            disable=not (progress and self.rank == 0),
        ):
            self.critic_step()

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """Critic steps, then (after ``warmup_iters``) actor steps, all on the dataset; ``envs``
        is None (an offline algorithm gets none) and nothing is collected. The batches come
        from the buffer's generator and the sampled utterances from torch's: both are in the
        checkpoint, so ``seed`` is not needed."""
        if not len(self.buffer):
            raise ValueError("offline ArCHer has no data: give archer-train --dataset JSONL")
        metrics: dict[str, Any] = {"iteration": iteration}
        self.critic.train()
        critic_stats = [self.critic_step() for _ in range(self.config.critic_steps)]
        if critic_stats:
            means = {k: float(np.mean([s[k] for s in critic_stats])) for k in critic_stats[0]}
            metrics.update(means)
        if iteration >= self.config.warmup_iters and self.config.actor_steps > 0:
            self.policy.train()
            actor_stats = [self.actor_step() for _ in range(self.config.actor_steps)]
            self.policy.eval()
            metrics.update({k: float(np.mean([s[k] for s in actor_stats])) for k in actor_stats[0]})
        metrics["trajectories"] = []
        return metrics
