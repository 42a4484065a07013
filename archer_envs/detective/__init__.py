"""Detective: a text-adventure engine, our original murder mystery, and a Jericho backend."""

from archer_envs.detective.engine import Command, Game, ParseError, World

__all__ = ["Command", "Game", "ParseError", "World"]
