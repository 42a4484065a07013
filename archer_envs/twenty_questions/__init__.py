"""Twenty Questions: the knowledge base and its question reader (``knowledge``, the "kb"
oracle), the env and its guess rule (``env``), and the scripted reference agents (``agents``)."""

from archer_envs.twenty_questions.env import SUBSET, TwentyQuestionsEnv

__all__ = ["SUBSET", "TwentyQuestionsEnv"]
