"""evaluate(): play an agent on a fixed list of episodes and report comparable scores.

Episodes run in batches of ``num_envs`` parallel envs that share one oracle; the agent acts on
the whole batch at once and the oracle answers each step's questions in one call. Every episode
is recorded in the trajectory format of archer_envs.datasets; results files hold them compact
(``compact_record``: each step's new text only), and ``expand_record`` restores them.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

from archer_envs.agents import as_agent
from archer_envs.core import answer_in_batch, check_env_id, shared_oracle_kwargs


@dataclass
class EvaluationResult:
    env_id: str
    agent: str
    episodes: int
    mean_return: float
    stderr_return: float
    success_rate: float
    mean_turns: float
    records: list[dict[str, Any]] = field(repr=False)
    decoding: str | None = None  # "greedy", "sampled (temperature 1)", ... when the agent says

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "records"}

    def __str__(self) -> str:
        how = f" [{self.decoding}]" if self.decoding else ""
        return (
            f"{self.agent}{how} on {self.env_id}: return {self.mean_return:.2f} ± "
            f"{self.stderr_return:.2f}, success {100 * self.success_rate:.1f}%, "
            f"{self.mean_turns:.1f} turns ({self.episodes} episodes)"
        )

    def save(self, path: str | os.PathLike) -> None:
        """The summary and every episode (compact: ``compact_record``) as one JSON file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        episodes = ",\n".join(json.dumps(compact_record(r)) for r in self.records)
        path.write_text(
            f'{{"summary": {json.dumps(self.summary(), indent=1)},\n'
            f'"episodes": [\n{episodes}\n]}}\n'
        )


def compact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A trajectory record with its transcript written once: the first observation (``start``),
    then per step the action, the reward and the next observation as what changed: ``"more"``
    (the text it adds when the observation grows as a transcript) or ``"edit"`` (when it does
    not, as in text adventures: the lines of the previous one it keeps and the new lines,
    ``_line_edit``), and the agent's raw reply where it gave one."""
    transitions = record["transitions"]
    steps = []
    for t in transitions:
        step: dict[str, Any] = {"action": t["action"], "reward": t["reward"]}
        previous, following = t["observation"], t["next_observation"]
        if previous and following.startswith(previous):
            step["more"] = following[len(previous) :]
        else:
            step["edit"] = _line_edit(previous, following)
        if t.get("raw_reply") is not None:
            step["raw_reply"] = t["raw_reply"]
        steps.append(step)
    compact = {k: v for k, v in record.items() if k != "transitions"}
    compact["start"] = transitions[0]["observation"] if transitions else ""
    compact["steps"] = steps
    compact["terminated"] = bool(transitions and transitions[-1]["terminated"])
    compact["truncated"] = bool(transitions and transitions[-1]["truncated"])
    return compact


def _line_edit(previous: str, following: str) -> list[int | str]:
    """How ``following`` is made from ``previous``, line by line (difflib): an int n > 0 keeps
    the next n lines of ``previous``, n < 0 skips -n of them, a str is new text."""
    old, new = previous.splitlines(keepends=True), following.splitlines(keepends=True)
    edit: list[int | str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for operation, i1, i2, j1, j2 in matcher.get_opcodes():
        if operation == "equal":
            edit.append(i2 - i1)
            continue
        if i2 > i1:
            edit.append(i1 - i2)
        if j2 > j1:
            edit.append("".join(new[j1:j2]))
    return edit


def _apply_edit(previous: str, edit: list[int | str]) -> str:
    lines, at, out = previous.splitlines(keepends=True), 0, []
    for item in edit:
        if isinstance(item, str):
            out.append(item)
        elif item > 0:
            out += lines[at : at + item]
            at += item
        else:
            at -= item
    return "".join(out)


def expand_record(compact: dict[str, Any]) -> dict[str, Any]:
    """The trajectory record (archer_envs.datasets' format) that ``compact_record`` wrote."""
    record = {
        k: v for k, v in compact.items() if k not in ("start", "steps", "terminated", "truncated")
    }
    observation, transitions = compact["start"], []
    for number, step in enumerate(compact["steps"], 1):
        if "more" in step:
            following = observation + step["more"]
        else:
            following = _apply_edit(observation, step["edit"])
        last = number == len(compact["steps"])
        transition = {
            "observation": observation,
            "action": step["action"],
            "reward": step["reward"],
            "next_observation": following,
            "terminated": last and compact["terminated"],
            "truncated": last and compact["truncated"],
        }
        if "raw_reply" in step:
            transition["raw_reply"] = step["raw_reply"]
        transitions.append(transition)
        observation = following
    record["transitions"] = transitions
    return record


def episode_list(
    env: gym.Env, episodes: int | Sequence[dict[str, Any]] | None, seed: int
) -> list[tuple[int, dict[str, Any] | None]]:
    """(reset seed, reset options) per episode: ``None`` -> the env's own fixed list (every
    object once) or 100 seeds; an int N -> N seeds; a list -> those reset options (``None``
    for a seeded episode, as an env without a fixed list records them)."""
    if episodes is None:
        options = getattr(env.unwrapped, "episode_options", None)
        episodes = options() if options is not None else 100
    if isinstance(episodes, int):
        if episodes < 1:
            raise ValueError(f"episodes must be at least 1, got {episodes}")
        return [(seed + i, None) for i in range(episodes)]
    return [
        (seed + i, None if options is None else dict(options)) for i, options in enumerate(episodes)
    ]


def evaluate(
    agent: Any,
    env_id: str,
    episodes: int | Sequence[dict[str, Any]] | None = None,
    seed: int = 0,
    num_envs: int = 8,
    env_kwargs: dict[str, Any] | None = None,
    agent_name: str | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Mean return ± standard error, success rate and mean turns of ``agent`` on ``env_id``."""
    agent = as_agent(agent)
    check_env_id(env_id)
    env_kwargs = dict(env_kwargs or {})
    first = gym.make(env_id, **env_kwargs)
    shared = shared_oracle_kwargs(first.unwrapped, env_kwargs)
    plan = episode_list(first, episodes, seed)
    envs = [first] + [gym.make(env_id, **shared) for _ in range(min(num_envs, len(plan)) - 1)]
    name = agent_name or getattr(agent, "name", type(agent).__name__)
    records: list[dict[str, Any]] = []
    with tqdm(total=len(plan), desc=f"{name} on {env_id}", disable=not progress) as bar:
        for start in range(0, len(plan), len(envs)):
            batch = plan[start : start + len(envs)]
            records.extend(_play_batch(agent, env_id, envs[: len(batch)], batch, bar))
    for env in envs:
        env.close()
    returns = [r["return"] for r in records]
    n = len(returns)
    mean = sum(returns) / n
    stderr = math.sqrt(sum((x - mean) ** 2 for x in returns) / (n - 1) / n) if n > 1 else 0.0
    return EvaluationResult(
        env_id=env_id,
        agent=name,
        episodes=n,
        mean_return=mean,
        stderr_return=stderr,
        success_rate=sum(r["success"] for r in records) / n,
        mean_turns=sum(len(r["transitions"]) for r in records) / n,
        records=records,
        decoding=decoding_of(agent),
    )


def decoding_of(agent: Any) -> str | None:
    """How an agent chooses its actions, as far as it says: its ``decoding`` attribute, or
    greedy / sampled from a boolean ``greedy`` attribute (trained policies)."""
    decoding = getattr(agent, "decoding", None)
    if isinstance(decoding, str):
        return decoding
    greedy = getattr(agent, "greedy", None)
    if isinstance(greedy, bool):
        temperature = getattr(agent, "temperature", None)
        at = f" (temperature {temperature:g})" if isinstance(temperature, (int, float)) else ""
        return "greedy" if greedy else f"sampled{at}"
    return None


def _play_batch(agent, env_id, envs, batch, bar) -> list[dict[str, Any]]:
    observations: list[str | None] = []
    tasks = []
    records = []
    for env, (seed, options) in zip(envs, batch, strict=True):
        observation, info = env.reset(seed=seed, options=options)
        observations.append(observation)
        tasks.append(info.get("task", ""))
        records.append({"env_id": env_id, "seed": seed, "options": options, "transitions": []})
    if hasattr(agent, "reset"):
        agent.reset(tasks)
    while any(obs is not None for obs in observations):
        actions = agent.act(list(observations))
        if not isinstance(actions, (list, tuple)) or len(actions) != len(observations):
            raise TypeError(
                f"agent.act must return one action per observation ({len(observations)}), "
                f"got {actions!r:.200}"
            )
        raw = getattr(agent, "raw_replies", None)
        raw = raw if isinstance(raw, list) and len(raw) == len(observations) else None
        live = [i for i, obs in enumerate(observations) if obs is not None]
        for i in live:
            if not isinstance(actions[i], str):
                raise TypeError(f"agent returned a {type(actions[i]).__name__}, not a str action")
        answer_in_batch([envs[i].unwrapped for i in live], [actions[i] for i in live])
        for i in live:
            observation, reward, terminated, truncated, info = envs[i].step(actions[i])
            transition = {
                "observation": observations[i],
                "action": actions[i],
                "reward": reward,
                "next_observation": observation,
                "terminated": terminated,
                "truncated": truncated,
            }
            if raw is not None and raw[i] is not None and raw[i] != actions[i]:
                transition["raw_reply"] = raw[i]
            records[i]["transitions"].append(transition)
            observations[i] = observation
            if terminated or truncated:
                observations[i] = None
                records[i]["target"] = info.get("target")
                records[i]["return"] = sum(t["reward"] for t in records[i]["transitions"])
                records[i]["success"] = bool(info.get("success", False))
                bar.update(1)
    return records
