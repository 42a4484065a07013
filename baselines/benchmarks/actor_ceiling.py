"""How far can ArCHer's actor go with a perfect critic? An upper bound for the demo.

    python -m baselines.benchmarks.actor_ceiling runs/demo/bc [--actor-samples 4] [--lm-lr 1e-4]

The demo's ArCHer loop (the ``cpu`` preset, from the BC policy of a run directory, the same
rollouts, actor steps and evaluation), with the critic's values replaced by the exact ones of
the Twenty Questions Subset: Q*(s, a) from the optimal agent's dynamic programme. With several
utterances per state (the preset's ``actor_samples``) each one's advantage is its Q* minus the
mean Q* of the state's others, as ArCHer's actor computes it from its critic; with
``--actor-samples 1``, Q*(s, a) − V*(s), so that every advantage is ≤ 0.

Every ``--eval-every`` iterations it prints greedy and sampled evaluation on every object (as
the demo's summary). What this cannot reach in the demo's budget, no learned critic will. A
figure, not a test.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from archer_agents.archer import ArCHer, ArCHerConfig
from archer_agents.models import PolicyAgent, PolicyLM, UtteranceCritic
from archer_agents.rollout import make_vector_env
from archer_agents.train import load_policy
from archer_envs.evaluation import evaluate
from archer_envs.twenty_questions.agents import OptimalAgent

ENV_ID = "archer/TwentyQuestionsSubset-v0"


class ExactCriticArCHer(ArCHer):
    """ArCHer whose action values come from the optimal agent's dynamic programme; the critic
    is never trained or read."""

    def __init__(
        self, config: ArCHerConfig, policy: PolicyLM, optimal: OptimalAgent, seed: int = 0
    ):
        super().__init__(config, policy, UtteranceCritic("tiny"), seed=seed)
        self.optimal = optimal

    def critic_step(self) -> dict[str, float]:
        return {}

    def action_values(self, observations: list[str], actions: list[str]) -> torch.Tensor:
        pairs = zip(observations, actions, strict=True)
        return torch.tensor([self.optimal.action_value(s, a) for s, a in pairs])

    def advantages(self, observations: list[str], actions: list[str]) -> torch.Tensor:
        """With one utterance per state: Q*(s, a) − V*(s), every advantage ≤ 0."""
        values = torch.tensor([self.optimal.state_value(s) for s in observations])
        return self.action_values(observations, actions) - values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a run directory whose policy is the starting actor")
    parser.add_argument(
        "--actor-samples",
        type=int,
        default=None,
        help="per state (default: the preset's; 1: Q* − V*)",
    )
    parser.add_argument("--iterations", type=int, default=None, help="default: the preset's")
    parser.add_argument("--actor-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--lm-lr", type=float, default=None, help="default: the preset's")
    parser.add_argument("--kl-coef", type=float, default=None, help="default: the preset's")
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    overrides = {
        "iterations": args.iterations,
        "actor_steps": args.actor_steps,
        "lm_lr": args.lm_lr,
        "actor_samples": args.actor_samples,
        "kl_coef": args.kl_coef,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    config = ArCHerConfig.preset("cpu", ENV_ID, **given)
    torch.manual_seed(args.seed)
    policy = load_policy(args.run)
    env = gym.make(ENV_ID)
    optimal = OptimalAgent(env.unwrapped)
    env.close()
    trainer = ExactCriticArCHer(config, policy, optimal, args.seed)
    objects = [{"index": i} for i in range(len(optimal.names))]

    def evaluation() -> str:
        greedy = evaluate(
            PolicyAgent(policy),
            ENV_ID,
            episodes=objects,
            seed=args.seed,
            num_envs=32,
            progress=False,
        )
        sampled = evaluate(
            PolicyAgent(policy, greedy=False, seed=args.seed),
            ENV_ID,
            episodes=objects * 10,
            seed=args.seed,
            num_envs=32,
            progress=False,
        )
        return (
            f"{greedy.mean_return:>7.2f} {100 * greedy.success_rate:>4.0f}%  "
            f"{sampled.mean_return:>7.2f} {100 * sampled.success_rate:>4.0f}%"
        )

    print(
        f"ArCHer with the exact advantage ({config.actor_samples} utterances per state), "
        f"lm_lr {config.lm_lr}, KL coefficient {config.kl_coef}, "
        f"{config.actor_steps} actor steps per iteration after {config.warmup_iters} "
        "warm-up iterations"
    )
    print(
        f"{'iteration':>9} {'trajectories':>12} {'rollouts':>9}  {'greedy':>13}  "
        f"{'sampled':>13} {'time':>6}"
    )
    print(f"{'start':>9} {0:>12} {'':>9}  {evaluation()} {0:>5.0f}s")
    envs = make_vector_env(ENV_ID, config.num_envs)
    started = time.perf_counter()
    for iteration in range(config.iterations):
        metrics = trainer.iteration(
            envs, iteration, seed=args.seed * 1_000_003 + iteration, progress=False
        )
        if (iteration + 1) % args.eval_every == 0 or iteration + 1 == config.iterations:
            done = (iteration + 1) * config.rollouts_per_iter
            print(
                f"{iteration + 1:>9} {done:>12} {100 * metrics['rollout_success']:>8.0f}%  "
                f"{evaluation()} {time.perf_counter() - started:>5.0f}s"
            )
    envs.close()


if __name__ == "__main__":
    main()
