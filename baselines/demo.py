"""The demo (`make demo`): behaviour cloning to convergence on wasteful scripted questioners,
then ArCHer from that start on archer/TwentyQuestionsSubset-v0, on the CPU; prints the BC start
against ArCHer and the optimal agent (greedy and sampled) and draws the learning curve.

    python -m baselines.demo [--out runs/demo] [--seed 0]

``run_seed`` is one seed of ``baselines.benchmarks.archer_cpu`` (which runs three).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from archer_agents.archer import ArCHerConfig
from archer_agents.train import load_trained_agent as load_agent
from archer_agents.train import train_bc_run, train_run
from archer_envs.agents import load_agent as load_reference_agent
from archer_envs.datasets import generate_bc_dataset
from archer_envs.evaluation import evaluate

ENV_ID = "archer/TwentyQuestionsSubset-v0"
OBJECTS = [{"index": i} for i in range(10)]
SAMPLES = 100  # sampled episodes per object in the final evaluation (standard error ≈ 0.1)
BC_EVAL_EVERY = 40  # epochs between evaluations of the BC policy (its convergence curve)
DEMO_FILES = {"bc", "archer", "scripted.jsonl", "summary.json", "curve.png"}
SCRIPTED_DATA = {"episodes": 1000, "agent": "expert", "epsilon": 0.5}  # for the critic's buffer


def final_evaluation(run: Path, seed: int) -> dict[str, dict[str, Any]]:
    """Every object of the subset greedy once and sampled ``SAMPLES`` times (seeded)."""
    greedy = evaluate(
        load_agent(str(run)), ENV_ID, episodes=OBJECTS, seed=seed, num_envs=10, progress=False
    )
    sampled = evaluate(
        load_agent(str(run), greedy=False, seed=seed),
        ENV_ID,
        episodes=OBJECTS * SAMPLES,
        seed=seed,
        num_envs=50,
        progress=False,
    )
    return {"greedy": greedy.summary(), "sampled": sampled.summary()}


def read_metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def run_seed(
    out: Path, seed: int, config: ArCHerConfig | None = None, progress: bool = True
) -> dict[str, Any]:
    """BC (the start) and ArCHer from it in ``out/bc`` and ``out/archer``; returns start and
    final evaluations, the learning curve and the times."""
    config = config or ArCHerConfig.preset("cpu", ENV_ID)
    started = time.perf_counter()
    train_bc_run(
        ENV_ID,
        str(out / "bc"),
        seed=seed,
        device="cpu",
        progress=progress,
        eval_every=BC_EVAL_EVERY,
    )
    bc_done = time.perf_counter()
    # the critic's buffer also gets cheap scripted episodes that hold mistakes (early and wrong
    # guesses, random questions) with what they cost: the wasteful questioners make none
    generate_bc_dataset(ENV_ID, out / "scripted.jsonl", **SCRIPTED_DATA, seed=seed, progress=False)
    train_run(
        ENV_ID,
        str(out / "archer"),
        config,
        seed=seed,
        init=str(out / "bc"),
        device="cpu",
        progress=progress,
        buffer_data=[str(out / "bc" / "dataset.jsonl"), str(out / "scripted.jsonl")],
    )
    archer_done = time.perf_counter()
    start, final = final_evaluation(out / "bc", seed), final_evaluation(out / "archer", seed)
    bc_rows = read_metrics(out / "bc")
    curve = [
        {
            "trajectories": 0,
            "greedy": bc_rows[-1]["eval_return"],
            "sampled": bc_rows[-1]["eval_sampled_return"],
        }
    ]
    curve += [
        {
            "trajectories": r["trajectories"],
            "greedy": r["eval_return"],
            "sampled": r["eval_sampled_return"],
        }
        for r in read_metrics(out / "archer")
        if "eval_return" in r
    ]
    return {
        "seed": seed,
        "start": start,
        "final": final,
        "trajectories": curve[-1]["trajectories"],
        "bc_curve": [
            {"epoch": r["epoch"], "greedy": r["eval_return"], "sampled": r["eval_sampled_return"]}
            for r in bc_rows
        ],
        "curve": curve,
        "seconds": {
            "bc": round(bc_done - started, 1),
            "archer": round(archer_done - bc_done, 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }


def optimal_return(seed: int = 0) -> float:
    optimal = load_reference_agent("optimal", ENV_ID, seed=seed)
    return evaluate(optimal, ENV_ID, episodes=OBJECTS, seed=seed, progress=False).mean_return


def plot_curves(seeds: list[dict[str, Any]], optimum: float, path: Path, title: str) -> None:
    """Greedy and sampled return against trajectories collected: the median over seeds, the
    spread (min to max) shaded, with the BC start and the optimum as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    x = [point["trajectories"] for point in seeds[0]["curve"]]
    for kind, color in (("greedy", "tab:blue"), ("sampled", "tab:orange")):
        values = np.array([[point[kind] for point in s["curve"]] for s in seeds])
        label = f"ArCHer, {kind}" + (f" (median of {len(seeds)} seeds)" if len(seeds) > 1 else "")
        axis.plot(x, np.median(values, 0), marker="o", color=color, label=label)
        if len(seeds) > 1:
            axis.fill_between(x, values.min(0), values.max(0), color=color, alpha=0.2)
        start = np.median([s["start"][kind]["mean_return"] for s in seeds])
        axis.axhline(start, color=color, linestyle=":", label=f"BC start, {kind}")
    axis.axhline(optimum, color="black", linestyle="--", label="optimal agent")
    axis.set_xlabel("trajectories collected by ArCHer")
    axis.set_ylabel("mean return")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_demo(out: Path, seed: int = 0) -> dict[str, Any]:
    if out.exists():  # replace an earlier (or interrupted) demo's results, nothing else
        if not {p.name for p in out.iterdir()} <= DEMO_FILES:
            raise SystemExit(f"{out} holds more than a demo's results: pick another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    result = run_seed(out, seed)
    result["optimal_return"] = optimal_return(seed)
    plot_curves(
        [result],
        result["optimal_return"],
        out / "curve.png",
        f"ArCHer on {ENV_ID.removeprefix('archer/')}, seed {seed}",
    )
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    return result


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"{'agent':<20} {'episodes':>8} {'return':>14} {'success':>8} {'turns':>6}", "-" * 60]
    rows = [
        (f"{who}, {kind}", result[key][kind])
        for who, key in (("BC start", "start"), ("ArCHer", "final"))
        for kind in ("greedy", "sampled")
    ]
    for name, row in rows:
        score = f"{row['mean_return']:.2f} ± {row['stderr_return']:.2f}"
        lines.append(
            f"{name:<20} {row['episodes']:>8} {score:>14} "
            f"{100 * row['success_rate']:>7.0f}% {row['mean_turns']:>6.1f}"
        )
    lines.append(f"{'optimal agent':<20} {10:>8} {result['optimal_return']:>14.2f} {100:>7}%")
    seconds = result["seconds"]
    lines.append(
        f"time: {seconds['total']:.0f} s (BC {seconds['bc']:.0f} s, ArCHer "
        f"{seconds['archer']:.0f} s, {result['trajectories']} trajectories)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = run_demo(args.out, args.seed)
    print(format_summary(result))
    print(f"curve: {args.out / 'curve.png'}; summary: {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
