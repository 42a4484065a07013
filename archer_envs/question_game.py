"""The game Twenty Questions and Guess My City share: find a hidden target by asking questions.

The observation is ``"Questions:\\n"`` then one ``"{question} {answer}\\n"`` line per turn, as
upstream; −1 for every turn that is not a correct guess, 0 for the correct guess, terminated on
it or after ``max_turns`` questions. A subclass holds the targets (``objects``: a tuple of names
per target, the canonical name first) and decides what a correct guess is, how a name given in
``reset(options={"target": ...})`` is looked up, and how an oracle's reply is cleaned.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from archer_envs.core import OBSERVATION_MAX_LENGTH, TextEnv, fit_transcript
from archer_envs.oracles.base import Query

HEADER = "Questions:\n"
YES, NO = "Yes.", "No."  # what both games answer to a yes/no question


class QuestionGameEnv(TextEnv):
    """Base class: the turns, the reset options, the oracle query and the reward."""

    objects: tuple[tuple[str, ...], ...]
    kind = "object"  # what a target is called in error messages

    def __init__(self, max_turns: int, render_mode: str | None = None):
        super().__init__(render_mode)
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive int, got {max_turns!r}")
        self.max_turns = max_turns
        self._target = 0
        self._turns: list[tuple[str, str]] = []

    # --- what a game decides ---------------------------------------------------------------------
    @abc.abstractmethod
    def _is_correct_guess(self, question: str) -> bool:
        """Whether the question is a correct guess of the hidden target."""

    @abc.abstractmethod
    def _find_target(self, name: str) -> int | None:
        """The index of the target called ``name`` (any of its names), or None."""

    @abc.abstractmethod
    def _clean_answer(self, answer: str) -> str:
        """The oracle's reply as the agent may see it."""

    # --- the game --------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        """The canonical name of the hidden target (for tests and oracles, not for agents)."""
        return self.objects[self._target][0]

    def episode_options(self) -> list[dict[str, int]]:
        """One reset option per target: the fixed episode list of an evaluation."""
        return [{"index": i} for i in range(len(self.objects))]

    def training_options(self) -> list[dict[str, int]]:
        """The reset options a trainer starts episodes from: every target, as in the paper
        (the game has no held-out targets)."""
        return self.episode_options()

    def _start(self, options: dict[str, Any]) -> str:
        unknown = set(options) - {"target", "index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'target' or 'index'")
        if "target" in options:
            found = self._find_target(str(options["target"]))
            if found is None:
                raise ValueError(
                    f"no {self.kind} called {options['target']!r}; names: "
                    + ", ".join(n[0] for n in self.objects[:12])
                    + ", ..."
                )
            self._target = found
        elif "index" in options:
            index = options["index"]
            if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.objects):
                raise ValueError(f"index must be an int in [0, {len(self.objects)}), got {index!r}")
            self._target = int(index)
        else:
            self._target = int(self.np_random.integers(len(self.objects)))
        self._turns = []
        return HEADER

    def oracle_query(self, action: str) -> Query | None:
        if self._is_correct_guess(action):
            return None  # the env knows the answer; no oracle call
        return Query(self.target, action, tuple(self._turns))

    def _play(self, action: str, answer: str | None):
        solved = self._is_correct_guess(action)
        answer = YES if solved else self._clean_answer(answer or "")
        self._turns.append((action, answer))
        terminated = solved or len(self._turns) >= self.max_turns
        if terminated:
            self._finish(solved)
        lines = [f"{question} {reply}" for question, reply in self._turns]
        observation = fit_transcript(HEADER, lines, OBSERVATION_MAX_LENGTH)
        return observation, 0.0 if solved else -1.0, terminated, False, {"answer": answer}

    def _reveal(self) -> dict[str, Any]:
        return {"target": self.target}


class QuestionGameAgent(abc.ABC):
    """What the two question games' scripted agents share: the targets' names, the questions
    they ask and a knowledge-base oracle (``answer_one(name, question)``) that tells which
    targets agree with a transcript. They see only the observation, never the hidden target.

    A game says how it reads a transcript (``turns``), how it words a guess (``guess``) and
    each agent how it picks one action (``act_one``)."""

    def __init__(
        self,
        names: list[str],
        questions: list[str],
        oracle: Any,
        seed: int | None,
        columns: dict[str, np.ndarray] | None = None,
    ):
        self.names = names
        self.questions = questions
        self.oracle = oracle
        self._columns = {} if columns is None else columns
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def turns(self, observation: str) -> list[tuple[str, str]]:
        """The (question, answer) turns of an observation."""

    @abc.abstractmethod
    def guess(self, index: int) -> str:
        """The question that guesses target ``index``."""

    @abc.abstractmethod
    def act_one(self, observation: str) -> str:
        """The next question for one episode."""

    def disagrees(self, column: np.ndarray, answer: str) -> np.ndarray:
        """Which targets would not have given ``answer`` (their answers: ``column``)."""
        return column != answer

    def column(self, question: str) -> np.ndarray:
        """The knowledge base's answer to ``question`` for every target."""
        column = self._columns.get(question)
        if column is None:
            column = np.array([self.oracle.answer_one(name, question) for name in self.names])
            self._columns[question] = column
        return column

    def candidates(self, observation: str) -> list[int]:
        """Targets whose answers agree with the transcript; if none agrees (an LLM oracle may
        err), those with the fewest disagreements."""
        errors = np.zeros(len(self.names), dtype=int)
        for question, answer in self.turns(observation):
            errors += self.disagrees(self.column(question), answer)
        return np.flatnonzero(errors == errors.min()).tolist()

    def random_action(self) -> str:
        """A uniformly random action among the questions and the guesses of every target."""
        if self.rng.random() < len(self.names) / (len(self.names) + len(self.questions)):
            return self.guess(int(self.rng.integers(len(self.names))))
        return self.questions[int(self.rng.integers(len(self.questions)))]

    def wasted_turn(self, candidates: list[int], epsilon: float) -> str | None:
        """With probability ``epsilon``, a random question or an early random guess (the knob
        that makes sub-optimal behaviour-cloning data); else None."""
        if not (epsilon and self.rng.random() < epsilon):
            return None
        if self.rng.random() < 0.5:
            return self.guess(int(self.rng.choice(candidates)))
        return self.questions[int(self.rng.integers(len(self.questions)))]

    def act(self, observations: list[str | None]) -> list[str | None]:
        return [None if obs is None else self.act_one(obs) for obs in observations]
