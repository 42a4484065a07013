"""The demo (`make demo`): behaviour cloning on the sub-optimal scripted dataset, then ArCHer on
archer/TwentyQuestionsSubset-v0, on the CPU; prints BC start vs ArCHer vs the optimal reference
agent and writes the learning curve.

    python -m baselines.demo [--out runs/demo] [--seed 0] [--iterations N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from archer_agents.archer import ArCHerConfig
from archer_agents.train import load_agent, train_archer_run, train_bc_run
from archer_envs.agents import load_agent as load_reference_agent
from archer_envs.evaluation import evaluate

ENV_ID = "archer/TwentyQuestionsSubset-v0"


def run_demo(out: Path, seed: int = 0, iterations: int | None = None) -> dict:
    started = time.perf_counter()
    if out.exists():  # replace an earlier (or interrupted) demo's results, nothing else
        if not {p.name for p in out.iterdir()} <= {"bc", "archer", "summary.json"}:
            raise SystemExit(f"{out} holds more than a demo's results: pick another --out")
        shutil.rmtree(out)
    print("1/3 behaviour cloning on the sub-optimal expert's episodes")
    train_bc_run(ENV_ID, str(out / "bc"), seed=seed, device="cpu")
    bc_done = time.perf_counter()
    print("2/3 ArCHer from the BC policy")
    overrides = {} if iterations is None else {"iterations": iterations}
    config = ArCHerConfig.preset("cpu", ENV_ID, **overrides)
    train_archer_run(ENV_ID, str(out / "archer"), config, seed=seed, init=str(out / "bc"),
                     device="cpu")  # fmt: skip
    archer_done = time.perf_counter()
    print("3/3 evaluation: every object of the subset, greedy once and sampled ten times")
    objects = [{"index": i} for i in range(10)]
    agents = {
        "BC start, greedy": (load_agent(str(out / "bc")), objects),
        "BC start, sampled": (load_agent(str(out / "bc"), greedy=False), objects * 10),
        "ArCHer, greedy": (load_agent(str(out / "archer")), objects),
        "ArCHer, sampled": (load_agent(str(out / "archer"), greedy=False), objects * 10),
        "optimal reference": (load_reference_agent("optimal", ENV_ID, seed=seed), objects),
    }
    rows = {}
    for name, (agent, episodes) in agents.items():
        result = evaluate(agent, ENV_ID, episodes=episodes, seed=seed, num_envs=32,
                          agent_name=name, progress=False)  # fmt: skip
        rows[name] = result.summary()
    summary = {
        "env_id": ENV_ID,
        "seed": seed,
        "iterations": config.iterations,
        "seconds": {
            "bc": round(bc_done - started, 1),
            "archer": round(archer_done - bc_done, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "results": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def format_summary(summary: dict) -> str:
    lines = [f"{'agent':<18} {'return':>14} {'success':>8} {'turns':>6}", "-" * 50]
    for name, row in summary["results"].items():
        score = f"{row['mean_return']:.2f} ± {row['stderr_return']:.2f}"
        lines.append(f"{name:<18} {score:>14} {100 * row['success_rate']:>7.0f}% "
                     f"{row['mean_turns']:>6.1f}")  # fmt: skip
    seconds = summary["seconds"]
    lines.append(f"time: {seconds['total']:.0f} s (BC {seconds['bc']:.0f} s, "
                 f"ArCHer {seconds['archer']:.0f} s)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, help="ArCHer iterations (default: the preset)")
    args = parser.parse_args()
    summary = run_demo(args.out, args.seed, args.iterations)
    print(format_summary(summary))
    print(f"curve: {args.out / 'archer' / 'curve.png'}; summary: {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
