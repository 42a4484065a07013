"""Offline ArCHer against behaviour cloning on the same dataset, on the CPU: one table.

    python -m baselines.benchmarks.offline_archer_cpu [--seed 0] [--out runs/offline_archer_cpu]
        [--results baselines/results/offline_archer_cpu] [--set KEY=VALUE ...]

BC to convergence on the wasteful questioners of archer/TwentyQuestionsSubset-v0 (the demo's
start and its data: 1,000 episodes, mixed quality: one persona in four splits the candidates,
the others narrow down one object at a time, and each confirms 0–3 times before guessing), then
offline ArCHer (``--preset cpu``, ``--set`` overriding it) from that start on *the same file*,
collecting nothing. Both evaluated on every object, greedy once and sampled 100 times
(``baselines.demo.final_evaluation``), with their wall times. Writes ``summary.json`` to
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/offline_archer_cpu"))
    parser.add_argument("--results", type=Path,
                        default=Path("baselines/results/offline_archer_cpu"))  # fmt: skip
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = make_config("offline_archer", "cpu", ENV_ID, **parse_overrides(args.set))
    shutil.rmtree(args.out, ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train_bc_run(ENV_ID, str(args.out / "bc"), seed=args.seed, device="cpu", progress=False)
    bc_seconds = time.perf_counter() - started
    dataset = str(args.out / "bc" / "dataset.jsonl")
    started = time.perf_counter()
    rows = train_run(ENV_ID, str(args.out / "offline_archer"), config, "offline_archer",
                     seed=args.seed, init=str(args.out / "bc"), device="cpu", progress=False,
                     buffer_data=[dataset])  # fmt: skip
    offline_seconds = time.perf_counter() - started
    summary = {
        "command": " ".join([COMMAND, "--seed", str(args.seed),
                             *(["--set", *args.set] if args.set else [])]),
        "git_commit": git_commit(), "env_id": ENV_ID, "seed": args.seed,
        "optimal_return": optimal_return(args.seed),
        "bc": {**final_evaluation(args.out / "bc", args.seed), "seconds": round(bc_seconds, 1)},
        "offline_archer": {**final_evaluation(args.out / "offline_archer", args.seed),
                           "seconds": round(offline_seconds, 1),
                           "trajectories_collected": rows[-1]["trajectories"],
                           "curve": [{k: r[k] for k in ("iteration", "eval_return",
                                                         "eval_sampled_return")}
                                     for r in rows if "eval_return" in r],
                           "config": dataclasses.asdict(config)},
    }  # fmt: skip
    (args.results / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{'agent':<16} {'greedy':>8} {'sampled':>8} {'success':>8} {'seconds':>8}")
    for name in ("bc", "offline_archer"):
        row = summary[name]
        print(f"{name:<16} {row['greedy']['mean_return']:>8.2f} "
              f"{row['sampled']['mean_return']:>8.2f} "
              f"{100 * row['sampled']['success_rate']:>7.1f}% {row['seconds']:>8.0f}")  # fmt: skip
    print(f"{'optimal':<16} {summary['optimal_return']:>8.2f}")


if __name__ == "__main__":
    main()
