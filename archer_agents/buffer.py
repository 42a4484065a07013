"""Replay buffer of utterance-level transitions (s, a, r, s′, done), saved as JSON lines."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Batch:
    observations: list[str]
    actions: list[str]
    rewards: np.ndarray  # (batch,) float32
    next_observations: list[str]
    dones: np.ndarray  # (batch,) float32: 1.0 where the episode ended in the game (terminated)


class ReplayBuffer:
    """A FIFO of at most ``capacity`` transitions with uniform sampling from a seeded generator.

    ``done`` is ``terminated`` only: a truncated episode still has a value after its last step.
    """

    FIELDS = ("observation", "action", "reward", "next_observation", "done")

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.transitions: list[dict[str, Any]] = []
        self.start = 0  # index of the oldest transition once the buffer is full

    def __len__(self) -> int:
        return len(self.transitions)

    def add(
        self, observation: str, action: str, reward: float, next_observation: str, done: bool
    ) -> None:
        item = {
            "observation": observation,
            "action": action,
            "reward": float(reward),
            "next_observation": next_observation,
            "done": bool(done),
        }
        if len(self.transitions) < self.capacity:
            self.transitions.append(item)
        else:
            self.transitions[self.start] = item
            self.start = (self.start + 1) % self.capacity

    def add_trajectories(self, trajectories: Iterable[dict[str, Any]]) -> int:
        """Add every transition of trajectory records (archer_envs.datasets format)."""
        added = 0
        for trajectory in trajectories:
            for t in trajectory["transitions"]:
                self.add(
                    t["observation"],
                    t["action"],
                    t["reward"],
                    t["next_observation"],
                    t["terminated"],
                )
                added += 1
        return added

    def sample(self, batch_size: int) -> Batch:
        if not self.transitions:
            raise ValueError("cannot sample from an empty replay buffer")
        picks = [self.transitions[i] for i in self.rng.integers(len(self), size=batch_size)]
        return Batch(
            observations=[t["observation"] for t in picks],
            actions=[t["action"] for t in picks],
            rewards=np.array([t["reward"] for t in picks], dtype=np.float32),
            next_observations=[t["next_observation"] for t in picks],
            dones=np.array([t["done"] for t in picks], dtype=np.float32),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Transitions oldest first, one JSON object per line (written atomically)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        ordered = self.transitions[self.start :] + self.transitions[: self.start]
        with temporary.open("w", encoding="utf-8") as handle:
            for item in ordered:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        os.replace(temporary, path)

    def load(self, path: str | os.PathLike) -> None:
        """Replace the contents with a saved buffer (the newest ``capacity`` transitions)."""
        transitions = []
        try:
            with Path(path).open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    transitions.append(self._transition(line, f"{path}:{number}"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not a buffer (not UTF-8 text: {error})") from None
        self.transitions = transitions[-self.capacity :]
        self.start = 0

    @classmethod
    def _transition(cls, line: str, where: str) -> dict[str, Any]:
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not a buffer transition: {error}") from None
        if not isinstance(item, dict) or set(item) != set(cls.FIELDS):
            raise ValueError(f"{where}: not a buffer transition: expected the fields {cls.FIELDS}")
        texts = (item["observation"], item["action"], item["next_observation"])
        reward = item["reward"]
        if not all(isinstance(text, str) for text in texts) or not (
            type(reward) in (int, float) and math.isfinite(reward) and type(item["done"]) is bool
        ):
            raise ValueError(
                f"{where}: not a buffer transition: expected texts, a finite reward "
                "and a boolean done"
            )
        return item
