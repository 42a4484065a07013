"""Fuzzing: any string is a legal action, and every observation stays inside its space."""

import json

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ENV_IDS, check_answer

ACTIONS_PER_EXAMPLE = 25
EXAMPLES = 420  # 420 x 25 = 10,500 actions per id

odd_text = st.one_of(
    st.text(max_size=300),  # any unicode: control characters, emoji, combining marks
    st.text(alphabet=st.characters(codec="ascii"), max_size=300),
    st.sampled_from(["", "\n\n\n", "?", "Is it a", "is it a dog or a cat or a cow?", "\x00" * 50]),
    st.builds(lambda n: "Is it alive? " * n, st.integers(1, 9000)),  # up to ~100 kB
    st.builds(lambda s: s + "?", st.text(max_size=60)),
)


# a browser env plays exactly as its text env (tested in its own tests), 100x slower
@pytest.mark.parametrize("env_id", [env_id for env_id in ENV_IDS if "Browser" not in env_id])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    actions=st.lists(odd_text, min_size=ACTIONS_PER_EXAMPLE, max_size=ACTIONS_PER_EXAMPLE),
    seed=st.integers(0, 2**31 - 1),
)
def test_fuzzed_actions_never_crash_and_stay_in_space(env_id, actions, seed):
    env = gym.make(env_id).unwrapped
    observation, info = env.reset(seed=seed)
    assert env.observation_space.contains(observation)
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(observation)
        json.dumps(info)
        if "answer" in info:  # the oracle games
            assert reward in (0.0, -1.0)
            check_answer(env_id, info["answer"])
        elif "max_score" in info:  # games with a score: rewards are its increases
            assert reward >= 0.0 and info["score"] <= info["max_score"]
        else:  # shopping: a purchase's reward
            assert 0.0 <= reward <= 1.0
        if terminated or truncated:
            observation, info = env.reset(seed=seed)
