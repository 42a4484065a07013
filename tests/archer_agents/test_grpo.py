"""Multi-turn GRPO: group advantages against a hand computation, groups that share their start,
learning a tiny problem, determinism, and a run folder that loads as an agent and resumes."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from archer_agents import checkpoint
from archer_agents.grpo import GRPO, GRPOConfig, episode_starts, group_advantages
from archer_agents.models import PolicyLM
from archer_agents.rollout import collect_trajectories, make_vector_env
from archer_agents.train import load_trained_agent, train_run
from archer_envs.evaluation import evaluate
from tests.archer_agents.test_archer import greedy_return, one_object_envs, same, weak_policy
from tests.archer_agents.test_ppo import guesser  # noqa: F401  (a fixture)
from tests.conftest import untimed

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SMALL = dict(
    iterations=2,
    groups_per_iter=2,
    group_size=2,
    num_envs=4,
    ppo_epochs=1,
    minibatch_size=16,
    max_new_tokens=8,
    eval_every=2,
)


def test_group_advantages_equal_a_hand_computation():
    returns = torch.tensor([-3.0, -1.0, -2.0, -2.0, -5.0, -5.0, -5.0, -5.0])
    advantages = group_advantages(returns, group_size=4, epsilon=0.1)
    # group 1: mean −2, std √((1 + 1 + 0 + 0) / 3); group 2: all alike, no signal
    scale = math.sqrt(2 / 3) + 0.1
    torch.testing.assert_close(advantages[:4], torch.tensor([-1 / scale, 1 / scale, 0.0, 0.0]))
    torch.testing.assert_close(advantages[4:], torch.zeros(4))
    pair = group_advantages(torch.tensor([0.0, -2.0]), 2, epsilon=0.0)  # std √2
    torch.testing.assert_close(pair, torch.tensor([1 / math.sqrt(2), -1 / math.sqrt(2)]))
    with pytest.raises(ValueError, match="divide the number of returns"):
        group_advantages(returns, group_size=3)


def test_a_group_shares_its_start_and_options_reach_every_episode():
    envs = make_vector_env(ENV_ID, 3)
    options = [{"target": name} for name in ("Dog", "Dog", "Pen", "Pen", "Piano")]
    records = collect_trajectories(
        lambda obs: "Is it a pen?", envs, 5, seed=0, progress=False, options=options
    )
    assert [r["target"] for r in records] == ["Dog", "Dog", "Pen", "Pen", "Piano"]
    assert [r["options"] for r in records] == options
    assert [r["return"] for r in records] == [-20.0, -20.0, 0.0, 0.0, -20.0]
    with pytest.raises(ValueError, match="one reset option per episode"):
        collect_trajectories(lambda obs: "Is it a pen?", envs, 4, options=options)
    trainer = GRPO(
        GRPOConfig(groups_per_iter=3, group_size=2, max_new_tokens=4), weak_policy(dog_share=0.5)
    )
    targets = [r["target"] for r in trainer.collect(envs, seed=0, progress=False)]
    assert targets[0::2] == targets[1::2]  # consecutive pairs: one group, one target


def test_webshop_groups_start_from_training_goals_never_the_test_split():
    """GRPO's starts on WebShop are the env's split (train by default), disjoint from the test
    goals the leaderboard plays; the question games start from every target."""
    import gymnasium as gym

    shop = gym.vector.SyncVectorEnv([lambda: gym.make("archer/WebShop-v0")])
    test = {o["goal_index"] for o in shop.envs[0].unwrapped.episode_options()}
    train = {o["goal_index"] for o in episode_starts(shop)}
    assert len(test) == 500 and len(train) > 1000 and not train & test
    dev = gym.vector.SyncVectorEnv([lambda: gym.make("archer/WebShop-v0", split="dev")])
    assert {o["goal_index"] for o in episode_starts(dev)} == set(range(500, 1500))
    subset = make_vector_env(ENV_ID, 1)
    assert episode_starts(subset) == subset.envs[0].unwrapped.episode_options()


def test_grpo_improves_a_deliberately_weak_policy():
    policy = weak_policy(dog_share=0.25)
    assert greedy_return(policy) == -4.0  # greedy asks about the cat every turn
    torch.manual_seed(0)
    config = GRPOConfig(
        iterations=6,
        groups_per_iter=2,
        group_size=8,
        ppo_epochs=4,
        minibatch_size=32,
        kl_coef=0.0,
        lm_lr=1e-3,
        max_new_tokens=8,
    )
    trainer = GRPO(config, policy, seed=0)
    envs = one_object_envs(8)
    returns = []
    for iteration in range(config.iterations):
        metrics = trainer.iteration(envs, iteration, seed=iteration, progress=False)
        returns.append(metrics["rollout_return"])
    assert greedy_return(policy) == 0.0  # asks about the dog at once
    assert np.mean(returns[-2:]) > np.mean(returns[:2]) + 0.5


def test_two_seeded_runs_are_identical():
    config = GRPOConfig(
        groups_per_iter=2, group_size=4, ppo_epochs=2, minibatch_size=8, max_new_tokens=8
    )
    runs = []
    for _ in range(2):
        trainer = GRPO(config, weak_policy(dog_share=0.5), seed=0)
        torch.manual_seed(1)
        envs = one_object_envs(4)
        rows = [trainer.iteration(envs, i, seed=i, progress=False) for i in range(2)]
        runs.append(
            (
                [{k: v for k, v in r.items() if k != "trajectories"} for r in rows],
                {k: v.clone() for k, v in trainer.policy.state_dict().items()},
            )
        )
    assert runs[0][0] == runs[1][0]
    assert same(runs[0][1], runs[1][1])


def test_a_run_resumes_to_the_same_final_state_and_loads_as_an_agent(tmp_path, guesser):  # noqa: F811
    config = GRPOConfig.preset("cpu", ENV_ID, **SMALL)
    train_run(ENV_ID, str(tmp_path / "a"), config, "grpo", seed=3, init=guesser, progress=False)
    # as if killed after the first iteration: its checkpoint and metrics line are all there is
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "iter-000002")
    metrics = tmp_path / "b" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    train_run(
        ENV_ID,
        str(tmp_path / "b"),
        config,
        "grpo",
        seed=3,
        init=guesser,
        resume=True,
        progress=False,
    )
    start = load_file(checkpoint.latest_checkpoint(guesser) / "policy.safetensors")
    assert not same(
        load_file(checkpoint.latest_checkpoint(tmp_path / "a") / "policy.safetensors"), start
    )  # the policy learned something: its equality below means something
    for name in ("policy", "optimizer_actor"):
        a, b = (
            load_file(checkpoint.latest_checkpoint(p) / f"{name}.safetensors")
            for p in (tmp_path / "a", tmp_path / "b")
        )
        assert same(a, b), name
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert untimed(rows) == untimed(
        [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    )
    result = evaluate(load_trained_agent(str(tmp_path / "a")), ENV_ID, episodes=2, progress=False)
    assert result.episodes == 2


def test_unknown_keys_and_presets_are_refused():
    with pytest.raises(ValueError, match=r"unknown GRPO config keys \['lr'\]"):
        GRPOConfig.preset("cpu", ENV_ID, lr=1.0)
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        GRPO(GRPOConfig(group_size=1), PolicyLM("tiny"))
    assert GRPOConfig.preset("paper", ENV_ID).rollouts_per_iter == 1024
