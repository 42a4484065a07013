"""How fast is WebShop: search latency and env steps at the default 10,000 products, and the
build time and peak memory of a generated catalogue the size of the original (1,181,436
products) with its search index.

Prints figures; it asserts nothing. Run on an otherwise idle machine (the full-size build takes
minutes and a few GiB):

    python -m baselines.benchmarks.webshop_speed [--full-size 1181436] [--skip-full]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np

import archer_envs  # noqa: F401  (registers the ids)
from archer_envs.agents import load_agent
from archer_envs.webshop.catalog import DEFAULT_NUM_PRODUCTS, FULL_NUM_PRODUCTS, Catalog
from archer_envs.webshop.search import SearchEngine

ENV_ID = "archer/WebShop-v0"


def build(
    num_products: int, difficulty: str = "easy"
) -> tuple[Catalog, SearchEngine, float, float]:
    """A fresh catalogue (no cache) and its index, with the seconds each took."""
    start = time.perf_counter()
    catalog = Catalog.generated(num_products, cache=False, difficulty=difficulty)
    built = time.perf_counter()
    engine = SearchEngine(catalog, progress=num_products >= 100_000)
    return catalog, engine, built - start, time.perf_counter() - built


def search_latency(catalog: Catalog, engine: SearchEngine, queries: int = 1000) -> list[float]:
    """Milliseconds per query, for the instructions of the first ``queries`` goals."""
    texts = [catalog.goal(i)["instruction_text"] for i in range(min(queries, catalog.num_goals))]
    times = []
    for text in texts:
        start = time.perf_counter()
        engine.search(text)
        times.append(1000 * (time.perf_counter() - start))
    return times


def env_steps_per_second(agent_name: str, steps: int, difficulty: str = "easy") -> float:
    """Steps per second of one env driven by a scripted agent (the agent's time included)."""
    env = gym.make(ENV_ID, difficulty=difficulty)
    agent = load_agent(agent_name, ENV_ID, seed=0)
    observation, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        observation, _, terminated, truncated, _ = env.step(agent.act([observation])[0])
        if terminated or truncated:
            observation, _ = env.reset()
    return steps / (time.perf_counter() - start)


def measure_full(num_products: int) -> dict:
    """Build time, peak memory and search latency of a catalogue of ``num_products``."""
    catalog, engine, build_s, index_s = build(num_products)
    latency = search_latency(catalog, engine, 300)
    return {
        "products": num_products,
        "build_s": build_s,
        "index_s": index_s,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "search_ms": float(np.mean(latency)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", type=int, default=FULL_NUM_PRODUCTS)
    parser.add_argument("--skip-full", action="store_true", help="only the 10,000-product figures")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--measure-full", type=int, help=argparse.SUPPRESS)  # the subprocess
    parser.add_argument("--difficulty", default="easy", choices=("easy", "hard"))
    args = parser.parse_args()
    if args.measure_full:
        print(json.dumps(measure_full(args.measure_full)))
        return

    catalog, engine, build_s, index_s = build(DEFAULT_NUM_PRODUCTS, args.difficulty)
    latency = search_latency(catalog, engine)
    print(
        f"catalogue of {DEFAULT_NUM_PRODUCTS:,} products: generated in {build_s:.2f} s, "
        f"indexed in {index_s:.2f} s"
    )
    print(
        f"search latency: {np.mean(latency):.2f} ms/query mean, "
        f"{np.percentile(latency, 95):.2f} ms p95 (target <= 5 ms)"
    )
    agents = ("rule", "random") if args.difficulty == "easy" else ("rule", "random", "careful")
    for agent in agents:
        rate = env_steps_per_second(agent, args.steps, args.difficulty)
        print(f"WebShop-v0 in-process, {agent} agent: {rate:,.0f} steps/s")
    if args.skip_full:
        return
    # in a fresh process, so that the peak memory is the full catalogue's and its index's own
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "baselines.benchmarks.webshop_speed",
            "--measure-full",
            str(args.full_size),
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    full = json.loads(result.stdout.strip().splitlines()[-1])
    total = full["build_s"] + full["index_s"]
    print(
        f"catalogue of {full['products']:,} products: generated in {full['build_s']:.0f} s, "
        f"indexed in {full['index_s']:.0f} s ({total / 60:.1f} min in all, target <= 5 min); "
        f"peak memory {full['peak_rss_gib']:.2f} GiB (target <= 4 GiB); search "
        f"{full['search_ms']:.1f} ms/query"
    )


if __name__ == "__main__":
    main()
