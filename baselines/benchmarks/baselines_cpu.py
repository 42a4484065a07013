"""Every algorithm of ``archer-train`` from the same converged BC start, on the CPU: one table.

    python -m baselines.benchmarks.baselines_cpu [--seeds 0] [--algos archer ppo ...]
        [--out runs/baselines_cpu] [--results baselines/results/baselines_cpu]
        [--set KEY=VALUE ...]

Each seed: behaviour cloning to convergence on the wasteful questioners of
archer/TwentyQuestionsSubset-v0 (``baselines.demo``'s start), then each algorithm of
``--algos`` (default: all of ``archer_agents.train.ALGORITHMS``) with its ``cpu`` preset from
that start. Algorithms that take seed data (``trainer.seed``) get the demo's: the BC data and
ε-greedy expert episodes that hold mistakes; offline algorithms learn from the same files and
collect nothing. Each result is evaluated on every object, greedy once and sampled 100 times
(``baselines.demo.final_evaluation``), and reported with the trajectories it collected and its
wall time. Each algorithm runs at its own preset's budget: this is a table of what each
method reaches here, not a comparison at equal budgets (that is the sample-efficiency study's).
``--set`` overrides a key of every algorithm that has it (e.g. ``iterations=2`` for a quick
check). Writes ``summary.json`` and ``baselines.png`` to ``--results``. A figure, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from archer_agents.train import ALGORITHMS, make_config, parse_overrides, train_bc_run, train_run
from archer_envs.datasets import generate_bc_dataset
from baselines.benchmarks.archer_cpu import git_commit
from baselines.demo import ENV_ID, SCRIPTED_DATA, final_evaluation, optimal_return

COMMAND = "python -m baselines.benchmarks.baselines_cpu"


def train_start(out: Path, seed: int) -> list[str]:
    """The BC start in ``out/bc`` and the seed data files (BC data, scripted mistakes)."""
    train_bc_run(ENV_ID, str(out / "bc"), seed=seed, device="cpu", progress=False)
    generate_bc_dataset(ENV_ID, out / "scripted.jsonl", **SCRIPTED_DATA, seed=seed, progress=False)
    return [str(out / "bc" / "dataset.jsonl"), str(out / "scripted.jsonl")]


def overrides_for(algo: str, overrides: dict[str, Any]) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(ALGORITHMS[algo].config)}
    return {key: value for key, value in overrides.items() if key in names}


def run_algorithm(
    algo: str, out: Path, seed: int, data: list[str], overrides: dict[str, Any]
) -> dict[str, Any]:
    algorithm = ALGORITHMS[algo]
    config = make_config(algo, "cpu", ENV_ID, **overrides_for(algo, overrides))
    takes_data = not algorithm.online or hasattr(algorithm.trainer, "seed")
    started = time.perf_counter()
    rows = train_run(
        ENV_ID,
        str(out / algo),
        config,
        algo,
        seed=seed,
        init=str(out / "bc"),
        device="cpu",
        progress=False,
        buffer_data=data if takes_data else (),
    )
    seconds = time.perf_counter() - started
    return {
        "algo": algo,
        "seed": seed,
        "trajectories": rows[-1]["trajectories"],
        "seconds": round(seconds, 1),
        "seed_data": takes_data,
        "config": dataclasses.asdict(config),
        **final_evaluation(out / algo, seed),
    }


def plot(table: list[dict[str, Any]], start: dict[str, float], optimum: float, path: Path) -> None:
    """Median greedy and sampled return per algorithm, the BC start and the optimum as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    names = [row["algo"] for row in table]
    width = 0.38
    bars = ((-width / 2, "greedy", "tab:blue"), (width / 2, "sampled", "tab:orange"))
    for offset, kind, color in bars:
        positions = [i + offset for i in range(len(names))]
        axis.bar(positions, [row[kind] for row in table], width, color=color, label=kind)
        axis.axhline(start[kind], color=color, linestyle=":", label=f"BC start, {kind}")
    axis.axhline(optimum, color="black", linestyle="--", label="optimal agent")
    axis.set_xticks(range(len(names)), names)
    axis.set_ylabel("mean return (higher is better)")
    axis.set_title(f"From the same BC start on {ENV_ID.removeprefix('archer/')}, cpu presets")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--out", type=Path, default=Path("runs/baselines_cpu"))
    parser.add_argument("--results", type=Path, default=Path("baselines/results/baselines_cpu"))
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of every algorithm that has it",
    )
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    shutil.rmtree(args.out, ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs, starts = [], []
    for seed in args.seeds:
        out = args.out / f"seed-{seed}"
        print(f"seed {seed}: the BC start", flush=True)
        data = train_start(out, seed)
        starts.append(final_evaluation(out / "bc", seed))
        for algo in args.algos:
            print(f"seed {seed}: {algo}", flush=True)
            runs.append(run_algorithm(algo, out, seed, data, overrides))
            shown = {k: runs[-1][k] for k in ("algo", "trajectories", "seconds")}
            shown |= {kind: runs[-1][kind]["mean_return"] for kind in ("greedy", "sampled")}
            print(json.dumps(shown), flush=True)

    def median(rows: list[dict[str, Any]], kind: str, key: str) -> float:
        return statistics.median(row[kind][key] for row in rows)

    start = {kind: median(starts, kind, "mean_return") for kind in ("greedy", "sampled")}
    table = []
    for algo in args.algos:
        rows = [run for run in runs if run["algo"] == algo]
        medians = {
            "algo": algo,
            "greedy": median(rows, "greedy", "mean_return"),
            "sampled": median(rows, "sampled", "mean_return"),
            "sampled_success": median(rows, "sampled", "success_rate"),
            "trajectories": statistics.median(row["trajectories"] for row in rows),
            "seconds": statistics.median(row["seconds"] for row in rows),
        }
        table.append(medians)
    optimum = optimal_return()
    command = [COMMAND, "--seeds", *map(str, args.seeds), "--algos", *args.algos]
    if args.set:
        command += ["--set", *args.set]
    summary = {
        "command": " ".join(command),
        "git_commit": git_commit(),
        "env_id": ENV_ID,
        "optimal_return": optimum,
        "start": {**start, "sampled_success": median(starts, "sampled", "success_rate")},
        "median": table,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
    plot(table, start, optimum, args.results / "baselines.png")
    print(f"{'algorithm':<16} {'greedy':>8} {'sampled':>8} {'success':>8} {'trajs':>6} {'s':>6}")
    print(f"{'BC start':<16} {start['greedy']:>8.2f} {start['sampled']:>8.2f}")
    for row in table:
        print(
            f"{row['algo']:<16} {row['greedy']:>8.2f} {row['sampled']:>8.2f} "
            f"{100 * row['sampled_success']:>7.1f}% {row['trajectories']:>6.0f} "
            f"{row['seconds']:>6.0f}"
        )
    print(f"{'optimal':<16} {optimum:>8.2f}")


if __name__ == "__main__":
    main()
