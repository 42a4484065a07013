"""stable-baselines3's PPO and DQN on a menu of utterances: the classic utterance-level baseline.

The text env is wrapped by ``archer_envs.wrappers.CandidateActions``: the actions are a fixed
menu (the env's scripted expert's questions, one per split of the targets, and a guess of every
target) and the observation is the answer so far to each of them (0 not asked, 1 yes, 2 no,
3 other) and the turn. SB3's MLP policies learn on that (SB3 one-hot encodes the
``MultiDiscrete`` observation); a trained run plays the text env itself through the menu
(``MenuAgent``: it reads the answers from the transcript), so ``archer-envs eval`` scores it like
any agent. It cannot say anything off the menu, and it learns nothing about language: it is the
upper end of what a classic RL agent gets from the same episodes with the language solved for it.

    archer-train --env archer/TwentyQuestionsSubset-v0 --algo sb3_ppo --preset cpu --seed 0 \\
        --out runs/sb3_ppo
    archer-envs eval --env archer/TwentyQuestionsSubset-v0 --agent runs/sb3_ppo

One iteration = reseed SB3 with the iteration's seed (python, numpy, torch, the envs), start
fresh episodes and ``learn()`` for ``steps_per_iter`` env steps: so an iteration is a function
of the weights, the optimizer state and its seed, and a resumed run replays the same steps
(DQN's replay buffer excepted: a resumed DQN starts with an empty one). The weights and the
optimizer are checkpointed as safetensors like every algorithm's (never SB3's zip, a pickle).

archer-train builds a language-model policy for every algorithm (``policy``, ``--init``); the
SB3 agents do not use it (it rides along in the checkpoints, unchanged). Presets: ``cpu``
(tuned here: 20 iterations, a minute or two on one core) and ``paper``: the paper has no SB3
baseline, so SB3's own defaults, the paper's discount for the env and 10⁶ env steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv

from archer_agents.archer import PAPER_GAMMA
from archer_agents.config import replace_config
from archer_agents.models import PolicyLM
from archer_envs.wrappers import CandidateActions, menu_for


@dataclass
class SB3PPOConfig:
    """SB3 PPO's hyperparameters under SB3's names; ``menu_env`` is the env whose menu the
    networks are sized for (the preset sets it to archer-train's ``--env``)."""

    algorithm: ClassVar[type] = PPO
    label: ClassVar[str] = "SB3 PPO"
    menu_env: str = "archer/TwentyQuestionsSubset-v0"
    iterations: int = 20
    steps_per_iter: int = 4096  # env steps per iteration: whole PPO rollouts (n_steps · num_envs)
    num_envs: int = 8
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 10
    learning_rate: float = 1e-3
    gamma: float = 0.95
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    eval_every: int = 5
    save_every: int = 5
    policy: str = "tiny"  # archer-train's language model: built for every algorithm, unused here
    max_new_tokens: int = 16

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> SB3PPOConfig:
        """``cpu``: what learns the Subset in a minute or two here; ``paper``: SB3's defaults
        with the paper's discount, 10⁶ env steps."""
        if name == "cpu":
            base = cls(menu_env=env_id)
        elif name == "paper":
            base = cls(
                menu_env=env_id,
                iterations=61,
                steps_per_iter=16_384,
                n_steps=2048,
                batch_size=64,
                learning_rate=3e-4,
                ent_coef=0.0,
                eval_every=10,
                save_every=10,
                gamma=PAPER_GAMMA.get(env_id, 0.95),
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return _replace(base, overrides)

    def sb3_kwargs(self) -> dict[str, Any]:
        return {
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "n_epochs": self.n_epochs,
            "learning_rate": self.learning_rate,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "clip_range": self.clip_range,
            "ent_coef": self.ent_coef,
            "vf_coef": self.vf_coef,
            "max_grad_norm": self.max_grad_norm,
        }

    def check(self) -> None:
        if self.steps_per_iter % (self.n_steps * self.num_envs):
            raise ValueError(
                f"steps_per_iter ({self.steps_per_iter}) must be a multiple of "
                f"n_steps · num_envs ({self.n_steps} · {self.num_envs})"
            )


@dataclass
class SB3DQNConfig:
    """SB3 DQN's hyperparameters under SB3's names (``menu_env`` as for PPO). The ε schedule
    runs over the whole run (``exploration_fraction`` of ``iterations · steps_per_iter``)."""

    algorithm: ClassVar[type] = DQN
    label: ClassVar[str] = "SB3 DQN"
    menu_env: str = "archer/TwentyQuestionsSubset-v0"
    iterations: int = 20
    steps_per_iter: int = 4096
    num_envs: int = 4
    learning_rate: float = 5e-4
    buffer_size: int = 50_000
    learning_starts: int = 1000
    batch_size: int = 128
    tau: float = 1.0
    gamma: float = 0.95
    train_freq: int = 4  # a training round every 4 steps of the vector env (16 transitions)
    gradient_steps: int = 4
    target_update_interval: int = 2000
    exploration_fraction: float = 0.3
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    eval_every: int = 5
    save_every: int = 5
    policy: str = "tiny"  # archer-train's language model: built for every algorithm, unused here
    max_new_tokens: int = 16

    @classmethod
    def preset(cls, name: str, env_id: str, **overrides: Any) -> SB3DQNConfig:
        """``cpu``: what learns the Subset in a minute or two here; ``paper``: SB3's defaults
        with the paper's discount, 10⁶ env steps."""
        if name == "cpu":
            base = cls(menu_env=env_id)
        elif name == "paper":
            base = cls(
                menu_env=env_id,
                iterations=61,
                steps_per_iter=16_384,
                num_envs=1,
                learning_rate=1e-4,
                buffer_size=1_000_000,
                learning_starts=100,
                batch_size=32,
                target_update_interval=10_000,
                exploration_fraction=0.1,
                eval_every=10,
                save_every=10,
                gamma=PAPER_GAMMA.get(env_id, 0.95),
            )
        else:
            raise ValueError(f"unknown preset {name!r}: use 'cpu' or 'paper'")
        return _replace(base, overrides)

    def sb3_kwargs(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "buffer_size": self.buffer_size,
            "learning_starts": self.learning_starts,
            "batch_size": self.batch_size,
            "tau": self.tau,
            "gamma": self.gamma,
            "train_freq": self.train_freq,
            "gradient_steps": self.gradient_steps,
            "target_update_interval": self.target_update_interval,
            "exploration_fraction": self.exploration_fraction,
            "exploration_initial_eps": self.exploration_initial_eps,
            "exploration_final_eps": self.exploration_final_eps,
            "max_grad_norm": self.max_grad_norm,
        }

    def check(self) -> None:
        if self.steps_per_iter % self.num_envs:
            raise ValueError(
                f"steps_per_iter ({self.steps_per_iter}) must be a multiple of "
                f"num_envs ({self.num_envs})"
            )


def _replace(config, overrides: dict[str, Any]):
    if overrides.get("menu_env", config.menu_env) != config.menu_env:
        raise ValueError(
            f"menu_env is the run's env ({config.menu_env}): set it with --env, "
            f"not --set menu_env={overrides['menu_env']}"
        )
    config = replace_config(config, overrides)
    config.check()
    return config


class EpisodeRecorder(BaseCallback):
    """Keeps the episodes that end during ``learn()`` as trajectory records (the
    archer_envs.datasets format, the text observations from ``info["text_observation"]``)."""

    def __init__(self, env_id: str):
        super().__init__()
        self.env_id = env_id
        self.episodes: list[dict[str, Any]] = []

    def _on_training_start(self) -> None:  # learn() has just reset the envs
        self.texts = [info["text_observation"] for info in self.training_env.reset_infos]
        self.transitions: list[list[dict[str, Any]]] = [[] for _ in self.texts]

    def _on_step(self) -> bool:
        steps = zip(self.locals["infos"], self.locals["rewards"], self.locals["dones"], strict=True)
        for i, (info, reward, done) in enumerate(steps):
            truncated = bool(info.get("TimeLimit.truncated", False))
            transition = {
                "observation": self.texts[i],
                "action": info["utterance"],
                "reward": float(reward),
                "next_observation": info["text_observation"],
                "terminated": bool(done) and not truncated,
                "truncated": truncated,
            }
            self.transitions[i].append(transition)
            self.texts[i] = info["text_observation"]
            if done:
                episode = {
                    "env_id": self.env_id,
                    "seed": None,
                    "options": None,
                    "target": info.get("target"),
                    "transitions": self.transitions[i],
                    "return": sum(t["reward"] for t in self.transitions[i]),
                    "success": bool(info.get("success", False)),
                }
                self.episodes.append(episode)
                self.transitions[i] = []
                self.texts[i] = self.training_env.reset_infos[i]["text_observation"]
        return True


class SB3:
    """The trainer (ArCHer's protocol): an SB3 ``PPO`` or ``DQN`` (after the config's type) on
    ``num_envs`` copies of ``CandidateActions(env)``; ``modules()`` and ``optimizers()`` are
    its policy network and Adam, with archer-train's unused language model as ``policy``."""

    def __init__(
        self, config: SB3PPOConfig | SB3DQNConfig, policy: PolicyLM, seed: int = 0, accelerator=None
    ):
        if accelerator is not None and accelerator.num_processes > 1:
            raise ValueError("the SB3 baselines run in one process")
        config.check()
        self.config, self.policy, self.accelerator = config, policy, accelerator
        self.processes, self.rank = 1, 0
        menu = menu_for(gym.make(config.menu_env))
        self.env = CandidateActions(gym.make(config.menu_env), menu)  # reads transcripts

        def make_env() -> CandidateActions:
            return CandidateActions(gym.make(config.menu_env), menu)

        envs = DummyVecEnv([make_env] * config.num_envs)
        # small MLPs: the CPU is faster than a GPU (SB3's advice), and the same everywhere
        self.model = config.algorithm(
            "MlpPolicy",
            envs,
            policy_kwargs={"net_arch": list(config.net_arch)},
            seed=seed,
            device="cpu",
            **config.sb3_kwargs(),
        )
        self.total_steps = config.iterations * config.steps_per_iter
        if isinstance(self.model, DQN):  # ε over the whole run, not over each learn() call
            schedule = LinearSchedule(
                config.exploration_initial_eps,
                config.exploration_final_eps,
                config.exploration_fraction,
            )
            self.model.exploration_schedule = lambda _: schedule(
                1.0 - self.model.num_timesteps / self.total_steps
            )
        self.recorder = EpisodeRecorder(config.menu_env)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy, "sb3_policy": self.model.policy}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"sb3": self.model.policy.optimizer}

    def iteration(self, envs, iteration: int, seed: int, progress: bool = True) -> dict[str, Any]:
        """``steps_per_iter`` env steps of SB3's ``learn()`` from fresh episodes seeded by
        ``seed``. ``envs`` (archer-train's text envs) must be of the config's env; the steps
        are taken on the trainer's own wrapped copies."""
        if envs is not None and envs.spec is not None and envs.spec.id != self.config.menu_env:
            raise ValueError(
                f"this SB3 trainer's menu is {self.config.menu_env}'s, not "
                f"{envs.spec.id}'s: set menu_env to the run's --env"
            )
        model = self.model
        # where the run stands (also after a resume): SB3's step counters drive its schedules
        model.num_timesteps = iteration * self.config.steps_per_iter
        if isinstance(model, DQN):  # its count of vector steps times the target updates
            model._n_calls = model.num_timesteps // self.config.num_envs
        model.set_random_seed(seed % 2**32)  # numpy's seeds are 32-bit
        model._last_obs = None  # learn() starts fresh episodes, from the envs' new seeds
        self.recorder.episodes = []
        model.learn(
            self.config.steps_per_iter,
            callback=self.recorder,
            reset_num_timesteps=False,
            progress_bar=False,
        )
        episodes = self.recorder.episodes
        metrics: dict[str, Any] = {"iteration": iteration, "env_steps": model.num_timesteps}
        if episodes:
            metrics["rollout_return"] = float(np.mean([e["return"] for e in episodes]))
            metrics["rollout_success"] = float(np.mean([e["success"] for e in episodes]))
        # SB3's training statistics of the iteration's last update (its update counter is not
        # checkpointed: left out, so that a resumed run logs what the whole run logged)
        statistics = {
            key.removeprefix("train/"): float(value)
            for key, value in model.logger.name_to_value.items()
            if key.startswith("train/") and key != "train/n_updates"
        }
        metrics.update(statistics)
        metrics["trajectories"] = episodes
        return metrics


class MenuAgent:
    """A trained SB3 policy as an agent of the text env (archer_envs' batched protocol): each
    transcript is read into the wrapper's observation and the chosen menu entry is said.
    Greedy: the most likely action (PPO) or the best Q (DQN); sampled: from the policy's
    distribution (PPO) or ε-greedy with ``exploration_final_eps`` (DQN), drawn from the agent's
    own generator, seeded by ``seed``."""

    def __init__(self, trainer: SB3, greedy: bool = True, seed: int | None = None):
        self.model, self.env, self.greedy = trainer.model, trainer.env, greedy
        self.epsilon = getattr(trainer.config, "exploration_final_eps", 0.0)
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.name = "sb3"

    @torch.no_grad()
    def act(self, observations: list[str | None]) -> list[str | None]:
        live = [i for i, text in enumerate(observations) if text is not None]
        actions: list[str | None] = [None] * len(observations)
        if not live:
            return actions
        policy = self.model.policy
        policy.set_training_mode(False)
        batch, _ = policy.obs_to_tensor(np.stack([self.env.encode(observations[i]) for i in live]))
        if isinstance(self.model, DQN):
            chosen = policy.q_net(batch).argmax(-1)
            if not self.greedy:
                explore = torch.rand(len(live), generator=self.generator) < self.epsilon
                drawn = torch.randint(len(self.env.menu), (len(live),), generator=self.generator)
                chosen = torch.where(explore, drawn, chosen)
        else:
            probs = policy.get_distribution(batch).distribution.probs
            if self.greedy:
                chosen = probs.argmax(-1)
            else:
                chosen = torch.multinomial(probs, 1, generator=self.generator)[:, 0]
        for i, action in zip(live, chosen.tolist(), strict=True):
            actions[i] = self.env.menu[action]
        return actions
