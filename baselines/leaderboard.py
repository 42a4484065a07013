"""archer-leaderboard: every entry on each env's fixed test episodes, resumable; tables, a page
and a chart per env.

    archer-leaderboard run --suite cpu [--entries NAME|FILE ...] [--envs ID ...] [--limit N]
    archer-leaderboard render
    archer-leaderboard replay --entry NAME --env ID --episode I

An entry is a JSON file in baselines/entries/ (or any file given to ``--entries``):

    {"description": "...", "envs": ["archer/TwentyQuestionsSubset-v0"], "seed": 0,
     "agent": "random" | "expert" | "openai:<model>" | "hf:<name-or-path>" | "pkg.mod:attr",
     "agent_kwargs": {...}}

or, for a trained agent, instead of "agent" a training budget that names any algorithm of
archer-train (``bc`` or a key of ``archer_agents.train.ALGORITHMS``) generically:

    "train": {"algo": "archer", "preset": "cpu", "init": "bc", "set": {"iterations": 16},
              "buffer_data": [{"run": "bc", "file": "dataset.jsonl"},
                              {"agent": "expert", "epsilon": 0.5, "episodes": 1000}]}

(``init`` and ``{"run": ...}`` name other entries, trained first; ``{"agent": ...}`` is
scripted data that ``archer-envs dataset`` would make; ``dataset`` is an offline algorithm's
data, in the same forms). ``"trained": "bc"`` evaluates another entry's trained run, e.g. with
``"agent_kwargs": {"greedy": false}``. Run folders go to ``--runs`` (runs/leaderboard).

Each env of a suite has a fixed list of test episodes: every target of its test split (every
object, city or goal; Detective's one start) a fixed number of times, with the reset seed the
episode's index. Episodes run in chunks of ``CHUNK``; the agent is built afresh for every chunk
with the seed ``seed * 1000003 + first index``, so a run stopped anywhere and started again
gives the same episodes as one run straight through, and finished chunks are never played
again. Per (env, entry) the results folder holds ``episodes.jsonl`` (one line per episode: its
index, seed, options, target, return, success, turns, actions and rewards, the agent's raw
replies where it gave any; the envs are deterministic given these, so ``replay`` shows the
whole transcript) and ``summary.json``. ``render`` writes LEADERBOARD.md, leaderboard.html and
one PNG chart per env from the summaries alone, identically every time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import html
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

import archer_envs
from archer_envs.agents import load_agent, scripted_agents
from archer_envs.cli import run_command
from archer_envs.core import check_env_id
from archer_envs.evaluation import evaluate

HERE = Path(__file__).resolve().parent
ENTRIES_DIR = HERE / "entries"
RESULTS_DIR = HERE / "results" / "leaderboard"
RUNS_DIR = Path("runs/leaderboard")
CHUNK = 20  # episodes per chunk: the unit of resumption (part of every result's identity)

# suite -> env id -> how many times its test split is played
SUITES: dict[str, dict[str, int]] = {
    "cpu": {
        "archer/TwentyQuestionsSubset-v0": 10,  # 10 objects: 100 episodes
        "archer/TwentyQuestions-v0": 2,  # 157 objects: 314
        "archer/GuessMyCity-v0": 2,  # 100 cities: 200
        "archer/Detective-v0": 100,  # one fixed start: 100
        "archer/WebShop-v0": 1,  # 500 test goals: 500
    },
}
ENTRY_KEYS = {"description", "envs", "seed", "agent", "agent_kwargs", "train", "trained", "suites"}
TRAIN_KEYS = {"algo", "preset", "init", "set", "dataset", "buffer_data"}


class LeaderboardError(ValueError):
    """Bad input (an entry file, an option, results made by another entry): one line."""


@dataclass(frozen=True)
class Entry:
    name: str
    file: str
    envs: tuple[str, ...]
    description: str = ""
    seed: int = 0
    agent: str | None = None
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] | None = None
    trained: str | None = None
    suites: tuple[str, ...] = ("cpu",)

    def spec(self) -> dict[str, Any]:
        """What its results depend on (a changed entry cannot reuse old episodes)."""
        return {
            "agent": self.agent,
            "agent_kwargs": self.agent_kwargs,
            "train": self.train,
            "trained": self.trained,
            "seed": self.seed,
        }


def load_entry(path: Path) -> Entry:
    """An entry file, checked: unknown keys, a missing agent, wrong types are one error."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LeaderboardError(f"entry {path}: not a readable JSON file: {error}") from None
    if not isinstance(data, dict):
        raise LeaderboardError(f"entry {path}: must be a JSON object")
    unknown = sorted(set(data) - ENTRY_KEYS)
    if unknown:
        raise LeaderboardError(f"entry {path}: unknown keys {unknown}; known: {sorted(ENTRY_KEYS)}")
    ways = [key for key in ("agent", "train", "trained") if data.get(key) is not None]
    if len(ways) != 1:
        raise LeaderboardError(
            f"entry {path}: give exactly one of 'agent' (a spec), 'train' "
            f"(a training budget) or 'trained' (another entry's name)"
        )
    envs = data.get("envs")
    if not (isinstance(envs, list) and envs and all(isinstance(e, str) for e in envs)):
        raise LeaderboardError(f"entry {path}: 'envs' must be a non-empty list of env ids")
    train = data.get("train")
    if train is not None:
        if not isinstance(train, dict) or not isinstance(train.get("algo"), str):
            raise LeaderboardError(f"entry {path}: 'train' must be an object with 'algo'")
        bad = sorted(set(train) - TRAIN_KEYS)
        if bad:
            raise LeaderboardError(
                f"entry {path}: unknown train keys {bad}; known: {sorted(TRAIN_KEYS)}"
            )
    kwargs = data.get("agent_kwargs", {})
    if not isinstance(kwargs, dict):
        raise LeaderboardError(f"entry {path}: 'agent_kwargs' must be an object")
    seed = data.get("seed", 0)
    if type(seed) is not int:
        raise LeaderboardError(f"entry {path}: 'seed' must be an integer")
    return Entry(
        name=path.stem,
        file=_relative(path),
        envs=tuple(envs),
        description=str(data.get("description", "")),
        seed=seed,
        agent=data.get("agent"),
        agent_kwargs=kwargs,
        train=train,
        trained=data.get("trained"),
        suites=tuple(data.get("suites", ["cpu"])),
    )


def load_entries(entries_dir: Path, selected: Sequence[str] = ()) -> dict[str, Entry]:
    """Every entry of ``entries_dir`` and the ``selected`` files; with ``selected``, only
    those (names of entries or paths of files), plus what they are trained from."""
    entries = {p.stem: load_entry(p) for p in sorted(entries_dir.glob("*.json"))}
    chosen = []
    for item in selected:
        if item.endswith(".json") or os.sep in item or "/" in item:
            entry = load_entry(Path(item))
            entries[entry.name] = entry
            chosen.append(entry.name)
        elif item in entries:
            chosen.append(item)
        else:
            raise LeaderboardError(
                f"no entry {item!r} in {_relative(entries_dir)}: use one of "
                f"{sorted(entries)} or the path of an entry file"
            )
    chosen = chosen or list(entries)
    return {name: entries[name] for name in [*chosen, *_dependencies(entries, chosen)]}


def _dependencies(entries: dict[str, Entry], names: Sequence[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        entry = entries[name]
        train = entry.train or {}
        needed = [entry.trained, train.get("init")]
        for data in [train.get("dataset"), *train.get("buffer_data", [])]:
            if isinstance(data, dict):
                needed.append(data.get("run"))
        for other in filter(None, needed):
            if other not in entries:
                raise LeaderboardError(
                    f"entry {entry.file} needs entry {other!r}, which does not exist"
                )
            found += [other, *_dependencies(entries, [other])]
    return found


def episode_plan(env_id: str, repeats: int) -> tuple[list[dict[str, Any]], str]:
    """The fixed test episodes: the env's test split (``episode_options``: every object, city
    or test goal once; a fixed-start game: one start) ``repeats`` times over; and the name of
    the env's oracle."""
    env = gym.make(env_id).unwrapped
    options = env.episode_options() if hasattr(env, "episode_options") else [{}]
    oracle = getattr(env, "oracle", None)
    env.close()
    name = type(oracle).__name__ if oracle is not None else "none (the game engine)"
    return [dict(o) for _ in range(repeats) for o in options], name


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text.removeprefix("archer/")).strip("_")


def _relative(path: Path) -> str:
    """A path as the user would write it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- training -----------------------------------------------------------------------------------


def ensure_trained(
    name: str, env_id: str, entries: dict[str, Entry], runs: Path, progress: bool
) -> dict[str, Any]:
    """Train entry ``name`` on ``env_id`` (and what it starts from) unless its run folder holds
    the finished run; returns its training record (``training.json`` in the run folder)."""
    entry = entries[name]
    if entry.trained is not None:
        return ensure_trained(entry.trained, env_id, entries, runs, progress)
    if entry.train is None:
        raise LeaderboardError(f"entry {name!r} is not a trained entry")
    run_dir = runs / name / slug(env_id)
    record_path = run_dir / "training.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    if run_dir.exists():
        raise LeaderboardError(
            f"{run_dir} holds an unfinished training run (no training.json): "
            "delete it to train again"
        )
    from archer_agents.train import make_config, train_bc_run, train_run

    train = entry.train
    init = train.get("init")
    init_record = ensure_trained(init, env_id, entries, runs, progress) if init else None
    data_files: dict[str, int] = dict(init_record["data_files"]) if init_record else {}

    def data_path(data: Any) -> str:
        path = resolve_data(data, env_id, entries, runs, entry, progress)
        data_files[path] = _count_lines(path)
        return path

    dataset = data_path(train["dataset"]) if train.get("dataset") is not None else None
    buffer = [data_path(d) for d in train.get("buffer_data", [])]
    algo, preset, overrides = train["algo"], train.get("preset", "cpu"), train.get("set", {})
    config = make_config(algo, preset, env_id, **overrides)
    started = time.perf_counter()
    if algo == "bc":
        train_bc_run(
            env_id,
            str(run_dir),
            seed=entry.seed,
            dataset=dataset,
            config=config,
            device="cpu",
            progress=progress,
        )
        if dataset is None:
            data_files[str(run_dir / "dataset.jsonl")] = _count_lines(run_dir / "dataset.jsonl")
        online = 0
    else:
        data = [dataset, *buffer] if dataset else buffer
        rows = train_run(
            env_id,
            str(run_dir),
            config,
            algo,
            seed=entry.seed,
            init=init_record["run"] if init_record else None,
            device="cpu",
            progress=progress,
            buffer_data=data,
        )
        online = rows[-1]["trajectories"] if rows else 0
    seconds = round(time.perf_counter() - started, 1)
    before = init_record or {"online_trajectories_total": 0, "seconds_total": 0.0}
    online_total = online + before["online_trajectories_total"]
    record = {
        "entry": name,
        "algo": algo,
        "preset": preset,
        "set": overrides,
        "init": init,
        "seed": entry.seed,
        "run": str(run_dir),
        "seconds": seconds,
        "seconds_total": round(seconds + before["seconds_total"], 1),
        "online_trajectories": online,
        "online_trajectories_total": online_total,
        "data_files": data_files,
        "samples": online_total + sum(data_files.values()),
        "config": dataclasses.asdict(config),
    }
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def resolve_data(
    data: Any, env_id: str, entries: dict[str, Entry], runs: Path, entry: Entry, progress: bool
) -> str:
    """A training data file: ``{"run": entry, "file": name}`` (a file of another entry's run,
    trained first) or ``{"agent": ..., "epsilon": ..., "episodes": ...}`` (scripted data,
    generated once with the entry's seed)."""
    if isinstance(data, dict) and "run" in data:
        record = ensure_trained(data["run"], env_id, entries, runs, progress)
        path = Path(record["run"]) / data.get("file", "dataset.jsonl")
        if not path.is_file():
            raise LeaderboardError(f"entry {entry.file}: {path} does not exist")
        return str(path)
    if isinstance(data, dict) and "agent" in data:
        from archer_envs.datasets import generate_bc_dataset

        options = {"episodes": 1000, "epsilon": 0.0, **data}
        name = f"{options['agent']}-eps{options['epsilon']:g}-{options['episodes']}"
        path = runs / "data" / slug(env_id) / f"{name}-seed{entry.seed}.jsonl"
        if not path.is_file():
            generate_bc_dataset(env_id, path, seed=entry.seed, progress=progress, **options)
        return str(path)
    raise LeaderboardError(
        f"entry {entry.file}: training data must be {{'run': ENTRY, 'file': "
        f"NAME}} or {{'agent': ..., 'episodes': ...}}, got {data!r}"
    )


def _count_lines(path: str | Path) -> int:
    with open(path) as handle:
        return sum(1 for line in handle if line.strip())


# --- running ------------------------------------------------------------------------------------


def make_agent(entry: Entry, env_id: str, seed: int, entries: dict[str, Entry], runs: Path):
    """The entry's agent for one chunk (built afresh, seeded by the chunk)."""
    if entry.agent is not None:
        options = dict(entry.agent_kwargs)
        if entry.agent.startswith("openai:"):
            options.setdefault("api_key_env", "OPENAI_API_KEY")
        return load_agent(entry.agent, env_id, seed=seed, **options)
    source = entry.trained or entry.name
    while entries[source].trained is not None:
        source = entries[source].trained
    return load_agent(str(runs / source / slug(env_id)), env_id, seed=seed, **entry.agent_kwargs)


def read_episodes(path: Path, planned: int) -> dict[int, dict[str, Any]]:
    """The finished chunks' episodes of an ``episodes.jsonl`` (a line cut short by a kill, and
    the rest of its chunk, are dropped; the file is rewritten without them)."""
    if not path.is_file():
        return {}
    episodes: dict[int, dict[str, Any]] = {}
    text = path.read_text()
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed run
        if isinstance(row, dict) and isinstance(row.get("index"), int):
            episodes[row["index"]] = row
    complete = {}
    for start in range(0, planned, CHUNK):
        indices = range(start, min(start + CHUNK, planned))
        if all(i in episodes for i in indices):
            complete.update({i: episodes[i] for i in indices})
    kept = "".join(json.dumps(complete[i]) + "\n" for i in sorted(complete))
    if text != kept:
        path.write_text(kept)
    return complete


def episode_line(index: int, record: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One episode, compact: the actions, rewards and raw replies; the observations follow from
    the env given its seed, options and these actions (``replay``)."""
    line = {
        "index": index,
        "seed": record["seed"],
        "options": record["options"],
        "target": record.get("target"),
        "return": record["return"],
        "success": record["success"],
        "turns": len(record["transitions"]),
        "seconds": round(seconds, 4),
        "actions": [t["action"] for t in record["transitions"]],
        "rewards": [t["reward"] for t in record["transitions"]],
    }
    raw = {str(k): t["raw_reply"] for k, t in enumerate(record["transitions"]) if "raw_reply" in t}
    if raw:
        line["raw_replies"] = raw
    return line


def run_entry(
    entry: Entry,
    env_id: str,
    suite: str,
    entries: dict[str, Entry],
    results: Path,
    runs: Path,
    limit: int | None = None,
    num_envs: int = 16,
    progress: bool = True,
) -> dict[str, Any]:
    """Play the entry's unfinished chunks of ``env_id``'s test episodes (up to the chunks that
    hold the first ``limit``); write its episodes and summary; return the summary."""
    folder = results / slug(env_id) / entry.name
    plan, oracle = episode_plan(env_id, SUITES[suite][env_id])
    identity = {"suite": suite, "chunk": CHUNK, "planned": len(plan), **entry.spec()}
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        old = json.loads(summary_path.read_text()).get("identity")
        if old != identity:
            changed = sorted(k for k in identity if (old or {}).get(k) != identity[k])
            raise LeaderboardError(
                f"{_relative(folder)} holds results of another version of "
                f"entry {entry.name!r} (changed: {', '.join(changed)}): "
                "delete the folder to run it again"
            )
    episodes_path = folder / "episodes.jsonl"
    done = read_episodes(episodes_path, len(plan))
    training = None
    if entry.train or entry.trained:
        training = ensure_trained(entry.name, env_id, entries, runs, progress)
    end = len(plan) if limit is None else min(len(plan), math.ceil(limit / CHUNK) * CHUNK)
    todo = [s for s in range(0, end, CHUNK) if s not in done]
    decoding = None
    for number, start in enumerate(todo, 1):
        stop = min(start + CHUNK, len(plan))
        began = time.perf_counter()
        agent = make_agent(entry, env_id, entry.seed * 1_000_003 + start, entries, runs)
        result = evaluate(
            agent,
            env_id,
            episodes=plan[start:stop],
            seed=start,
            num_envs=min(num_envs, stop - start),
            agent_name=entry.name,
            progress=False,
        )
        decoding = result.decoding
        share = (time.perf_counter() - began) / (stop - start)
        lines = [episode_line(start + k, r, share) for k, r in enumerate(result.records)]
        folder.mkdir(parents=True, exist_ok=True)
        with episodes_path.open("a") as handle:  # one write per chunk
            handle.write("".join(json.dumps(line) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        done.update({line["index"]: line for line in lines})
        write_summary(summary_path, entry, env_id, identity, done, decoding, training, oracle)
        if progress:
            print(
                f"  {entry.name} on {env_id}: chunk {number}/{len(todo)} "
                f"({len(done)}/{len(plan)} episodes)",
                flush=True,
            )
    if not summary_path.is_file():
        raise LeaderboardError(f"{entry.name} on {env_id}: no episode was played")
    return json.loads(summary_path.read_text())


def write_summary(
    path: Path,
    entry: Entry,
    env_id: str,
    identity: dict[str, Any],
    episodes: dict[int, dict[str, Any]],
    decoding: str | None,
    training: dict[str, Any] | None,
    oracle: str,
) -> None:
    rows = [episodes[i] for i in sorted(episodes)]
    n = len(rows)
    returns = [r["return"] for r in rows]
    mean = sum(returns) / n
    stderr = math.sqrt(sum((x - mean) ** 2 for x in returns) / (n - 1) / n) if n > 1 else 0.0
    summary = {
        "entry": entry.name,
        "env_id": env_id,
        "description": entry.description,
        "episodes": n,
        "planned": identity["planned"],
        "complete": n == identity["planned"],
        "mean_return": round(mean, 6),
        "stderr_return": round(stderr, 6),
        "success_rate": round(sum(r["success"] for r in rows) / n, 6),
        "mean_turns": round(sum(r["turns"] for r in rows) / n, 6),
        "agent": entry.agent or (training or {}).get("run"),
        "agent_kwargs": entry.agent_kwargs,
        "decoding": decoding or ("scripted" if entry.agent in scripted_agents(env_id) else None),
        "training": _training_summary(training),
        "training_samples": training["samples"] if training else 0,
        "eval_seconds": round(sum(r["seconds"] for r in rows), 1),
        "oracle": oracle,
        "package_version": archer_envs.__version__,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "entry_file": entry.file,
        "command": f"archer-leaderboard run --suite {identity['suite']} --entries {entry.file} "
        f"--envs {env_id}",
        "identity": identity,
    }
    path.write_text(json.dumps(summary, indent=1) + "\n")


def _training_summary(training: dict[str, Any] | None) -> dict[str, Any] | None:
    if training is None:
        return None
    keep = (
        "entry",
        "algo",
        "preset",
        "set",
        "init",
        "seed",
        "online_trajectories_total",
        "data_files",
        "samples",
        "seconds_total",
    )
    return {k: training[k] for k in keep}


@functools.cache
def git_commit() -> str | None:
    """The commit of the code this process runs (read once, at its first summary), with
    "-modified" when the package's code differs from it; None outside a git checkout."""
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True, cwd=HERE
            ).stdout.strip()

        commit = git("rev-parse", "HEAD")
        code = ["archer_envs", "archer_agents", "baselines/leaderboard.py"]
        root = Path(git("rev-parse", "--show-toplevel"))
        modified = git(
            "status", "--porcelain", "--untracked-files=no", "--", *(str(root / c) for c in code)
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-modified" if modified else "")


def replay(line: dict[str, Any], env_id: str) -> str:
    """The transcript of a recorded episode, played again from its seed, options and actions;
    a reward that differs from the recorded one is an error (the env changed)."""
    env = gym.make(env_id)
    observation, info = env.reset(seed=line["seed"], options=line["options"])
    out = [info.get("task", ""), "", observation]
    steps = zip(line["actions"], line["rewards"], strict=True)
    for number, (action, reward) in enumerate(steps, 1):
        previous = observation
        observation, got, *_ = env.step(action)
        if got != reward:
            raise LeaderboardError(
                f"episode {line['index']} step {number}: reward {got} now, "
                f"{reward} recorded: the env has changed"
            )
        raw = line.get("raw_replies", {}).get(str(number - 1))
        grown = previous and observation.startswith(previous)  # a transcript: its new part
        out += [
            f"> {action}" + (f"   (raw reply: {raw!r})" if raw else ""),
            observation[len(previous) :] if grown else observation,
        ]
    env.close()
    return "\n".join(out)


# --- rendering ----------------------------------------------------------------------------------


def read_summaries(results: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("*/*/summary.json"))]


def _env_order(env_id: str) -> tuple[int, str]:
    order = list(SUITES["cpu"])
    return (order.index(env_id) if env_id in order else len(order), env_id)


def _rows_by_env(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        grouped.setdefault(s["env_id"], []).append(s)
    return {
        env: sorted(grouped[env], key=lambda s: (-s["mean_return"], s["entry"]))
        for env in sorted(grouped, key=_env_order)
    }


def _cells(s: dict[str, Any]) -> list[str]:
    training = s.get("training")
    budget = "-"
    if training:
        budget = f"{training['algo']} ({training['preset']}), {s['training_samples']:,} episodes"
    episodes = f"{s['episodes']}" + ("" if s["complete"] else f" of {s['planned']}")
    return [
        s["entry"],
        s["agent"],
        s.get("decoding") or "-",
        f"{s['mean_return']:.2f} ± {s['stderr_return']:.2f}",
        f"{100 * s['success_rate']:.1f}%",
        f"{s['mean_turns']:.1f}",
        budget,
        episodes,
        f"{s['eval_seconds']:.0f} s",
    ]


HEADER = [
    "entry",
    "agent",
    "decoding",
    "return ± s.e.",
    "success",
    "turns",
    "training",
    "episodes",
    "eval time",
]


def render_markdown(by_env: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "# archer-gym leaderboard",
        "",
        "Every entry plays each env's fixed test episodes (every object, city or test "
        "goal of the test split the same number of times; Detective's one start); mean "
        "return ± standard error. Made by `archer-leaderboard run --suite cpu`; "
        "`archer-leaderboard render` writes this file from the summaries.",
        "",
    ]
    for env_id, rows in by_env.items():
        lines += [
            f"## {env_id}",
            "",
            "| # | " + " | ".join(HEADER) + " |",
            "|---" * (len(HEADER) + 1) + "|",
        ]
        for rank, s in enumerate(rows, 1):
            cells = " | ".join(c.replace("|", "\\|") for c in _cells(s))
            lines.append(f"| {rank} | {cells} |")
        lines += ["", f"![{env_id}]({slug(env_id)}.png)", ""]
    return "\n".join(lines)


def render_html(by_env: dict[str, list[dict[str, Any]]]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>archer-gym leaderboard</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "th{background:#eee}td:nth-child(n+5){text-align:right}</style>",
        "</head><body>",
        "<h1>archer-gym leaderboard</h1>",
        "<p>Each env's fixed test episodes; mean return ± standard error.</p>",
    ]
    for env_id, rows in by_env.items():
        parts += [
            f"<h2>{html.escape(env_id)}</h2>",
            "<table>",
            "<tr><th>#</th>" + "".join(f"<th>{html.escape(h)}</th>" for h in HEADER) + "</tr>",
        ]
        for rank, s in enumerate(rows, 1):
            parts.append(
                f"<tr><td>{rank}</td>"
                + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(s))
                + "</tr>"
            )
        parts += ["</table>", f'<p><img src="{slug(env_id)}.png" alt="{html.escape(env_id)}"></p>']
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_chart(env_id: str, rows: list[dict[str, Any]], path: Path) -> None:
    """Mean return ± standard error per entry, best at the top; the same PNG bytes for the same
    rows (no timestamp or software version in the file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = list(reversed(rows))
    figure, axis = plt.subplots(figsize=(7, 1.2 + 0.45 * len(rows)))
    axis.barh(
        [s["entry"] for s in ordered],
        [s["mean_return"] for s in ordered],
        xerr=[s["stderr_return"] for s in ordered],
        color="#4c72b0",
        capsize=3,
    )
    axis.set_xlabel("mean return (± standard error)")
    axis.set_title(env_id)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def render(results: Path) -> list[Path]:
    """LEADERBOARD.md, leaderboard.html and a PNG per env, from the summaries in ``results``."""
    by_env = _rows_by_env(read_summaries(results))
    if not by_env:
        raise LeaderboardError(
            f"no results in {_relative(results)}: run archer-leaderboard run first"
        )
    written = [results / "LEADERBOARD.md", results / "leaderboard.html"]
    written[0].write_text(render_markdown(by_env))
    written[1].write_text(render_html(by_env))
    for env_id, rows in by_env.items():
        written.append(results / f"{slug(env_id)}.png")
        render_chart(env_id, rows, written[-1])
    return written


# --- the command --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    git_commit()  # the code as it is now, before anything is played
    if args.suite not in SUITES:
        raise LeaderboardError(f"unknown suite {args.suite!r}: use one of {sorted(SUITES)}")
    suite_envs = SUITES[args.suite]
    for env_id in args.envs or []:
        check_env_id(env_id)
        if env_id not in suite_envs:
            raise LeaderboardError(
                f"{env_id} is not in suite {args.suite!r}: {', '.join(suite_envs)}"
            )
    entries = load_entries(args.entries_dir, args.entries or ())
    chosen = [n for n in entries if not args.entries or n in set(_names(args.entries))]
    pairs = [
        (name, env_id)
        for name in chosen
        if args.suite in entries[name].suites
        for env_id in entries[name].envs
        if env_id in suite_envs and (not args.envs or env_id in args.envs)
    ]
    if not pairs:
        raise LeaderboardError(
            f"nothing to run: no entry of {sorted(chosen)} plays "
            f"{', '.join(args.envs or suite_envs)} in suite {args.suite!r}"
        )
    for name, env_id in pairs:
        if not args.quiet:
            print(f"{name} on {env_id}", flush=True)
        summary = run_entry(
            entries[name],
            env_id,
            args.suite,
            entries,
            args.results,
            args.runs,
            args.limit,
            args.num_envs,
            progress=not args.quiet,
        )
        print(
            f"{name} on {env_id}: return {summary['mean_return']:.2f} ± "
            f"{summary['stderr_return']:.2f}, success {100 * summary['success_rate']:.1f}% "
            f"({summary['episodes']}/{summary['planned']} episodes)",
            flush=True,
        )
    if not args.no_render:
        for path in render(args.results):
            print(f"wrote {_relative(path)}")
    return 0


def _names(items: Sequence[str]) -> list[str]:
    return [Path(i).stem if i.endswith(".json") else i for i in items]


def cmd_render(args: argparse.Namespace) -> int:
    for path in render(args.results):
        print(f"wrote {_relative(path)}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    check_env_id(args.env)
    path = args.results / slug(args.env) / args.entry / "episodes.jsonl"
    if not path.is_file():
        raise LeaderboardError(
            f"no results of entry {args.entry!r} on {args.env} ({_relative(path)} does not exist)"
        )
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    found = [line for line in lines if line["index"] == args.episode]
    if not found:
        raise LeaderboardError(f"{_relative(path)} has no episode {args.episode}")
    print(replay(found[0], args.env))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archer-leaderboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def results_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--results",
            type=Path,
            default=RESULTS_DIR,
            help="results folder (default: baselines/results/leaderboard)",
        )

    run = commands.add_parser("run", help="play the entries' unfinished episodes, then render")
    run.add_argument("--suite", default="cpu", help=f"one of {sorted(SUITES)}")
    run.add_argument("--entries", nargs="*", help="entry names or entry files (default: all)")
    run.add_argument("--envs", nargs="*", help="only these env ids of the suite")
    run.add_argument("--limit", type=int, help="only the chunks holding the first N episodes")
    run.add_argument("--entries-dir", type=Path, default=ENTRIES_DIR)
    run.add_argument(
        "--runs",
        type=Path,
        default=RUNS_DIR,
        help="where trained entries' run folders go (default: runs/leaderboard)",
    )
    run.add_argument("--num-envs", type=int, default=16)
    run.add_argument("--no-render", action="store_true")
    run.add_argument("--quiet", action="store_true")
    results_option(run)
    run.set_defaults(run=cmd_run)

    draw = commands.add_parser("render", help="LEADERBOARD.md, leaderboard.html, PNG charts")
    results_option(draw)
    draw.set_defaults(run=cmd_render)

    show = commands.add_parser("replay", help="print a recorded episode's transcript")
    show.add_argument("--entry", required=True)
    show.add_argument("--env", required=True)
    show.add_argument("--episode", type=int, required=True, help="its index")
    results_option(show)
    show.set_defaults(run=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
