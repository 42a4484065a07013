"""archer-train: behaviour cloning, ArCHer or a baseline, in one run directory.

    archer-train --env archer/TwentyQuestionsSubset-v0 --algo bc --preset cpu --seed 0 --out runs/bc
    archer-train --env archer/TwentyQuestionsSubset-v0 --algo archer --preset cpu \\
        --init runs/bc --buffer-data runs/bc/dataset.jsonl --seed 0 --out runs/archer
    archer-train ... --out runs/archer --resume         # continue a killed run, nothing lost
    accelerate launch --multi_gpu --num_processes 4 -m archer_agents.train --algo archer ...

``--algo`` is ``bc`` or a key of ``ALGORITHMS``: every online algorithm runs in the same loop
(collect, update, evaluate every ``eval_every`` iterations, checkpoint every ``save_every``).

A run directory holds config.json, metrics.jsonl (one line per iteration), checkpoints/
(safetensors + JSON, the replay buffer as JSONL) and curve.png (evaluation returns, greedy and
sampled, against trajectories collected). A checkpoint loads as an agent:
``archer-envs eval --env ID --agent runs/archer``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm.auto import tqdm

import archer_envs
from archer_agents import checkpoint
from archer_agents.archer import ArCHer, ArCHerConfig
from archer_agents.bc import BCConfig, FilteredBC, FilteredBCConfig, train_bc, utterance_pairs
from archer_agents.chai import CHAI, CHAIConfig, chai_agent
from archer_agents.config import replace_config
from archer_agents.grpo import GRPO, GRPOConfig
from archer_agents.models import POLICY_PRESETS, PolicyAgent, PolicyLM
from archer_agents.offline import OfflineArCHer, OfflineArCHerConfig
from archer_agents.ppo import PPO, PPOConfig
from archer_agents.rollout import make_vector_env
from archer_agents.sb3 import SB3, MenuAgent, SB3DQNConfig, SB3PPOConfig
from archer_envs.agents import register_agent_loader
from archer_envs.datasets import generate_bc_dataset, read_trajectories
from archer_envs.evaluation import evaluate


def bc_data(env_id: str) -> dict[str, Any]:
    """The BC data ``train_bc_run`` generates: consistent but wasteful questioners on Twenty
    Questions (as the paper's SFT data was LLM conversations), the careful scripted shopper on
    WebShop (it has no expert: the paper's were human demonstrations), the expert with ε = 0.3
    on the other envs."""
    if env_id.startswith("archer/TwentyQuestions"):
        return {"episodes": 1000, "agent": "wasteful"}
    if env_id.startswith("archer/WebShop"):
        return {"episodes": 500, "agent": "careful"}
    return {"episodes": 500, "epsilon": 0.3}


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def mixed_precision(device: torch.device):
    """bf16 autocast where the GPU supports it (weights and optimizer stay in float32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate_agent(
    make_agent: Callable[[bool, int], Any], env_id: str, seed: int, sampled_episodes: int = 100
) -> dict:
    """On the env's fixed episode list (every object once): greedy decoding, and the sampling
    policy that the algorithms optimise (temperature 1, the list played as many times as it
    takes to reach ``sampled_episodes``: ten times on the 10-object Subset, once on WebShop's
    500 test goals). ``make_agent(greedy, seed)`` builds the agent of either kind."""
    fixed = evaluate(make_agent(True, seed), env_id, seed=seed, num_envs=16, progress=False)
    options = [record["options"] for record in fixed.records]
    sampled = evaluate(
        make_agent(False, seed),
        env_id,
        episodes=options * -(-sampled_episodes // len(options)),
        seed=seed,
        num_envs=32,
        progress=False,
    )
    return {
        "eval_return": fixed.mean_return,
        "eval_success": fixed.success_rate,
        "eval_sampled_return": sampled.mean_return,
        "eval_sampled_success": sampled.success_rate,
    }


def policy_agents(policy: PolicyLM) -> Callable[[bool, int], PolicyAgent]:
    """``make_agent`` for ``evaluate_agent``: the policy itself, greedy or sampling."""
    policy.eval()
    return lambda greedy, seed: PolicyAgent(policy, greedy=greedy, seed=None if greedy else seed)


def run_agent(algorithm: Algorithm, trainer: Any) -> Callable[[bool, int], Any]:
    """``make_agent`` for a trainer: the algorithm's own agent, or its policy."""
    if algorithm.agent is None:
        return policy_agents(trainer.policy)
    return lambda greedy, seed: algorithm.agent(trainer, greedy, seed)


def load_policy(path: str | Path, device: str = "cpu") -> PolicyLM:
    """The policy of a run directory (its newest checkpoint) or of a checkpoint directory. Its
    ``policy`` must be a preset or a model already on this machine: nothing is downloaded."""
    path = Path(path)
    found = checkpoint.latest_checkpoint(path) if (path / "checkpoints").is_dir() else path
    if found is None:
        raise ValueError(f"{path} has no complete checkpoint")
    checkpoint.verify_checkpoint(found, ["policy.safetensors"])
    meta = checkpoint.load_meta(found, {"policy": str, "max_new_tokens": int})
    if meta["max_new_tokens"] < 1:
        raise ValueError(
            f"checkpoint file {found / 'state.json'}: max_new_tokens must be at "
            f"least 1, got {meta['max_new_tokens']}"
        )
    try:
        policy = PolicyLM(
            meta["policy"], max_new_tokens=meta["max_new_tokens"], local_files_only=True
        )
    except (OSError, ValueError) as error:
        raise ValueError(
            f"checkpoint file {found / 'state.json'}: policy {meta['policy']!r} is neither a "
            f"preset ({', '.join(POLICY_PRESETS)}) nor a model on this machine (a local directory"
            f" or the Hugging Face cache; a checkpoint never downloads one): {error}"
        ) from None
    policy.load_state_dict(checkpoint.load_tensors(found, "policy", policy.state_dict()))
    return policy.to(pick_device(device)).eval()


def load_trained_agent(path: str, device: str = "cpu", greedy: bool = True, seed: int = 0) -> Any:
    """A trained run (or checkpoint) directory as an agent for archer_envs' ``evaluate`` and
    ``archer-envs eval``: its policy, or its algorithm's own agent (``Algorithm.agent``, e.g.
    CHAI's best-of-k under its critic). Greedy by default; sampling (``greedy=False``) draws
    from its own generator, seeded by ``seed``."""
    path = Path(path)
    run_dir = path if (path / "checkpoints").is_dir() else path.parent.parent
    algorithm = None
    if (run_dir / "config.json").is_file():
        run_config = json.loads((run_dir / "config.json").read_text())
        algorithm = ALGORITHMS.get(run_config.get("algo"))
    if algorithm is None or algorithm.agent is None:
        return PolicyAgent(load_policy(path, device), greedy=greedy, name=str(path), seed=seed)
    found = checkpoint.latest_checkpoint(run_dir) if path == run_dir else path
    if found is None:
        raise ValueError(f"{path} has no complete checkpoint")
    names = {field.name for field in dataclasses.fields(algorithm.config)}
    config = algorithm.config(**{k: v for k, v in run_config.items() if k in names})
    trainer = algorithm.trainer(config, load_policy(found, device), seed=seed)
    modules = {name: module for name, module in trainer.modules().items() if name != "policy"}
    checkpoint.verify_checkpoint(found, [f"{name}.safetensors" for name in modules])
    for name, module in modules.items():
        module.load_state_dict(checkpoint.load_tensors(found, name, module.state_dict()))
        module.to(pick_device(device)).eval()
    agent = algorithm.agent(trainer, greedy, seed)
    agent.name = str(path)
    return agent


# archer_envs.load_agent loads run folders through this (also declared as an entry point)
register_agent_loader("archer-train", load_trained_agent)


class Run:
    """The run directory: config, metrics and the curve. The constructor only checks that
    ``out`` can take this run; ``create`` writes the directory and its config."""

    def __init__(self, out: str | Path, config: dict[str, Any], resume: bool):
        self.dir = Path(out)
        self.config = config
        config_path = self.dir / "config.json"
        if resume:
            if not config_path.is_file():
                raise SystemExit(f"--resume: {self.dir} is not a run directory")
            saved = json.loads(config_path.read_text())
            if saved != config:
                changed = sorted(k for k in config if saved.get(k) != config[k])
                raise SystemExit(f"--resume with a different configuration: {changed}")
        elif config_path.exists():
            raise SystemExit(f"{self.dir} holds a run already: use --resume or another --out")
        self.metrics_path = self.dir / "metrics.jsonl"

    def create(self) -> Run:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def metrics(self, until_iteration: int | None = None) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise ValueError(f"{self.metrics_path} is not text: {error}") from None
        rows = []
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line) if line else None
            except json.JSONDecodeError as error:
                raise ValueError(f"{self.metrics_path}:{number}: not JSON: {error}") from None
            if line and not (
                isinstance(row, dict)
                and type(row.get("iteration")) is int
                and type(row.get("trajectories")) is int
            ):
                raise ValueError(
                    f"{self.metrics_path}:{number}: not a metrics row (an object "
                    "with integer iteration and trajectories)"
                )
            if line and (until_iteration is None or row["iteration"] < until_iteration):
                rows.append(row)
        return rows

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Drop lines of iterations after the checkpoint a resumed run starts from."""
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def log(self, row: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def plot(self, title: str) -> None:
        evaluated = [r for r in self.metrics() if "eval_return" in r]
        if not evaluated:
            return
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no curve.png (pip install 'archer-gym[plots]')")
            return
        figure, axis = plt.subplots(figsize=(6, 4))
        offline = all(r["trajectories"] == 0 for r in evaluated)
        x = [r["iteration"] + 1 if offline else r["trajectories"] for r in evaluated]
        axis.plot(x, [r["eval_return"] for r in evaluated], marker="o", label="greedy")
        axis.plot(
            x,
            [r["eval_sampled_return"] for r in evaluated],
            marker="s",
            label="sampled (temperature 1)",
        )
        rollouts = [r for r in self.metrics() if "rollout_return" in r]  # none if offline
        if rollouts:
            axis.plot(
                [r["trajectories"] for r in rollouts],
                [r["rollout_return"] for r in rollouts],
                alpha=0.4,
                label="training rollouts",
            )
        axis.set_xlabel(
            "iterations (offline: no trajectories collected)"
            if offline
            else "trajectories collected"
        )
        axis.set_ylabel("mean return")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
        figure.tight_layout()
        figure.savefig(self.dir / "curve.png", dpi=120)
        plt.close(figure)


def train_bc_run(
    env_id: str,
    out: str,
    seed: int = 0,
    dataset: str | None = None,
    config: BCConfig | None = None,
    policy_name: str = "tiny",
    device: str = "auto",
    progress: bool = True,
    eval_every: int | None = None,
) -> dict[str, Any]:
    """BC on a trajectory dataset (``bc_data(env_id)`` generated if none is given); the result
    is a run directory with one checkpoint. With ``eval_every``, the policy is evaluated every
    that many epochs too (metrics.jsonl: the convergence curve); the last row is the final."""
    config = config or BCConfig()
    config_row = {
        "algo": "bc",
        "env": env_id,
        "seed": seed,
        "dataset": dataset,
        "policy": policy_name,
        **dataclasses.asdict(config),
    }
    run = Run(out, config_row, resume=False).create()
    if dataset is None:
        dataset = str(run.dir / "dataset.jsonl")
        generate_bc_dataset(env_id, dataset, seed=seed, progress=progress, **bc_data(env_id))
    torch.manual_seed(seed)
    policy = PolicyLM(policy_name).to(pick_device(device))

    def log_epoch(epoch: int) -> None:
        if eval_every and epoch % eval_every == 0 and epoch < config.epochs:
            scores = evaluate_agent(policy_agents(policy), env_id, seed)
            run.log({"iteration": 0, "epoch": epoch, "trajectories": 0, **scores})

    losses = train_bc(
        policy,
        utterance_pairs(read_trajectories(dataset)),
        config,
        seed,
        progress,
        on_epoch=log_epoch,
    )
    row = {
        "iteration": 0,
        "epoch": config.epochs,
        "trajectories": 0,
        "bc_loss": losses[-1],
        **evaluate_agent(policy_agents(policy), env_id, seed),
    }
    run.log(row)
    checkpoint.save_checkpoint(
        run.dir / "checkpoints" / "iter-000000",
        {"policy": policy.state_dict()},
        {"policy": policy_name, "max_new_tokens": policy.max_new_tokens, "iteration": 0},
    )
    return row


@dataclass(frozen=True)
class Algorithm:
    """How archer-train drives one algorithm. ``config`` is its config dataclass (with
    ``preset(name, env_id, **overrides)``); ``trainer(config, policy, seed=, accelerator=)``
    follows ``ArCHer``'s protocol: ``modules()`` and ``optimizers()`` (what a checkpoint holds),
    an optional ``buffer`` (saved with them), an optional ``seed(trajectories, progress)`` (for
    ``--buffer-data``) and ``iteration(envs, iteration, seed, progress)``, which returns the
    iteration's metrics and the ``trajectories`` it collected. An ``online`` algorithm gets a
    vector env; an offline one gets ``None``. Where acting is more than sampling the policy,
    ``agent(trainer, greedy, seed)`` makes a trained run's agent."""

    config: type
    trainer: Callable[..., Any]
    online: bool = True
    agent: Callable[..., Any] | None = None


ALGORITHMS: dict[str, Algorithm] = {
    "archer": Algorithm(ArCHerConfig, ArCHer),
    "ppo": Algorithm(PPOConfig, PPO),
    "grpo": Algorithm(GRPOConfig, GRPO),
    "filtered_bc": Algorithm(FilteredBCConfig, FilteredBC),
    "chai": Algorithm(CHAIConfig, CHAI, agent=chai_agent),
    "sb3_ppo": Algorithm(SB3PPOConfig, SB3, agent=MenuAgent),
    "sb3_dqn": Algorithm(SB3DQNConfig, SB3, agent=MenuAgent),
    "offline_archer": Algorithm(OfflineArCHerConfig, OfflineArCHer, online=False),
}


def make_config(algo: str, preset: str, env_id: str, **overrides: Any):
    """The config of ``algo`` (``bc`` or a key of ``ALGORITHMS``): ``preset`` with
    ``overrides``; unknown keys are a ValueError that lists the known ones."""
    if algo == "bc":
        return replace_config(BCConfig(), overrides)
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}: use one of {['bc', *ALGORITHMS]}")
    return ALGORITHMS[algo].config.preset(preset, env_id, **overrides)


def train_run(
    env_id: str,
    out: str,
    config: Any,
    algo: str = "archer",
    seed: int = 0,
    init: str | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    buffer_data: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """``config.iterations`` iterations of ``algo`` (a key of ``ALGORITHMS``), checkpointing
    every ``save_every``. ``init`` is the run or checkpoint directory whose policy to start
    from (e.g. BC's); ``buffer_data`` (trajectory JSONL files) goes to the trainer's ``seed``
    before the first iteration (ArCHer: its replay buffer and the critic's warm-up on it).
    Under ``accelerate launch`` (or torchrun) with several processes, each process takes its
    GPU and process 0 alone evaluates and writes the run directory."""
    algorithm = ALGORITHMS[algo]
    torch_device = pick_device(device)
    accelerator = Accelerator(cpu=torch_device.type == "cpu")
    if accelerator.num_processes > 1:
        torch_device = accelerator.device
    main = accelerator.is_main_process
    config_row = {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "init": init,
        "buffer_data": list(buffer_data),
        **dataclasses.asdict(config),
    }
    run = Run(out, config_row, resume=resume)  # every process checks, before anyone writes
    found = checkpoint.latest_checkpoint(run.dir) if resume else None
    if resume and found is None:
        raise ValueError(
            f"--resume: {run.dir} has no complete checkpoint (checkpoints/iter-*/ with its "
            f"{checkpoint.MANIFEST}) to resume from; nothing was changed: start the run again "
            "with another --out"
        )
    accelerator.wait_for_everyone()
    if main and not resume:
        run.create()
    torch.manual_seed(seed + accelerator.process_index)  # process 0's weights are broadcast
    policy = PolicyLM(config.policy, max_new_tokens=config.max_new_tokens)
    if init is not None:
        policy.load_state_dict(load_policy(init).state_dict())
    policy.to(torch_device)
    trainer = algorithm.trainer(config, policy, seed=seed, accelerator=accelerator)
    start = 0
    seeding = time.perf_counter()
    if found is not None:  # restore checks everything before the run directory is written to
        start = restore(trainer, found)
        if main:
            print(f"resuming from {found} (iteration {start})")
    elif buffer_data:
        if not hasattr(trainer, "seed"):
            raise ValueError(f"--buffer-data does not apply to --algo {algo}")
        trajectories = [record for path in buffer_data for record in read_trajectories(path)]
        with mixed_precision(torch_device):
            trainer.seed(trajectories, progress=progress and main)
    seeding = time.perf_counter() - seeding  # the buffer's seed data and the critic's warm-up
    rows = []
    if main:  # only process 0 reads and writes the metrics
        rows = run.metrics(until_iteration=start)
        run.rewrite_metrics(rows)
    trajectories = rows[-1]["trajectories"] if rows else 0
    env_steps = rows[-1].get("env_steps", 0) if rows else 0
    seconds = rows[-1].get("train_seconds", 0.0) if rows else seeding
    envs = make_vector_env(env_id, config.num_envs) if algorithm.online else None
    progress = progress and main
    bar = tqdm(
        range(start, config.iterations),
        desc=f"{algo} on {env_id}",
        disable=not progress,
        initial=start,
        total=config.iterations,
    )
    for iteration in bar:
        started = time.perf_counter()
        with mixed_precision(torch_device):
            metrics = trainer.iteration(
                envs, iteration, seed=seed * 1_000_003 + iteration, progress=progress
            )
        seconds += time.perf_counter() - started
        collected = metrics.pop("trajectories")
        trajectories += len(collected)
        # cumulative over the run (a resumed run continues the counts; the seeding and warm-up
        # are timed, evaluation is not); SB3 counts its own env steps (every step taken)
        env_steps = metrics.get(
            "env_steps", env_steps + sum(len(t["transitions"]) for t in collected)
        )
        metrics.update(
            trajectories=trajectories, env_steps=env_steps, train_seconds=round(seconds, 2)
        )
        last = iteration + 1 == config.iterations
        if main and ((iteration + 1) % config.eval_every == 0 or last):
            with mixed_precision(torch_device):
                metrics.update(evaluate_agent(run_agent(algorithm, trainer), env_id, seed))
        if main:
            run.log(metrics)
        shown = ("rollout_return", "eval_return", "eval_sampled_return")
        bar.set_postfix({k: f"{metrics[k]:.2f}" for k in shown if k in metrics})
        if (iteration + 1) % config.save_every == 0 or last:
            save(trainer, run.dir / "checkpoints" / f"iter-{iteration + 1:06d}", iteration + 1)
        rows.append(metrics)
    if envs is not None:
        envs.close()
    if main:
        run.plot(f"{algo} on {env_id}")
    accelerator.wait_for_everyone()  # processes leave together (see accelerate's end_training)
    accelerator.end_training()
    return rows


def save(trainer: Any, directory: Path, iteration: int) -> None:
    """Every process's random state is gathered; process 0 writes the checkpoint: the
    trainer's modules and optimizers, and its buffer if it has one."""
    buffer = getattr(trainer, "buffer", None)
    generators: dict[str, Any] = {"torch": torch.get_rng_state()}
    if buffer is not None:
        generators["buffer"] = buffer.rng.bit_generator.state
    if trainer.policy.device.type == "cuda":
        generators["cuda"] = torch.cuda.get_rng_state(trainer.policy.device)
    everyone = gather_object([generators]) if trainer.processes > 1 else [generators]
    if trainer.rank == 0:
        config = trainer.config
        tensors = {name: module.state_dict() for name, module in trainer.modules().items()}
        tensors["rng"] = {
            f"{kind}_{rank}": state[kind]
            for rank, state in enumerate(everyone)
            for kind in ("torch", "cuda")
            if kind in state
        }
        meta: dict[str, Any] = {
            "policy": config.policy,
            "max_new_tokens": config.max_new_tokens,
            "iteration": iteration,
            "processes": trainer.processes,
            "buffer_rng": [state["buffer"] for state in everyone if "buffer" in state],
            "optimizers": {},
        }
        for name, optimizer in trainer.optimizers().items():
            moments, state = checkpoint.optimizer_to_files(optimizer)
            tensors[f"optimizer_{name}"], meta["optimizers"][name] = moments, state
        files = {"buffer.jsonl": buffer} if buffer is not None else {}
        checkpoint.save_checkpoint(directory, tensors, meta, files=files)
    if trainer.accelerator is not None:
        trainer.accelerator.wait_for_everyone()


def restore(trainer: Any, directory: Path) -> int:
    """Load everything ``save`` wrote (each process its own random state); returns the
    iteration to continue from. A damaged checkpoint is a ValueError that names the file and
    what is wrong with it."""
    modules, optimizers = trainer.modules(), trainer.optimizers()
    buffer = getattr(trainer, "buffer", None)
    tensor_files = [*modules, *(f"optimizer_{name}" for name in optimizers), "rng"]
    checkpoint.verify_checkpoint(
        directory,
        [
            *(f"{name}.safetensors" for name in tensor_files),
            *(["buffer.jsonl"] if buffer is not None else []),
        ],
    )
    meta = checkpoint.load_meta(
        directory, {"iteration": int, "processes": int, "buffer_rng": list, "optimizers": dict}
    )
    state_file = directory / "state.json"
    if meta["processes"] != trainer.processes:
        raise ValueError(
            f"{directory} was written by {meta['processes']} process(es): resume it with as many,"
            f" not {trainer.processes}"
        )
    if not 1 <= meta["iteration"] <= trainer.config.iterations:
        raise ValueError(
            f"checkpoint file {state_file}: iteration must be in [1, "
            f"{trainer.config.iterations}], got {meta['iteration']}"
        )
    buffers = trainer.processes if buffer is not None else 0
    if len(meta["buffer_rng"]) != buffers or sorted(meta["optimizers"]) != sorted(optimizers):
        raise ValueError(
            f"checkpoint file {state_file}: buffer_rng must hold {buffers} "
            f"generator state(s) (one per process with a buffer) and optimizers "
            f"the states of {sorted(optimizers)}"
        )
    weights = {
        name: checkpoint.load_tensors(directory, name, module.state_dict())
        for name, module in modules.items()
    }
    moments = {name: checkpoint.load_tensors(directory, f"optimizer_{name}") for name in optimizers}
    generators = checkpoint.load_tensors(directory, "rng")
    torch_state = generators.get(f"torch_{trainer.rank}")
    if torch_state is None or torch_state.shape != torch.get_rng_state().shape:
        raise ValueError(
            f"checkpoint file {directory / 'rng.safetensors'}: no torch_"
            f"{trainer.rank} generator state of the expected size"
        )
    if buffer is not None:
        buffer = type(buffer)(buffer.capacity)
        buffer.load(directory / "buffer.jsonl")
        try:
            buffer.rng.bit_generator.state = meta["buffer_rng"][trainer.rank]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(
                f"checkpoint file {state_file}: buffer_rng[{trainer.rank}] is not a"
                f" generator state: {error}"
            ) from None
    # everything is read and checked but the optimizer states (checked as they load): load it
    for name, module in modules.items():
        module.load_state_dict(weights[name])
    for name, optimizer in optimizers.items():
        checkpoint.optimizer_from_files(
            optimizer,
            moments[name],
            meta["optimizers"][name],
            directory / f"optimizer_{name}.safetensors",
        )
    if buffer is not None:
        trainer.buffer = buffer
    torch.set_rng_state(torch_state)
    if f"cuda_{trainer.rank}" in generators and trainer.policy.device.type == "cuda":
        torch.cuda.set_rng_state(generators[f"cuda_{trainer.rank}"], trainer.policy.device)
    return meta["iteration"]


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def config_keys(env_id: str = "archer/TwentyQuestionsSubset-v0") -> str:
    """Every algorithm's config keys with the values ``--preset cpu`` gives them, for
    ``--help``."""
    configs = {
        "bc": BCConfig(),
        **{name: a.config.preset("cpu", env_id) for name, a in ALGORITHMS.items()},
    }
    lines = ["config keys (--set KEY=VALUE), with their values under --preset cpu:"]
    for name, config in configs.items():
        values = " ".join(f"{key}={value}" for key, value in dataclasses.asdict(config).items())
        lines.append(
            textwrap.fill(
                values,
                width=96,
                initial_indent=f"  {name}: ",
                subsequent_indent="      ",
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="archer-train",
        description=__doc__.split("\n")[0],
        epilog=config_keys(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", required=True, choices=sorted(archer_envs.ENVIRONMENTS))
    parser.add_argument("--algo", required=True, choices=["bc", *ALGORITHMS])
    parser.add_argument(
        "--preset",
        default="cpu",
        choices=["cpu", "paper"],
        help="the algorithm's settings: cpu (tiny models, minutes here) or the "
        "paper's (not for --algo bc)",
    )
    parser.add_argument("--init", help="run or checkpoint directory whose policy to start from")
    parser.add_argument(
        "--dataset",
        help="trajectory JSONL to learn from: BC's (default: "
        "generate one) and the offline algorithms'",
    )
    parser.add_argument(
        "--buffer-data",
        nargs="*",
        default=[],
        metavar="JSONL",
        help="trajectory files that seed an online algorithm before its "
        "first iteration (ArCHer: the replay buffer), e.g. "
        "runs/bc/dataset.jsonl",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue a run from its checkpoint")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys (listed below), e.g. --set iterations=10 "
        "lm_lr=3e-5 (ArCHer) or --set epochs=50 (BC)",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.set)
    try:
        config = make_config(args.algo, args.preset, args.env, **overrides)
        if args.algo == "bc":
            if args.resume or args.init or args.buffer_data:
                raise ValueError("--resume, --init and --buffer-data do not apply to --algo bc")
            row = train_bc_run(
                args.env,
                args.out,
                args.seed,
                args.dataset,
                config,
                device=args.device,
                progress=not args.quiet,
            )
            print(json.dumps(row))
            return 0
        data = [args.dataset, *args.buffer_data] if args.dataset else args.buffer_data
        if not ALGORITHMS[args.algo].online and not data and not args.resume:
            raise ValueError(f"--algo {args.algo} learns offline: give it --dataset JSONL")
        rows = train_run(
            args.env,
            args.out,
            config,
            args.algo,
            args.seed,
            args.init,
            args.resume,
            args.device,
            not args.quiet,
            data,
        )
        final = {k: rows[-1][k] for k in rows[-1] if not isinstance(rows[-1][k], list)}
        print(json.dumps(final))
    except (ValueError, TypeError) as error:
        print(f"archer-train: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
