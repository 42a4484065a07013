"""Detective: our original murder mystery as a Gymnasium env."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from archer_envs.core import data_path
from archer_envs.detective.adventure import TextAdventureEnv, compose_observation
from archer_envs.detective.engine import Game, World

DEFAULT_GAME = ("detective", "hollowmere.json")


@functools.cache
def _load_game(path: str) -> Game:
    return Game.load(path)


def load_game(game: str | os.PathLike | Game | None = None) -> Game:
    """Our Hollowmere mystery (None), a game file in the format of data/detective/, or a Game."""
    if isinstance(game, Game):
        return game
    path = data_path(*DEFAULT_GAME) if game is None else Path(game)
    return _load_game(str(Path(path).resolve()))


def world_observation(world: World, latest: str, actions: list[str]) -> str:
    """The observation of ``world`` after the game text ``latest``."""
    return compose_observation(
        latest, world.look(), world.inventory(), world.score, world.game.max_score, actions
    )


class DetectiveEnv(TextAdventureEnv):
    """Detective: solve a murder in a text adventure by exploring, gathering clues, questioning
    the household and accusing the murderer.

    ## Description
    ArCHer's Detective runs the interactive-fiction game detective.z5 through Jericho; that file
    cannot ship with this project, so this env plays *The Hollowmere Affair*, an original mystery
    written for archer-gym, on a small engine (``archer_envs.detective.engine``). Sir Edmund
    Hollow lies dead in his locked study; 16 locations, 46 objects (25 portable), five people.
    Progress is gated: a locked door needs a key that the housekeeper only hands over when shown
    your warrant, the dark cellar needs a lamp (found in the garden shed) lit with matches, and
    the study safe opens to a code written in a diary. Distractions (a red-herring heir, junk
    items, people with nothing to add) and fatal mistakes (drinking the poisoned brandy, accusing
    the wrong person or accusing without proof) keep a random agent's score low. Any game
    written in the same JSON format (see data/detective/README.md) can be played with ``game=``.
    For the real detective.z5 use ``archer/Jericho-v0``.

    ## Action Space
    ``Text(256)``: a command in the usual interactive-fiction style ("north", "n", "x body",
    "take the lamp", "unlock door with key", "ask hobbs about last night", "show warrant to
    pell", "put diary in bag", "i", "wait"). Any string is a legal move; the parser answers what
    it cannot understand the way IF games do ("I don't understand that.").

    ## Observation Space
    ``Text(8192)``: the game's reply to the last command (headed by the command, "> take lamp"),
    then ``Location:`` (the output of ``look``), ``Inventory:``, ``Score: s of 100`` and
    ``Valid actions:`` with one command per line: every command that changes the world from this
    state (the engine computes them from the state, as Jericho's filter does; each is accepted
    and does something). ``info["valid_actions"]`` holds the same list.

    ## Rewards
    The increase of the game's score; the maximum total is ``info["max_score"]`` (100).

    ## Episode End
    Terminated when the game is over: the case is solved (``success``) or a fatal mistake ends
    it. Truncated after ``max_steps`` commands (50, the paper's cap; the full-score walkthrough
    takes 42).

    ## Information
    ``turn``, ``success``, ``reply`` (the game's latest text), ``score``, ``max_score``,
    ``valid_actions``, ``action_cut``; ``task`` at reset; ``target`` (the murderer) and
    ``state`` (the engine state, JSON-able) only once the episode is over.

    ## Arguments
    - ``game``: a game file in the format of data/detective/ (default: The Hollowmere Affair).
    - ``max_steps``: the step cap (50).
    - ``render_mode``: "ansi" or "human".

    Every reset starts from the same initial state; ``options={"state": saved}`` starts from an
    engine state saved earlier (``env.unwrapped.world.state``).

    ## References
    Zhou et al., ArCHer, ICML 2024 (arXiv 2402.19446); Hausknecht et al., Interactive Fiction
    Games: A Colossal Adventure (Jericho), AAAI 2020 (arXiv 1909.05398).

    ## Version History
    - v0: initial release.
    """

    def __init__(
        self,
        game: str | os.PathLike | Game | None = None,
        max_steps: int = 50,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode)
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        self.game = load_game(game)
        self.max_steps = max_steps
        self.world = self.game.new_world()
        self.task_description = (
            f"You are the detective in a text adventure, {self.game.title}. "
            f"{self.game.intro} Explore, examine things, read documents, question people "
            '("talk to hobbs", then "ask hobbs about the night") and collect evidence, then '
            '"accuse" the murderer. Each observation shows the game\'s reply, your location, '
            "your inventory, your score and the valid actions; reply with one command only. "
            f"You have {max_steps} commands; the score is out of {self.game.max_score}."
        )

    def _start(self, options: dict[str, Any]) -> str:
        unknown = set(options) - {"state"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'state' or none")
        self.world = self.game.new_world()
        if "state" in options:
            self.world.restore(options["state"])
        self._last_reply = self.game.intro
        return world_observation(self.world, self.game.intro, self.world.valid_actions())

    def _game_status(self) -> tuple[str, int, int, list[str]]:
        return self._last_reply, self.world.score, self.game.max_score, self.world.valid_actions()

    def _play(self, action: str, answer: str | None):
        before = self.world.score
        reply = self.world.do(action)
        self._last_reply = f"> {action}\n{reply}"
        terminated = self.world.over is not None
        truncated = not terminated and self._turn + 1 >= self.max_steps
        if terminated:
            self._finish(self.world.over == "won")
        actions = self.world.valid_actions()
        observation = world_observation(self.world, self._last_reply, actions)
        return observation, self.world.score - before, terminated, truncated, self._status_info()

    def _reveal(self) -> dict[str, Any]:
        culprit = self.game.culprit
        return {
            "target": self.game.name(culprit) if culprit else None,
            "state": self.world.state,
        }
