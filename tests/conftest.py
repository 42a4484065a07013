import functools
import re

import gymnasium as gym
import pytest

import archer_envs  # noqa: F401 (registers the ids)
from archer_envs.twenty_questions.knowledge import default_knowledge_base
from tests.openai_server import OpenAICompatibleServer

try:  # two pytest workers share two cores: one thread each, or OpenMP threads fight for them
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass

# archer/Jericho-v0 needs a story file of the user's and the optional jericho package: it is
# tested in tests/archer_envs/detective/test_jericho_env.py instead.
ENV_IDS = [
    env_id
    for env_id in gym.registry
    if env_id.startswith("archer/") and env_id != "archer/Jericho-v0"
]
# Envs that start every episode from the same state: nothing for a seed to draw.
FIXED_START_IDS = {"archer/Detective-v0"}


def untimed(rows):
    """archer-train's metrics rows without their wall times, the one thing that differs between
    two seeded runs (or a run and its resumed copy)."""
    return [{key: value for key, value in row.items() if key != "train_seconds"} for row in rows]


def check_answer(env_id, answer):
    """Twenty Questions answers from a closed set; Guess My City in one line of free text."""
    if env_id.startswith("archer/TwentyQuestions"):
        assert answer in ("Yes.", "No.", "Invalid Question.")
    else:
        assert isinstance(answer, str) and answer.strip() and "\n" not in answer


@functools.cache
def kb_oracle():
    """One knowledge-base oracle for the test servers (building one takes seconds: its indexes)."""
    from archer_envs.twenty_questions.knowledge import KnowledgeBaseOracle

    return KnowledgeBaseOracle()


def kb_oracle_reply(messages):
    """Replies like a well-behaved LLM oracle: reads LMRL-Gym's prompt and answers from the
    knowledge base, in words a model would use."""
    prompt = messages[-1]["content"]
    target = re.search(r"object: (.*)\n", prompt).group(1)
    question = re.search(r"question: (.*)\n", prompt).group(1)
    answer = kb_oracle().answer_one(target, question)
    return {
        "Yes.": "Yes, it is.",
        "No.": "No.",
        "Invalid Question.": "That is not a yes/no question.",
    }[answer]


@pytest.fixture
def oracle_server():
    with OpenAICompatibleServer(kb_oracle_reply) as server:
        yield server


@pytest.fixture(scope="session")
def knowledge():
    return default_knowledge_base()
