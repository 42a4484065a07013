"""Online filtered BC: the top decile against a hand count, learning from a weak start,
determinism, its pool through checkpoint and resume, and its run folder as an agent."""

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

from archer_agents import checkpoint
from archer_agents.bc import (
    BCConfig,
    FilteredBC,
    FilteredBCConfig,
    TrajectoryPool,
    top_decile,
    train_bc,
)
from archer_agents.models import PolicyAgent, PolicyLM
from archer_agents.rollout import make_vector_env
from archer_agents.train import load_trained_agent, main, train_run
from archer_envs.datasets import read_trajectories
from archer_envs.evaluation import evaluate
from tests.conftest import untimed

ENV_ID = "archer/TwentyQuestionsSubset-v0"
DOG = {"objects": ["Dog"], "max_turns": 4}  # the subset's env, one object, four questions
DOG_ID = "archer-tests/TwentyQuestionsDog-v0"  # the same as an id, for whole runs: their
if DOG_ID not in gym.registry:  # evaluation plays every object of the env (here one)
    gym.register(
        DOG_ID,
        entry_point="archer_envs.twenty_questions:TwentyQuestionsEnv",
        vector_entry_point=gym.spec("archer/TwentyQuestions-v0").vector_entry_point,
        kwargs=DOG,
    )
SMALL = dict(
    iterations=3,
    rollouts_per_iter=4,
    num_envs=4,
    batch_size=4,
    actor_steps=2,
    max_new_tokens=4,
    eval_every=3,
)


def record(value: float) -> dict:
    return {
        "env_id": ENV_ID,
        "seed": None,
        "options": None,
        "target": "Dog",
        "return": value,
        "success": value > -4,
        "transitions": [
            {
                "observation": "Questions:\n",
                "action": f"{value}",
                "reward": value,
                "next_observation": "",
                "terminated": True,
                "truncated": False,
            }
        ],
    }


def test_the_top_decile_is_the_best_tenth_rounded_up_ties_to_the_newest():
    first_ten = [-5, -2, -9, -2, -1, -7, -2, -3, -8, -4]
    returns = [*first_ten, -6, -5, -9, -1.5, -2, -3, -4, -20, -11, -10, -12, -2, -13, -14, -15]
    pool = [record(r) for r in returns]
    kept = top_decile(pool)
    # 25 trajectories: ⌈2.5⌉ = 3; -1 and -1.5, then the newest of the five -2s (index 21)
    assert [[i for i, t in enumerate(pool) if t is k] for k in kept] == [[4], [13], [21]]
    assert [t["return"] for t in top_decile(pool[:10])] == [-1]
    assert [t is pool[6] for t in top_decile(pool[:11])] == [False, True]  # ⌈1.1⌉; newest -2
    assert top_decile([]) == [] and top_decile(pool[:1]) == pool[:1]
    assert top_decile([record(-3)] * 30) == [record(-3)] * 3


def test_the_pool_keeps_the_newest_and_round_trips_as_trajectory_jsonl(tmp_path):
    pool = TrajectoryPool(3, seed=0)
    pool.add([record(r) for r in (-1, -2, -3, -4)])
    assert [t["return"] for t in pool.trajectories] == [-2, -3, -4]
    pool.save(tmp_path / "pool.jsonl")
    assert [t["return"] for t in read_trajectories(tmp_path / "pool.jsonl")] == [-2, -3, -4]
    other = TrajectoryPool(2)
    other.load(tmp_path / "pool.jsonl")
    assert other.trajectories == pool.trajectories[-2:]
    (tmp_path / "bad.jsonl").write_text('{"return": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a valid trajectory"):
        other.load(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="capacity"):
        TrajectoryPool(0)


def weak_policy(dog_share: float = 0.25, seed: int = 0) -> PolicyLM:
    """Cloned from data that asks "Is it a cat?" (never right) more often than "Is it a dog?"."""
    torch.manual_seed(seed)
    policy = PolicyLM("tiny", max_new_tokens=8)
    rng = np.random.default_rng(seed)
    pairs = [
        (
            "Questions:\n" + "Is it a cat? No.\n" * turn,
            f"Is it a {'dog' if rng.random() < dog_share else 'cat'}?",
        )
        for turn in range(4)
        for _ in range(40)
    ]
    train_bc(policy, pairs, BCConfig(epochs=20, schedule="constant"), seed=seed, progress=False)
    return policy


def dog_returns(policy: PolicyLM) -> tuple[float, float]:
    """Greedy return, and the mean return of 64 sampled episodes, on the one-object game."""
    greedy = evaluate(PolicyAgent(policy), ENV_ID, episodes=1, env_kwargs=DOG, progress=False)
    sampled = evaluate(
        PolicyAgent(policy, greedy=False, seed=0),
        ENV_ID,
        episodes=64,
        num_envs=16,
        env_kwargs=DOG,
        progress=False,
    )
    return greedy.mean_return, sampled.mean_return


def test_filtered_bc_improves_a_weak_start():
    policy = weak_policy()
    start_greedy, start_sampled = dog_returns(policy)
    assert start_greedy == -4.0  # greedy asks about the cat every turn
    torch.manual_seed(0)
    config = FilteredBCConfig.preset(
        "cpu",
        ENV_ID,
        rollouts_per_iter=16,
        num_envs=16,
        actor_steps=10,
        lm_lr=1e-3,
        max_new_tokens=8,
    )
    trainer = FilteredBC(config, policy, seed=0)
    envs = make_vector_env(ENV_ID, 16, **DOG)
    rows = [trainer.iteration(envs, i, seed=i, progress=False) for i in range(4)]
    assert rows[-1]["pool"] == 64 and rows[-1]["kept"] == 7
    assert rows[-1]["kept_min_return"] == 0.0  # all kept ask the right first question
    greedy, sampled = dog_returns(policy)
    assert greedy == 0.0  # asks about the dog at once
    assert sampled > start_sampled + 1.5  # -2.9 -> 0.0 here


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_two_seeded_trainers_match():
    def run() -> tuple[list[dict], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        policy = PolicyLM("tiny", max_new_tokens=4)
        trainer = FilteredBC(FilteredBCConfig.preset("cpu", ENV_ID, **SMALL), policy, seed=3)
        envs = make_vector_env(ENV_ID, 4, **DOG)
        rows = [trainer.iteration(envs, i, seed=10 + i, progress=False) for i in range(2)]
        return rows, weights(policy)

    (rows, policy), (again, policy_again) = run(), run()
    assert rows == again and rows[-1]["pool"] == 8
    assert policy.keys() == policy_again.keys()
    assert all(torch.equal(policy[k], policy_again[k]) for k in policy)


def test_a_killed_run_resumes_with_its_pool_and_its_folder_loads_as_an_agent(tmp_path):
    config = FilteredBCConfig.preset("cpu", ENV_ID, **SMALL)
    whole = train_run(DOG_ID, tmp_path / "a", config, "filtered_bc", seed=1, progress=False)
    final = checkpoint.latest_checkpoint(tmp_path / "a")
    pool = list(read_trajectories(final / "buffer.jsonl"))
    assert whole[-1]["pool"] == len(pool) == 12 and pool[0]["env_id"] == DOG_ID
    # killed after its second checkpoint: the run resumes to the same end, pool and all
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "iter-000003")
    resumed = train_run(
        DOG_ID, tmp_path / "b", config, "filtered_bc", seed=1, resume=True, progress=False
    )
    assert untimed(resumed) == untimed(whole)  # the metrics before the kill read back
    again = checkpoint.latest_checkpoint(tmp_path / "b")
    for name in ("policy.safetensors", "optimizer_actor.safetensors", "buffer.jsonl"):
        assert (again / name).read_bytes() == (final / name).read_bytes(), name
    agent = load_trained_agent(str(tmp_path / "a"))
    assert isinstance(agent, PolicyAgent)
    assert evaluate(agent, DOG_ID, episodes=2, progress=False).episodes == 2


def test_the_cli_knows_filtered_bc_and_refuses_buffer_data(tmp_path, capsys):
    args = ["--env", ENV_ID, "--algo", "filtered_bc", "--out", str(tmp_path / "r")]
    assert main([*args, "--set", "lr=1"]) == 2
    assert "unknown filtered BC config keys ['lr']" in capsys.readouterr().err
    (tmp_path / "data.jsonl").write_text(json.dumps(record(-1.0)) + "\n")
    assert main([*args, "--buffer-data", str(tmp_path / "data.jsonl")]) == 2
    assert "--buffer-data does not apply to --algo filtered_bc" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown preset"):
        FilteredBCConfig.preset("gpu", ENV_ID)
    assert FilteredBCConfig.preset("paper", ENV_ID).lm_lr == 1e-6
