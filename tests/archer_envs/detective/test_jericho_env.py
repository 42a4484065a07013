"""archer/Jericho-v0 on a story file the project builds itself from tests/data/jericho/
lighthouse.inf with Debian's Inform 6 compiler (installed by .ci/run). Skipped, with the reason,
where the jericho package or the compiler is missing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from archer_envs.detective.jericho_env import JerichoEnv, zmachine_objects
from tests import DATA

SOURCE = DATA / "jericho" / "lighthouse.inf"
# Debian's inform6-library puts the standard library here; INFORM6_LIBRARY overrides it
INFORM_LIBRARY = Path(os.environ.get("INFORM6_LIBRARY", "/usr/share/inform6/library"))
WALKTHROUGH = [  # (command, reward)
    ("east", 0),
    ("take key", 2),
    ("west", 0),
    ("unlock door with key", 3),
    ("open door", 0),
    ("north", 0),
    ("light lamp", 5),
]


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    pytest.importorskip(
        "jericho", reason='jericho is not installed: pip install "archer-gym[jericho]"'
    )
    compiler = shutil.which("inform6")
    if compiler is None or not INFORM_LIBRARY.is_dir():
        pytest.skip("Inform 6 is not installed: apt-get install inform6-compiler inform6-library")
    out = tmp_path_factory.mktemp("jericho") / "lighthouse.z5"
    subprocess.run(
        [compiler, "-v5", f"+include_path={INFORM_LIBRARY}", str(SOURCE), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_story_file_is_required_and_checked(tmp_path):
    with pytest.raises(ValueError, match="needs story_file"):
        gym.make("archer/Jericho-v0")
    with pytest.raises(FileNotFoundError, match="story file not found"):
        JerichoEnv(story_file=tmp_path / "detective.z5")


def test_reset_steps_score_and_winning(story):
    env = gym.make("archer/Jericho-v0", story_file=story)
    observation, info = env.reset(seed=0)
    assert info["score"] == 0 and info["max_score"] == 10
    assert "Location: Beach" in observation and "carrying nothing" in observation
    assert set(info["valid_actions"]) == {"take shell", "east"}
    for command, points in WALKTHROUGH:
        assert command in info["valid_actions"], (command, info["valid_actions"])
        observation, reward, terminated, truncated, info = env.step(command)
        assert reward == points, command
        assert observation.startswith(f"> {command}\n")
    assert terminated and not truncated and info["success"]
    assert info["score"] == 10 and info["valid_actions"] == []
    # look, inventory and score ran on saved states: the game counted only our 7 moves
    assert "in 7 turns" in observation
    assert "spacy" not in sys.modules  # Jericho's spaCy-based action search was never used


def test_valid_actions_change_the_world_and_nothing_else_is_listed(story):
    env = JerichoEnv(story_file=story)
    env.reset()
    _, _, _, _, info = env.step("east")
    assert set(info["valid_actions"]) >= {"take key", "take net", "west"}
    assert not {"look", "inventory", "examine key", "wait", "north"} & set(info["valid_actions"])
    _, reward, _, _, info = env.step("xyzzy")
    assert reward == 0 and "not a verb I recognise" in info["reply"]


def test_fatal_mistake_ends_the_game_lost(story):
    env = JerichoEnv(story_file=story)
    env.reset()
    for command, _ in WALKTHROUGH[:-1]:
        env.step(command)
    observation, reward, terminated, _, info = env.step("climb railing")
    assert terminated and not info["success"] and reward == 0
    assert "You have died" in observation


def test_step_cap_and_same_start_every_reset(story):
    env = gym.make("archer/Jericho-v0", story_file=story, max_steps=3)
    first, _ = env.reset(seed=0)
    for _ in range(3):
        *_, terminated, truncated, info = env.step("wait")
    assert truncated and not terminated and info["turn"] == 3
    assert env.reset(seed=5)[0] == first
    envs = gym.make_vec("archer/Jericho-v0", num_envs=2, story_file=story, valid_actions=False)
    observations, _ = envs.reset(seed=0)
    observations, rewards, *_ = envs.step(["east", "east"])
    assert list(rewards) == [0, 0] and observations[0] == observations[1]
    assert "Fisherman's Hut" in observations[0]
    envs.close()


def test_object_tree_is_read_from_the_story_memory(story):
    env = JerichoEnv(story_file=story)
    env.reset()

    def tree():
        ram = bytes(env._frotz._get_ram())
        objects = zmachine_objects(ram + story.read_bytes()[len(ram) :])
        number = {name: n for n, (name, *_) in objects.items()}
        return {name: objects[n][1] for name, n in number.items()}, number

    parents, number = tree()
    assert parents["sea shell"] == parents["(self object)"] == number["Beach"]
    assert parents["iron key"] == number["Fisherman's Hut"]
    env.step("east")
    env.step("take key")
    parents, number = tree()
    assert parents["(self object)"] == number["Fisherman's Hut"]
    assert parents["iron key"] == number["(self object)"]
