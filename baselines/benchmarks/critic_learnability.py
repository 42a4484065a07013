"""Can a critic learn which Twenty Questions utterance wins, from a policy's own rollouts?

    python -m baselines.benchmarks.critic_learnability runs/demo/bc [--critic tiny] [--lr 1e-3]

A fast gate for critic designs (minutes, not a whole demo). The policy of a run directory plays
``--episodes`` sampled episodes; the critic's twin Q heads regress the immediate reward (γ = 0:
0 for the winning guess, −1 for anything else), the easiest thing ArCHer's critic must know.
Every 100 steps it prints how well Q ranks winning utterances above the rest on held-out
transitions (AUC, 0.5 = chance), next to rules that read the text: "the utterance is a guess"
and "a guess not already answered No", and the policy's own log-probability. A figure, not a
test.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from archer_agents.models import PolicyAgent, make_critic
from archer_agents.rollout import collect_trajectories, make_vector_env
from archer_agents.train import load_policy
from archer_envs.question_game import NO
from archer_envs.twenty_questions.agents import parse_turns as parse_transcript


def auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    wins = scores[positive][:, None] - scores[~positive][None, :]
    return float((wins > 0).mean() + 0.5 * (wins == 0).mean())


def held_out_scores(score, observations: list[str], actions: list[str]) -> np.ndarray:
    """``score(observations, actions)`` over the held-out transitions, 100 at a time."""
    with torch.no_grad():
        parts = [
            score(observations[i : i + 100], actions[i : i + 100])
            for i in range(0, len(observations), 100)
        ]
    return torch.cat(parts).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a run directory whose policy plays the episodes")
    parser.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    parser.add_argument("--critic", default="tiny")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--episodes", type=int, default=320)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--held-out", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    policy = load_policy(args.run)
    envs = make_vector_env(args.env, 32)
    trajectories = collect_trajectories(
        PolicyAgent(policy, greedy=False), envs, args.episodes, seed=args.seed
    )
    envs.close()
    data = [t for record in trajectories for t in record["transitions"]]
    order = rng.permutation(len(data))
    test = [data[i] for i in order[: args.held_out]]
    train = [data[i] for i in order[args.held_out :]]
    if not train:
        raise SystemExit(f"{len(data)} transitions: play more --episodes than --held-out needs")
    winning = np.array([t["reward"] == 0 for t in test])
    if winning.all() or not winning.any():
        raise SystemExit("the held-out transitions need winning and losing utterances")

    env = gym.make(args.env)
    guesses = {f"Is it a {names[0].lower()}?" for names in env.unwrapped.objects}
    env.close()
    observations = [t["observation"] for t in test]
    actions = [t["action"] for t in test]
    is_guess = np.array([a in guesses for a in actions], dtype=float)
    fresh = np.array(
        [(a, NO) not in parse_transcript(s) for s, a in zip(observations, actions, strict=True)]
    )
    log_probs = held_out_scores(policy.log_probs, observations, actions)
    print(
        f"{len(train)} training and {len(test)} held-out transitions, "
        f"{int(winning.sum())} held-out wins"
    )
    print(
        f"rules: is a guess {auc(winning, is_guess):.3f}, a guess not answered No "
        f"{auc(winning, is_guess * (1 + fresh)):.3f}, policy log-probability "
        f"{auc(winning, log_probs):.3f}"
    )

    critic = make_critic(args.critic, policy)  # "policy": a CausalCritic on its trunk
    optimizer = torch.optim.Adam(critic.parameters(), lr=args.lr)
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = [train[i] for i in rng.choice(len(train), args.batch_size)]
        q1, q2 = critic.q([t["observation"] for t in batch], [t["action"] for t in batch])
        reward = torch.tensor([t["reward"] for t in batch])
        loss = torch.nn.functional.mse_loss(q1, reward) + torch.nn.functional.mse_loss(q2, reward)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            q = held_out_scores(lambda o, a: torch.minimum(*critic.q(o, a)), observations, actions)
            print(
                f"step {step:>5}  {time.perf_counter() - started:>5.0f} s  loss "
                f"{loss.item():.3f}  critic AUC {auc(winning, q):.3f}"
            )


if __name__ == "__main__":
    main()
