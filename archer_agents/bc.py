"""Behaviour cloning (SFT): maximise log π(a | s) of a dataset's utterances.

The paper's ArCHer starts from a policy fine-tuned on sub-optimal data; this is that step, on
trajectory JSONL (e.g. from ``archer-envs dataset``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from archer_agents.models import PolicyLM


@dataclass
class BCConfig:
    lm_lr: float = 3e-3
    epochs: int = 200  # converged on the demo's data: more epochs no longer raise its return
    batch_size: int = 32
    max_grad_norm: float = 1.0
    schedule: str = "cosine"  # the learning rate over the steps: "cosine" to 0, or "constant"


def utterance_pairs(trajectories: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(observation, action) of every transition."""
    return [(t["observation"], t["action"]) for r in trajectories for t in r["transitions"]]


def bc_loss(policy: PolicyLM, observations: list[str], actions: list[str],
            weights: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        (lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
        if config.schedule == "cosine" else (lambda step: 1.0),
    )  # fmt: skip
    losses: list[float] = []
    policy.train()
    with tqdm(total=steps, desc="behaviour cloning", disable=not progress) as bar:
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(len(distinct))
            for start in range(0, len(distinct), config.batch_size):
                picks = order[start : start + config.batch_size]
                loss = bc_loss(policy, [distinct[i][0] for i in picks],
                               [distinct[i][1] for i in picks], weights[picks])  # fmt: skip
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
