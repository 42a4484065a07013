"""Collecting whole trajectories from a vector env (archer_agents.rollout)."""

import itertools

import gymnasium as gym

from archer_agents.rollout import collect_trajectories, make_vector_env


def test_rollouts_keep_the_episodes_they_start_not_the_first_to_end():
    """Dog episodes end at once, the others after 20 questions: stopping at the first episodes to
    end would return mostly dogs."""
    env_id = "archer/TwentyQuestionsSubset-v0"
    env = gym.make(env_id)
    first_targets = []
    for seed in range(4):
        env.reset(seed=seed)
        first_targets.append(env.unwrapped.target)
    assert first_targets.count("Dog") < 4
    records = collect_trajectories(
        lambda obs: "Is it a dog?", make_vector_env(env_id, 4), 4, seed=0, progress=False
    )
    assert [r["target"] for r in records] == first_targets
    more = collect_trajectories(
        lambda obs: "Is it a dog?", make_vector_env(env_id, 4), 9, seed=0, progress=False
    )
    assert [r["target"] for r in more[:4]] == first_targets and len(more) == 9
    for record in more:
        steps = record["transitions"]
        assert len(steps) == (1 if record["target"] == "Dog" else 20)
        assert record["success"] == (record["target"] == "Dog")
        for before, after in itertools.pairwise(steps):
            assert before["next_observation"] == after["observation"]


def test_rollouts_read_the_final_info_of_envs_whose_info_holds_dicts():
    """Detective's last info holds the game's state (a dict) and WebShop's its clickables: the
    vector env nests them, and each record still gets its own episode's target and success."""
    detective = collect_trajectories(
        lambda obs: "look",
        make_vector_env("archer/Detective-v0", 2, max_steps=3),
        3,
        seed=0,
        progress=False,
    )
    assert [len(r["transitions"]) for r in detective] == [3, 3, 3]
    assert all(r["target"] and r["success"] is False for r in detective)
    webshop = collect_trajectories(
        lambda obs: "click[buy now]",
        make_vector_env("archer/WebShop-v0", 2),
        3,
        seed=0,
        progress=False,
    )
    env = gym.make("archer/WebShop-v0")
    goals = []
    for seed in (0, 1):
        env.reset(seed=seed)
        goals.append(env.unwrapped.target)
    assert [r["target"] for r in webshop[:2]] == goals
