"""archer/Detective-v0: the engine (parser, actions, valid actions, save/restore), the game's
puzzles and ends, the env and its scripted agents."""

import json

import gymnasium as gym
import numpy as np
import pytest

from archer_envs.agents import load_agent
from archer_envs.core import data_path
from archer_envs.datasets import generate_bc_dataset, read_trajectories
from archer_envs.detective.adventure import parse_valid_actions
from archer_envs.detective.engine import NO_SUCH_THING, UNKNOWN, Command, Game, World
from archer_envs.detective.env import DetectiveEnv, load_game
from archer_envs.evaluation import evaluate

ENV_ID = "archer/Detective-v0"


@pytest.fixture(scope="module")
def game() -> Game:
    return load_game()


def after(game: Game, steps: int) -> World:
    """The world after the first ``steps`` commands of the walkthrough."""
    world = game.new_world()
    for command in game.walkthrough[:steps]:
        world.do(command)
    return world


def step_of(game: Game, command: str) -> int:
    return game.walkthrough.index(command)


def random_walk_states(game: Game, episodes: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        world = game.new_world()
        for _ in range(50):
            yield world
            actions = world.valid_actions()
            if not actions:
                break
            world.do(actions[int(rng.integers(len(actions)))])


def test_the_game_is_shaped_like_the_papers(game):
    assert len(game.rooms) >= 12
    usable = [o for o in game.objects.values() if o.get("takeable") or o.get("openable")]
    assert len(usable) >= 15
    assert sum(bool(o.get("person")) for o in game.objects.values()) >= 4
    assert 40 <= len(game.walkthrough) <= 50
    assert game.max_score == 100


def test_walkthrough_reaches_the_maximum_score_in_the_env():
    env = gym.make(ENV_ID)
    observation, info = env.reset(seed=0)
    assert info["max_score"] == 100 and "target" not in info
    total, rewards = 0.0, []
    for command in env.unwrapped.game.walkthrough:
        assert command in info["valid_actions"], command
        observation, reward, terminated, truncated, info = env.step(command)
        rewards.append(reward)
        total += reward
        if terminated or truncated:
            break
    assert terminated and not truncated and info["success"]
    assert total == info["score"] == info["max_score"] == 100
    assert len(rewards) == len(env.unwrapped.game.walkthrough)
    assert sum(r > 0 for r in rewards) >= 10  # the score rises as the case advances
    assert info["target"] == "Dr Marsh"
    assert "solved the case" in observation


def test_every_listed_valid_action_changes_the_world(game):
    checked = 0
    for world in random_walk_states(game):
        actions = world.valid_actions()
        assert len(actions) == len(set(actions))
        for action in actions:
            copy = World(game, world.state)
            before = copy.key()
            reply = copy.do(action)
            assert copy.key() != before, (world.room, action, reply)
            assert not reply.startswith(("I don't", "You can't", "I beg", "Which")), reply
            checked += 1
    assert checked > 2000


def test_observation_lists_the_same_valid_actions_as_the_info():
    env = gym.make(ENV_ID)
    observation, info = env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(30):
        assert parse_valid_actions(observation) == info["valid_actions"]
        assert "Location: " in observation and "Inventory: " in observation
        action = info["valid_actions"][int(rng.integers(len(info["valid_actions"])))]
        observation, _, terminated, truncated, info = env.step(action)
        assert observation.startswith(f"> {action}\n")
        if terminated or truncated:
            break


def test_save_and_restore_round_trip_through_json(game):
    rng = np.random.default_rng(3)
    for world in random_walk_states(game, episodes=5, seed=3):
        saved = json.loads(json.dumps(world.state))
        restored = World(game, saved)
        assert restored.state == world.state and restored.key() == world.key()
        assert restored.valid_actions() == world.valid_actions()
        assert restored.look() == world.look() and restored.inventory() == world.inventory()
        copy = World(game, saved)
        for _ in range(3):
            if copy.over:
                break
            actions = copy.valid_actions()
            action = actions[int(rng.integers(len(actions)))]
            clone = World(game, copy.state)
            assert copy.do(action) == clone.do(action) and copy.state == clone.state
    with pytest.raises(ValueError, match="lacks"):
        World(game, {"room": "hall"})
    with pytest.raises(ValueError, match="objects differ"):
        World(game, {**game.new_world().state, "where": {"lamp": "hall"}})


def test_reset_can_start_from_a_saved_state():
    env = gym.make(ENV_ID)
    env.reset()
    for command in env.unwrapped.game.walkthrough[:20]:
        env.step(command)
    saved = env.unwrapped.world.state
    observation, info = env.reset(options={"state": saved})
    assert info["score"] == saved["score"] > 0
    fresh, fresh_info = env.reset()
    assert fresh_info["score"] == 0 and fresh != observation
    assert env.reset()[0] == fresh  # the same initial state every time
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"index": 1})


@pytest.mark.parametrize(
    ("steps", "commands"),
    [
        (0, ["n", "north", "go north", "walk n", "Go North.", "GO NORTH!"]),
        (0, ["i", "inv", "inventory"]),
        (0, ["x notebook", "examine the notebook", "look at my notes", "inspect pocketbook"]),
        (4, ["take lamp", "get the lamp", "pick up the oil lamp", "grab lantern"]),
        (1, ["talk to hobbs", "speak to the gardener", "talk with Hobbs", "chat with hobbs"]),
        (
            2,
            [
                "ask hobbs about night",
                "ask the gardener about last night",
                "question hobbs about the murder",
                "tell hobbs about the night",
                "ask hobbs about what happened that night",
            ],
        ),
    ],
)
def test_parser_synonyms_articles_and_abbreviations(game, steps, commands):
    world = after(game, steps)
    parsed = {world.parse(command) for command in commands}
    assert len(parsed) == 1, parsed


def test_parser_two_object_commands(game):
    world = after(game, step_of(game, "unlock door with key"))
    key = Command("unlock", "study_door", "key")
    for text in (
        "unlock door with key",
        "unlock the oak door using the study key",
        "use the key on the door",
        "unlock study door with brass key",
    ):
        assert world.parse(text) == key, text
    assert world.parse("put the diary into the notebook") == Command("put", "diary", "notebook")
    world = after(game, step_of(game, "show warrant to pell"))
    show = Command("show", "warrant", "pell")
    for text in (
        "show warrant to pell",
        "show my warrant card to Mrs Pell",
        "present the badge to the housekeeper",
    ):
        assert world.parse(text) == show, text
    world = after(game, step_of(game, "enter 4719 on safe"))
    assert world.parse("dial 4719") == world.parse("type 4719 into the safe")
    assert world.parse("enter 4719 on safe") == Command("enter", "safe", "4719")


def test_every_prefix_of_a_valid_action_is_answered_in_every_walkthrough_state(game):
    """What an agent cut off mid-command types ("put lamp in", "unlock door with") gets a reply,
    never an exception: every prefix of every valid action, in each state of the walkthrough."""
    world = game.new_world()
    tried = 0
    for command in [None, *game.walkthrough]:
        if command is not None:
            world.do(command)
        for action in world.valid_actions():
            words = action.split()
            for end in range(1, len(words) + 1):
                reply = World(game, world.state).do(" ".join(words[:end]))
                assert isinstance(reply, str) and reply, (command, words[:end])
                tried += 1
    assert tried > 1500


def test_unknown_input_is_answered_like_an_if_game_and_changes_nothing(game):
    world = after(game, 1)
    before = world.key()
    assert world.do("xyzzy") == UNKNOWN
    assert world.do("dance wildly") == UNKNOWN
    assert world.do("take the unicorn") == 'I don\'t know the word "unicorn".'
    assert world.do("take the diary") == NO_SUCH_THING  # a real object, elsewhere
    assert world.do("") == "I beg your pardon?"
    assert world.do("go").startswith("Which way?")
    assert world.do("take") == "What do you want to take?"
    assert world.do("west") != world.do("southwest") == "You can't go that way."
    world.do("east")
    assert world.do("unlock") == "What do you want to unlock?"
    world = after(game, 1)
    assert world.do("wait") == "Time passes." and world.key() == before


def test_puzzles_gate_progress(game):
    world = after(game, step_of(game, "unlock door with key"))
    assert world.do("east") == "The study door is closed."
    assert world.do("open door") == "The study door is locked."
    assert "unlock door with key" in world.valid_actions()
    # the key only comes from Mrs Pell after she has seen the warrant
    world = after(game, step_of(game, "ask pell about key"))
    assert "show warrant to pell" not in world.valid_actions()
    assert world.do("show warrant to pell").endswith("doesn't seem interested.")
    assert world.where["key"] is None
    # the cellar is dark without a lit lamp
    world = after(game, step_of(game, "talk to pell"))
    world.do("drop lamp")
    assert world.do("down").startswith("The cellar steps vanish into pitch darkness")
    assert "down" not in world.valid_actions()
    # the safe opens to the code read in the diary; the code is only offered once read
    world = after(game, step_of(game, "enter 4719 on safe"))
    assert "enter 4719 on safe" in world.valid_actions()
    assert world.do("enter 1234 on safe").startswith("Nothing happens")
    assert world.do("open safe") == "The wall safe is locked."


def test_fatal_mistakes_end_the_game():
    env = gym.make(ENV_ID)
    walkthrough = env.unwrapped.game.walkthrough
    cases = [
        (walkthrough.index("examine body"), "drink brandy"),
        (walkthrough.index("talk to marsh"), "accuse marsh"),  # no proof yet
        (walkthrough.index("talk to pell"), "accuse the housekeeper"),
    ]
    for steps, mistake in cases:
        env.reset()
        for command in walkthrough[:steps]:
            env.step(command)
        observation, reward, terminated, truncated, info = env.step(mistake)
        assert terminated and not truncated and not info["success"], mistake
        assert reward == 0 and "You have failed" in observation
        assert info["valid_actions"] == []


def test_the_step_cap_truncates_and_reveals_the_culprit():
    env = gym.make(ENV_ID)
    _, info = env.reset()
    for turn in range(1, 51):
        _, reward, terminated, truncated, info = env.step("wait")
        assert "target" not in info or turn == 50
        assert reward == 0 and not terminated
    assert truncated and info["turn"] == 50 and info["target"] == "Dr Marsh"
    assert json.dumps(info)


def test_random_agent_scores_little_and_the_walkthrough_everything():
    random_result = evaluate(
        load_agent("random", ENV_ID, seed=0), ENV_ID, episodes=60, progress=False
    )
    assert random_result.mean_return < 10 and random_result.success_rate == 0
    expert = evaluate(load_agent("walkthrough", ENV_ID), ENV_ID, episodes=2, progress=False)
    assert expert.mean_return == 100 and expert.success_rate == 1


def test_noisy_walkthrough_bc_data(tmp_path):
    path = tmp_path / "detective_bc.jsonl"
    summary = generate_bc_dataset(
        ENV_ID, path, episodes=12, agent="expert", epsilon=0.2, seed=0, progress=False
    )
    records = list(read_trajectories(path))
    assert len(records) == 12 == summary["episodes"]
    returns = [r["return"] for r in records]
    assert min(returns) < 100 and max(returns) > 30  # sub-optimal but far above random
    assert all(r["target"] == "Dr Marsh" for r in records)
    # noise happened: some actions are not the walkthrough's, yet the agent recovers
    walkthrough = set(load_game().walkthrough)
    actions = [t["action"] for r in records for t in r["transitions"]]
    assert 0 < sum(a not in walkthrough for a in actions) < len(actions) / 2


def test_another_game_in_the_same_format(tmp_path):
    tiny = {
        "title": "The Missing Cat",
        "intro": "Find the cat.",
        "start": "porch",
        "max_score": 10,
        "culprit": None,
        "rooms": {
            "porch": {"name": "Porch", "description": "A porch.", "exits": {"in": "porch"}},
        },
        "objects": {},
    }
    with pytest.raises(ValueError, match="exit 'in'"):
        Game.from_dict(tiny)
    tiny["rooms"] = {
        "porch": {"name": "Porch", "description": "A porch.", "exits": {"east": "barn"}},
        "barn": {"name": "Barn", "description": "Hay.", "exits": {"west": "porch"}},
    }
    tiny["objects"] = {"cat": {"name": "cat", "location": "barn", "takeable": True}}
    tiny["rules"] = [
        {"verb": "take", "object": "cat", "score": 10, "end": "won", "text": "Got it!"}
    ]
    tiny["walkthrough"] = ["east", "take cat"]
    path = tmp_path / "cat.json"
    path.write_text(json.dumps(tiny))
    env = DetectiveEnv(game=path)
    _, info = env.reset()
    assert info["valid_actions"] == ["east"] and info["max_score"] == 10
    env.step("e")
    _, reward, terminated, _, info = env.step("get the cat")
    assert reward == 10 and terminated and info["success"]
    with pytest.raises(ValueError, match="unknown object"):
        Game.from_dict({**tiny, "rules": [{"verb": "take", "object": "dog"}]})
    with pytest.raises(ValueError, match="'has:dog' names an unknown"):
        Game.from_dict({**tiny, "rules": [{"verb": "take", "object": "cat", "if": ["has:dog"]}]})
    lost_cat = {"cat": {"name": "cat", "location": "attic"}}
    with pytest.raises(ValueError, match="'cat' is in 'attic', which is neither a room nor"):
        Game.from_dict({**tiny, "objects": lost_cat})
    with pytest.raises(ValueError, match="cannot read the game file"):
        DetectiveEnv(game=tmp_path / "missing.json")


def test_the_engine_takes_its_story_words_from_the_game_file():
    data = json.loads(data_path("detective", "hollowmere.json").read_text())
    data["replies"] = {"attack": "Put the poker down, Sergeant."}
    world = Game.from_dict(data).new_world()
    assert world.do("attack warrant") == "Put the poker down, Sergeant."
    assert world.do("talk to warrant") == "Talking to inanimate objects won't help."  # neutral
    data["replies"] = {"attak": "typo"}
    with pytest.raises(ValueError, match="unknown replies \\['attak'\\]"):
        Game.from_dict(data)
