"""Behaviour cloning (SFT): maximise log π(a | s) of a dataset's utterances.

The paper's ArCHer starts from a policy fine-tuned on sub-optimal data; this is that step, on
trajectory JSONL (e.g. from ``archer-envs dataset``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from archer_agents.models import PolicyLM


@dataclass
class BCConfig:
    lm_lr: float = 1e-3
    epochs: int = 3
    batch_size: int = 32
    max_grad_norm: float = 1.0


def utterance_pairs(trajectories: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(observation, action) of every transition."""
    return [(t["observation"], t["action"]) for r in trajectories for t in r["transitions"]]


def bc_loss(policy: PolicyLM, observations: list[str], actions: list[str]) -> torch.Tensor:
    """Mean negative log-likelihood per action token (every utterance ends with its newline)."""
    token, mask = policy.token_log_probs(observations, actions)
    return -(token * mask).sum() / mask.sum()


def train_bc(
    policy: PolicyLM,
    pairs: list[tuple[str, str]],
    config: BCConfig,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Shuffled mini-batch epochs with Adam; returns the loss of every step."""
    if not pairs:
        raise ValueError("behaviour cloning needs at least one (observation, action) pair")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)
    steps = config.epochs * math.ceil(len(pairs) / config.batch_size)
    losses: list[float] = []
    policy.train()
    with tqdm(total=steps, desc="behaviour cloning", disable=not progress) as bar:
        for _ in range(config.epochs):
            order = rng.permutation(len(pairs))
            for start in range(0, len(pairs), config.batch_size):
                batch = [pairs[i] for i in order[start : start + config.batch_size]]
                loss = bc_loss(policy, [o for o, _ in batch], [a for _, a in batch])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    policy.eval()
    return losses
