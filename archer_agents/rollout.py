"""Collect whole trajectories from a ``gymnasium.make_vec`` env with any batched agent."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

from archer_envs.agents import as_agent


def make_vector_env(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """The env's vector entry point: the sub-envs share one oracle, queries answered in batch."""
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **env_kwargs)  # fmt: skip


def collect_trajectories(
    agent: Any,
    envs: gym.vector.VectorEnv,
    num_trajectories: int,
    seed: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Play until ``num_trajectories`` episodes have ended and return them as trajectory
    records (archer_envs.datasets format), in the order they ended.

    ``seed`` seeds the sub-envs at the first reset (sub-env i gets seed + i); later episodes
    follow from their generators, so a seeded collection is reproducible. Uses the vector
    env's next-step autoreset: the step after an episode's end only resets that sub-env.
    """
    agent = as_agent(agent)
    env_id = envs.spec.id if envs.spec is not None else None
    observations, _ = envs.reset(seed=seed)
    observations = list(observations)
    episodes: list[list[dict[str, Any]]] = [[] for _ in range(envs.num_envs)]
    finished: list[dict[str, Any]] = []
    needs_reset = [False] * envs.num_envs
    with tqdm(total=num_trajectories, desc="rollouts", disable=not progress, leave=False) as bar:
        while len(finished) < num_trajectories:
            live = [None if needs_reset[i] else obs for i, obs in enumerate(observations)]
            actions = agent.act(live)
            actions = ["" if a is None else a for a in actions]
            next_observations, rewards, terminated, truncated, infos = envs.step(actions)
            for i in range(envs.num_envs):
                if needs_reset[i]:  # this step only reset sub-env i
                    needs_reset[i] = False
                    continue
                episodes[i].append({
                    "observation": observations[i], "action": actions[i],
                    "reward": float(rewards[i]), "next_observation": next_observations[i],
                    "terminated": bool(terminated[i]), "truncated": bool(truncated[i]),
                })  # fmt: skip
                if terminated[i] or truncated[i]:
                    needs_reset[i] = True
                    if len(finished) < num_trajectories:
                        finished.append(_record(env_id, episodes[i], infos, i))
                        bar.update(1)
                    episodes[i] = []
            observations = list(next_observations)
    return finished


def _record(env_id, transitions, infos, i) -> dict[str, Any]:
    """A trajectory record; a vector env's infos hold each key's values and a "_key" mask."""

    def value(key, default=None):
        present = key in infos and infos.get(f"_{key}", [True] * (i + 1))[i]
        return infos[key][i] if present else default

    return {
        "env_id": env_id,
        "seed": None,
        "options": None,
        "target": value("target"),
        "transitions": transitions,
        "return": sum(t["reward"] for t in transitions),
        "success": bool(value("success", False)),
    }
