"""archer-gym environments: multi-turn text games with simulated oracles, as Gymnasium envs.

import gymnasium as gym, archer_envs
env = gym.make("archer/TwentyQuestions-v0")
"""

import gymnasium as gym

from archer_envs.agents import Agent, OpenAIChatAgent, load_agent, scripted_agents
from archer_envs.core import CHARSET, TextEnv, TextVectorEnv
from archer_envs.detective.env import DetectiveEnv
from archer_envs.detective.jericho_env import JerichoEnv
from archer_envs.evaluation import EvaluationResult, evaluate
from archer_envs.guess_my_city import GuessMyCityEnv
from archer_envs.oracles.base import Oracle, OracleError, Query
from archer_envs.twenty_questions import SUBSET, TwentyQuestionsEnv

__version__ = "0.1.0"

ENVIRONMENTS = {
    "archer/TwentyQuestions-v0": ("archer_envs.twenty_questions", "TwentyQuestionsEnv", {}),
    "archer/TwentyQuestionsSubset-v0": (
        "archer_envs.twenty_questions",
        "TwentyQuestionsEnv",
        {"objects": list(SUBSET)},
    ),
    "archer/Detective-v0": ("archer_envs.detective.env", "DetectiveEnv", {}),
    # needs story_file= (a z-machine game of the user's) and the optional jericho package
    "archer/Jericho-v0": ("archer_envs.detective.jericho_env", "JerichoEnv", {}),
    "archer/WebShop-v0": ("archer_envs.webshop.env", "WebShopEnv", {}),
    "archer/WebShopBrowser-v0": ("archer_envs.webshop.browser", "WebShopBrowserEnv", {}),
    "archer/GuessMyCity-v0": ("archer_envs.guess_my_city", "GuessMyCityEnv", {}),
}

for _env_id, (_module, _cls, _kwargs) in ENVIRONMENTS.items():
    if _env_id not in gym.registry:
        gym.register(
            _env_id,
            entry_point=f"{_module}:{_cls}",
            vector_entry_point=f"{_module}:make_vector_env",
            kwargs=_kwargs,
        )

__all__ = [
    "CHARSET",
    "ENVIRONMENTS",
    "Agent",
    "DetectiveEnv",
    "EvaluationResult",
    "GuessMyCityEnv",
    "JerichoEnv",
    "OpenAIChatAgent",
    "Oracle",
    "OracleError",
    "Query",
    "TextEnv",
    "TextVectorEnv",
    "TwentyQuestionsEnv",
    "evaluate",
    "load_agent",
    "scripted_agents",
]
