"""ArCHer: the maths against a hand computation, learning on tiny problems, determinism,
checkpoints and resuming, and the archer-train CLI."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from archer_agents import checkpoint
from archer_agents.archer import ArCHer, ArCHerConfig, td_target, utterance_advantage
from archer_agents.bc import BCConfig, bc_loss, train_bc
from archer_agents.buffer import Batch
from archer_agents.models import PolicyAgent, PolicyLM, UtteranceCritic, make_critic
from archer_agents.rollout import collect_trajectories, make_vector_env
from archer_agents.train import load_trained_agent, main, train_run
from archer_envs.core import TextVectorEnv
from archer_envs.datasets import read_trajectories, write_trajectories
from archer_envs.evaluation import evaluate
from archer_envs.twenty_questions import TwentyQuestionsEnv
from tests.conftest import untimed

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SMALL = dict(
    iterations=3,
    rollouts_per_iter=4,
    num_envs=4,
    batch_size=8,
    critic_steps=2,
    actor_steps=1,
    warmup_iters=1,
    max_new_tokens=8,
    eval_every=3,
)


def small_trainer(**overrides) -> ArCHer:
    torch.manual_seed(0)
    config = ArCHerConfig.preset("cpu", ENV_ID, **{**SMALL, **overrides})
    policy = PolicyLM("tiny", max_new_tokens=config.max_new_tokens)
    return ArCHer(config, policy, UtteranceCritic("tiny"), seed=0)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def fill(trainer: ArCHer, count: int = 16) -> None:
    for i in range(count):
        obs = "Questions:\n" + "Is it an animal? No.\n" * (i % 3)
        trainer.buffer.add(obs, "Is it a pen?", -1.0, obs + "Is it a pen? No.\n", i % 5 == 4)


def test_an_actor_step_leaves_the_critic_and_a_critic_step_the_actor():
    trainer = small_trainer()
    fill(trainer)
    critic, target, actor = (
        snapshot(trainer.critic),
        snapshot(trainer.critic.target),
        snapshot(trainer.policy),
    )
    trainer.actor_step()
    assert same(snapshot(trainer.critic), critic)
    assert same(snapshot(trainer.critic.target), target)
    assert not same(snapshot(trainer.policy), actor)
    actor = snapshot(trainer.policy)
    trainer.critic_step()
    assert same(snapshot(trainer.policy), actor)
    assert not same(snapshot(trainer.critic), critic)
    assert not same(snapshot(trainer.critic.target), target)


class FixedCritic(nn.Module):
    """Critic outputs from tables (plus a zero parameter so gradients flow)."""

    def __init__(self, q, v, target=None):
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(()))
        self.q_table, self.v_table, self.target = q, v, target
        self.device = torch.device("cpu")

    def q(self, observations, actions):
        rows = [self.q_table[(o, a)] for o, a in zip(observations, actions, strict=True)]
        return tuple(torch.tensor(col) + self.zero for col in zip(*rows, strict=True))

    def v(self, observations):
        rows = [self.v_table[o] for o in observations]
        return tuple(torch.tensor(col) + self.zero for col in zip(*rows, strict=True))

    def q_and_v(self, observations, actions):
        return (*self.q(observations, actions), *self.v(observations))


def test_targets_and_advantages_equal_a_hand_computation():
    gamma = 0.9
    target = FixedCritic(
        q={("s0", "fresh0"): (-2.0, -3.0), ("s1", "fresh1"): (-1.0, -0.5)},
        v={"s1": (-1.5, -2.5), "end": (-7.0, -7.0)},
    )
    online = FixedCritic(
        q={
            ("s0", "a0"): (-1.0, -1.2),
            ("s1", "a1"): (-0.4, -0.6),
            ("s0", "fresh0"): (-2.2, -1.8),
            ("s1", "fresh1"): (-0.3, -0.9),
        },
        v={"s0": (-2.0, -2.4), "s1": (-1.0, -0.7)},
        target=target,
    )
    trainer = ArCHer(ArCHerConfig(gamma=gamma), PolicyLM("tiny", max_new_tokens=4), online)
    trainer.policy.generate = lambda observations, **_: [f"fresh{o[1]}" for o in observations]
    batch = Batch(
        ["s0", "s1"],
        ["a0", "a1"],
        np.array([-1.0, 0.0], np.float32),
        ["s1", "end"],
        np.array([0.0, 1.0], np.float32),
    )
    # Q targets: r + γ(1 − done)V̄_i(s′) -> head 1: [-1 + .9·-1.5, 0], head 2: [-1 + .9·-2.5, 0]
    q_t1, q_t2 = [-2.35, 0.0], [-3.25, 0.0]
    torch.testing.assert_close(
        td_target(
            torch.tensor([-1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([-1.5, -7.0]), gamma
        ),
        torch.tensor(q_t1),
    )
    # V targets: Q̄_i(s, a_π): head 1 [-2, -1], head 2 [-3, -0.5]
    mse = lambda x, y: float(np.mean((np.array(x) - np.array(y)) ** 2))  # noqa: E731
    expected = (
        mse([-1.0, -0.4], q_t1)
        + mse([-1.2, -0.6], q_t2)
        + mse([-2.0, -1.0], [-2.0, -1.0])
        + mse([-2.4, -0.7], [-3.0, -0.5])
    )
    loss, _ = trainer.critic_loss(batch)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    # A = min(Q1, Q2)(s, a_π) − min(V1, V2)(s) with the online critic
    advantage = trainer.advantages(["s0", "s1"], ["fresh0", "fresh1"])
    torch.testing.assert_close(advantage, torch.tensor([-2.2 - -2.4, -0.9 - -1.0]))
    torch.testing.assert_close(
        utterance_advantage(*[torch.tensor([x]) for x in (-2.2, -1.8, -2.0, -2.4)]),
        torch.tensor([0.2]),
    )


class ConstantCritic(FixedCritic):
    """Q = 1.5 and V = 1.0 everywhere: every utterance's advantage is 0.5."""

    def q(self, observations, actions):
        return (torch.full((len(observations),), 1.5) + self.zero,) * 2

    def v(self, observations):
        return (torch.full((len(observations),), 1.0) + self.zero,) * 2


def test_the_token_baseline_learns_the_advantage_of_every_prefix():
    torch.manual_seed(0)
    critic = ConstantCritic(q={}, v={})
    critic.target = critic
    config = ArCHerConfig(token_baseline=True, batch_size=16, baseline_lr=3e-3, lm_lr=1e-6)
    trainer = ArCHer(config, PolicyLM("tiny", max_new_tokens=6), critic, seed=0)
    fill(trainer)
    before = snapshot(trainer.baseline)
    for _ in range(40):
        stats = trainer.actor_step()
    assert not same(snapshot(trainer.baseline), before)
    assert stats["baseline_loss"] < 0.01  # b(s, a_<t) ≈ 0.5 at every prefix
    observations = ["Questions:\n"] * 4
    actions = ["Is it a pen?", "x", "Is it big?", "Is it a dog or a cat?"]
    _, mask = trainer.policy.token_log_probs(observations, actions)
    with torch.no_grad():
        predicted = trainer.baseline(observations, actions)[mask]
    np.testing.assert_allclose(predicted.numpy(), 0.5, atol=0.1)


def one_object_envs(count: int, max_turns: int = 4) -> TextVectorEnv:
    return TextVectorEnv(TwentyQuestionsEnv, count, objects=["Dog"], max_turns=max_turns)


def weak_policy(dog_share: float, seed: int = 0) -> PolicyLM:
    """Cloned from data that asks "Is it a cat?" (never right) more often than "Is it a dog?"."""
    torch.manual_seed(seed)
    policy = PolicyLM("tiny", max_new_tokens=8)
    rng = np.random.default_rng(seed)
    pairs = []
    for turn in range(4):
        observation = "Questions:\n" + "Is it a cat? No.\n" * turn
        for _ in range(40):
            animal = "dog" if rng.random() < dog_share else "cat"
            pairs.append((observation, f"Is it a {animal}?"))
    train_bc(
        policy,
        pairs,
        BCConfig(epochs=20, lm_lr=3e-3, schedule="constant"),
        seed=seed,
        progress=False,
    )
    return policy


def greedy_return(policy: PolicyLM) -> float:
    result = evaluate(
        PolicyAgent(policy),
        ENV_ID,
        episodes=[{"target": "Dog"}],
        env_kwargs={"objects": ["Dog"], "max_turns": 4},
        progress=False,
    )
    return result.mean_return


@pytest.mark.parametrize("critic", ["tiny", "policy"])  # UtteranceCritic, CausalCritic
def test_the_critic_learns_the_values_of_a_tiny_deterministic_env(critic):
    """Always "Is it a cat?" on a one-object game of 3 turns: V(turn k) = −Σ_{i<3−k} γ^i."""
    gamma = 0.9
    policy = weak_policy(dog_share=0.0)
    torch.manual_seed(0)
    config = ArCHerConfig(gamma=gamma, batch_size=32, critic_lr=1e-3)
    trainer = ArCHer(config, policy, make_critic(critic, policy), seed=0)
    envs = one_object_envs(4, max_turns=3)
    trainer.buffer.add_trajectories(
        collect_trajectories(lambda obs: "Is it a cat?", envs, 8, seed=0, progress=False)
    )
    for _ in range(150):
        trainer.critic_step()
    states = ["Questions:\n" + "Is it a cat? No.\n" * k for k in range(3)]
    truth = [-(1 + gamma + gamma**2), -(1 + gamma), -1.0]
    with torch.no_grad():
        q1, _ = trainer.critic.q(states, ["Is it a cat?"] * 3)
        v1, _ = trainer.critic.v(states)
    np.testing.assert_allclose(q1.numpy(), truth, atol=0.2)
    np.testing.assert_allclose(v1.numpy(), truth, atol=0.3)


def test_archer_improves_a_deliberately_weak_policy():
    policy = weak_policy(dog_share=0.25)
    assert greedy_return(policy) == -4.0  # greedy asks about the cat every turn
    torch.manual_seed(0)
    config = ArCHerConfig(
        iterations=8,
        rollouts_per_iter=16,
        batch_size=32,
        critic_steps=10,
        actor_steps=3,
        warmup_iters=2,
        gamma=0.9,
        lm_lr=1e-3,
    )
    trainer = ArCHer(config, policy, UtteranceCritic("tiny"), seed=0)
    envs = one_object_envs(8)
    returns = []
    for iteration in range(config.iterations):
        metrics = trainer.iteration(envs, iteration, seed=iteration, progress=False)
        returns.append(metrics["rollout_return"])
    assert greedy_return(policy) == 0.0  # asks about the dog at once
    assert np.mean(returns[-2:]) > np.mean(returns[:2]) + 0.5


def test_two_seeded_runs_are_identical(tmp_path):
    config = ArCHerConfig.preset("cpu", ENV_ID, **SMALL)
    first = train_run(ENV_ID, tmp_path / "a", config, "archer", seed=3, progress=False)
    second = train_run(ENV_ID, tmp_path / "b", config, "archer", seed=3, progress=False)
    assert untimed(first) == untimed(second)
    # counts and wall time are cumulative: every trajectory takes at least one step
    for earlier, later in itertools.pairwise(first):
        assert (
            later["env_steps"] - earlier["env_steps"]
            >= (later["trajectories"] - earlier["trajectories"])
            > 0
        )
        assert later["train_seconds"] > earlier["train_seconds"] > 0
    weights = [
        load_file(checkpoint.latest_checkpoint(p) / "policy.safetensors")
        for p in (tmp_path / "a", tmp_path / "b")
    ]
    assert same(*weights)
    assert (tmp_path / "a" / "curve.png").stat().st_size > 1000


def cli_args(out: Path) -> list[str]:
    sets = [f"{k}={json.dumps(v)}" for k, v in {**SMALL, "iterations": 4}.items()]
    return [
        "--env",
        ENV_ID,
        "--algo",
        "archer",
        "--seed",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
        "--set",
        *sets,
    ]


def test_a_killed_run_resumes_to_the_same_final_state(tmp_path):
    assert main(cli_args(tmp_path / "whole")) == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "archer_agents.train", *cli_args(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # as this process
    deadline = time.monotonic() + 300
    while checkpoint.latest_checkpoint(killed) is None and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint.latest_checkpoint(killed).name != "iter-000004"
    assert main([*cli_args(killed), "--resume"]) == 0
    final = [
        load_file(checkpoint.latest_checkpoint(p) / name)
        for p in (tmp_path / "whole", killed)
        for name in ("policy.safetensors",)
    ]
    assert same(*final)
    for name in ("critic", "critic_target", "optimizer_actor"):
        a, b = (
            load_file(checkpoint.latest_checkpoint(p) / f"{name}.safetensors")
            for p in (tmp_path / "whole", killed)
        )
        assert same(a, b)
    rows = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    whole = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert untimed(rows) == untimed(whole)
    # a trained checkpoint is an agent for evaluate() and archer-envs eval
    result = evaluate(load_trained_agent(str(killed)), ENV_ID, episodes=2, progress=False)
    assert result.episodes == 2
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "archer_envs.cli",
            "eval",
            "--env",
            ENV_ID,
            "--agent",
            str(killed),
            "--episodes",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "eval.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    assert "return" in cli.stdout


def test_checkpoints_round_trip_and_corruption_is_reported(tmp_path):
    trainer = small_trainer()
    fill(trainer)
    trainer.critic_step()
    trainer.actor_step()
    from archer_agents.train import restore, save

    rng_state = torch.get_rng_state()
    save(trainer, tmp_path / "iter-000001", 1)
    other = small_trainer()
    torch.manual_seed(123)
    assert restore(other, tmp_path / "iter-000001") == 1
    for a, b in (
        (trainer.policy, other.policy),
        (trainer.critic, other.critic),
        (trainer.critic.target, other.critic.target),
    ):
        assert same(snapshot(a), snapshot(b))
    assert other.buffer.transitions == trainer.buffer.transitions
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert other.buffer.sample(4).observations == trainer.buffer.sample(4).observations
    # corrupt a file: a clear error, not a crash or a silent load
    weights = tmp_path / "iter-000001" / "critic.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"corrupted: critic.safetensors"):
        restore(small_trainer(), tmp_path / "iter-000001")
    (tmp_path / "iter-000001" / "manifest.json").unlink()
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        restore(small_trainer(), tmp_path / "iter-000001")


def test_the_cli_rejects_unknown_config_keys_and_clobbering(tmp_path, capsys):
    args = ["--env", ENV_ID, "--algo", "archer", "--out", str(tmp_path / "r"), "--set", "lr=1"]
    assert main(args) == 2
    assert "unknown ArCHer config keys ['lr']" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="holds a run already"):
        main(args[:-2])


def test_behaviour_cloning_merges_repeated_pairs_into_weights():
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=8)
    pairs = [("Questions:\n", "Is it a dog?")] * 3 + [("Questions:\n", "Is it big?")]
    with torch.no_grad():
        repeated = bc_loss(policy, [o for o, _ in pairs], [a for _, a in pairs])
        merged = bc_loss(
            policy, ["Questions:\n"] * 2, ["Is it a dog?", "Is it big?"], torch.tensor([3.0, 1.0])
        )
    assert merged.item() == pytest.approx(repeated.item(), abs=1e-5)
    seen = []
    losses = train_bc(
        policy, pairs, BCConfig(epochs=3, batch_size=2), progress=False, on_epoch=seen.append
    )
    assert seen == [1, 2, 3] and len(losses) == 3  # two distinct pairs: one step per epoch


def test_behaviour_cloning_decays_its_learning_rate_to_zero_on_the_cosine_schedule():
    pairs = [("Questions:\n", "Is it a dog?"), ("Questions:\n", "Is it big?")]

    def update_sizes(schedule: str) -> list[float]:
        torch.manual_seed(0)
        policy = PolicyLM("tiny", max_new_tokens=8)
        snapshots = [torch.nn.utils.parameters_to_vector(policy.parameters()).detach().clone()]
        train_bc(
            policy,
            pairs,
            BCConfig(epochs=8, batch_size=2, schedule=schedule),
            progress=False,
            on_epoch=lambda _: snapshots.append(
                torch.nn.utils.parameters_to_vector(policy.parameters()).detach().clone()
            ),
        )
        return [(b - a).norm().item() for a, b in itertools.pairwise(snapshots)]

    cosine, constant = update_sizes("cosine"), update_sizes("constant")
    # Adam's steps scale with the learning rate: the last of eight is 4% of the first
    assert cosine[-1] < 0.15 * cosine[0]
    assert constant[-1] > 0.4 * constant[0]
    with pytest.raises(ValueError, match="schedule"):
        train_bc(PolicyLM("tiny"), pairs, BCConfig(schedule="linear"), progress=False)


def test_leave_one_out_advantages_over_several_utterances_per_state():
    online = FixedCritic(
        q={("s", "a"): (-1.0, -0.5), ("s", "b"): (-3.0, -2.0), ("t", "c"): (-2.0, -2.0)},
        v={},
        target=FixedCritic(q={}, v={}),
    )
    config = ArCHerConfig(actor_samples=2, batch_size=4)
    trainer = ArCHer(config, PolicyLM("tiny", max_new_tokens=4), online, seed=0)
    advantage = trainer.sampled_advantages(["s", "s", "t", "t"], ["a", "b", "c", "c"])
    # min(Q1, Q2): a −1, b −3; each minus the other's; a state whose samples agree gets 0
    torch.testing.assert_close(advantage, torch.tensor([2.0, -2.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="actor_samples"):
        ArCHer(ArCHerConfig(actor_samples=3, batch_size=4), trainer.policy, online)


def test_the_kl_term_is_zero_at_the_start_and_the_exact_kl_after():
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=4)
    config = ArCHerConfig(kl_coef=0.5, batch_size=4)
    trainer = ArCHer(config, policy, UtteranceCritic("tiny"), seed=0)
    assert "reference" in trainer.modules() and not trainer.reference.model.training
    observations, actions = ["Questions:\n", "Questions:\nIs it big? No.\n"], ["Is it red?", "x"]
    _, mask, kl = policy.token_log_probs(observations, actions, trainer.reference)
    assert torch.allclose(kl[mask], torch.zeros(int(mask.sum())), atol=1e-6)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    _, mask, kl = policy.token_log_probs(observations[:1], actions[:1], trainer.reference)
    ids, _, _ = policy._sequences(observations[:1], actions[:1])
    with torch.no_grad():
        new = torch.log_softmax(policy.model(ids).logits[0, :-1], -1)
        old = torch.log_softmax(trainer.reference.model(ids).logits[0, :-1], -1)
    exact = (new.exp() * (new - old)).sum(-1)[-mask.shape[1] :]
    torch.testing.assert_close(kl[0][mask[0]], exact[mask[0]], atol=1e-4, rtol=1e-4)
    assert (kl[mask] > 0).all()


def test_buffer_data_seeds_the_buffer_and_warms_the_critic_up(tmp_path):
    data = tmp_path / "scripted.jsonl"
    write_trajectories(
        collect_trajectories(
            lambda obs: "Is it a pen?", make_vector_env(ENV_ID, 2), 3, seed=0, progress=False
        ),
        data,
    )
    config = ArCHerConfig.preset(
        "cpu", ENV_ID, **{**SMALL, "iterations": 1, "critic_warmup_steps": 2}
    )
    train_run(
        ENV_ID, tmp_path / "run", config, "archer", seed=0, progress=False, buffer_data=[str(data)]
    )
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["buffer_data"] == [str(data)] and saved["critic"] == "policy"
    buffer = (checkpoint.latest_checkpoint(tmp_path / "run") / "buffer.jsonl").read_text()
    seeded = [json.loads(line) for line in buffer.splitlines()]
    pens = sum(t["action"] == "Is it a pen?" for t in seeded)
    assert pens >= sum(len(r["transitions"]) for r in read_trajectories(data))
