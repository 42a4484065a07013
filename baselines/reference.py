"""Score the scripted reference agents on Twenty Questions, Guess My City, Detective and WebShop,
and print tables.

These rows are the limits learning agents are measured against: the random floor, the greedy
information-gain expert, and (where it is computable) the exact optimal policy; on WebShop, the
random shopper and WebShop's rule baseline on the test split, next to the paper's figures.

    python -m baselines.reference [--out runs/reference.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym

from archer_envs.agents import load_agent
from archer_envs.evaluation import evaluate

ENV_IDS = (
    "archer/TwentyQuestionsSubset-v0",
    "archer/TwentyQuestions-v0",
    "archer/GuessMyCity-v0",
)
AGENTS = ("random", "expert", "optimal")
WEBSHOP_ID = "archer/WebShop-v0"
WEBSHOP_AGENTS = ("random", "rule")
WEBSHOP_AGENTS_ALL = ("random", "rule", "careful")  # the careful shopper: for difficulty="hard"
# WebShop paper (Yao et al., 2022), table 2: score / success rate on the test goals
WEBSHOP_PAPER = {"rule": (45.6, 9.6), "human expert": (82.1, 59.6)}


def reference_table(seed: int = 0, progress: bool = True) -> list[dict]:
    rows = []
    for env_id in ENV_IDS:
        for name in AGENTS:
            try:
                agent = load_agent(name, env_id, seed=seed)
            except ValueError as error:  # the optimal policy is only computable for small lists
                if "unknown agent" in str(error):
                    continue  # an env without this kind of agent
                rows.append({"env_id": env_id, "agent": name, "note": str(error)})
                continue
            # every object (city) once; the random agent ten times over, its scores being noisy
            objects = gym.make(env_id).unwrapped.episode_options()
            episodes = objects * (10 if name == "random" else 1)
            result = evaluate(
                agent, env_id, episodes=episodes, seed=seed, agent_name=name, progress=progress
            )
            rows.append(result.summary())
    return rows


DETECTIVE_ID = "archer/Detective-v0"
# the walkthrough is deterministic: one episode; the noisy ones are the BC data's agents
DETECTIVE_AGENTS = (
    ("random", {}, 100),
    ("walkthrough", {}, 1),
    ("expert", {"epsilon": 0.1}, 100),
    ("expert", {"epsilon": 0.3}, 100),
)


def detective_table(seed: int = 0, progress: bool = True) -> list[dict]:
    rows = []
    for name, options, episodes in DETECTIVE_AGENTS:
        agent = load_agent(name, DETECTIVE_ID, seed=seed, **options)
        label = f"walkthrough(epsilon={options['epsilon']})" if options else name
        result = evaluate(
            agent, DETECTIVE_ID, episodes=episodes, seed=seed, agent_name=label, progress=progress
        )
        rows.append(result.summary())
    return rows


def format_detective_table(rows: list[dict]) -> str:
    lines = [f"{'agent':<27} {'score (of 100)':>16} {'solved':>7} {'turns':>6}", "-" * 59]
    for row in rows:
        score = f"{row['mean_return']:.1f} ± {row['stderr_return']:.1f}"
        lines.append(
            f"{row['agent']:<27} {score:>16} {100 * row['success_rate']:>6.0f}% "
            f"{row['mean_turns']:>6.1f}"
        )
    return "\n".join(lines)


def webshop_table(
    seed: int = 0, progress: bool = True, difficulty: str = "easy", agents=WEBSHOP_AGENTS
) -> list[dict]:
    """Score (100 x mean reward) and success rate of the WebShop agents on the test goals of
    the generated catalogue at ``difficulty``."""
    kwargs = {"difficulty": difficulty}
    episodes = gym.make(WEBSHOP_ID, **kwargs).unwrapped.episode_options()  # goals 0-499
    rows = []
    for name in agents:
        agent = load_agent(name, WEBSHOP_ID, seed=seed)
        result = evaluate(
            agent,
            WEBSHOP_ID,
            episodes=episodes,
            seed=seed,
            env_kwargs=kwargs,
            agent_name=name,
            progress=progress,
        )
        rows.append({**result.summary(), "score": 100 * result.mean_return, **kwargs})
    return rows


def format_webshop_table(rows: list[dict]) -> str:
    lines = [
        f"{'agent':<14} {'score':>6} {'success':>8} {'steps':>6}   paper (score / success)",
        "-" * 64,
    ]
    for row in rows:
        paper = WEBSHOP_PAPER.get(row["agent"])
        reference = f"{paper[0]:.1f} / {paper[1]:.1f}%" if paper else "-"
        lines.append(
            f"{row['agent']:<14} {row['score']:>6.1f} {100 * row['success_rate']:>7.1f}% "
            f"{row['mean_turns']:>6.1f}   {reference}"
        )
    paper = WEBSHOP_PAPER["human expert"]
    lines.append(f"{'human expert':<14} {'':>6} {'':>8} {'':>6}   {paper[0]:.1f} / {paper[1]:.1f}%")
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    lines = [
        f"{'environment':<33} {'agent':<8} {'return':>14} {'success':>8} {'turns':>6}",
        "-" * 73,
    ]
    for row in rows:
        if "note" in row:
            lines.append(f"{row['env_id']:<33} {row['agent']:<8} {'n/a (too many objects)':>30}")
            continue
        score = f"{row['mean_return']:.2f} ± {row['stderr_return']:.2f}"
        lines.append(
            f"{row['env_id']:<33} {row['agent']:<8} {score:>14} "
            f"{100 * row['success_rate']:>7.1f}% {row['mean_turns']:>6.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    parser.add_argument(
        "--webshop-only", action="store_true", help="only the WebShop tables (easy and hard)"
    )
    args = parser.parse_args()
    if args.webshop_only:
        rows = []
        for difficulty in ("easy", "hard"):
            shop_rows = webshop_table(args.seed, difficulty=difficulty, agents=WEBSHOP_AGENTS_ALL)
            rows += shop_rows
            print(f"\nWebShop-v0, difficulty={difficulty!r}, test goals 0-499")
            print(format_webshop_table(shop_rows))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=1))
        return
    rows = reference_table(args.seed)
    print()
    print(format_table(rows))
    print(
        "\nEvery object is played once (random: ten times); return = -(questions before the "
        "correct guess), so 0 is the best possible."
    )
    detective = detective_table(args.seed)
    print(f"\n{DETECTIVE_ID}: score = the game's score (reward = its increase), 50-step cap")
    print(format_detective_table(detective))
    shop_rows = webshop_table(args.seed)
    print()
    print(format_webshop_table(shop_rows))
    print(
        "\nWebShop-v0 (generated catalogue of 10,000 products), test goals 0-499, ArCHer's "
        "setting (top 3 results, 10 steps); score = 100 x mean reward, success = reward 1."
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows + detective + shop_rows, indent=1))


if __name__ == "__main__":
    main()
