"""Token-level PPO: GAE against a hand computation, the per-token rewards and episode ends of a
batch of trajectories, learning a tiny problem, determinism, and a run folder that loads as an
agent and resumes."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from archer_agents import checkpoint
from archer_agents.bc import BCConfig, train_bc
from archer_agents.models import PolicyLM
from archer_agents.ppo import PPO, PPOConfig, token_gae, token_log_probs_and_values
from archer_agents.train import load_trained_agent, train_run
from archer_envs import SUBSET
from archer_envs.evaluation import evaluate
from tests.archer_agents.test_archer import greedy_return, one_object_envs, same, weak_policy
from tests.conftest import untimed

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SMALL = dict(
    iterations=2,
    rollouts_per_iter=4,
    num_envs=4,
    ppo_epochs=1,
    minibatch_size=16,
    value_warmup_iters=1,
    max_new_tokens=8,
    eval_every=2,
)


@pytest.fixture(scope="module")
def guesser(tmp_path_factory):
    """A run folder whose policy guesses the subset's objects in turn (every episode over in
    at most 10 turns, so a run's evaluation is cheap): ``--init`` for archer-train."""
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=8)
    pairs = [
        (
            "Questions:\n" + "".join(f"Is it a {o.lower()}? No.\n" for o in SUBSET[:turn]),
            f"Is it a {SUBSET[turn].lower()}?",
        )
        for turn in range(len(SUBSET))
    ]
    train_bc(policy, pairs, BCConfig(epochs=100, batch_size=10), progress=False)
    folder = tmp_path_factory.mktemp("guesser")
    checkpoint.save_checkpoint(
        folder / "checkpoints" / "iter-000000",
        {"policy": policy.state_dict()},
        {"policy": "tiny", "max_new_tokens": 8, "iteration": 0},
    )
    return str(folder)


def test_gae_equals_a_hand_computation():
    # two episodes laid end to end: three tokens, then two
    rewards = torch.tensor([0.1, 0.0, -1.0, 0.0, 2.0])
    values = torch.tensor([0.5, -0.2, -0.8, 1.0, 1.5])
    dones = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0])
    advantages, returns = token_gae(rewards, values, dones, gamma=0.9, lam=0.8)
    # δ2 = −1 + 0.8 = −0.2; δ1 = 0.9·−0.8 + 0.2 = −0.52, A1 = δ1 + 0.72·A2 = −0.664;
    # δ0 = 0.1 + 0.9·−0.2 − 0.5 = −0.58, A0 = −0.58 + 0.72·−0.664; δ4 = 0.5; δ3 = 1.35 − 1 = 0.35
    expected = torch.tensor([-0.58 + 0.72 * -0.664, -0.664, -0.2, 0.35 + 0.72 * 0.5, 0.5])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected + values)
    # γ = λ = 1: the returns are the rewards to go of each episode, whatever the values
    _, returns = token_gae(rewards, values, dones, gamma=1.0, lam=1.0)
    torch.testing.assert_close(returns, torch.tensor([-0.9, -1.0, -1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match="last must end an episode"):
        token_gae(rewards, values, torch.zeros(5), 0.9, 0.8)


def test_the_reward_arrives_at_each_utterances_last_token_and_episodes_end_theirs():
    torch.manual_seed(0)
    config = PPOConfig(kl_coef=0.0, gamma=1.0, lam=1.0, whiten_advantages=False, value_init=0.0)
    trainer = PPO(config, PolicyLM("tiny", max_new_tokens=8))

    def transition(observation, action, reward):
        return {"observation": observation, "action": action, "reward": reward}

    trajectories = [
        {
            "transitions": [
                transition("Questions:\n", "Is it a cat?", -1.0),
                transition("Questions:\nIs it a cat? No.\n", "Is it a dog?", 0.0),
            ]
        },
        {"transitions": [transition("Questions:\n", "Is it big?", -1.0)]},
    ]
    data = trainer.rollout_targets(trajectories)
    lengths = data["lengths"].tolist()
    assert lengths == [
        len(trainer.policy.tokenizer(a + "\n")["input_ids"])
        for a in ("Is it a cat?", "Is it a dog?", "Is it big?")
    ]
    # V = 0 and γ = λ = 1: every token's return is what its episode still collects
    expected = [-1.0] * lengths[0] + [0.0] * lengths[1] + [-1.0] * lengths[2]
    torch.testing.assert_close(data["returns"], torch.tensor(expected))
    torch.testing.assert_close(data["advantages"], torch.tensor(expected))
    old, mask = trainer.policy.token_log_probs(data["observations"], data["actions"])
    torch.testing.assert_close(data["old"], old[mask])


def test_the_value_head_reads_the_state_before_each_token_and_can_be_kept_off_the_trunk():
    torch.manual_seed(0)
    trainer = PPO(PPOConfig(value_init=-2.0), PolicyLM("tiny", max_new_tokens=8))
    observations = ["Questions:\n", "Questions:\nIs it a cat? No.\n"]
    actions = ["Is it a dog?", "x"]
    token, mask, values = token_log_probs_and_values(
        trainer.policy, trainer.value_head, observations, actions, trunk_grad=False
    )
    torch.testing.assert_close(token, trainer.policy.token_log_probs(observations, actions)[0])
    torch.testing.assert_close(values[mask], torch.full((int(mask.sum()),), -2.0))
    (values * mask).sum().backward()
    assert all(p.grad is None for p in trainer.policy.parameters())
    assert trainer.value_head.linear.weight.grad.abs().sum() > 0


def test_ppo_improves_a_deliberately_weak_policy():
    policy = weak_policy(dog_share=0.25)
    assert greedy_return(policy) == -4.0  # greedy asks about the cat every turn
    torch.manual_seed(0)
    config = PPOConfig(
        iterations=6,
        rollouts_per_iter=16,
        num_envs=8,
        ppo_epochs=4,
        minibatch_size=32,
        kl_coef=0.0,
        value_trunk_grad=False,
        value_init=-2.0,
        lm_lr=1e-3,
        value_lr=1e-2,
        max_new_tokens=8,
    )
    trainer = PPO(config, policy, seed=0)
    envs = one_object_envs(8)
    returns = []
    for iteration in range(config.iterations):
        metrics = trainer.iteration(envs, iteration, seed=iteration, progress=False)
        returns.append(metrics["rollout_return"])
    assert greedy_return(policy) == 0.0  # asks about the dog at once
    assert np.mean(returns[-2:]) > np.mean(returns[:2]) + 0.5


def test_two_seeded_runs_are_identical():
    config = PPOConfig(rollouts_per_iter=8, ppo_epochs=2, minibatch_size=8, max_new_tokens=8)
    runs = []
    for _ in range(2):
        trainer = PPO(config, weak_policy(dog_share=0.5), seed=0)
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


def test_a_run_resumes_to_the_same_final_state_and_loads_as_an_agent(tmp_path, guesser):
    config = PPOConfig.preset("cpu", ENV_ID, **SMALL)
    train_run(ENV_ID, str(tmp_path / "a"), config, "ppo", seed=3, init=guesser, progress=False)
    # as if killed after the first iteration: its checkpoint and metrics line are all there is
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "iter-000002")
    metrics = tmp_path / "b" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    train_run(
        ENV_ID,
        str(tmp_path / "b"),
        config,
        "ppo",
        seed=3,
        init=guesser,
        resume=True,
        progress=False,
    )
    start = load_file(checkpoint.latest_checkpoint(guesser) / "policy.safetensors")
    assert not same(
        load_file(checkpoint.latest_checkpoint(tmp_path / "a") / "policy.safetensors"), start
    )  # the policy learned something: its equality below means something
    for name in ("policy", "value_head", "optimizer_ppo"):
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
    with pytest.raises(ValueError, match=r"unknown PPO config keys \['lr'\]"):
        PPOConfig.preset("cpu", ENV_ID, lr=1.0)
    with pytest.raises(ValueError, match="unknown preset"):
        PPOConfig.preset("gpu", ENV_ID)
    assert PPOConfig.preset("paper", ENV_ID).rollouts_per_iter == 1024
