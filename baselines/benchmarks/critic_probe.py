"""Does an ArCHer run's critic know which guess is right? A diagnostic for Twenty Questions.

    python -m baselines.benchmarks.critic_probe runs/demo/archer

For every object, the expert plays until its winning guess; at the state before that guess the
critic scores min(Q1, Q2)(s, "Is it a X?") for every object X of the env. A critic that has
learned the game ranks the hidden object first (its true Q is 0, every other guess's is below
−1). Prints the ranking per object and how often the right guess comes first. A figure, not a test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from archer_agents import checkpoint
from archer_agents.models import CausalCritic, PolicyLM, UtteranceCritic, make_critic
from archer_envs.agents import load_agent
from archer_envs.evaluation import evaluate


def load_critic(run: Path) -> UtteranceCritic | CausalCritic:
    found = checkpoint.latest_checkpoint(run)
    if found is None:
        raise SystemExit(f"{run} has no complete checkpoint")
    checkpoint.verify_checkpoint(found, ["critic.safetensors"])
    config = json.loads((run / "config.json").read_text())
    critic = make_critic(config["critic"], PolicyLM(config["policy"]))
    critic.load_state_dict(checkpoint.load_tensors(found, "critic", critic.state_dict()))
    return critic.eval()


def probe(critic: UtteranceCritic | CausalCritic, env_id: str) -> list[dict[str, Any]]:
    """Per object: min(Q1, Q2) of the right guess and the mean of the others, V, and the guess
    the critic ranks first, at the state before the expert's winning guess."""
    env = gym.make(env_id)
    names = [object_names[0] for object_names in env.unwrapped.objects]
    env.close()
    guesses = [f"Is it a {name.lower()}?" for name in names]
    expert = load_agent("expert", env_id, seed=0)
    played = evaluate(
        expert, env_id, episodes=[{"index": i} for i in range(len(names))], seed=0, progress=False
    )
    rows = []
    for record in played.records:
        state = record["transitions"][-1]["observation"]  # before the winning guess
        with torch.no_grad():
            q = torch.minimum(*critic.q([state] * len(guesses), guesses))
            v = torch.minimum(*critic.v([state]))
        right = names.index(record["target"])
        row = {
            "object": names[right],
            "q_right": float(q[right]),
            "q_others": float((q.sum() - q[right]) / (len(names) - 1)),
            "v": float(v),
            "first": names[int(q.argmax())],
        }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="an ArCHer run directory")
    parser.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    args = parser.parse_args()
    rows = probe(load_critic(args.run), args.env)
    print(f"{'object':<12} {'Q(right)':>9} {'Q(others)':>10} {'V':>6}  critic's first guess")
    for r in rows:
        print(
            f"{r['object']:<12} {r['q_right']:>9.2f} {r['q_others']:>10.2f} {r['v']:>6.2f}  "
            f"{r['first']}"
        )
    first = sum(r["first"] == r["object"] for r in rows)
    print(f"the critic ranks the right guess first for {first} of {len(rows)} objects")


if __name__ == "__main__":
    main()
