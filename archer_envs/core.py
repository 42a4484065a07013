"""TextEnv: the base class every archer-gym environment builds on.

It owns what all text games share: the Text spaces and their charset, the episode bookkeeping
(reset before step, no step after the end), action clean-up, the JSON-serialisable ``info`` that
never reveals the hidden target before the end, rendering, and the hook through which a vector
env answers the oracle queries of all its sub-envs in one batch.
"""

from __future__ import annotations

import abc
import difflib
import string
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.error import ResetNeeded
from gymnasium.spaces import Text
from gymnasium.vector import SyncVectorEnv
from gymnasium.vector.utils import create_shared_memory

from archer_envs.oracles.base import Oracle, Query

# One ordered, printable charset shared by every observation and action space: newline, space
# and the printable ASCII characters in code-point order (the order Gymnasium restores when a
# Text space crosses a process boundary, so AsyncVectorEnv's shared memory agrees on it).
CHARSET = "".join(sorted(string.digits + string.ascii_letters + string.punctuation + " \n"))
OBSERVATION_MAX_LENGTH = 8192
ACTION_MAX_LENGTH = 256

_CHARSET_SET = frozenset(CHARSET)
_ASCII_LOOKALIKES = str.maketrans(
    {
        "\t": " ",
        "\r": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)


def data_path(*parts: str) -> Path:
    """Path of a file under data/, from an installed wheel or from a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for root in (package_dir / "data", package_dir.parent / "data"):
        if root.is_dir():
            return root.joinpath(*parts)
    raise FileNotFoundError(
        f"archer-gym data folder not found next to {package_dir}; reinstall the package"
    )


def to_charset(text: str) -> str:
    """Map any string into CHARSET: accents dropped, typographic quotes made ASCII, control
    characters become spaces and anything else unprintable becomes '?'."""
    if _CHARSET_SET.issuperset(text):
        return text
    out = []
    for char in text.translate(_ASCII_LOOKALIKES):
        if char in _CHARSET_SET:
            out.append(char)
        elif unicodedata.category(char).startswith(("C", "Z")):
            out.append(" ")
        else:
            ascii_part = "".join(
                c for c in unicodedata.normalize("NFKD", char) if c in _CHARSET_SET
            )
            out.append(ascii_part or "?")
    return "".join(out)


def clean_action(action: Any, max_length: int = ACTION_MAX_LENGTH) -> tuple[str, bool]:
    """The text an env acts on: the first non-empty line of ``action``, mapped into CHARSET and cut
    to ``max_length``. Returns the text and whether anything was cut."""
    if not isinstance(action, str):
        raise TypeError(
            f"actions must be str (one line of text), got {type(action).__name__}: {action!r:.80}"
        )
    lines = [line.strip() for line in to_charset(action).split("\n")]
    non_empty = [line for line in lines if line]
    text = non_empty[0] if non_empty else ""
    cut = len(non_empty) > 1
    if len(text) > max_length:
        text, cut = text[:max_length].rstrip(), True
    return text, cut


def fit_transcript(header: str, lines: Sequence[str], max_length: int) -> str:
    """``header`` followed by ``lines`` (each ending with a newline), dropping the oldest lines
    until it fits in ``max_length`` characters."""
    kept = len(lines)
    total = len(header) + sum(map(len, lines)) + kept
    while total > max_length and kept > 0:
        total -= len(lines[len(lines) - kept]) + 1
        kept -= 1
    text = header + "".join([line + "\n" for line in lines[len(lines) - kept :]])
    return text[:max_length]


class TextObservations(Text):
    """The Text space of the observations. Gymnasium's shared memory (AsyncVectorEnv's
    default) decodes a Text buffer into strings once, when it is created, and then hands out
    those strings after every step: 8,192 newlines. An async vector env of these envs therefore
    refuses shared memory with one clear error rather than return stale observations."""


@create_shared_memory.register(TextObservations)
def _refuse_shared_memory(space: TextObservations, n: int = 1, ctx: Any = None):
    raise ValueError(
        "archer-gym's text observations cannot go through Gymnasium's shared memory (it would "
        "return the same stale strings after every step): make the async vector env with "
        "vector_kwargs={'shared_memory': False}, or use vectorization_mode='sync'"
    )


def check_epsilon(epsilon: float) -> float:
    """A scripted agent's ``epsilon`` (the share of wasted turns), checked to be in [0, 1]."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    return epsilon


def check_env_id(env_id: str) -> None:
    """A ValueError in one line for an id Gymnasium does not know, naming the closest one."""
    if env_id in gym.registry:
        return
    known = sorted(name for name in gym.registry if name.startswith("archer/"))
    close = difflib.get_close_matches(env_id, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"unknown environment {env_id!r}{hint}; the archer-gym ids: {', '.join(known)}"
    )


class TextEnv(gym.Env[str, str], abc.ABC):
    """Base class of the archer-gym text environments.

    Subclasses implement ``_start(options) -> observation``, ``_play(action, answer) ->
    (observation, reward, terminated, truncated, extra_info)``, ``_reveal() -> dict`` (what the
    info holds once the episode is over) and, if they ask an oracle, ``oracle_query(action)``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}
    task_description = ""

    def __init__(self, render_mode: str | None = None):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.observation_space = TextObservations(
            OBSERVATION_MAX_LENGTH, min_length=0, charset=CHARSET
        )
        self.action_space = Text(ACTION_MAX_LENGTH, min_length=0, charset=CHARSET)
        self.oracle: Oracle | None = None
        self._observation = ""
        self._turn = 0
        self._status = "new"  # "new" | "running" | "over"
        self._success = False
        self._prefetched: tuple[Query, str] | None = None

    # --- the hooks a game implements -----------------------------------------------------------
    @abc.abstractmethod
    def _start(self, options: dict[str, Any]) -> str:
        """Begin an episode (randomness from ``self.np_random``); return the first observation."""

    @abc.abstractmethod
    def _play(self, action: str, answer: str | None) -> tuple[str, float, bool, bool, dict]:
        """Play one cleaned action; ``answer`` is the oracle's reply to ``oracle_query(action)``."""

    def _reveal(self) -> dict[str, Any]:
        return {}

    def oracle_query(self, action: str) -> Query | None:
        """The question this (cleaned) action puts to the oracle, or None if the env answers it
        itself. A vector env calls this for all sub-envs, answers the queries in one batch and
        hands each answer back through ``supply_answer``."""
        return None

    # --- the Gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._turn = 0
        self._success = False
        self._prefetched = None
        self._observation = to_charset(self._start(dict(options or {})))
        self._status = "running"
        info = {"turn": 0, "success": False, "task": self.task_description}
        if self.render_mode == "human":
            self.render()
        return self._observation, info

    def step(self, action: str):
        text, cut = clean_action(action, self.action_space.max_length)
        self._require_running()
        query = self.oracle_query(text)
        answer = None
        if query is not None:
            if self._prefetched is not None and self._prefetched[0] == query:
                answer = self._prefetched[1]
            else:
                answer = self._ask([query])[0]
        self._prefetched = None
        observation, reward, terminated, truncated, extra = self._play(text, answer)
        self._turn += 1
        self._observation = to_charset(observation)
        info = {"turn": self._turn, "success": self._success, "action_cut": cut, **extra}
        if terminated or truncated:
            self._status = "over"
            info.update(self._reveal())
        if self.render_mode == "human":
            self.render()
        return self._observation, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        text = self._observation
        if self._status == "over":
            outcome = "solved" if self._success else "not solved"
            text += f"[episode over after {self._turn} turns: {outcome}; {self._reveal()}]\n"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    # --- batching ------------------------------------------------------------------------------
    def pending_query(self, action: str) -> Query | None:
        """The oracle query the next ``step(action)`` will make (None if it makes none)."""
        text, _ = clean_action(action, self.action_space.max_length)
        self._require_running()
        return self.oracle_query(text)

    def supply_answer(self, query: Query, answer: str) -> None:
        """Give the answer to the query of the next step, computed elsewhere in a batch."""
        self._prefetched = (query, answer)

    def _ask(self, queries: list[Query]) -> list[str]:
        if self.oracle is None:
            raise RuntimeError(f"{type(self).__name__} asked an oracle but has none")
        return self.oracle.answer(queries)

    def _require_running(self) -> None:
        if self._status == "new":
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")
        if self._status == "over":
            raise ResetNeeded(
                f"{type(self).__name__}: the episode is over (terminated or truncated); "
                "call reset() to start a new one"
            )

    def _finish(self, success: bool) -> None:
        """Record the outcome; called by a game from ``_play`` when the episode ends."""
        self._success = success


class TextVectorEnv(SyncVectorEnv):
    """A synchronous vector env of TextEnvs that share one oracle: each step first collects the
    sub-envs' oracle queries and answers them in one batched call (one forward pass of a local
    model, concurrent requests to an API), then steps the sub-envs."""

    def __init__(self, env_class: type[TextEnv], num_envs: int, **kwargs: Any):
        max_episode_steps = kwargs.pop("max_episode_steps", None)
        first = env_class(**kwargs)
        shared = shared_oracle_kwargs(first, kwargs)

        def make(index: int) -> Callable[[], gym.Env]:
            def build() -> gym.Env:
                env = first if index == 0 else env_class(**shared)
                if max_episode_steps is not None:
                    env = gym.wrappers.TimeLimit(env, max_episode_steps)
                return env

            return build

        super().__init__([make(i) for i in range(num_envs)])

    def step(self, actions):
        actions = tuple(actions)
        answer_in_batch(
            [env.unwrapped for i, env in enumerate(self.envs) if not self._autoreset_envs[i]],
            [a for i, a in enumerate(actions) if not self._autoreset_envs[i]],
        )
        return super().step(actions)


def make_text_vector_env(entry_point: str, num_envs: int, **kwargs: Any) -> TextVectorEnv:
    """The ``gymnasium.make_vec`` entry point of every archer-gym id (registered as
    ``functools.partial(make_text_vector_env, "module:EnvClass")``): a ``TextVectorEnv`` of
    the env class, imported only when a vector env is made."""
    return TextVectorEnv(gym.envs.registration.load_env_creator(entry_point), num_envs, **kwargs)


def shared_oracle_kwargs(first: TextEnv, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The kwargs that build more envs like ``first`` sharing its oracle (envs without an
    oracle, such as text adventures, take ``kwargs`` unchanged)."""
    if first.oracle is None:
        return dict(kwargs)
    return {**kwargs, "oracle": first.oracle, "oracle_kwargs": None}


def answer_in_batch(envs: Sequence[TextEnv], actions: Sequence[str]) -> None:
    """Answer the oracle queries that ``env.step(action)`` is about to make, one batched call per
    oracle, and hand each env its answer; the following steps then make no oracle call."""
    pending: dict[int, tuple[Oracle, list[tuple[TextEnv, Query]]]] = {}
    for env, action in zip(envs, actions, strict=True):
        query = env.pending_query(action)
        if query is not None:
            pending.setdefault(id(env.oracle), (env.oracle, []))[1].append((env, query))
    for oracle, items in pending.values():
        answers = oracle.answer([query for _, query in items])
        for (env, query), answer in zip(items, answers, strict=True):
            env.supply_answer(query, answer)
