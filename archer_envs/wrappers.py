"""Candidate actions: a question game as a classic RL env, for stable-baselines3, CleanRL & co.

Classic RL libraries need a fixed set of actions and a fixed-size numeric observation; a text
game has neither. ``CandidateActions`` wraps Twenty Questions (full or Subset) or Guess My City
into ``Discrete(len(menu))`` actions with a ``MultiDiscrete`` observation:

    env = CandidateActions(gym.make("archer/TwentyQuestionsSubset-v0"))
    env.menu[:2]      # ['Is it alive?', 'Does it come from a plant?'] (the expert's wordings)
    observation, info = env.reset(seed=0)   # array([0, 0, ..., 0]): nothing asked yet
    observation, reward, terminated, truncated, info = env.step(3)   # says env.menu[3]

**The menu** (``menu_for``) is the env's own utterances, those of its scripted expert: every
question in the expert's pool that splits the targets (one per distinct split: of the wordings
that give the same answer for every target the first is kept, and a question with the same
answer for all of them, which can tell nothing apart, is left out), then a guess of every target
in the env's order ("Is it a dog?", "Is it Paris?"). Twenty Questions Subset: 53 questions + 10
guesses; Twenty Questions: 465 + 157; Guess My City: 151 + 100. Detective is not wrapped: its
commands depend on the state (``info["valid_actions"]``) and its state is not a list of answers.

**The observation** has one entry per menu utterance: 0 not asked, 1 answered yes, 2 answered
no, 3 any other answer ("Invalid Question.", an open answer, "I'm not sure about that."); and
last the number of turns taken (0 to ``max_turns``). It is read from the text observation (the
transcript), by ``encode``, so that an agent trained on the wrapper plays the text env itself
from its transcripts (``archer_agents.sb3``'s ``MenuAgent``). Rewards, episode ends and ``info``
are the text env's, and ``info`` says what the action said (``"utterance"``) and the text
observation itself (``"text_observation"``), for logs and trajectory records.
"""

from __future__ import annotations

import operator
import re
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

NOT_ASKED, YES, NO, OTHER = 0, 1, 2, 3
ANSWER_CODES = 4


def answer_code(answer: str) -> int:
    """``YES`` or ``NO`` when the answer's first word says so ("Yes.", "No, it is not."),
    ``OTHER`` for anything else ("Invalid Question.", "Not sure.", an open answer)."""
    found = re.match(r"\W*(yes|no)\b", answer, flags=re.IGNORECASE)
    if found is None:
        return OTHER
    return YES if found[1].lower() == "yes" else NO


def menu_for(env: gym.Env) -> list[str]:
    """The utterances of ``env`` (a gym.make'd env or its ``unwrapped``) as a menu: its scripted
    expert's informative questions, one per split of the targets, then a guess of every
    target (module docstring). A ValueError for an env that has none."""
    from archer_envs.guess_my_city.agents import CityExpert, _yes_no
    from archer_envs.guess_my_city.env import GuessMyCityEnv
    from archer_envs.twenty_questions.agents import GreedyExpert
    from archer_envs.twenty_questions.env import TwentyQuestionsEnv

    game = env.unwrapped
    if isinstance(game, TwentyQuestionsEnv):
        expert = GreedyExpert(game)
        split = expert.column
        guesses = [expert.guess(i) for i in range(len(expert.names))]
    elif isinstance(game, GuessMyCityEnv):
        expert = CityExpert(game)
        split = lambda question: _yes_no(expert.column(question))  # noqa: E731
        guesses = list(expert.guesses)
    else:
        raise ValueError(
            f"CandidateActions wraps Twenty Questions and Guess My City (a fixed list of targets"
            f" and questions), not {type(game).__name__}"
        )
    by_split: dict[tuple, str] = {}
    for question in expert.questions:
        answers = tuple(split(question))
        if len(set(answers)) > 1:
            by_split.setdefault(answers, question)
    return [*by_split.values(), *guesses]


class CandidateActions(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A question game with ``Discrete(len(menu))`` actions and a ``MultiDiscrete``
    observation of the answers so far (module docstring). ``menu`` defaults to
    ``menu_for(env)``; every entry must be a question (ending in "?"), as the transcript is
    read by splitting its lines after a question mark."""

    def __init__(self, env: gym.Env, menu: list[str] | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, menu=menu)  # gym.make can rebuild it
        super().__init__(env)
        self.menu = list(menu_for(env) if menu is None else menu)
        bad = [utterance for utterance in self.menu if not utterance.endswith("?")]
        if not self.menu or bad or len(set(self.menu)) < len(self.menu):
            raise ValueError(f"a menu is distinct questions ending in '?': {bad[:3] or self.menu}")
        self.index = {utterance: i for i, utterance in enumerate(self.menu)}
        self.max_turns = env.unwrapped.max_turns
        self.action_space = spaces.Discrete(len(self.menu))
        self.observation_space = spaces.MultiDiscrete(
            [ANSWER_CODES] * len(self.menu) + [self.max_turns + 1]
        )

    def encode(self, transcript: str) -> np.ndarray:
        """The numeric observation of a text observation ("Questions:\\n" then one
        "{question} {answer}" line per turn); lines that are no menu question count as
        turns only."""
        observation = np.zeros(len(self.menu) + 1, dtype=np.int64)
        lines = [line for line in transcript.split("\n")[1:] if line]
        for line in lines:
            for end in (m.end() for m in re.finditer(r"\? ", line)):
                found = self.index.get(line[: end - 1])
                if found is not None:
                    observation[found] = answer_code(line[end:])
                    break
        observation[-1] = min(len(lines), self.max_turns)
        return observation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        transcript, info = self.env.reset(seed=seed, options=options)
        return self.encode(transcript), {**info, "text_observation": transcript}

    def step(self, action):
        try:
            index = operator.index(action)  # an int, a numpy integer or a 0-d integer array
        except TypeError:
            index = -1
        if not 0 <= index < len(self.menu):
            raise ValueError(f"action must be an int in [0, {len(self.menu)}), got {action!r}")
        utterance = self.menu[index]
        transcript, reward, terminated, truncated, info = self.env.step(utterance)
        info = {**info, "utterance": utterance, "text_observation": transcript}
        return self.encode(transcript), reward, terminated, truncated, info
