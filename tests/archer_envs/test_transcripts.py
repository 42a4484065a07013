"""Recorded transcripts: every scripted agent on every env id that runs without user files, a few
seeds, played through the public API (``gym.make``, ``archer_envs.load_agent``). A refactoring
must leave them identical, observations, rewards, ends and infos alike.

Re-record (only for an intended change of behaviour):
``python -m tests.archer_envs.test_transcripts``.
"""

import json

import gymnasium as gym
import pytest

import archer_envs
from tests import DATA

TRANSCRIPTS = DATA / "transcripts.jsonl"
ENV_IDS = [
    "archer/TwentyQuestions-v0",
    "archer/TwentyQuestionsSubset-v0",
    "archer/GuessMyCity-v0",
    "archer/Detective-v0",
    "archer/WebShop-v0",
]
AGENTS = {
    "archer/TwentyQuestions-v0": ["random", "expert", "wasteful"],  # optimal: 12 objects at most
    "archer/TwentyQuestionsSubset-v0": ["random", "expert", "wasteful", "optimal"],
    "archer/GuessMyCity-v0": ["random", "expert"],
    "archer/Detective-v0": ["random", "expert", "walkthrough"],
    "archer/WebShop-v0": ["random", "rule", "careful"],
}
SEEDS = {env_id: [0, 1, 2] for env_id in ENV_IDS} | {"archer/Detective-v0": [0, 1]}  # long


def play(env_id: str, agent_name: str, seed: int) -> dict:
    """One episode: the first observation and info, then per step the action, what the
    observation added (or the whole observation when it did not grow), reward, ends and info."""
    env = gym.make(env_id)
    agent = archer_envs.load_agent(agent_name, env_id, seed=seed)
    observation, info = env.reset(seed=seed)
    if hasattr(agent, "reset"):
        agent.reset([info["task"]])
    record = {
        "env_id": env_id,
        "agent": agent_name,
        "seed": seed,
        "start": observation,
        "info": info,
        "steps": [],
    }
    terminated = truncated = False
    while not (terminated or truncated):
        (action,) = agent.act([observation])
        following, reward, terminated, truncated, info = env.step(action)
        grew = following.startswith(observation)
        record["steps"].append(
            {
                "action": action,
                "more" if grew else "observation": following[len(observation) :]
                if grew
                else following,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "info": info,
            }
        )
        observation = following
    env.close()
    return json.loads(json.dumps(record))  # tuples as lists, as read back from the file


def recorded() -> dict[tuple[str, str, int], dict]:
    with TRANSCRIPTS.open() as lines:
        records = [json.loads(line) for line in lines]
    return {(r["env_id"], r["agent"], r["seed"]): r for r in records}


CASES = [
    (env_id, agent, seed)
    for env_id in ENV_IDS
    for agent in AGENTS[env_id]
    for seed in SEEDS[env_id]
]


def test_every_scripted_agent_is_recorded():
    assert set(recorded()) == set(CASES)
    for env_id in ENV_IDS:
        unrecorded = {"optimal"} if env_id == "archer/TwentyQuestions-v0" else set()
        assert set(AGENTS[env_id]) | unrecorded == set(archer_envs.scripted_agents(env_id))


@pytest.mark.parametrize(("env_id", "agent", "seed"), CASES)
def test_transcript_is_unchanged(env_id, agent, seed):
    expected = recorded()[env_id, agent, seed]
    assert play(env_id, agent, seed) == expected


if __name__ == "__main__":
    with TRANSCRIPTS.open("w") as out:
        for case in CASES:
            out.write(json.dumps(play(*case)) + "\n")
    print(f"{len(CASES)} transcripts -> {TRANSCRIPTS}")
