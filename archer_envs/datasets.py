"""Trajectories as JSON lines, and behaviour-cloning datasets from the scripted agents.

One episode per line:

    {"env_id": ..., "seed": ..., "options": ..., "target": ..., "agent": ...,
     "transitions": [{"observation", "action", "reward", "next_observation", "terminated",
                      "truncated"}, ...],
     "return": ..., "success": ...}

The same format serves BC datasets, replay-buffer dumps and leaderboard episode logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from archer_envs.agents import load_agent
from archer_envs.evaluation import evaluate

TRAJECTORY_KEYS = ("env_id", "seed", "options", "target", "transitions", "return", "success")
TRANSITION_KEYS = ("observation", "action", "reward", "next_observation", "terminated", "truncated")


def validate_trajectory(record: dict[str, Any]) -> None:
    """Raise ValueError naming what is missing or inconsistent in one trajectory record."""
    missing = [key for key in TRAJECTORY_KEYS if key not in record]
    if missing:
        raise ValueError(f"trajectory lacks {missing}")
    for step, transition in enumerate(record["transitions"]):
        absent = [key for key in TRANSITION_KEYS if key not in transition]
        if absent:
            raise ValueError(f"transition {step} lacks {absent}")
    total = sum(t["reward"] for t in record["transitions"])
    if abs(total - record["return"]) > 1e-6:
        raise ValueError(f"return {record['return']} differs from the summed rewards {total}")


def write_trajectories(records: Iterable[dict[str, Any]], path: str | os.PathLike) -> int:
    """Write records as JSON lines (atomically: a temporary file renamed at the end)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    count = 0
    with temporary.open("w") as handle:
        for record in records:
            validate_trajectory(record)
            handle.write(json.dumps(record) + "\n")
            count += 1
    temporary.replace(path)
    return count


def read_trajectories(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The records of a trajectory JSONL file, each checked; errors name the line."""
    with Path(path).open() as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                validate_trajectory(record)
            except (json.JSONDecodeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: not a valid trajectory: {error}") from error
            yield record


def generate_bc_dataset(
    env_id: str,
    path: str | os.PathLike,
    episodes: int = 1000,
    agent: str = "expert",
    epsilon: float = 0.0,
    seed: int = 0,
    num_envs: int = 16,
    progress: bool = True,
) -> dict[str, Any]:
    """Play a scripted agent (``epsilon`` > 0 makes the expert sub-optimal, as the paper's SFT
    data was) and write its episodes as trajectory JSONL. Returns the evaluation summary."""
    options = {"epsilon": epsilon} if agent == "expert" else {}
    if epsilon and agent != "expert":
        raise ValueError("epsilon applies to the expert agent only")
    policy = load_agent(agent, env_id, seed=seed, **options)
    name = f"{agent}(epsilon={epsilon})" if options else agent
    result = evaluate(
        policy,
        env_id,
        episodes=episodes,
        seed=seed,
        num_envs=num_envs,
        agent_name=name,
        progress=progress,
    )
    write_trajectories(({**r, "agent": name} for r in result.records), path)
    return result.summary()
