"""Behaviour cloning (SFT): maximise log π(a | s) of a dataset's utterances; and online
filtered BC, the paper's baseline that clones the best of its own trajectories.

The paper's ArCHer starts from a policy fine-tuned on sub-optimal data; ``train_bc`` is that
step, on trajectory JSONL (e.g. from ``archer-envs dataset``).

Online filtered BC (``FilteredBC``): every iteration collects ``rollouts_per_iter``
trajectories with the current policy (sampling at ``temperature``) into a pool of all the
trajectories so far, keeps the pool's top decile by return (``top_decile``) and takes
``actor_steps`` BC steps of ``batch_size`` (observation, utterance) pairs drawn uniformly from
the kept trajectories' turns. No critic: the return alone says what to imitate.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from archer_agents.config import Config
from archer_agents.models import PolicyAgent, PolicyLM
from archer_agents.rollout import collect_trajectories
from archer_envs.datasets import read_trajectories, write_trajectories


@dataclass
class BCConfig(Config):
    label = "BC"

    lm_lr: float = 3e-3
    epochs: int = 200  # converged on the demo's data: more epochs no longer raise its return
    batch_size: int = 32
    max_grad_norm: float = 1.0
    schedule: str = "cosine"  # the learning rate over the steps: "cosine" to 0, or "constant"


def utterance_pairs(trajectories: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(observation, action) of every transition."""
    return [(t["observation"], t["action"]) for r in trajectories for t in r["transitions"]]


def bc_loss(
    policy: PolicyLM,
    observations: list[str],
    actions: list[str],
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean negative log-likelihood per action token (every utterance ends with its newline);
    with ``weights`` (batch,), each pair counts that many times."""
    token, mask = policy.token_log_probs(observations, actions)
    per_pair, tokens = (token * mask).sum(-1), mask.sum(-1)
    if weights is not None:
        weights = weights.to(per_pair.device)
        return -(weights * per_pair).sum() / (weights * tokens).sum()
    return -per_pair.sum() / tokens.sum()


def train_bc(
    policy: PolicyLM,
    pairs: list[tuple[str, str]],
    config: BCConfig,
    seed: int = 0,
    progress: bool = True,
    on_epoch: Callable[[int], None] | None = None,
) -> list[float]:
    """Shuffled mini-batch epochs with Adam; returns the loss of every step. Identical pairs
    are merged and weighted by their count (the same loss, at the cost of the distinct pairs:
    scripted data repeats itself). ``on_epoch(n)`` runs after the n-th epoch (1-based), e.g.
    to evaluate the policy."""
    if not pairs:
        raise ValueError("behaviour cloning needs at least one (observation, action) pair")
    counts = Counter(pairs)
    distinct = list(counts)
    weights = torch.tensor([counts[pair] for pair in distinct], dtype=torch.float32)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)
    steps = config.epochs * math.ceil(len(distinct) / config.batch_size)
    if config.schedule not in ("cosine", "constant"):
        raise ValueError(f"unknown BC schedule {config.schedule!r}: use 'cosine' or 'constant'")

    def cosine(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * step / steps))

    factor = cosine if config.schedule == "cosine" else (lambda step: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    losses: list[float] = []
    policy.train()
    with tqdm(total=steps, desc="behaviour cloning", disable=not progress) as bar:
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(len(distinct))
            for start in range(0, len(distinct), config.batch_size):
                picks = order[start : start + config.batch_size]
                observations = [distinct[i][0] for i in picks]
                actions = [distinct[i][1] for i in picks]
                loss = bc_loss(policy, observations, actions, weights[picks])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            if on_epoch is not None:
                on_epoch(epoch)
                policy.train()
    policy.eval()
    return losses


# --- online filtered BC ----------------------------------------------------------------------
@dataclass
class FilteredBCConfig(Config):
    """Online filtered BC's settings; ``policy``, ``max_new_tokens``, ``num_envs``,
    ``iterations``, ``eval_every`` and ``save_every`` mean what they mean for ArCHer. The pool
    holds every trajectory collected, up to the newest ``pool_size``."""

    label = "filtered BC"

    policy: str = "tiny"  # a preset of archer_agents.models or a pretrained name/path
    iterations: int = 16
    rollouts_per_iter: int = 32
    num_envs: int = 32
    pool_size: int = 100_000
    batch_size: int = 32
    actor_steps: int = 10
    lm_lr: float = 1e-4
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    max_new_tokens: int = 16
    eval_every: int = 4
    save_every: int = 1

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> FilteredBCConfig:
        """``cpu``: the tiny policy, ArCHer's ``cpu`` budget of trajectories (16 × 32);
        ``paper``: ArCHer's ``paper`` scale and actor settings (GPT-2, 128 rollouts per
        iteration, 512 on WebShop, batches of 256, 3 actor steps, its actor learning rate)."""
        if name == "cpu":
            base = cls()
        elif name == "paper":
            twenty_questions = env_id.startswith("archer/TwentyQuestions")
            base = cls(
                policy="gpt2",
                iterations=500,
                rollouts_per_iter=512 if env_id.startswith("archer/WebShop") else 128,
                num_envs=32,
                batch_size=256,
                actor_steps=3,
                lm_lr=1e-6 if twenty_questions else 1e-5,
                max_new_tokens=32,
                eval_every=10,
                save_every=5,
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return base.replace(**overrides)


def top_decile(trajectories: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ⌈n / 10⌉ of n trajectories with the highest return, in their original order. Ties
    at the cut go to the later ones (in a pool kept in collection order: the newer policy's),
    so the choice is deterministic. Upstream keeps every trajectory whose return reaches the
    90th percentile, which on a game of integer returns can keep several times a tenth."""
    count = math.ceil(len(trajectories) / 10)
    ranked = sorted(range(len(trajectories)), key=lambda i: (-trajectories[i]["return"], -i))
    return [trajectories[i] for i in sorted(ranked[:count])]


class TrajectoryPool:
    """Every trajectory so far (the newest ``capacity``), in collection order, with the seeded
    generator that draws BC's mini-batches. It has the replay buffer's checkpoint interface
    (``capacity``, ``rng``, ``save``, ``load``), so archer-train saves it with the trainer, as
    trajectory JSONL: a pool file is a dataset for ``archer-train --algo bc --dataset``."""

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.trajectories: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.trajectories)

    def add(self, trajectories: Iterable[dict[str, Any]]) -> None:
        self.trajectories.extend(trajectories)
        del self.trajectories[: max(0, len(self.trajectories) - self.capacity)]

    def save(self, path: str | os.PathLike) -> None:
        """One trajectory record per line, oldest first (written atomically)."""
        write_trajectories(self.trajectories, path)

    def load(self, path: str | os.PathLike) -> None:
        """Replace the contents with a saved pool (its newest ``capacity`` trajectories); a
        line that is not a trajectory record is a ValueError naming it."""
        self.trajectories = list(read_trajectories(path))[-self.capacity :]


class FilteredBC:
    """The trainer (archer-train's protocol, see ``archer_agents.train.Algorithm``): owns the
    policy, its Adam optimizer and the pool of trajectories. One process only: the pool and
    the mini-batches are not shared out."""

    def __init__(
        self,
        config: FilteredBCConfig,
        policy: PolicyLM,
        seed: int = 0,
        accelerator: Accelerator | None = None,
    ):
        self.config = config
        self.policy = policy
        self.accelerator = accelerator
        self.processes = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        if self.processes > 1:
            raise ValueError(f"filtered BC runs in one process, not {self.processes}")
        if config.rollouts_per_iter < 1 or config.actor_steps < 1 or config.batch_size < 1:
            raise ValueError("rollouts_per_iter, actor_steps and batch_size must be at least 1")
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)
        self.buffer = TrajectoryPool(config.pool_size, seed=seed)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.optimizer}

    def bc_step(self, pairs: list[tuple[str, str]]) -> float:
        """One Adam step of ``bc_loss`` on ``batch_size`` pairs drawn with replacement."""
        picks = self.buffer.rng.integers(len(pairs), size=self.config.batch_size)
        loss = bc_loss(self.policy, [pairs[i][0] for i in picks], [pairs[i][1] for i in picks])
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        return loss.item()

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """Collect into the pool, keep its top decile, clone it. ``seed`` makes the iteration's
        episodes reproducible (a resumed run replays the same ones)."""
        self.policy.eval()
        actor = PolicyAgent(self.policy, greedy=False, temperature=self.config.temperature)
        trajectories = collect_trajectories(
            actor, envs, self.config.rollouts_per_iter, seed=seed, progress=progress
        )
        self.buffer.add(trajectories)
        kept = top_decile(self.buffer.trajectories)
        pairs = utterance_pairs(kept)
        self.policy.train()
        losses = [self.bc_step(pairs) for _ in range(self.config.actor_steps)]
        self.policy.eval()
        return {
            "iteration": iteration,
            "rollout_return": float(np.mean([t["return"] for t in trajectories])),
            "rollout_success": float(np.mean([t["success"] for t in trajectories])),
            "pool": len(self.buffer),
            "kept": len(kept),
            "kept_min_return": float(min(t["return"] for t in kept)),
            "bc_loss": float(np.mean(losses)),
            "trajectories": trajectories,
        }
