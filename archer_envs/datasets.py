"""Trajectories as JSON lines, and behaviour-cloning datasets from the scripted agents.

One episode per line:

    {"env_id": ..., "seed": ..., "options": ..., "target": ..., "agent": ...,
     "transitions": [{"observation", "action", "reward", "next_observation", "terminated",
                      "truncated"}, ...],
     "return": ..., "success": ...}

The same format serves BC datasets, replay-buffer dumps and leaderboard episode logs;
``convert_upstream`` writes it from the paper's conversation files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from archer_envs.agents import load_agent
from archer_envs.evaluation import evaluate
from archer_envs.question_game import QuestionGameEnv

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


def convert_upstream(
    source: str | os.PathLike,
    env_id: str,
    path: str | os.PathLike,
    skip_bad: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert the paper's conversation files into trajectory JSONL, replaying each conversation's
    questions through ``env_id`` with its target, so that answers, rewards and the end of the
    episode are our env's (its oracle answers, its guess rule), not the file's.

    The files (ArCHer's ``dataset/twenty_questions.json`` and ``guess_my_city.json``, LMRL-Gym's
    20Q and City data, OfflineArcher's ``20q_train.json``) are a JSON list, or JSON lines, of

        {"word": "Pen" | "Pants;Pant;Pair of pants" | ["Pants", "Pant"] | "Seoul, South Korea",
         "lines": ["Is it alive? No.", ...], "correct": true}

    with ``conversation`` accepted in place of ``lines``; each line is a question and the
    upstream oracle's answer, split at the last "? ". A conversation is replayed until our env
    ends the episode (a correct guess by our rule, or its turn limit); one that stops before is
    kept with its last transition ``truncated``. A record that is not of this shape, or whose
    word is not a target of the env, is a ValueError naming the file and the record, or with
    ``skip_bad`` is left out and counted. Returns a summary; ``upstream_disagrees`` counts the
    conversations whose ``correct`` differs from our env's verdict."""
    import gymnasium as gym

    source = Path(source)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{source}: cannot read it as text: {error}") from None
    records = _upstream_records(text, source)
    env = gym.make(env_id)
    if not isinstance(env.unwrapped, QuestionGameEnv):
        env.close()
        raise ValueError(
            f"upstream conversations are Twenty Questions and Guess My City games; "
            f"{env_id} is neither"
        )
    converted, skipped, disagrees = [], [], 0
    for number, record in enumerate(
        tqdm(records, desc="replaying", leave=False, disable=not progress)
    ):
        try:
            trajectory = _replay(env, record, f"upstream:{source.name}")
        except ValueError as error:
            if not skip_bad:
                raise ValueError(
                    f"{source}: record {number}: {error} (use --skip-bad to leave such records out)"
                ) from None
            skipped.append(f"record {number}: {error}")
            continue
        if isinstance(record.get("correct"), bool) and record["correct"] != trajectory["success"]:
            disagrees += 1
        converted.append(trajectory)
    env.close()
    if not converted:
        raise ValueError(
            f"{source}: no record could be converted"
            + (f"; first problem: {skipped[0]}" if skipped else "")
        )
    write_trajectories(converted, path)
    returns = [t["return"] for t in converted]
    return {
        "episodes": len(converted),
        "skipped": len(skipped),
        "problems": skipped[:5],
        "mean_return": sum(returns) / len(returns),
        "success_rate": sum(t["success"] for t in converted) / len(converted),
        "upstream_disagrees": disagrees,
    }


def _upstream_records(text: str, source: Path) -> list[Any]:
    """The file's records: a JSON list, or one JSON value per line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{source}:{number}: neither a JSON file nor JSON lines: {error}"
                    ) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"{source}: expected a list of conversations, got {type(data).__name__}")
    return data


def _target_names(word: Any) -> list[str]:
    """The names a record's word may go by: its ";"-separated variants (or a list of them),
    and for "City, Country" the city alone too."""
    if isinstance(word, str):
        names = word.split(";")
    elif isinstance(word, list) and word and all(isinstance(w, str) for w in word):
        names = list(word)
    else:
        raise ValueError(f'"word" must be a name or a list of names, got {word!r}')
    return [n.strip() for n in names] + [n.split(",")[0].strip() for n in names if "," in n]


def _replay(env: Any, record: Any, agent: str) -> dict[str, Any]:
    if not isinstance(record, dict) or "word" not in record:
        raise ValueError('not a conversation: expected an object with "word" and "lines"')
    lines = record.get("lines", record.get("conversation"))
    if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
        raise ValueError(
            '"lines" (or "conversation") must be a non-empty list of strings "question? answer"'
        )
    questions = []
    for turn, line in enumerate(lines):
        question, separator, _ = line.strip().rpartition("? ")
        if not separator or not question.strip():
            raise ValueError(f'line {turn} is not "question? answer": {line!r}')
        questions.append(question.strip() + "?")
    names = _target_names(record["word"])
    for name in names:
        try:
            observation, _ = env.reset(options={"target": name})
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"{record['word']!r} is not a target of {env.spec.id}")
    transitions, info = [], {}
    for question in questions:
        next_observation, reward, terminated, truncated, info = env.step(question)
        transitions.append(
            {
                "observation": observation,
                "action": question,
                "reward": reward,
                "next_observation": next_observation,
                "terminated": terminated,
                "truncated": truncated,
            }
        )
        observation = next_observation
        if terminated or truncated:
            break
    else:  # the conversation stopped before our env ended the episode
        transitions[-1]["truncated"] = True
    return {
        "env_id": env.spec.id,
        "seed": None,
        "options": {"target": env.unwrapped.target},
        "target": env.unwrapped.target,
        "agent": agent,
        "transitions": transitions,
        "return": sum(t["reward"] for t in transitions),
        "success": bool(info.get("success", False)),
    }
