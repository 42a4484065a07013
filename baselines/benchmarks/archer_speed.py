"""Time one ArCHer iteration (rollouts, critic updates, actor updates) for given model sizes.

    python -m baselines.benchmarks.archer_speed                      # cpu preset, tiny models
    python -m baselines.benchmarks.archer_speed --preset paper \\
        --policy gpt2-124m --critic roberta-base-size --device cuda  # the paper's sizes

Prints seconds per phase and, on a GPU, the peak memory. A figure, not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

import archer_envs
from archer_agents.archer import ArCHer, ArCHerConfig
from archer_agents.models import PolicyAgent, PolicyLM, make_critic
from archer_agents.rollout import collect_trajectories, make_vector_env
from archer_agents.train import mixed_precision, pick_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--env", default="archer/TwentyQuestions-v0", choices=sorted(archer_envs.ENVIRONMENTS)
    )
    parser.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--policy", default="tiny")
    parser.add_argument("--critic", default="tiny")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    config = ArCHerConfig.preset(args.preset, args.env, policy=args.policy, critic=args.critic)
    torch.manual_seed(0)
    policy = PolicyLM(config.policy, max_new_tokens=config.max_new_tokens).to(device)
    critic = make_critic(config.critic, policy).to(device)
    trainer = ArCHer(config, policy, critic)
    envs = make_vector_env(args.env, config.num_envs)
    sizes = {
        name: sum(p.numel() for p in m.parameters()) / 1e6
        for name, m in (("actor", policy), ("critic", critic))
    }
    print(
        f"{args.env} on {device}: actor {sizes['actor']:.1f}M, critic {sizes['critic']:.1f}M "
        f"parameters; {config.rollouts_per_iter} rollouts, {config.critic_steps} critic and "
        f"{config.actor_steps} actor steps of batch {config.batch_size}"
    )
    timings = {}

    def timed(name, function):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with mixed_precision(device):
            result = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[name] = time.perf_counter() - start
        return result

    agent = PolicyAgent(policy, greedy=False)
    trajectories = timed(
        "rollouts", lambda: collect_trajectories(agent, envs, config.rollouts_per_iter, seed=0)
    )
    trainer.buffer.add_trajectories(trajectories)
    timed("critic", lambda: [trainer.critic_step() for _ in range(config.critic_steps)])
    timed("actor", lambda: [trainer.actor_step() for _ in range(config.actor_steps)])
    total = sum(timings.values())
    steps = sum(len(t["transitions"]) for t in trajectories)
    print(
        f"rollouts {timings['rollouts']:.1f} s ({steps} utterances), critic "
        f"{timings['critic']:.1f} s, actor {timings['actor']:.1f} s: {total:.1f} s per iteration"
    )
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
