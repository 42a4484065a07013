"""Collect whole trajectories from a ``gymnasium.make_vec`` env with any batched agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

from archer_envs.agents import as_agent


def make_vector_env(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """The env's vector entry point: the sub-envs share one oracle, queries answered in batch."""
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs
    )


def collect_trajectories(
    agent: Any,
    envs: gym.vector.VectorEnv,
    num_trajectories: int,
    seed: int | None = None,
    progress: bool = True,
    options: Sequence[dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Play exactly ``num_trajectories`` episodes to their end and return them as trajectory
    records (archer_envs.datasets format), in the order they started.

    No new episode starts once ``num_trajectories`` have started, and every started one is
    played out: stopping at the first episodes to *end* would keep the short ones and bias the
    data toward success. ``seed`` seeds the sub-envs at the first reset (sub-env i gets
    seed + i); later episodes follow from their generators, so a seeded collection is
    reproducible. Uses the vector env's next-step autoreset: the step after an episode's end
    only resets that sub-env.

    ``options``, one per episode, are the reset options episode k starts with (e.g. the same
    target for a group of episodes); each sub-env is then reset on its own as its episode
    starts, which needs a synchronous vector env (its ``envs``).
    """
    agent = as_agent(agent)
    env_id = envs.spec.id if envs.spec is not None else None
    if options is not None and (len(options) != num_trajectories or not hasattr(envs, "envs")):
        raise ValueError(
            f"options must hold one reset option per episode ({num_trajectories}, "
            f"got {len(options)}) and envs be a synchronous vector env"
        )
    observations, _ = envs.reset(seed=seed)
    observations = list(observations)
    count = envs.num_envs

    def start(i: int, k: int) -> None:
        """Sub-env i begins episode k: with its reset options, where they are given."""
        if options is not None:
            observations[i] = envs.envs[i].reset(options=options[k])[0]

    # the episode each sub-env is playing (an index into ``records``), None when idle
    playing: list[int | None] = [i if i < num_trajectories else None for i in range(count)]
    started = min(count, num_trajectories)
    records: list[list[dict[str, Any]]] = [[] for _ in range(started)]
    infos_at_end: dict[int, dict[str, Any]] = {}
    needs_reset = [False] * count
    for i in range(started):
        start(i, i)
    with tqdm(total=num_trajectories, desc="rollouts", disable=not progress, leave=False) as bar:
        while len(infos_at_end) < num_trajectories:
            live = [
                None if needs_reset[i] or playing[i] is None else obs
                for i, obs in enumerate(observations)
            ]
            actions = agent.act(live)
            actions = ["" if a is None else a for a in actions]
            next_observations, rewards, terminated, truncated, infos = envs.step(actions)
            observations_before, observations = observations, list(next_observations)
            for i in range(count):
                if needs_reset[i]:  # this step only reset sub-env i: a new episode, if wanted
                    needs_reset[i] = False
                    if started < num_trajectories:
                        playing[i], started = started, started + 1
                        records.append([])
                        start(i, playing[i])
                    continue
                if playing[i] is None:
                    continue
                transition = {
                    "observation": observations_before[i],
                    "action": actions[i],
                    "reward": float(rewards[i]),
                    "next_observation": next_observations[i],
                    "terminated": bool(terminated[i]),
                    "truncated": bool(truncated[i]),
                }
                records[playing[i]].append(transition)
                if terminated[i] or truncated[i]:
                    infos_at_end[playing[i]] = _final_info(infos, i)
                    needs_reset[i], playing[i] = True, None
                    bar.update(1)
    return [
        _record(env_id, records[k], infos_at_end[k], None if options is None else options[k])
        for k in range(num_trajectories)
    ]


def _final_info(infos, i) -> dict[str, Any]:
    """Sub-env i's info from a vector env's infos (each key's values and a "_key" mask; a dict
    value, such as Detective's final ``state``, holds its keys' values and masks the same way)."""
    return {
        key: _final_info(values, i) if isinstance(values, dict) else values[i]
        for key, values in infos.items()
        if not key.startswith("_") and infos.get(f"_{key}", [True] * (i + 1))[i]
    }


def _record(env_id, transitions, info, options=None) -> dict[str, Any]:
    return {
        "env_id": env_id,
        "seed": None,
        "options": options,
        "target": info.get("target"),
        "transitions": transitions,
        "return": sum(t["reward"] for t in transitions),
        "success": bool(info.get("success", False)),
    }
