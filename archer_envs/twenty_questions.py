"""Twenty Questions: the environment, its guess rule, and its scripted reference agents."""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from archer_envs.oracles.base import Oracle, Prompt, make_oracle
from archer_envs.oracles.knowledge_base import (
    ANSWERS,
    INVALID,
    NO,
    YES,
    KnowledgeBase,
    KnowledgeBaseOracle,
    QuestionParser,
    default_knowledge_base,
    normalise,
)
from archer_envs.question_game import HEADER, QuestionGameEnv

# The 10 objects of ArCHer's Twenty Questions Subset: indices 1, 11, ..., 91 of the 157.
SUBSET = (
    "Football",
    "Dog",
    "Banana",
    "Truck",
    "Pants",
    "Computer",
    "Piano",
    "Chair",
    "Pen",
    "Scissors",
)

# LMRL-Gym's oracle prompt for chat models; the upstream flan-t5 input for local models.
PROMPT = Prompt(
    chat=lambda q: [
        {
            "role": "user",
            "content": "Answer the question about the object truthfully.\n"
            f"object: {q.target}\nquestion: {q.question}\nanswer (yes or no): ",
        }
    ],
    text=lambda q: f"The object is {q.target.lower()}." + q.question,
    max_tokens=16,
)


def normalise_answer(reply: str) -> str:
    """An oracle's free-text reply as "Yes.", "No." or "Invalid Question.": the first word that
    says yes or no decides ("No, it is not." -> "No."); "I don't know" and replies with neither
    are invalid. (Upstream tested substrings, so that "know" or "not" counted as No.)"""
    text = re.sub(
        r"\b(?:do not|don't|dont) know\b|\bnot sure\b|\bunsure\b|"
        r"\b(?:can't|cannot|can not) (?:tell|say)\b",
        " invalid ",
        reply.lower(),
    )
    text = re.sub(r"n't\b", " not", text)
    for word in re.findall(r"[a-z]+", text):
        if word in ("yes", "yeah", "yep", "correct", "true"):
            return YES
        if word in ("no", "nope", "not", "false", "incorrect"):
            return NO
        if word == "invalid":
            return INVALID
    return INVALID


def _object_names(entries: Sequence[Any]) -> list[tuple[str, ...]]:
    names = []
    for entry in entries:
        if isinstance(entry, str):
            names.append(tuple(n.strip() for n in entry.split(";") if n.strip()))
        elif isinstance(entry, dict) and "names" in entry:
            names.append(tuple(entry["names"]))
        else:
            raise TypeError(
                f"objects must be names ('Cat;Kitten') or knowledge dicts, got {entry!r}"
            )
        if not names[-1]:
            raise ValueError("an object needs at least one name")
    return names


@functools.cache
def _knowledge_for(names: tuple[tuple[str, ...], ...]) -> KnowledgeBase | None:
    """The default knowledge base restricted to ``names`` (None if it lacks one of them)."""
    full = default_knowledge_base()
    indices = [full.find(group[0]) for group in names]
    if any(i is None for i in indices):
        return None
    return replace(full, objects=tuple(full.objects[i] for i in indices))


@functools.cache
def _parser_for(names: tuple[tuple[str, ...], ...], knowledge: KnowledgeBase | None):
    return QuestionParser(names, knowledge)


class TwentyQuestionsEnv(QuestionGameEnv):
    """Twenty Questions: find the hidden object by asking yes/no questions.

    ## Description
    The oracle thinks of an object (157 everyday objects in 17 categories, as in ArCHer; the
    Subset version uses its 10). The agent asks one question per turn and sees the transcript.

    ## Action Space
    ``Text(256)``: one question (the first non-empty line; longer text is cut, see
    ``info["action_cut"]``). Any string is a legal move.

    ## Observation Space
    ``Text(8192)``: ``"Questions:\\n"`` then one ``"{question} {answer}\\n"`` line per turn, as
    upstream. Answers are exactly "Yes.", "No." or "Invalid Question." (for anything that is not a
    yes/no question about the object).

    ## Rewards
    -1 for every turn that is not a correct guess, 0 for the correct guess: the return is minus
    the number of questions asked before it, in [-20, 0].

    ## Guess rule
    A correct guess is a yes/no identity question that names the hidden object by any of its
    names, multi-word names included ("Is it a soccer ball?", "Are you thinking of a pair of
    shoes?", "lawn mower?"), and names nothing else. A question naming several objects ("Is it a
    cat or a dog?") or comparing with one ("Is it bigger than a cat?") is not a guess: it is
    answered truthfully and costs a turn. Upstream's rule only looked at the last word, so seven
    objects with multi-word names could never be won.

    ## Episode End
    Terminated on the correct guess or after ``max_turns`` questions (both are game rules);
    never truncated by the env itself.

    ## Information
    ``turn``, ``success``, ``answer`` (the latest reply), ``action_cut``; ``task`` (a plain
    description for zero-shot agents) at reset; ``target`` only once the episode is over.

    ## Arguments
    - ``oracle``: "kb" (default: offline knowledge base), "openai:<model>", "hf:<name-or-path>"
      or an object with ``answer(queries)``; ``oracle_kwargs`` configure the LLM backends.
    - ``max_turns``: questions per episode (20).
    - ``objects``: your own list: names ("Cat;Kitten" for aliases; those of our knowledge base
      work with every oracle, others need an LLM oracle), a JSON knowledge file, or knowledge
      dicts in the format of data/twenty_questions/objects.json.
    - ``render_mode``: "ansi" or "human".

    ``reset(options={"target": name})`` picks the object by any of its names and
    ``options={"index": i}`` by position; otherwise it is drawn with the env's seeded RNG.

    ## References
    Zhou et al., ArCHer, ICML 2024 (arXiv 2402.19446); Abdulhai et al., LMRL-Gym (2311.18232).

    ## Version History
    - v0: initial release.
    """

    def __init__(
        self,
        oracle: str | Oracle = "kb",
        oracle_kwargs: dict[str, Any] | None = None,
        max_turns: int = 20,
        objects: Sequence[Any] | str | os.PathLike | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns, render_mode)
        knowledge: KnowledgeBase | None
        if objects is None:
            knowledge = default_knowledge_base()
            names = tuple(o.names for o in knowledge.objects)
            parser = _parser_for(names, knowledge)
        elif isinstance(objects, (str, os.PathLike)) or (
            objects and isinstance(objects[0], dict) and "yes" in objects[0]
        ):
            knowledge = KnowledgeBase.load(objects)
            names = tuple(o.names for o in knowledge.objects)
            parser = QuestionParser(names, knowledge)
        else:
            names = tuple(_object_names(objects))
            knowledge = _knowledge_for(names)
            if knowledge is not None:
                names = tuple(o.names for o in knowledge.objects)
            elif oracle == "kb":
                unknown = [n[0] for n in names if default_knowledge_base().find(n[0]) is None]
                raise ValueError(
                    f"the knowledge-base oracle knows nothing about {unknown[:5]}: supply "
                    "knowledge in the format of data/twenty_questions/objects.json, or use an "
                    "LLM oracle (oracle='openai:<model>' or 'hf:<path>')"
                )
            parser = _parser_for(names, knowledge)
        if not names:
            raise ValueError("objects is empty")
        self.objects = names
        self.knowledge = knowledge
        self.parser = parser
        self.oracle = make_oracle(
            oracle,
            knowledge_base=lambda: KnowledgeBaseOracle(knowledge, self.parser),
            prompt=PROMPT,
            options=oracle_kwargs,
        )
        self.task_description = (
            "Let's play Twenty Questions. I am thinking of an object: an everyday thing, an "
            "animal, a food or a natural feature. Ask yes/no questions to find out what it is, "
            'one question per turn. I answer "Yes.", "No." or "Invalid Question." (for anything '
            f"that is not a yes/no question about the object). You have {max_turns} questions. "
            'You win by asking about the object itself by name, e.g. "Is it a bicycle?"; a '
            "question naming several objects is not a guess. Reply with your next question only."
        )

    def _find_target(self, name: str) -> int | None:
        return self.parser._names.get(normalise(name))

    def _is_correct_guess(self, question: str) -> bool:
        return self.parser.parse(question).guess == self._target

    def _clean_answer(self, answer: str) -> str:
        return normalise_answer(answer)


def make_vector_env(num_envs: int, **kwargs: Any):
    """``gymnasium.make_vec`` entry point: sub-envs share one oracle and each step's questions
    are answered in one batched call."""
    from archer_envs.core import TextVectorEnv

    return TextVectorEnv(TwentyQuestionsEnv, num_envs, **kwargs)


# --- scripted reference agents -------------------------------------------------------------------
def parse_transcript(observation: str) -> list[tuple[str, str]]:
    """The (question, answer) turns of an observation."""
    turns = []
    for line in observation.split("\n")[1:]:
        for answer in ANSWERS:
            if line.endswith(" " + answer):
                turns.append((line[: -len(answer) - 1], answer))
                break
    return turns


class _KnowledgeAgent:
    """Shared state of the scripted agents: the env's objects and a knowledge-base oracle that
    tells which objects are consistent with a transcript. They see only the observation."""

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None):
        if env.knowledge is None:
            raise ValueError("scripted agents need a knowledge base for the env's objects")
        self.knowledge = env.knowledge
        self.names = [o.name for o in env.knowledge.objects]
        self.parser = env.parser
        self.oracle = KnowledgeBaseOracle(env.knowledge, env.parser)
        self.questions = [p.question for p in env.knowledge.properties.values()]
        self.rng = np.random.default_rng(seed)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (agents live as long as their run)
    def column(self, question: str) -> np.ndarray:
        """The knowledge base's answer to ``question`` for every object."""
        return np.array([self.oracle.answer_one(name, question) for name in self.names])

    def candidates(self, observation: str) -> list[int]:
        """Objects whose answers agree with the transcript; if none agrees (an LLM oracle may
        err), those with the fewest disagreements."""
        errors = np.zeros(len(self.names), dtype=int)
        for question, answer in parse_transcript(observation):
            errors += self.column(question) != answer
        return np.flatnonzero(errors == errors.min()).tolist()

    def guess(self, index: int) -> str:
        return f"Is it a {self.names[index].lower()}?"

    def act(self, observations: list[str | None]) -> list[str | None]:
        return [None if obs is None else self.act_one(obs) for obs in observations]


class RandomQuestioner(_KnowledgeAgent):
    """Each turn a uniformly random action among the knowledge base's questions and the guesses
    of every object: the floor learning agents must beat."""

    def act_one(self, observation: str) -> str:
        if self.rng.random() < len(self.names) / (len(self.names) + len(self.questions)):
            return self.guess(int(self.rng.integers(len(self.names))))
        return self.questions[int(self.rng.integers(len(self.questions)))]


class GreedyExpert(_KnowledgeAgent):
    """Greedy information gain over the knowledge base: ask the question whose yes/no split of
    the remaining candidates is most even, guess when at most two remain. With probability
    ``epsilon`` a turn is wasted on a random question or an early random guess instead: the
    knob that makes sub-optimal behaviour-cloning data."""

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None, epsilon: float = 0.0):
        super().__init__(env, seed)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def act_one(self, observation: str) -> str:
        candidates = self.candidates(observation)
        if self.epsilon and self.rng.random() < self.epsilon:
            if self.rng.random() < 0.5:
                return self.guess(int(self.rng.choice(candidates)))
            return self.questions[int(self.rng.integers(len(self.questions)))]
        if len(candidates) <= 2:
            return self.guess(candidates[0])
        asked = {q for q, _ in parse_transcript(observation)}
        best, best_score = None, -1
        for question in self.questions:
            if question in asked:
                continue
            yes = int((self.column(question)[candidates] == YES).sum())
            score = min(yes, len(candidates) - yes)
            if score > best_score:
                best, best_score = question, score
        if best is None or best_score == 0:
            return self.guess(candidates[0])
        return best


class WastefulQuestioner(_KnowledgeAgent):
    """Consistent but wasteful questioners, the stand-in for the LLM conversations the paper's
    behaviour-cloning data came from (LMRL-Gym's: mean return −17.3 on the full game). Each
    episode draws a persona and keeps it:

    - its style: most often (``1 − splitter_share``) it narrows down one object at a time, in a
      fixed order of category questions whose Yes picks out one remaining candidate ("Is it
      alive?", "Is it food?", ...); otherwise it asks the question that splits the remaining
      candidates most evenly, the better move;
    - its caution: once one candidate is left, it asks that many questions it already knows
      the answer to (uniform in 0 .. ``max_confirmations``; "Does it bark?") before guessing,
      so an early right guess is in the data too.

    Personas are kept per slot of the batch and redrawn when a slot shows a new episode."""

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None,
                 splitter_share: float = 0.25, max_confirmations: int = 3):  # fmt: skip
        super().__init__(env, seed)
        if max_confirmations < 0 or not 0.0 <= splitter_share <= 1.0:
            raise ValueError(
                f"max_confirmations must be ≥ 0 and splitter_share in [0, 1], got"
                f" {max_confirmations} and {splitter_share}"
            )  # fmt: skip
        self.splitter_share, self.max_confirmations = splitter_share, max_confirmations
        # one question per distinct yes-set of the objects: the knowledge base's first wording
        splits: dict[tuple, str] = {}
        for question in self.questions:
            splits.setdefault(tuple(self.column(question)), question)
        self.questions = list(splits.values())
        self.personas: dict[int, tuple[bool, int]] = {}

    def act(self, observations: list[str | None]) -> list[str | None]:
        actions: list[str | None] = []
        for slot, observation in enumerate(observations):
            if observation is None:
                actions.append(None)
                continue
            if slot not in self.personas or not parse_transcript(observation):
                splitter = bool(self.rng.random() < self.splitter_share)
                confirmations = int(self.rng.integers(self.max_confirmations + 1))
                self.personas[slot] = (splitter, confirmations)
            actions.append(self.act_one(observation, *self.personas[slot]))
        return actions

    def act_one(self, observation: str, splitter: bool = False, confirmations: int = 0) -> str:
        turns = parse_transcript(observation)
        candidates = self.candidates(observation)
        asked = {q for q, _ in turns}
        unasked = [q for q in self.questions if q not in asked]
        if len(candidates) == 1:
            known = sum(len(self.candidates(_transcript(turns[:k]))) == 1
                        for k in range(len(turns)))  # fmt: skip
            if known < confirmations:
                for question in unasked:  # a question whose answer it already knows: Yes
                    if self.column(question)[candidates[0]] == YES:
                        return question
            return self.guess(candidates[0])
        splits = {q: int((self.column(q)[candidates] == YES).sum()) for q in unasked}
        if not splitter:
            for question in unasked:
                if splits[question] == 1:
                    return question
        best = max(unasked, key=lambda q: min(splits[q], len(candidates) - splits[q]))
        return best if 0 < splits[best] < len(candidates) else self.guess(candidates[0])


def _transcript(turns: list[tuple[str, str]]) -> str:
    """The observation that shows ``turns`` (inverse of ``parse_transcript``)."""
    return HEADER + "".join(f"{q} {a}\n" for q, a in turns)


class OptimalAgent(_KnowledgeAgent):
    """The exact optimal policy for small object lists (the Subset): dynamic programming over
    sets of remaining candidates, minimising the expected number of wasted turns. Its actions are
    the knowledge base's questions, single guesses and questions naming several objects
    ("Is it a dog or a pen?"), which the rules allow."""

    MAX_OBJECTS = 12

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None):
        super().__init__(env, seed)
        n = len(self.names)
        if n > self.MAX_OBJECTS:
            raise ValueError(
                f"the optimal agent solves at most {self.MAX_OBJECTS} objects, got {n}"
            )
        full = (1 << n) - 1
        # question for each split (the yes-set as a bitmask) the knowledge base can produce
        self._by_split: dict[int, str] = {}
        for question in self.questions:
            yes = sum(1 << i for i, a in enumerate(self.column(question)) if a == YES)
            self._by_split.setdefault(yes, question)
        self._value = functools.cache(self._solve)
        self._value(full)

    def _solve(self, mask: int) -> tuple[float, int, int, str]:
        """(expected wasted turns, 0 if a knowledge-base question makes the split else 1,
        yes-set of the best action, kind) for the candidate set ``mask``; ties prefer guesses
        and the knowledge base's own questions."""
        members = [i for i in range(len(self.names)) if mask >> i & 1]
        size = len(members)
        if size == 1:
            return 0.0, 0, mask, "guess"
        natural = {split & mask for split in self._by_split}
        best = (float("inf"), 1, 0, "")
        for i in members:  # guess one: right with probability 1/size
            value = (size - 1) / size * (1 + self._value(mask & ~(1 << i))[0])
            best = min(best, (round(value, 9), 0, 1 << i, "guess"))
        for r in range(1, size // 2 + 1):  # split into a yes-part and a no-part
            for part in itertools.combinations(members, r):
                yes = sum(1 << i for i in part)
                value = (
                    1 + (r * self._value(yes)[0] + (size - r) * self._value(mask & ~yes)[0]) / size
                )
                unnatural = 0 if (yes in natural or mask & ~yes in natural) else 1
                best = min(best, (round(value, 9), unnatural, yes, "split"))
        return best

    def expected_return(self) -> float:
        return -self._value((1 << len(self.names)) - 1)[0]

    def state_value(self, observation: str) -> float:
        """V*(s): the expected return of optimal play from this transcript on, the hidden object
        uniform over the candidates (undiscounted; the turn limit ignored)."""
        return -self._value(self._candidate_mask(observation))[0]

    def action_value(self, observation: str, action: str) -> float:
        """Q*(s, a): the expected return of saying ``action`` now and playing optimally after.
        The right guess ends the game (reward 0); any other utterance costs a turn and leaves the
        candidates that gave the same answer as the hidden object, so a refuted guess, a question
        asked before or nonsense is worth −1 + V*(s)."""
        candidates = self.candidates(observation)
        guess = self.parser.parse(action).guess
        answers = self.column(action)
        by_answer: dict[str, int] = {}
        for i in candidates:
            if i != guess:
                by_answer[answers[i]] = by_answer.get(answers[i], 0) | 1 << i
        wasted = sum(
            part.bit_count() * (1 + self._value(part)[0]) for part in by_answer.values()
        )  # fmt: skip
        return -wasted / len(candidates)

    def _candidate_mask(self, observation: str) -> int:
        return sum(1 << i for i in self.candidates(observation))

    def act_one(self, observation: str) -> str:
        mask = self._candidate_mask(observation)
        _, _, yes, kind = self._value(mask)
        if kind == "guess":
            return self.guess(yes.bit_length() - 1)
        for split, question in self._by_split.items():
            if split & mask in (yes, mask & ~yes):
                return question
        named = [self.names[i].lower() for i in range(len(self.names)) if yes >> i & 1]
        return "Is it a " + " or a ".join(named) + "?"


SCRIPTED_AGENTS = {
    "random": RandomQuestioner,
    "expert": GreedyExpert,
    "wasteful": WastefulQuestioner,
    "optimal": OptimalAgent,
}
