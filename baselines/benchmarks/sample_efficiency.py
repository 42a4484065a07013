"""The paper's headline side by side: trajectories each method needs to reach fixed returns.

    python -m baselines.benchmarks.sample_efficiency [--seeds 0 1 2]
        [--algos archer ppo grpo filtered_bc chai] [--budget 512] [--eval-every 64]
        [--jobs 2] [--out runs/sample_efficiency] [--results baselines/results/sample_efficiency]

Each seed: behaviour cloning to convergence on the wasteful questioners of
archer/TwentyQuestionsSubset-v0 (``baselines.benchmarks.baselines_cpu``'s start), then every
method of ``--algos`` from that start with its ``cpu`` preset, run for the same ``--budget`` of
trajectories collected (the preset's iterations scaled to it) and evaluated every
``--eval-every`` trajectories on every object, greedy once and sampled 10 times (100 episodes),
each point with the trajectories, env steps and training wall time (evaluation not counted)
spent so far. The start is evaluated the same way (the point at 0 trajectories). Methods that
take seed data get the demo's (the BC data and 1,000 ε-greedy expert episodes), as their
presets were tuned with; it is counted as data, not as trajectories collected.

Thresholds lie between the start and the optimal agent (``--fractions`` of the gap between the
median start and the optimum). For each method the number of trajectories at which the median
curve over seeds first reaches each threshold, each seed's own crossing, and the ratio to
ArCHer's; a method that does not reach a threshold within the budget reads "more than the
budget" (its ratio a lower bound, or unknown where ArCHer misses it too). Final return is each
run's last checkpoint over 1,000 sampled episodes (``baselines.demo.final_evaluation``).

Each run's result is kept in ``--out`` as it finishes: run the command again after an
interruption and only the missing runs are trained. Runs go ``--jobs`` at a time, each on one
thread. Writes ``summary.json`` and ``sample_efficiency.png`` to ``--results``. A figure, not a
test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

COMMAND = "python -m baselines.benchmarks.sample_efficiency"
ALGOS = ["archer", "ppo", "grpo", "filtered_bc", "chai"]
KINDS = {"sampled": "eval_sampled_return", "greedy": "eval_return"}
# The same tuning budget for every method: its cpu preset and two variants, each one change from
# it chosen before any was run (the step size ×3, and twice the updates per batch of data),
# run at the tuning seed for the full budget.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "archer": [{}, {"lm_lr": 3e-4}, {"actor_steps": 10}],
    "ppo": [{}, {"lm_lr": 1.5e-4}, {"ppo_epochs": 4}],
    "grpo": [{}, {"lm_lr": 3e-4}, {"ppo_epochs": 4}],
    "filtered_bc": [{}, {"lm_lr": 3e-4}, {"actor_steps": 20}],
    "chai": [{}, {"critic_lr": 9e-4}, {"critic_steps": 20}],
}
# Why ArCHer does or does not win: ArCHer at the tuning seed with its chosen settings and one
# thing changed each: (settings changed, seed data: "all" = the BC data and the ε-expert
# episodes, "bc" = the BC data alone, "none").
DIAGNOSTICS: dict[str, tuple[dict[str, Any], str]] = {
    "seed data: the BC data alone": ({}, "bc"),
    "no seed data (so no critic warm-up)": ({}, "none"),
    "critic warm-up 100 -> 1,000 steps": ({"critic_warmup_steps": 1000}, "all"),
    "actor waits 4 iterations (128 trajectories)": ({"warmup_iters": 4}, "all"),
    "replay buffer 20,000 -> 2,000": ({"buffer_size": 2000}, "all"),
}


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def prepare_seed(out: Path, seed: int) -> dict[str, Any]:
    """The seed's BC start and seed data, and the start's point of the curves (cached)."""
    from archer_agents.train import evaluate_agent, load_policy, policy_agents
    from baselines.benchmarks.baselines_cpu import train_start
    from baselines.demo import ENV_ID, final_evaluation

    done = out / "start.json"
    if done.is_file():
        return json.loads(done.read_text())
    started = time.perf_counter()
    data = train_start(out, seed)
    point = evaluate_agent(policy_agents(load_policy(out / "bc")), ENV_ID, seed)
    result = {
        "seed": seed,
        "data": data,
        "seconds": round(time.perf_counter() - started, 1),
        "point": {
            "trajectories": 0,
            "env_steps": 0,
            "train_seconds": 0.0,
            **{kind: point[key] for kind, key in KINDS.items()},
        },
        "final": final_evaluation(out / "bc", seed),
    }
    done.write_text(json.dumps(result, indent=1))
    return result


def run_name(algo: str, overrides: dict[str, Any], seed_data: str = "all") -> str:
    """A run's name in its seed's folder: the algorithm, the settings changed from its preset
    and any seed data left out, e.g. ``ppo``, ``ppo-lm_lr=0.00015`` or ``archer-data=bc``."""
    changed = [f"{key}={value}" for key, value in sorted(overrides.items())]
    return "-".join([algo, *changed, *([f"data={seed_data}"] if seed_data != "all" else [])])


def run_method(
    algo: str,
    out: Path,
    seed: int,
    data: list[str],
    budget: int,
    eval_every: int,
    overrides: dict[str, Any] | None = None,
    seed_data: str = "all",
) -> dict[str, Any]:
    """One method from the seed's start for ``budget`` trajectories, its ``cpu`` preset with
    ``overrides`` (cached under ``run_name``). ``data`` is the seed's data files (the BC data
    first); ``seed_data`` "bc" keeps only the BC data, "none" none of it."""
    import dataclasses
    import shutil

    from archer_agents.train import ALGORITHMS, make_config, train_run
    from baselines.demo import ENV_ID, final_evaluation

    overrides = overrides or {}
    name = run_name(algo, overrides, seed_data)
    data = {"all": data, "bc": data[:1], "none": []}[seed_data]
    done = out / f"{name}.json"
    if done.is_file():
        return json.loads(done.read_text())
    preset = make_config(algo, "cpu", ENV_ID, **overrides)
    per_iteration = preset.rollouts_per_iter
    if budget % per_iteration or eval_every % per_iteration:
        raise ValueError(
            f"{algo} collects {per_iteration} trajectories per iteration: "
            f"--budget and --eval-every must be multiples of it"
        )
    iterations = budget // per_iteration
    config = make_config(
        algo,
        "cpu",
        ENV_ID,
        **overrides,
        iterations=iterations,
        eval_every=eval_every // per_iteration,
        save_every=iterations,
    )
    algorithm = ALGORITHMS[algo]
    takes_data = hasattr(algorithm.trainer, "seed")
    shutil.rmtree(out / name, ignore_errors=True)  # an interrupted run starts again
    started = time.perf_counter()
    rows = train_run(
        ENV_ID,
        str(out / name),
        config,
        algo,
        seed=seed,
        init=str(out / "bc"),
        device="cpu",
        progress=False,
        buffer_data=data if takes_data else (),
    )
    curve = [
        {
            "trajectories": row["trajectories"],
            "env_steps": row["env_steps"],
            "train_seconds": row["train_seconds"],
            **{kind: row[key] for kind, key in KINDS.items()},
        }
        for row in rows
        if "eval_return" in row
    ]
    result = {
        "algo": algo,
        "seed": seed,
        "overrides": overrides,
        "seed_data": takes_data,
        "data": seed_data if takes_data else "none",
        "iterations": iterations,
        "config": dataclasses.asdict(config),
        "curve": curve,
        "seconds": round(time.perf_counter() - started, 1),
        "final": final_evaluation(out / name, seed),
    }
    done.write_text(json.dumps(result, indent=1))
    return result


def tuning_score(run: dict[str, Any]) -> float:
    """What tuning maximises: the mean sampled return over a run's evaluation points (the area
    under its sampled curve), which rewards learning early as well as ending high."""
    return statistics.mean(point["sampled"] for point in run["curve"])


def choose(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method, its tuning runs' scores and the settings of the best (the first on ties)."""
    chosen = {}
    for algo in dict.fromkeys(run["algo"] for run in runs):
        mine = [run for run in runs if run["algo"] == algo]
        best = max(mine, key=tuning_score)
        scored = [
            {
                "overrides": run["overrides"],
                "score": round(tuning_score(run), 3),
                "final": {kind: run["final"][kind]["mean_return"] for kind in KINDS},
                "seconds": run["seconds"],
            }
            for run in mine
        ]
        chosen[algo] = {"overrides": best["overrides"], "runs": scored}
    return chosen


def crossing(curve: list[dict[str, Any]], kind: str, threshold: float) -> int | None:
    """Trajectories at the first point of ``curve`` at or above ``threshold``; None if none."""
    return next((p["trajectories"] for p in curve if p[kind] >= threshold), None)


def median_curve(curves: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Point by point, the median over seeds of every measured quantity."""
    return [
        {key: statistics.median(curve[i][key] for curve in curves) for key in curves[0][i]}
        for i in range(min(map(len, curves)))
    ]


def analyse(
    starts: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    algos: list[str],
    optimum: float,
    budget: int,
    fractions: list[float],
) -> dict[str, Any]:
    start = {kind: statistics.median(s["point"][kind] for s in starts) for kind in KINDS}
    thresholds = {
        kind: [round(start[kind] + f * (optimum - start[kind]), 3) for f in fractions]
        for kind in KINDS
    }
    methods = {}
    for algo in algos:
        mine = sorted((r for r in runs if r["algo"] == algo), key=lambda r: r["seed"])
        curves = seed_curves(starts, mine)
        median = median_curve(curves)
        methods[algo] = {
            "seeds": [r["seed"] for r in mine],
            "median_curve": median,
            "reached": {
                kind: [crossing(median, kind, t) for t in thresholds[kind]] for kind in KINDS
            },
            "reached_per_seed": {
                kind: [[crossing(c, kind, t) for c in curves] for t in thresholds[kind]]
                for kind in KINDS
            },
            "final": {
                kind: statistics.median(r["final"][kind]["mean_return"] for r in mine)
                for kind in KINDS
            },
            "final_per_seed": {
                kind: [r["final"][kind]["mean_return"] for r in mine] for kind in KINDS
            },
            "final_sampled_success": statistics.median(
                r["final"]["sampled"]["success_rate"] for r in mine
            ),
            "env_steps": statistics.median(r["curve"][-1]["env_steps"] for r in mine),
            "train_seconds": statistics.median(r["curve"][-1]["train_seconds"] for r in mine),
            "seconds": statistics.median(r["seconds"] for r in mine),
            "seed_data": mine[0]["seed_data"],
        }
        methods[algo]["gap_to_optimal"] = {
            kind: round(optimum - methods[algo]["final"][kind], 3) for kind in KINDS
        }
    if "archer" in methods:
        for method in methods.values():
            method["ratio_to_archer"] = {
                kind: [
                    ratio(n, a, budget)
                    for n, a in zip(
                        method["reached"][kind], methods["archer"]["reached"][kind], strict=True
                    )
                ]
                for kind in KINDS
            }
    final_start = {
        kind: statistics.median(s["final"][kind]["mean_return"] for s in starts) for kind in KINDS
    }
    return {
        "start": start,
        "start_final": final_start,
        "thresholds": thresholds,
        "fractions": fractions,
        "methods": methods,
        "starts": starts,
    }


def seed_curves(starts: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[list[dict]]:
    """Each run's curve with its seed's start as the point at 0 trajectories."""
    points = {s["seed"]: s["point"] for s in starts}
    return [[points[r["seed"]], *r["curve"]] for r in runs]


def ratio(needed: int | None, archer: int | None, budget: int) -> str:
    """A method's trajectories over ArCHer's at one threshold, as text: "3.0", "> 2.0" (the
    method missed it: a lower bound), "< 0.5" (ArCHer missed it), or "-" (both missed it)."""
    if archer is None:
        return "-" if needed is None else f"< {needed / budget:.2f}"
    if needed is None:
        return f"> {budget / archer:.2f}"
    return f"{needed / archer:.2f}"


def plot(analysis: dict[str, Any], optimum: float, path: Path, runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [
        ("sampled", "trajectories", "trajectories collected"),
        ("greedy", "trajectories", "trajectories collected"),
        ("sampled", "train_seconds", "training wall time, s (one thread)"),
    ]
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    colors = {algo: plt.get_cmap("tab10")(i) for i, algo in enumerate(analysis["methods"])}
    for axis, (kind, x_key, x_label) in zip(axes, panels, strict=True):
        for algo, method in analysis["methods"].items():
            median = method["median_curve"]
            mine = sorted((r for r in runs if r["algo"] == algo), key=lambda r: r["seed"])
            seeds = [[p[kind] for p in c] for c in seed_curves(analysis["starts"], mine)]
            n = min(map(len, seeds))
            values = np.array([s[:n] for s in seeds])
            x = [p[x_key] for p in median[:n]]
            axis.plot(
                x,
                [p[kind] for p in median[:n]],
                marker="o",
                markersize=3,
                color=colors[algo],
                label=f"{algo} (median of {len(seeds)})",
            )
            axis.fill_between(x, values.min(0), values.max(0), color=colors[algo], alpha=0.12)
        for threshold in analysis["thresholds"][kind]:
            axis.axhline(threshold, color="grey", linestyle=":", linewidth=0.8)
        axis.axhline(optimum, color="black", linestyle="--", label="optimal agent")
        axis.set_xlabel(x_label)
        axis.set_ylabel(f"{kind} return")
        axis.set_title(f"{kind} return against {x_label.split(',')[0]}")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(
        "archer/TwentyQuestionsSubset-v0, same BC start, cpu presets at one budget; "
        "shaded: min to max over seeds; dotted: the thresholds"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(analysis: dict[str, Any], budget: int) -> str:
    fractions = analysis["fractions"]
    head = " | ".join(f"{f:.0%} of gap" for f in fractions)
    lines = []
    for kind in KINDS:
        lines += [
            f"\n{kind}: start {analysis['start'][kind]:.2f}, thresholds "
            f"{analysis['thresholds'][kind]}",
            f"| method | {head} | ratio to ArCHer | final ({kind}) |",
            "|---|" + "---|" * (len(fractions) + 2),
        ]
        for algo, method in analysis["methods"].items():
            reached = " | ".join(
                "> " + str(budget) if n is None else str(n) for n in method["reached"][kind]
            )
            ratios = ", ".join(method.get("ratio_to_archer", {}).get(kind, []))
            lines.append(f"| {algo} | {reached} | {ratios} | {method['final'][kind]:.2f} |")
    return "\n".join(lines)


def critic_quality(run: Path) -> dict[str, Any]:
    """``critic_probe`` on a run's last critic: how often min(Q1, Q2) ranks the right guess
    first of the ten at the state before the expert's winning guess, and the mean margin of
    the right guess's Q over the others' (a critic that knows the game: 10 of 10, margin > 1)."""
    from baselines.benchmarks.critic_probe import load_critic, probe
    from baselines.demo import ENV_ID

    rows = probe(load_critic(run), ENV_ID)
    return {
        "right_first": sum(r["first"] == r["object"] for r in rows),
        "objects": len(rows),
        "q_margin": round(statistics.mean(r["q_right"] - r["q_others"] for r in rows), 3),
    }


def explain(
    tuning: list[dict[str, Any]],
    diagnostics: list[dict[str, Any]],
    out: Path,
    pool: ProcessPoolExecutor,
) -> list[dict[str, Any]]:
    """ArCHer's and CHAI's tuning runs and ArCHer's diagnostic runs: their returns, curve score
    and last critic's quality."""
    runs = [r for r in tuning if r["algo"] in ("archer", "chai")] + diagnostics
    names = [run_name(r["algo"], r["overrides"], r.get("data", "all")) for r in runs]
    qualities = pool.map(critic_quality, [out / name for name in names])
    change = {run_name("archer", c, d): label for label, (c, d) in DIAGNOSTICS.items()}
    return [
        {
            "run": name,
            "diagnostic": change.get(name),
            "score": round(tuning_score(r), 3),
            "final": {kind: r["final"][kind]["mean_return"] for kind in KINDS},
            "critic": quality,
        }
        for name, r, quality in zip(names, runs, qualities, strict=True)
    ]


def why_table(why: list[dict[str, Any]]) -> str:
    lines = [
        "| run | score | final sampled | final greedy | right guess first | Q margin |",
        "|---|---|---|---|---|---|",
    ]
    for r in why:
        c = r["critic"]
        lines.append(
            f"| {r['diagnostic'] or r['run']} | {r['score']:.2f} | "
            f"{r['final']['sampled']:.2f} | {r['final']['greedy']:.2f} | "
            f"{c['right_first']} of {c['objects']} | {c['q_margin']:.2f} |"
        )
    return "\n".join(lines)


def tuning_table(chosen: dict[str, Any]) -> str:
    lines = [
        "| method | settings | score (mean sampled over the curve) | final sampled | "
        "final greedy | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for algo, method in chosen.items():
        for run in method["runs"]:
            mark = " (chosen)" if run["overrides"] == method["overrides"] else ""
            settings = run_name(algo, run["overrides"]).removeprefix(algo).lstrip("-")
            lines.append(
                f"| {algo} | {settings or 'preset'}{mark} | {run['score']:.2f} | "
                f"{run['final']['sampled']:.2f} | {run['final']['greedy']:.2f} | "
                f"{run['seconds']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--algos", nargs="+", default=ALGOS)
    parser.add_argument("--budget", type=int, default=512, help="trajectories per method")
    parser.add_argument("--eval-every", type=int, default=64, help="trajectories between points")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--tune-seed", type=int, default=0, help="the seed tuning runs at")
    parser.add_argument(
        "--tune-only", action="store_true", help="stop after the tuning runs (writes tuning.json)"
    )
    parser.add_argument(
        "--why-only",
        action="store_true",
        help="stop after the tuning and ArCHer's diagnostic runs (why.json)",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path("runs/sample_efficiency"))
    parser.add_argument("--results", type=Path, default=Path("baselines/results/sample_efficiency"))
    args = parser.parse_args()
    from archer_agents.train import ALGORITHMS
    from baselines.benchmarks.archer_cpu import git_commit
    from baselines.demo import ENV_ID, optimal_return

    unknown = sorted(set(args.algos) - set(ALGORITHMS))
    if unknown:
        raise SystemExit(f"unknown --algos {unknown}: use keys of {list(ALGORITHMS)}")
    started = time.perf_counter()
    one_seed = args.tune_only or args.why_only
    seeds = [args.tune_seed] if one_seed else sorted({args.tune_seed, *args.seeds})
    context = get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=one_thread) as pool:

        def run_all(jobs: list[tuple], desc: str) -> list:
            """Runs of (algo, overrides, start[, seed data]), ``--jobs`` at a time."""
            futures = [
                pool.submit(
                    run_method,
                    algo,
                    args.out / f"seed-{start['seed']}",
                    start["seed"],
                    start["data"],
                    args.budget,
                    args.eval_every,
                    overrides,
                    *data,
                )
                for algo, overrides, start, *data in jobs
            ]
            done = []
            for future in tqdm(futures, desc=desc):
                done.append(future.result())
                run = done[-1]
                name = run_name(run["algo"], run["overrides"], run.get("data", "all"))
                print(
                    json.dumps(
                        {"run": name, "seed": run["seed"], "s": run["seconds"]}
                        | {k: run["final"][k]["mean_return"] for k in KINDS}
                    ),
                    flush=True,
                )
            return done

        futures = {s: pool.submit(prepare_seed, args.out / f"seed-{s}", s) for s in seeds}
        starts = {s: f.result() for s, f in tqdm(futures.items(), desc="BC starts")}
        tuning = run_all(
            [
                (algo, overrides, starts[args.tune_seed])
                for algo in args.algos
                for overrides in VARIANTS[algo]
            ],
            "tuning",
        )
        chosen = choose(tuning)
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "tuning.json").write_text(
            json.dumps(
                {
                    "command": f"{COMMAND} --tune-only --tune-seed {args.tune_seed} --algos "
                    f"{' '.join(args.algos)} --budget {args.budget}",
                    "git_commit": git_commit(),
                    "seed": args.tune_seed,
                    "methods": chosen,
                },
                indent=1,
            )
        )
        print(tuning_table(chosen))
        if args.tune_only:
            return
        if "archer" in args.algos:
            tuned, start = chosen["archer"]["overrides"], starts[args.tune_seed]
            jobs = [
                ("archer", {**tuned, **change}, start, data)
                for change, data in DIAGNOSTICS.values()
            ]
            diagnostics = run_all(jobs, "diagnostics")
            why = explain(tuning, diagnostics, args.out / f"seed-{args.tune_seed}", pool)
            (args.results / "why.json").write_text(
                json.dumps(
                    {
                        "command": f"{COMMAND} --why-only --tune-seed {args.tune_seed}",
                        "git_commit": git_commit(),
                        "seed": args.tune_seed,
                        "runs": why,
                    },
                    indent=1,
                )
            )
            print(why_table(why))
        if args.why_only:
            return
        runs = run_all(
            [
                (algo, chosen[algo]["overrides"], starts[s])
                for s in args.seeds
                for algo in args.algos
            ],
            "runs",
        )
        starts = [starts[s] for s in args.seeds]
    optimum = optimal_return()
    analysis = analyse(starts, runs, args.algos, optimum, args.budget, args.fractions)
    args.results.mkdir(parents=True, exist_ok=True)
    plot(analysis, optimum, args.results / "sample_efficiency.png", runs)
    summary = {
        "command": " ".join(
            [
                COMMAND,
                "--seeds",
                *map(str, args.seeds),
                "--algos",
                *args.algos,
                "--budget",
                str(args.budget),
                "--eval-every",
                str(args.eval_every),
                "--fractions",
                *map(str, args.fractions),
            ]
        ),
        "git_commit": git_commit(),
        "env_id": ENV_ID,
        "optimal_return": optimum,
        "budget": args.budget,
        **analysis,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table(analysis, args.budget))
    print(
        f"wrote {args.results / 'summary.json'} and sample_efficiency.png "
        f"({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
