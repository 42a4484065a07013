"""Does ArCHer beat its converged imitation start? The demo on three seeds, with the target.

    python -m baselines.benchmarks.archer_cpu [--seeds 0 1 2] [--out runs/archer_cpu]
        [--results baselines/results/archer_cpu] [--convergence-epochs 100 150 300]

Each seed: behaviour cloning on 1,000 episodes of the wasteful questioners, then ArCHer with
the ``cpu`` preset from that start on archer/TwentyQuestionsSubset-v0 (``baselines.demo``'s
``run_seed``); start and end are evaluated on every object, greedy once and sampled 100 times
from a seeded generator. The target: in the median over seeds, ArCHer closes at least half of
the gap between its BC start and the optimal agent (−2.8), greedy and sampled, with sampled
success ≥ 90%, and neither evaluation ends below the start. Also, on the first seed's data,
BC runs of the ``--convergence-epochs`` lengths (each with its own cosine schedule), evaluated
as the start is: that more epochs no longer raise the start's return. Writes
``summary.json``, ``curve.png`` and ``bc_convergence.png`` to ``--results``. A figure, not a
test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from archer_agents.archer import ArCHerConfig
from archer_agents.bc import BCConfig
from archer_agents.train import train_bc_run
from baselines.demo import (
    ENV_ID,
    final_evaluation,
    optimal_return,
    plot_curves,
    run_seed,
)

COMMAND = "python -m baselines.benchmarks.archer_cpu"


def headline(result: dict[str, Any]) -> dict[str, float]:
    """The figures the target reads, for one seed."""
    row = {}
    for when, key in (("start", "start"), ("final", "final")):
        for kind in ("greedy", "sampled"):
            row[f"{when}_{kind}_return"] = result[key][kind]["mean_return"]
            row[f"{when}_{kind}_success"] = result[key][kind]["success_rate"]
    return row


def gap_closed(row: dict[str, float], kind: str, optimum: float) -> float:
    start = row[f"start_{kind}_return"]
    return (row[f"final_{kind}_return"] - start) / (optimum - start)


def plot_convergence(rows: list[dict[str, Any]], chosen: int, path: Path) -> None:
    """Final greedy and sampled return of BC runs of different lengths (each its own cosine
    schedule), with the start's length marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    epochs = [r["epochs"] for r in rows]
    for kind, marker in (("greedy", "o"), ("sampled", "s")):
        axis.errorbar(
            epochs,
            [r[kind]["mean_return"] for r in rows],
            yerr=[r[kind]["stderr_return"] for r in rows],
            marker=marker,
            capsize=3,
            label=kind,
        )
    axis.axvline(chosen, color="gray", linestyle=":", label=f"the start ({chosen} epochs)")
    axis.set_xlabel("BC epochs (over the distinct pairs), learning rate cosine to 0")
    axis.set_ylabel("mean return at the end of BC")
    axis.set_title("Behaviour cloning on the wasteful questioners, seed 0")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/archer_cpu"))
    parser.add_argument("--results", type=Path, default=Path("baselines/results/archer_cpu"))
    parser.add_argument(
        "--convergence-epochs",
        type=int,
        nargs="*",
        default=[100, 150, 300],
        help="lengths of the other BC runs of the convergence curve (none: skip it)",
    )
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    config = ArCHerConfig.preset("cpu", ENV_ID)
    optimum = optimal_return()
    started = time.perf_counter()
    seeds = []
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        seeds.append(run_seed(args.out / f"seed-{seed}", seed, config, progress=False))
        print(json.dumps(headline(seeds[-1])), flush=True)
    rows = [headline(s) for s in seeds]
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    closed = {
        kind: statistics.median(gap_closed(r, kind, optimum) for r in rows)
        for kind in ("greedy", "sampled")
    }
    target = {
        "greedy_gap_closed_at_least_half": closed["greedy"] >= 0.5,
        "sampled_gap_closed_at_least_half": closed["sampled"] >= 0.5,
        "sampled_success_at_least_90%": median["final_sampled_success"] >= 0.9,
        "neither_below_start": all(
            median[f"final_{k}_return"] >= median[f"start_{k}_return"]
            for k in ("greedy", "sampled")
        ),
    }
    command = [COMMAND, "--seeds", *map(str, args.seeds)]
    command += ["--convergence-epochs", *map(str, args.convergence_epochs)]
    summary: dict[str, Any] = {
        "command": " ".join(command),
        "git_commit": git_commit(),
        "env_id": ENV_ID,
        "optimal_return": optimum,
        "archer_config": dataclasses.asdict(config),
        "bc_config": dataclasses.asdict(BCConfig()),
        "median": {
            **median,
            "gap_closed_greedy": closed["greedy"],
            "gap_closed_sampled": closed["sampled"],
            "trajectories": statistics.median(s["trajectories"] for s in seeds),
            "seconds": statistics.median(s["seconds"]["total"] for s in seeds),
        },
        "target_met": target,
        "seeds": [
            {
                **headline(s),
                **{k: s[k] for k in ("seed", "trajectories", "seconds", "curve", "bc_curve")},
                "gap_closed_greedy": gap_closed(headline(s), "greedy", optimum),
                "gap_closed_sampled": gap_closed(headline(s), "sampled", optimum),
            }
            for s in seeds
        ],
    }
    plot_curves(
        seeds, optimum, args.results / "curve.png", f"ArCHer on {ENV_ID.removeprefix('archer/')}"
    )
    if args.convergence_epochs:
        # BC of other lengths on the first seed's data, evaluated as the start is
        first = args.out / f"seed-{args.seeds[0]}"
        rows = [{"epochs": BCConfig().epochs, **seeds[0]["start"]}]
        for epochs in args.convergence_epochs:
            print(f"BC convergence: {epochs} epochs, seed {args.seeds[0]}", flush=True)
            run = args.out / f"bc-{epochs}-epochs"
            train_bc_run(
                ENV_ID,
                str(run),
                seed=args.seeds[0],
                device="cpu",
                progress=False,
                dataset=str(first / "bc" / "dataset.jsonl"),
                config=dataclasses.replace(BCConfig(), epochs=epochs),
            )
            rows.append({"epochs": epochs, **final_evaluation(run, args.seeds[0])})
        rows.sort(key=lambda r: r["epochs"])
        summary["bc_convergence"] = [
            {
                "epochs": r["epochs"],
                "greedy_return": r["greedy"]["mean_return"],
                "sampled_return": r["sampled"]["mean_return"],
                "sampled_success": r["sampled"]["success_rate"],
            }
            for r in rows
        ]
        plot_convergence(rows, BCConfig().epochs, args.results / "bc_convergence.png")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({"median": summary["median"], "target_met": target}, indent=1))


if __name__ == "__main__":
    main()
