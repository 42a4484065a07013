"""Offline ArCHer: its losses against a hand computation, learning from a fixed dataset what BC
on the same data does not, determinism, and run folders that load as agents."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from archer_agents import checkpoint
from archer_agents.bc import BCConfig, train_bc, utterance_pairs
from archer_agents.buffer import Batch
from archer_agents.models import PolicyAgent, PolicyLM, UtteranceCritic, make_critic
from archer_agents.offline import (
    OfflineArCHer,
    OfflineArCHerConfig,
    awr_weights,
    expectile_loss,
)
from archer_agents.rollout import collect_trajectories
from archer_agents.train import load_trained_agent, main
from archer_envs import cli
from archer_envs.core import TextVectorEnv
from archer_envs.datasets import generate_bc_dataset, write_trajectories
from archer_envs.evaluation import evaluate
from archer_envs.twenty_questions import TwentyQuestionsEnv
from tests.archer_agents.test_archer import FixedCritic, same, snapshot

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SMALL = dict(
    iterations=2,
    batch_size=8,
    critic_steps=2,
    critic_warmup_steps=2,
    actor_steps=1,
    max_new_tokens=8,
    eval_every=2,
    save_every=1,
)


def test_the_expectile_loss_matches_its_formula():
    diff = torch.tensor([2.0, -1.0, 0.5, -3.0])  # target − V
    # |τ − 1(diff < 0)| · diff²: 0.9·4, 0.1·1, 0.9·0.25, 0.1·9
    assert expectile_loss(diff, 0.9).item() == pytest.approx((3.6 + 0.1 + 0.225 + 0.9) / 4)
    assert expectile_loss(diff, 0.5).item() == pytest.approx(0.5 * (diff**2).mean().item())
    # the minimiser over a constant V is the τ-expectile: above the mean for τ = 0.9
    values = torch.tensor([0.0, -1.0, -1.0, -1.0])
    grid = torch.linspace(-1, 0, 1001)
    best = grid[torch.stack([expectile_loss(values - v, 0.9) for v in grid]).argmin()]
    assert best.item() == pytest.approx(-0.25, abs=1e-3)  # 0.9·0.25·v = 0.1·0.75·(−1 − v)


def test_awr_weights_are_exp_beta_advantage_clipped():
    weights = awr_weights(torch.tensor([0.0, -1.0, 0.5, 10.0]), beta=2.0, max_weight=100.0)
    torch.testing.assert_close(weights, torch.tensor([1.0, math.exp(-2), math.e, 100.0]))


@pytest.mark.parametrize("critic_loss, tau", [("iql", 0.9), ("sarsa", 0.5)])
def test_the_critic_loss_equals_a_hand_computation(critic_loss, tau):
    gamma = 0.9
    target = FixedCritic(
        q={("s0", "a0"): (-2.0, -3.0), ("s1", "a1"): (-1.0, -0.5)},
        v={"s1": (-1.5, -2.5), "end": (-7.0, -7.0)},
    )
    online = FixedCritic(
        q={("s0", "a0"): (-1.0, -1.2), ("s1", "a1"): (-0.4, -0.6)},
        v={"s0": (-2.5, -2.4), "s1": (-0.5, -0.7)},
        target=target,
    )
    config = OfflineArCHerConfig(gamma=gamma, critic_loss=critic_loss)
    trainer = OfflineArCHer(config, PolicyLM("tiny", max_new_tokens=4), online)
    batch = Batch(
        ["s0", "s1"],
        ["a0", "a1"],
        np.array([-1.0, 0.0], np.float32),
        ["s1", "end"],
        np.array([0.0, 1.0], np.float32),
    )
    # Q_i → r + γ(1 − done)V̄_i(s′): head 1 [-1 + .9·-1.5, 0], head 2 [-1 + .9·-2.5, 0]
    mse = lambda x, y: float(np.mean((np.array(x) - np.array(y)) ** 2))  # noqa: E731
    q_loss = mse([-1.0, -0.4], [-2.35, 0.0]) + mse([-1.2, -0.6], [-3.25, 0.0])

    # V_i → Q̄_i(s, a_data) by the expectile: head 1 diffs [-2 − -2.5, -1 − -0.5] = [.5, -.5]
    def expectile(diffs):
        return float(np.mean([(tau if d > 0 else 1 - tau) * d * d for d in diffs]))

    v_loss = expectile([0.5, -0.5]) + expectile([-3.0 - -2.4, -0.5 - -0.7])
    loss, _ = trainer.critic_loss(batch)
    assert loss.item() == pytest.approx(q_loss + v_loss, abs=1e-5)


def test_the_awr_loss_weights_each_data_utterance_by_its_advantage():
    critic = FixedCritic(
        q={("s", "good"): (0.0, 0.5), ("s", "bad"): (-2.0, -1.0)}, v={"s": (-1.0, -0.5)}
    )
    critic.target = critic
    policy = PolicyLM("tiny", max_new_tokens=4)
    trainer = OfflineArCHer(OfflineArCHerConfig(beta=1.0), policy, critic)
    batch = Batch(
        ["s", "s"], ["good", "bad"], np.zeros(2, np.float32), ["s", "s"], np.zeros(2, np.float32)
    )
    loss, stats = trainer.actor_loss(batch)
    # A = min(Q1, Q2) − min(V1, V2): good 0 − (−1) = 1, bad −2 − (−1) = −1
    with torch.no_grad():
        log_probs = policy.log_probs(["s", "s"], ["good", "bad"])
    expected = -(math.e * log_probs[0] + math.exp(-1) * log_probs[1]) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert stats["advantage"] == pytest.approx(0.0)


# --- learning: a one-object game whose data mostly asks the wrong question -----------------


def one_object_envs(count: int) -> TextVectorEnv:
    return TextVectorEnv(TwentyQuestionsEnv, count, objects=["Dog"], max_turns=4)


def greedy_return(policy: PolicyLM) -> float:
    result = evaluate(
        PolicyAgent(policy),
        ENV_ID,
        episodes=[{"target": "Dog"}],
        env_kwargs={"objects": ["Dog"], "max_turns": 4},
        progress=False,
    )
    return result.mean_return


@pytest.fixture(scope="module")
def mixed_data() -> list[dict]:
    """A questioner that asks "Is it a cat?" (never right) three times in four and "Is it a
    dog?" (the right guess, return 0) otherwise: the data hold both, mostly the bad one."""
    rng = np.random.default_rng(0)
    asker = lambda observation: "Is it a cat?" if rng.random() < 0.75 else "Is it a dog?"  # noqa: E731
    return collect_trajectories(asker, one_object_envs(8), 64, seed=0, progress=False)


def bc_policy(data: list[dict]) -> PolicyLM:
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=8)
    train_bc(
        policy,
        utterance_pairs(data),
        BCConfig(epochs=20, lm_lr=3e-3, schedule="constant"),
        progress=False,
    )
    return policy


def test_offline_archer_learns_from_the_data_what_bc_on_it_does_not(mixed_data):
    policy = bc_policy(mixed_data)
    assert greedy_return(policy) == -4.0  # BC: asks about the cat every turn, as the data do
    torch.manual_seed(0)
    config = OfflineArCHerConfig(
        iterations=10,
        batch_size=32,
        critic_steps=10,
        critic_warmup_steps=100,
        actor_steps=5,
        gamma=0.9,
        tau=0.1,
        critic_lr=1e-3,
        lm_lr=1e-3,
    )
    trainer = OfflineArCHer(config, policy, UtteranceCritic("tiny"), seed=0)
    trainer.seed(mixed_data, progress=False)
    for iteration in range(config.iterations):
        metrics = trainer.iteration(None, iteration, seed=iteration, progress=False)
        assert metrics["trajectories"] == []  # nothing collected
    assert greedy_return(policy) == 0.0  # IQL + AWR: asks about the dog at once


@pytest.mark.parametrize(
    "variant",
    [
        dict(critic_loss="sarsa"),
        dict(actor_loss="reinforce"),
        dict(actor_loss="reinforce", bc_coef=1.0),
    ],
)
def test_each_variant_trains_critic_and_actor(mixed_data, variant):
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=8)
    config = OfflineArCHerConfig(batch_size=8, critic_steps=2, actor_steps=2, **variant)
    trainer = OfflineArCHer(config, policy, make_critic("tiny", policy), seed=0)
    trainer.seed(mixed_data[:8], progress=False)
    actor, critic = snapshot(trainer.policy), snapshot(trainer.critic)
    metrics = trainer.iteration(None, 0, seed=0, progress=False)
    assert not same(snapshot(trainer.policy), actor)
    assert not same(snapshot(trainer.critic), critic)
    assert all(math.isfinite(v) for k, v in metrics.items() if k != "trajectories")
    assert ("bc_loss" in metrics) == ("bc_coef" in variant)


def test_bad_configs_and_data_are_refused():
    policy = PolicyLM("tiny", max_new_tokens=4)
    with pytest.raises(ValueError, match="critic_loss must be one of"):
        OfflineArCHer(OfflineArCHerConfig(critic_loss="cql"), policy)
    with pytest.raises(ValueError, match="expectile must be in"):
        OfflineArCHer(OfflineArCHerConfig(expectile=1.0), policy)
    with pytest.raises(ValueError, match="unknown OfflineArCHer config keys"):
        OfflineArCHerConfig.preset("cpu", ENV_ID, rollouts_per_iter=8)
    trainer = OfflineArCHer(OfflineArCHerConfig(buffer_size=2), policy, UtteranceCritic("tiny"))
    with pytest.raises(ValueError, match="at least one transition"):
        trainer.seed([], progress=False)
    with pytest.raises(ValueError, match="raise buffer_size"):
        trainer.seed([{"transitions": [{}] * 3}], progress=False)


# --- archer-train: seeded runs, run folders ---------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "wasteful.jsonl"
    generate_bc_dataset(ENV_ID, path, episodes=12, agent="wasteful", seed=0, progress=False)
    return str(path)


def test_two_seeded_runs_are_identical(mixed_data):
    def run() -> dict[str, torch.Tensor]:
        torch.manual_seed(5)
        policy = PolicyLM("tiny", max_new_tokens=8)
        config = OfflineArCHerConfig.preset(
            "cpu", ENV_ID, **SMALL, actor_loss="reinforce", bc_coef=0.5
        )
        trainer = OfflineArCHer(config, policy, seed=5)
        trainer.seed(mixed_data, progress=False)
        for iteration in range(config.iterations):
            trainer.iteration(None, iteration, seed=iteration, progress=False)
        return {**snapshot(trainer.policy), **snapshot(trainer.critic)}

    assert same(run(), run())


def test_the_cli_trains_from_a_dataset_and_the_run_loads_as_an_agent(tmp_path, dataset, capsys):
    write_trajectories([], tmp_path / "empty.jsonl")
    sets = [f"{key}={value}" for key, value in SMALL.items()]
    args = [
        "--env",
        ENV_ID,
        "--algo",
        "offline_archer",
        "--device",
        "cpu",
        "--quiet",
        "--set",
        *sets,
    ]
    assert (
        main([*args, "--out", str(tmp_path / "none"), "--dataset", str(tmp_path / "empty.jsonl")])
        == 2
    )
    assert "at least one transition" in capsys.readouterr().err
    run = tmp_path / "offline"
    assert main([*args, "--out", str(run), "--dataset", dataset]) == 0
    agent = load_trained_agent(str(run))
    assert isinstance(agent, PolicyAgent)
    assert (
        cli.main(
            [
                "eval",
                "--env",
                ENV_ID,
                "--agent",
                str(run),
                "--episodes",
                "3",
                "--out",
                str(tmp_path / "eval.json"),
                "--quiet",
            ]
        )
        == 0
    )
    assert "(3 episodes)" in capsys.readouterr().out
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["trajectories"] for row in rows] == [0, 0]  # offline: nothing collected
    assert "eval_return" in rows[-1]
    # killed after its first checkpoint: resumed, it ends where the whole run ended
    killed = tmp_path / "killed"
    shutil.copytree(run, killed)
    shutil.rmtree(killed / "checkpoints" / "iter-000002")
    assert main([*args, "--out", str(killed), "--dataset", dataset, "--resume"]) == 0
    weights = [
        load_file(checkpoint.latest_checkpoint(path) / name)
        for path in (run, killed)
        for name in ("policy.safetensors", "critic.safetensors")
    ]
    assert same(weights[0], weights[2]) and same(weights[1], weights[3])
