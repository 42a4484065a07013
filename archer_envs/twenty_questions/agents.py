"""Twenty Questions' scripted reference agents: random, greedy information gain (the expert),
wasteful questioners (stand-ins for the paper's LLM behaviour-cloning data) and, for small object
lists, the exact optimal policy. They use the knowledge base, never the hidden target."""

from __future__ import annotations

import functools
import itertools

from archer_envs.core import check_epsilon
from archer_envs.question_game import HEADER, YES, QuestionGameAgent
from archer_envs.twenty_questions.env import TwentyQuestionsEnv
from archer_envs.twenty_questions.knowledge import ANSWERS, KnowledgeBaseOracle


def parse_turns(observation: str) -> list[tuple[str, str]]:
    """The (question, answer) turns of an observation."""
    turns = []
    for line in observation.split("\n")[1:]:
        for answer in ANSWERS:
            if line.endswith(" " + answer):
                turns.append((line[: -len(answer) - 1], answer))
                break
    return turns


def transcript(turns: list[tuple[str, str]]) -> str:
    """The observation that shows ``turns`` (inverse of ``parse_turns``)."""
    return HEADER + "".join(f"{q} {a}\n" for q, a in turns)


class KnowledgeAgent(QuestionGameAgent):
    """A scripted agent of the env's objects; questions: the knowledge base's own."""

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None):
        if env.knowledge is None:
            raise ValueError("scripted agents need a knowledge base for the env's objects")
        super().__init__(
            names=[o.name for o in env.knowledge.objects],
            questions=[p.question for p in env.knowledge.properties.values()],
            oracle=KnowledgeBaseOracle(env.knowledge, env.parser),
            seed=seed,
        )
        self.knowledge = env.knowledge
        self.parser = env.parser

    def turns(self, observation: str) -> list[tuple[str, str]]:
        return parse_turns(observation)

    def guess(self, index: int) -> str:
        return f"Is it a {self.names[index].lower()}?"


class RandomQuestioner(KnowledgeAgent):
    """Each turn a uniformly random action among the knowledge base's questions and the guesses
    of every object: the floor learning agents must beat."""

    def act_one(self, observation: str) -> str:
        return self.random_action()


class GreedyExpert(KnowledgeAgent):
    """Greedy information gain over the knowledge base: ask the question whose yes/no split of
    the remaining candidates is most even, guess when at most two remain. With probability
    ``epsilon`` a turn is wasted on a random question or an early random guess instead: the
    knob that makes sub-optimal behaviour-cloning data."""

    def __init__(self, env: TwentyQuestionsEnv, seed: int | None = None, epsilon: float = 0.0):
        super().__init__(env, seed)
        self.epsilon = check_epsilon(epsilon)

    def act_one(self, observation: str) -> str:
        candidates = self.candidates(observation)
        wasted = self.wasted_turn(candidates, self.epsilon)
        if wasted is not None:
            return wasted
        if len(candidates) <= 2:
            return self.guess(candidates[0])
        asked = {q for q, _ in parse_turns(observation)}
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


class WastefulQuestioner(KnowledgeAgent):
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

    def __init__(
        self,
        env: TwentyQuestionsEnv,
        seed: int | None = None,
        splitter_share: float = 0.25,
        max_confirmations: int = 3,
    ):
        super().__init__(env, seed)
        if max_confirmations < 0 or not 0.0 <= splitter_share <= 1.0:
            raise ValueError(
                f"max_confirmations must be ≥ 0 and splitter_share in [0, 1], got"
                f" {max_confirmations} and {splitter_share}"
            )
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
            if slot not in self.personas or not parse_turns(observation):
                splitter = bool(self.rng.random() < self.splitter_share)
                confirmations = int(self.rng.integers(self.max_confirmations + 1))
                self.personas[slot] = (splitter, confirmations)
            actions.append(self.act_one(observation, *self.personas[slot]))
        return actions

    def act_one(self, observation: str, splitter: bool = False, confirmations: int = 0) -> str:
        turns = parse_turns(observation)
        candidates = self.candidates(observation)
        asked = {q for q, _ in turns}
        unasked = [q for q in self.questions if q not in asked]
        if len(candidates) == 1:
            known = sum(len(self.candidates(transcript(turns[:k]))) == 1 for k in range(len(turns)))
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


class OptimalAgent(KnowledgeAgent):
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
        wasted = sum(part.bit_count() * (1 + self._value(part)[0]) for part in by_answer.values())
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
