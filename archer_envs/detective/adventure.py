"""What the Detective env and the Jericho env share: the observation of a text adventure, as
upstream shows it, and the status an ``info`` carries (reply, score, valid actions)."""

from __future__ import annotations

import abc
from typing import Any

from archer_envs.core import OBSERVATION_MAX_LENGTH, TextEnv

ACTIONS_HEADER = "\n\nValid actions:\n"


def compose_observation(
    latest: str, location: str, inventory: str, score: int, max_score: int, actions: list[str]
) -> str:
    """What the agent sees, as upstream: the latest game text, then the location (what ``look``
    prints), the inventory, the score and the valid actions, one per line."""
    head = (
        f"{latest}\n\nLocation: {location}\n\nInventory: {inventory}\n\n"
        f"Score: {score} of {max_score}"
    )
    tail = ACTIONS_HEADER + "\n".join(actions) if actions else ""
    text = head + tail
    if len(text) > OBSERVATION_MAX_LENGTH:  # an over-long reply is cut, never the actions
        text = head[: max(0, OBSERVATION_MAX_LENGTH - len(tail) - 4)] + "...\n" + tail
        text = text[-OBSERVATION_MAX_LENGTH:]
    return text


def parse_valid_actions(observation: str) -> list[str]:
    """The valid actions listed at the end of an observation."""
    _, found, actions = observation.rpartition(ACTIONS_HEADER)
    return actions.split("\n") if found else []


class TextAdventureEnv(TextEnv):
    """Base class: ``reset`` and every step carry the game's status in ``info``."""

    @abc.abstractmethod
    def _game_status(self) -> tuple[str, int, int, list[str]]:
        """The game's latest reply, the score, the maximum score and the valid actions."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = super().reset(seed=seed, options=options)
        info.update(self._status_info())
        return observation, info

    def _status_info(self) -> dict[str, Any]:
        reply, score, max_score, actions = self._game_status()
        return {
            "reply": reply,
            "score": score,
            "max_score": max_score,
            "valid_actions": list(actions),
        }
