"""The candidate-action wrapper and the SB3 baselines: SB3's and Gymnasium's env checkers, the
menu and its observation by hand, PPO beating random on the Subset, a run folder played through
archer-envs eval, seeded runs (and a resumed one) that match."""

import itertools
import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from safetensors.torch import load_file
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from archer_agents.models import PolicyLM
from archer_agents.sb3 import SB3
from archer_agents.train import load_trained_agent, make_config, train_run
from archer_envs import cli
from archer_envs.twenty_questions import SUBSET
from archer_envs.wrappers import NO, NOT_ASKED, OTHER, YES, CandidateActions, answer_code
from tests.conftest import untimed

ENV_ID = "archer/TwentyQuestionsSubset-v0"
RANDOM_RETURN = -19.9  # the random questioner on the Subset (README's reference rows)
MENU_RANDOM_RETURN = -16.7  # uniform over the wrapper's menu (docs/sb3.md)
# PPO's cpu preset with 5 of its 20 iterations (5 × 4,096 env steps), evaluated at the end
SMALL_PPO = dict(iterations=5, eval_every=5, save_every=1)


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sb3") / "ppo"
    config = make_config("sb3_ppo", "cpu", ENV_ID, **SMALL_PPO)
    rows = train_run(ENV_ID, str(out), config, "sb3_ppo", seed=0, device="cpu", progress=False)
    return out, rows


@pytest.mark.parametrize("env_id", [ENV_ID, "archer/GuessMyCity-v0"])
def test_the_wrapper_passes_sb3s_and_gymnasiums_env_checkers(env_id):
    env = CandidateActions(gym.make(env_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's checker reports problems as warnings
        sb3_check_env(env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gymnasium_check_env(CandidateActions(gym.make(env_id).unwrapped))
    # only its note that a wrapper is being checked, not the raw env
    assert all("different from the unwrapped" in str(w.message) for w in caught), caught


def test_the_menu_is_the_experts_splitting_questions_then_every_guess():
    env = CandidateActions(gym.make(ENV_ID))
    questions, guesses = env.menu[:-10], env.menu[-10:]
    assert guesses == [f"Is it a {name.lower()}?" for name in SUBSET]
    answers = {}
    for question in questions:  # each splits the ten objects, each in its own way
        column = []
        for index in range(len(SUBSET)):
            env.reset(options={"index": index})
            column.append(env.step(env.menu.index(question))[0][env.menu.index(question)])
        assert len(set(column)) > 1, question
        answers[question] = tuple(column)
    assert len(set(answers.values())) == len(questions) == 53
    assert env.action_space == gym.spaces.Discrete(63)


def test_the_observation_is_each_menu_questions_answer_and_the_turn():
    env = CandidateActions(gym.make(ENV_ID))
    alive, dog = env.menu.index("Is it alive?"), env.menu.index("Is it a dog?")
    transcript = "Questions:\nIs it alive? Yes.\nWhat is it? Invalid Question.\nIs it a dog? No.\n"
    expected = np.zeros(64, dtype=np.int64)
    expected[alive], expected[dog], expected[-1] = YES, NO, 3
    assert np.array_equal(env.encode(transcript), expected)
    observation, info = env.reset(options={"target": "Dog"})
    assert np.array_equal(observation, np.zeros(64)) and info["text_observation"] == "Questions:\n"
    observation, reward, terminated, _, info = env.step(alive)
    assert (observation[alive], observation[-1], reward, terminated) == (YES, 1, -1.0, False)
    assert info["utterance"] == "Is it alive?" and info["text_observation"].endswith("Yes.\n")
    observation, reward, terminated, _, info = env.step(dog)
    assert (reward, terminated, info["success"]) == (0.0, True, True)
    assert [answer_code(a) for a in ("No, it is not.", "Not sure.", "yes!")] == [NO, OTHER, YES]
    assert NOT_ASKED == 0


def test_bad_actions_and_envs_without_a_menu_are_clear_errors():
    env = CandidateActions(gym.make(ENV_ID))
    env.reset(seed=0)
    for action in (63, -1, 1.5, "Is it a dog?"):
        with pytest.raises(ValueError, match=r"action must be an int in \[0, 63\)"):
            env.step(action)
    with pytest.raises(ValueError, match="wraps Twenty Questions and Guess My City"):
        CandidateActions(gym.make("archer/Detective-v0"))
    with pytest.raises(ValueError, match="ending in '\\?'"):
        CandidateActions(gym.make(ENV_ID), menu=["north"])
    with pytest.raises(ValueError, match="menu_env is the run's env"):
        make_config("sb3_ppo", "cpu", ENV_ID, menu_env="archer/GuessMyCity-v0")
    with pytest.raises(ValueError, match=r"multiple of n_steps · num_envs \(128 · 8\)"):
        make_config("sb3_ppo", "cpu", ENV_ID, steps_per_iter=1000)


def test_sb3_ppo_beats_random_on_the_subset(ppo_run):
    _, rows = ppo_run
    final = rows[-1]
    assert final["env_steps"] == 5 * 4096
    # seed 0 measured −11.3 greedy and −9.85 sampled at this budget (the random questioner:
    # −19.9; uniformly random over the menu: −16.7, 1,000 episodes)
    assert final["eval_return"] > RANDOM_RETURN + 5 > MENU_RANDOM_RETURN
    assert final["eval_sampled_return"] > RANDOM_RETURN + 6
    assert final["rollout_return"] > rows[0]["rollout_return"]


def test_a_run_folder_plays_the_text_env_through_archer_envs_eval(ppo_run, tmp_path, capsys):
    out, rows = ppo_run
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints[-1] == "iter-000005"  # (older ones pruned)
    weights = load_file(out / "checkpoints" / "iter-000005" / "sb3_policy.safetensors")
    assert any(name.startswith("action_net") for name in weights)
    assert not list(out.rglob("*.zip")) and not list(out.rglob("*.pkl"))
    results = tmp_path / "eval.json"
    assert (
        cli.main(["eval", "--env", ENV_ID, "--agent", str(out), "--quiet", "--out", str(results)])
        == 0
    )
    summary = json.loads(results.read_text())["summary"]
    assert summary["mean_return"] == pytest.approx(rows[-1]["eval_return"])  # greedy, every object
    agent = load_trained_agent(str(out))
    first = agent.act(["Questions:\n", None])
    assert first[1] is None and first[0] in agent.env.menu


def seeded_run(out, algo, resume=False, **overrides):
    """A two-iteration run of ``algo`` (1,024 env steps each) at seed 3: its metrics rows and
    its final weights."""
    config = make_config(
        algo,
        "cpu",
        ENV_ID,
        iterations=2,
        steps_per_iter=1024,
        eval_every=2,
        save_every=1,
        **overrides,
    )
    rows = train_run(
        ENV_ID, str(out), config, algo, seed=3, resume=resume, device="cpu", progress=False
    )
    return rows, load_file(out / "checkpoints" / "iter-000002" / "sb3_policy.safetensors")


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_seeded_ppo_runs_match_and_so_does_a_resumed_one(tmp_path):
    rows_a, weights_a = seeded_run(tmp_path / "a", "sb3_ppo")
    rows_b, weights_b = seeded_run(tmp_path / "b", "sb3_ppo")
    assert untimed(rows_a) == untimed(rows_b) and same_weights(weights_a, weights_b)
    # b "was killed" after iteration 1: its last checkpoint is gone; resumed, it replays 2
    last = tmp_path / "b" / "checkpoints" / "iter-000002"
    for path in last.iterdir():
        path.unlink()
    last.rmdir()
    rows_c, weights_c = seeded_run(tmp_path / "b", "sb3_ppo", resume=True)
    assert untimed(rows_c) == untimed(rows_a) and same_weights(weights_c, weights_a)


def test_two_seeded_dqn_runs_match(tmp_path):
    rows_a, weights_a = seeded_run(tmp_path / "a", "sb3_dqn", learning_starts=256)
    rows_b, weights_b = seeded_run(tmp_path / "b", "sb3_dqn", learning_starts=256)
    assert untimed(rows_a) == untimed(rows_b) and same_weights(weights_a, weights_b)
    assert rows_a[-1]["loss"] > 0  # it trained (SB3's TD loss of its last update)


def test_an_iteration_returns_the_episodes_it_finished_as_trajectory_records():
    config = make_config("sb3_ppo", "cpu", ENV_ID, steps_per_iter=1024)
    trainer = SB3(config, PolicyLM("tiny"), seed=0)
    metrics = trainer.iteration(None, 0, seed=0, progress=False)
    episodes = metrics["trajectories"]
    assert metrics["env_steps"] == 1024 and len(episodes) >= 1024 // 20 - 8  # ≤ 20 turns each
    for episode in episodes:
        steps = episode["transitions"]
        assert steps[0]["observation"] == "Questions:\n"
        assert all(a["next_observation"] == b["observation"] for a, b in itertools.pairwise(steps))
        assert steps[-1]["terminated"] and not any(s["terminated"] for s in steps[:-1])
        assert episode["return"] == -(len(steps) - episode["success"])
        assert all(s["action"] in trainer.env.menu for s in steps)
    assert metrics["rollout_return"] == pytest.approx(np.mean([e["return"] for e in episodes]))
