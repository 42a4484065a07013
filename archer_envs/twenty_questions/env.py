"""Twenty Questions: the environment, its guess rule and its LLM oracle prompt."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from archer_envs.oracles.base import Oracle, Prompt, make_oracle
from archer_envs.oracles.english import normalise
from archer_envs.question_game import NO, YES, QuestionGameEnv
from archer_envs.twenty_questions.knowledge import (
    INVALID,
    KnowledgeBase,
    KnowledgeBaseOracle,
    QuestionParser,
    default_knowledge_base,
)

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


_UNSURE = re.compile(
    r"\b(?:do not|don't|dont) know\b|\bnot sure\b|\bunsure\b|"
    r"\b(?:can't|cannot|can not) (?:tell|say)\b"
)
_NOT = re.compile(r"n't\b")
_WORD = re.compile(r"[a-z]+")


def normalise_answer(reply: str) -> str:
    """An oracle's free-text reply as "Yes.", "No." or "Invalid Question.": the first word that
    says yes or no decides ("No, it is not." -> "No."); "I don't know" and replies with neither
    are invalid. (Upstream tested substrings, so that "know" or "not" counted as No.)"""
    if reply in (YES, NO, INVALID):
        return reply  # already one of them (the knowledge-base oracle's replies)
    text = _UNSURE.sub(" invalid ", reply.lower())
    text = _NOT.sub(" not", text)
    for word in _WORD.findall(text):
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
