"""archer-gym environments: multi-turn text games with simulated oracles, as Gymnasium envs.

import gymnasium as gym, archer_envs
env = gym.make("archer/TwentyQuestions-v0")
"""

import functools

import gymnasium as gym

from archer_envs.agents import (
    Agent,
    OpenAIChatAgent,
    load_agent,
    register_agent_loader,
    register_scripted_agents,
    scripted_agents,
)
from archer_envs.core import CHARSET, TextEnv, TextVectorEnv, make_text_vector_env
from archer_envs.detective.env import DetectiveEnv
from archer_envs.detective.jericho_env import JerichoEnv
from archer_envs.evaluation import EvaluationResult, evaluate
from archer_envs.guess_my_city.env import GuessMyCityEnv
from archer_envs.oracles.base import Oracle, OracleError, Query
from archer_envs.twenty_questions.env import SUBSET, TwentyQuestionsEnv

__version__ = "0.1.0"

# env id -> (module, env class, default kwargs)
ENVIRONMENTS = {
    "archer/TwentyQuestions-v0": ("archer_envs.twenty_questions.env", "TwentyQuestionsEnv", {}),
    "archer/TwentyQuestionsSubset-v0": (
        "archer_envs.twenty_questions.env",
        "TwentyQuestionsEnv",
        {"objects": list(SUBSET)},
    ),
    "archer/Detective-v0": ("archer_envs.detective.env", "DetectiveEnv", {}),
    # needs story_file= (a z-machine game of the user's) and the optional jericho package
    "archer/Jericho-v0": ("archer_envs.detective.jericho_env", "JerichoEnv", {}),
    "archer/WebShop-v0": ("archer_envs.webshop.env", "WebShopEnv", {}),
    "archer/WebShopBrowser-v0": ("archer_envs.webshop.browser", "WebShopBrowserEnv", {}),
    "archer/GuessMyCity-v0": ("archer_envs.guess_my_city.env", "GuessMyCityEnv", {}),
}

_TWENTY_QUESTIONS_AGENTS = {
    "random": "archer_envs.twenty_questions.agents:RandomQuestioner",
    "expert": "archer_envs.twenty_questions.agents:GreedyExpert",
    "wasteful": "archer_envs.twenty_questions.agents:WastefulQuestioner",
    "optimal": "archer_envs.twenty_questions.agents:OptimalAgent",
}
_WEBSHOP_AGENTS = {  # the browser env's observations read as the text env's
    "random": "archer_envs.webshop.agents:RandomShopper",
    "rule": "archer_envs.webshop.agents:RuleShopper",
    "careful": "archer_envs.webshop.agents:CarefulShopper",
}
# env id -> scripted reference agent name -> "module:Class"
SCRIPTED_AGENTS = {
    "archer/TwentyQuestions-v0": _TWENTY_QUESTIONS_AGENTS,
    "archer/TwentyQuestionsSubset-v0": _TWENTY_QUESTIONS_AGENTS,
    "archer/Detective-v0": {
        "random": "archer_envs.detective.agents:RandomValidAgent",
        # "expert": the name BC data generation and the leaderboard use
        "expert": "archer_envs.detective.agents:WalkthroughAgent",
        "walkthrough": "archer_envs.detective.agents:WalkthroughAgent",
    },
    "archer/WebShop-v0": _WEBSHOP_AGENTS,
    "archer/WebShopBrowser-v0": _WEBSHOP_AGENTS,
    "archer/GuessMyCity-v0": {
        "random": "archer_envs.guess_my_city.agents:RandomQuestioner",
        "expert": "archer_envs.guess_my_city.agents:CityExpert",
    },
}

for _env_id, (_module, _cls, _kwargs) in ENVIRONMENTS.items():
    if _env_id not in gym.registry:
        gym.register(
            _env_id,
            entry_point=f"{_module}:{_cls}",
            vector_entry_point=functools.partial(make_text_vector_env, f"{_module}:{_cls}"),
            kwargs=_kwargs,
        )
for _env_id, _agents in SCRIPTED_AGENTS.items():
    register_scripted_agents(_env_id, _agents)

__all__ = [
    "CHARSET",
    "ENVIRONMENTS",
    "SCRIPTED_AGENTS",
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
    "register_agent_loader",
    "register_scripted_agents",
    "scripted_agents",
]
