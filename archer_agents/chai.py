"""CHAI (Verma et al., 2022) as the ArCHer paper runs it: ArCHer's utterance-level critic,
learned off-policy by TD, with the actor frozen; the agent samples k utterances from the actor
and says the one the critic values most.

One iteration = collect ``rollouts_per_iter`` trajectories with the best-of-k agent (sampling
its k candidates at ``temperature``) into the replay buffer, then ``critic_steps`` of ArCHer's
critic updates, in which a_π of the V target is the best-of-k agent's utterance, so that the
critic values the policy that acts. With the target critic Q̄ (as upstream, which picks with it):

    a*(s) = argmax_j min(Q̄1, Q̄2)(s, a_j),  a_1, …, a_k ~ π(· | s)
    Q_i(s, a) → r + γ (1 − done) V̄_i(s′),   V_i(s) → Q̄_i(s, a*(s))

The actor is never updated: whatever CHAI gains over its start comes from choosing among the
start's own utterances.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator

from archer_agents.archer import ArCHer, ArCHerConfig
from archer_agents.config import Config
from archer_agents.models import CausalCritic, PolicyLM, UtteranceCritic


@dataclass
class CHAIConfig(Config):
    """ArCHer's critic settings (the same names and meanings) and ``samples``, the paper's
    k. ``archer()`` is the ArCHer config CHAI trains its critic with: no actor steps."""

    label = "CHAI"

    policy: str = "tiny"
    critic: str = "tiny"
    iterations: int = 16
    rollouts_per_iter: int = 32
    num_envs: int = 32
    buffer_size: int = 10_000
    batch_size: int = 64
    grad_accum_steps: int = 1
    critic_steps: int = 10
    critic_warmup_steps: int = 0  # on the buffer's seed data (archer-train --buffer-data)
    samples: int = 5  # k: candidate utterances per turn
    gamma: float = 0.95
    tau: float = 0.1
    critic_lr: float = 1e-3
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # of the k candidates
    max_new_tokens: int = 16
    eval_every: int = 4
    save_every: int = 1

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> CHAIConfig:
        """The critic settings of ArCHer's preset of the same name (``cpu``: the critic on the
        BC policy's trunk, warmed up on the seeded buffer; ``paper``: the paper's table), with
        k = 5."""
        archer = ArCHerConfig.preset(name, env_id)
        shared = {
            field.name: getattr(archer, field.name)
            for field in dataclasses.fields(cls)
            if field.name != "samples"
        }
        base = cls(**shared)
        return base.replace(**overrides)

    def archer(self) -> ArCHerConfig:
        shared = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "samples"
        }
        return ArCHerConfig(**shared, actor_steps=0, warmup_iters=0)


@torch.no_grad()
def best_of_k(
    policy: PolicyLM,
    critic: UtteranceCritic | CausalCritic,
    observations: Sequence[str],
    k: int,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """For each observation, k candidate utterances of ``policy`` (k samples at
    ``temperature``; with ``greedy``, the greedy utterance and k − 1 samples, so that k = 1 is
    greedy decoding) and the one of highest min(Q1, Q2) under ``critic`` (the first of equals)."""
    repeated = [observation for observation in observations for _ in range(k)]
    if greedy:
        first = policy.generate(observations, greedy=True)
        others = policy.generate(
            [o for o in observations for _ in range(k - 1)],
            temperature=temperature,
            generator=generator,
        )
        candidates = [
            text
            for i, head in enumerate(first)
            for text in (head, *others[i * (k - 1) : (i + 1) * (k - 1)])
        ]
    else:
        candidates = policy.generate(repeated, temperature=temperature, generator=generator)
    values = torch.minimum(*critic.q(repeated, candidates)).view(len(observations), k)
    return [candidates[i * k + j] for i, j in enumerate(values.argmax(1).tolist())]


class BestOfKAgent:
    """CHAI's acting rule as a batched agent of archer_envs (``None`` for finished episodes):
    ``best_of_k`` of ``policy`` under ``critic``. Its candidates are drawn from its own
    generator when seeded (evaluations reproducible from the seed), else from torch's global
    random state (training rollouts, resumable)."""

    def __init__(
        self,
        policy: PolicyLM,
        critic: UtteranceCritic | CausalCritic,
        k: int = 5,
        greedy: bool = True,
        temperature: float = 1.0,
        name: str = "chai",
        seed: int | None = None,
    ):
        if k < 1:
            raise ValueError(f"best-of-k needs k of at least 1, got {k}")
        self.policy, self.critic, self.k, self.greedy = policy, critic, k, greedy
        self.temperature, self.name = temperature, name
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=policy.device).manual_seed(seed)

    def act(self, observations: Sequence[str | None]) -> list[str | None]:
        live = [i for i, obs in enumerate(observations) if obs is not None]
        actions: list[str | None] = [None] * len(observations)
        if live:
            texts = best_of_k(
                self.policy,
                self.critic,
                [observations[i] for i in live],
                self.k,
                self.greedy,
                self.temperature,
                self.generator,
            )
            for i, text in zip(live, texts, strict=True):
                actions[i] = text
        return actions


class CHAI(ArCHer):
    """ArCHer's trainer with no actor updates, acting and valuing by best-of-k (module
    docstring). ``config`` is the ``CHAIConfig``'s ArCHer config (``CHAIConfig.archer()``);
    ``samples`` is k. A checkpoint holds the frozen policy (the agent samples it) and the
    critics; the only optimizer is the critic's."""

    def __init__(
        self,
        config: CHAIConfig,
        policy: PolicyLM,
        critic: UtteranceCritic | CausalCritic | None = None,
        seed: int = 0,
        accelerator: Accelerator | None = None,
    ):
        if config.samples < 1:
            raise ValueError(f"samples (CHAI's k) must be at least 1, got {config.samples}")
        super().__init__(config.archer(), policy, critic, seed=seed, accelerator=accelerator)
        self.samples = config.samples

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"critic": self.critic_optimizer}

    def agent(self, greedy: bool = False, seed: int | None = None) -> BestOfKAgent:
        """The best-of-k agent under the target critic."""
        return BestOfKAgent(
            self.policy,
            self.critic.target,
            self.samples,
            greedy=greedy,
            temperature=self.config.temperature,
            seed=seed,
        )

    def policy_actions(self, observations: list[str]) -> list[str]:
        return self.agent().act(observations)

    def rollout_agent(self) -> BestOfKAgent:
        return self.agent()


def chai_agent(trainer: CHAI, greedy: bool, seed: int) -> BestOfKAgent:
    """A trained CHAI run's agent (archer-train's ``Algorithm.agent``), seeded in both modes:
    greedy or not, its candidates include samples."""
    return trainer.agent(greedy=greedy, seed=seed)
