"""Guess My City: the cities' facts, the question reader and the leak filter (``knowledge``,
the "kb" oracle), the env and its guess rule (``env``), and the scripted reference agents
(``agents``)."""

from archer_envs.guess_my_city.env import GuessMyCityEnv

__all__ = ["GuessMyCityEnv"]
