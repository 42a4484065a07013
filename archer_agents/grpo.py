"""Multi-turn GRPO (group relative policy optimisation, DeepSeekMath 2024, as 2025's agent-RL
work uses it over whole episodes): no critic; the baseline is the group.

One iteration = draw ``groups_per_iter`` starts (reset options: the same target or goal for a
whole group) and play ``group_size`` = G episodes from each, sampling at temperature 1.0; then
``ppo_epochs`` passes of shuffled mini-batches over their utterances. With R_j the return of
episode j of a group, π_old the policy that collected the data and π_start the frozen start
policy:

    advantage:  A_j = (R_j − mean_group R) / (std_group R + ε)   (std with Bessel's correction)
                the same A_j for every token of every turn of episode j
    loss:       ρ = π / π_old,  −mean_t min(ρ A, clip(ρ, 1 − ε_clip, 1 + ε_clip) A)
                + β mean_t KL(π(· | s, a_<t) ‖ π_start(· | s, a_<t))

The mean is over every action token of the mini-batch; the KL is exact over the vocabulary
(the tiny vocabulary makes it cheap) rather than GRPO's sampled k3 estimate. A group whose
episodes all score alike has A = 0 and teaches nothing but the KL term.

Starts are drawn from the env's ``training_options()`` (every object of Twenty Questions, every
city; WebShop's goals of its ``split``, train by default, never the test goals the leaderboard
plays); an env without that list (Detective) starts every episode the same way, so any G of its
episodes form a group.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from archer_agents.config import Config
from archer_agents.models import PolicyAgent, PolicyLM
from archer_agents.rollout import collect_trajectories


@dataclass
class GRPOConfig(Config):
    """Hyperparameters; ``rollouts_per_iter`` = groups_per_iter × group_size trajectories are
    collected per iteration. ``minibatch_size`` counts utterances."""

    label = "GRPO"

    policy: str = "tiny"  # a preset of archer_agents.models or a pretrained name/path
    iterations: int = 16
    groups_per_iter: int = 8
    group_size: int = 8
    num_envs: int = 32
    ppo_epochs: int = 2
    minibatch_size: int = 64
    clip_ratio: float = 0.2
    kl_coef: float = 0.04  # β of the KL term to the start policy (DeepSeekMath: 0.04)
    epsilon: float = 1e-4  # added to the group's standard deviation
    lm_lr: float = 1e-5
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    max_new_tokens: int = 16
    eval_every: int = 4
    save_every: int = 1

    @property
    def rollouts_per_iter(self) -> int:
        return self.groups_per_iter * self.group_size

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> GRPOConfig:
        """``cpu``: the tiny policy from a BC start, minutes here; ``paper``: the budget of the
        PPO baseline ArCHer is compared with (1,024 trajectories per update: 128 groups of 8)
        with DeepSeekMath's β = 0.04 and clip 0.2, on GPT-2."""
        if name == "cpu":
            base = cls(
                iterations=16,
                groups_per_iter=8,
                group_size=8,
                ppo_epochs=2,
                minibatch_size=64,
                clip_ratio=0.2,
                kl_coef=0.1,
                lm_lr=1e-4,
                max_new_tokens=16,
            )
        elif name == "paper":
            base = cls(
                policy="gpt2",
                iterations=100,
                groups_per_iter=128,
                group_size=8,
                num_envs=32,
                ppo_epochs=1,
                minibatch_size=256,
                clip_ratio=0.2,
                kl_coef=0.04,
                lm_lr=1e-5,
                max_new_tokens=32,
                eval_every=5,
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return base.replace(**overrides)


def group_advantages(returns: torch.Tensor, group_size: int, epsilon: float = 1e-4) -> torch.Tensor:
    """(R − mean) / (std + ε) within consecutive groups of ``group_size`` returns, (n,)."""
    if group_size < 2 or len(returns) % group_size:
        raise ValueError(
            f"group_size ({group_size}) must be at least 2 and divide the number "
            f"of returns ({len(returns)})"
        )
    groups = returns.view(-1, group_size)
    mean, std = groups.mean(1, keepdim=True), groups.std(1, keepdim=True)
    return ((groups - mean) / (std + epsilon)).flatten()


def episode_starts(envs) -> list[dict[str, Any]] | None:
    """The env's reset options for training (``training_options``), or None if it has none."""
    if not hasattr(envs, "envs"):
        raise ValueError(
            "GRPO needs a synchronous vector env: each episode starts from its "
            "group's reset options"
        )
    options = getattr(envs.envs[0].unwrapped, "training_options", None)
    return options() if options is not None else None


class GRPO:
    """The trainer: the policy, the frozen start policy and the policy's Adam optimizer. No
    critic and no replay buffer."""

    def __init__(
        self, config: GRPOConfig, policy: PolicyLM, seed: int = 0, accelerator: Any = None
    ):
        self.config = config
        self.policy = policy
        self.reference = copy.deepcopy(policy).requires_grad_(False).eval()
        self.accelerator = accelerator
        self.processes = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        if self.processes > 1:
            raise ValueError("GRPO runs in one process (accelerate launch with one process)")
        if config.group_size < 2:
            raise ValueError(f"group_size must be at least 2, got {config.group_size}")
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.lm_lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "reference": self.reference}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.optimizer}

    def collect(self, envs, seed: int, progress: bool) -> list[dict[str, Any]]:
        """``groups_per_iter`` groups of ``group_size`` consecutive trajectories, each group
        from one start drawn (by ``seed``) from the env's episode list."""
        config = self.config
        starts = episode_starts(envs)
        options = None
        if starts is not None:
            rng = np.random.default_rng(seed)
            drawn = rng.integers(len(starts), size=config.groups_per_iter)
            options = [starts[i] for i in drawn for _ in range(config.group_size)]
        agent = PolicyAgent(self.policy, greedy=False, temperature=config.temperature)
        return collect_trajectories(
            agent, envs, config.rollouts_per_iter, seed=seed, progress=progress, options=options
        )

    def minibatch_loss(
        self,
        observations: list[str],
        actions: list[str],
        old: torch.Tensor,
        advantage: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The clipped surrogate and the KL term over the mini-batch's action tokens; ``old``
        (batch, k) π_old's token log-probs aligned with the policy's, ``advantage`` (batch,)."""
        config = self.config
        token, mask, kl = self.policy.token_log_probs(observations, actions, self.reference)
        ratio = torch.exp(token - old[:, -token.shape[1] :])
        weight = advantage[:, None]
        clipped_ratio = ratio.clamp(1 - config.clip_ratio, 1 + config.clip_ratio)
        surrogate = torch.min(ratio * weight, clipped_ratio * weight)
        tokens = mask.sum()
        policy_loss = -(surrogate * mask).sum() / tokens
        kl_term = (kl * mask).sum() / tokens
        with torch.no_grad():
            clipped = ((ratio - 1).abs() > config.clip_ratio) & mask
            stats = {
                "policy_loss": policy_loss.item(),
                "kl": kl_term.item(),
                "clip_fraction": (clipped.sum() / tokens).item(),
            }
        return policy_loss + config.kl_coef * kl_term, stats

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """Collect the groups, normalise each episode's return within its group, then
        ``ppo_epochs`` epochs of clipped updates. ``seed`` fixes the starts, the episodes and
        the mini-batches' order, so a resumed run repeats them."""
        config = self.config
        self.policy.eval()  # throughout: dropout would make ρ ≠ 1 on the data's own policy
        trajectories = self.collect(envs, seed, progress)
        returns = torch.tensor([t["return"] for t in trajectories], dtype=torch.float32)
        episode_advantage = group_advantages(returns, config.group_size, config.epsilon)
        observations = [t["observation"] for r in trajectories for t in r["transitions"]]
        actions = [t["action"] for r in trajectories for t in r["transitions"]]
        turns = torch.tensor([len(r["transitions"]) for r in trajectories])
        advantage = episode_advantage.repeat_interleave(turns).to(self.policy.device)
        with torch.no_grad():
            old, _ = self.policy.token_log_probs(observations, actions)
        rng = np.random.default_rng(seed)
        stats: list[dict[str, float]] = []
        for _ in range(config.ppo_epochs):
            order = rng.permutation(len(observations))
            for start in range(0, len(order), config.minibatch_size):
                rows = order[start : start + config.minibatch_size]
                loss, step_stats = self.minibatch_loss(
                    [observations[i] for i in rows],
                    [actions[i] for i in rows],
                    old[torch.as_tensor(rows)],
                    advantage[torch.as_tensor(rows)],
                )
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), config.max_grad_norm)
                self.optimizer.step()
                stats.append(step_stats)
        return {
            "iteration": iteration,
            "rollout_return": float(returns.mean()),
            "rollout_success": float(np.mean([t["success"] for t in trajectories])),
            "groups_without_signal": int((returns.view(-1, config.group_size).std(1) == 0).sum()),
            **{k: float(np.mean([s[k] for s in stats])) for k in stats[0]},
            "trajectories": trajectories,
        }
