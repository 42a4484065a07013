"""Offline ArCHer and the paper's variants against behaviour cloning on the same dataset, on the
CPU: one table.

    python -m baselines.benchmarks.offline_archer_cpu [--seed 0] [--variants iql_awr ...]
        [--start runs/offline_archer_cpu/bc] [--out runs/offline_archer_cpu]
        [--results baselines/results/offline_archer_cpu] [--set KEY=VALUE ...]

BC to convergence on the wasteful questioners of archer/TwentyQuestionsSubset-v0 (the demo's
start and its data: 1,000 episodes of mixed quality: one persona in four splits the candidates,
the others narrow down one object at a time, and each confirms 0–3 times before guessing), or
the BC run given as ``--start``; then each variant of offline ArCHer (``--preset cpu`` with the
variant's keys, ``--set`` overriding both) from that start on *the same file*, collecting
nothing. Each evaluated on every object, greedy once and sampled 100 times
(``baselines.demo.final_evaluation``), with its wall time. Writes ``summary.json`` to
``--results``. A figure, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

from archer_agents.train import make_config, parse_overrides, train_bc_run, train_run
from baselines.benchmarks.archer_cpu import git_commit
from baselines.demo import ENV_ID, final_evaluation, optimal_return

COMMAND = "python -m baselines.benchmarks.offline_archer_cpu"
# the paper's offline ablation: critic (IQL or SARSA) × actor (AWR or REINFORCE), ± a BC term
VARIANTS = {
    "iql_awr": {},
    "sarsa_awr": {"critic_loss": "sarsa"},
    "iql_reinforce": {"actor_loss": "reinforce"},
    "iql_reinforce_bc": {"actor_loss": "reinforce", "bc_coef": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--start",
        type=Path,
        help="a BC run directory to start from (and whose "
        "dataset.jsonl to learn from) instead of training one",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/offline_archer_cpu"))
    parser.add_argument(
        "--results", type=Path, default=Path("baselines/results/offline_archer_cpu")
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    configs = {
        name: make_config("offline_archer", "cpu", ENV_ID, **{**VARIANTS[name], **overrides})
        for name in args.variants
    }
    args.results.mkdir(parents=True, exist_ok=True)
    start, bc_seconds = args.start, None
    if start is None:
        shutil.rmtree(args.out, ignore_errors=True)
        started = time.perf_counter()
        start = args.out / "bc"
        train_bc_run(ENV_ID, str(start), seed=args.seed, device="cpu", progress=False)
        bc_seconds = round(time.perf_counter() - started, 1)
    dataset = str(start / "dataset.jsonl")
    command = [COMMAND, "--seed", str(args.seed), "--variants", *args.variants]
    if args.set:
        command += ["--set", *args.set]
    summary = {
        "command": " ".join(command),
        "git_commit": git_commit(),
        "env_id": ENV_ID,
        "seed": args.seed,
        "optimal_return": optimal_return(args.seed),
        "bc": {**final_evaluation(start, args.seed), "seconds": bc_seconds},
    }
    for name, config in configs.items():
        out = args.out / name
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        rows = train_run(
            ENV_ID,
            str(out),
            config,
            "offline_archer",
            seed=args.seed,
            init=str(start),
            device="cpu",
            progress=False,
            buffer_data=[dataset],
        )
        summary[name] = {
            **final_evaluation(out, args.seed),
            "seconds": round(time.perf_counter() - started, 1),
            "trajectories_collected": rows[-1]["trajectories"],
            "curve": [
                {k: r[k] for k in ("iteration", "eval_return", "eval_sampled_return")}
                for r in rows
                if "eval_return" in r
            ],
            "config": dataclasses.asdict(config),
        }
        (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
        print(
            f"{name}: greedy {summary[name]['greedy']['mean_return']:.2f}, sampled "
            f"{summary[name]['sampled']['mean_return']:.2f}",
            flush=True,
        )
    print(f"{'agent':<18} {'greedy':>8} {'sampled':>8} {'success':>8} {'seconds':>8}")
    for name in ("bc", *configs):
        row = summary[name]
        print(
            f"{name:<18} {row['greedy']['mean_return']:>8.2f} "
            f"{row['sampled']['mean_return']:>8.2f} "
            f"{100 * row['sampled']['success_rate']:>7.1f}% "
            f"{row['seconds'] or 0:>8.0f}"
        )
    print(f"{'optimal':<18} {summary['optimal_return']:>8.2f}")


if __name__ == "__main__":
    main()
