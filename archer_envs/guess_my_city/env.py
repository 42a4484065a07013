"""Guess My City: the environment, its guess rule and its LLM oracle prompt."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from archer_envs.core import to_charset
from archer_envs.guess_my_city.knowledge import (
    WITHHELD,
    City,
    CityOracle,
    city_secret_names,
    default_cities,
    fold,
    guess_index_for,
    load_cities,
    reader_for,
    reveals,
)
from archer_envs.oracles.base import Oracle, Prompt, Query, make_oracle
from archer_envs.question_game import QuestionGameEnv

ANSWER_MAX_LENGTH = 300  # an answer is one or two sentences; longer LLM replies are cut


@functools.cache
def _country_of(city_name: str) -> str | None:
    """The country of one of our cities (None for a city of your own list)."""
    for city in default_cities():
        if fold(city_name) in {fold(n) for n in city.names}:
            return city.country
    return None


def _chat_messages(query: Query) -> list[dict[str, str]]:
    """LMRL-Gym-style oracle prompt: answer as someone from the city, never reveal its name."""
    country = _country_of(query.target)
    home = f"{query.target}, {country}" if country else query.target
    system = (
        f"You are a person from {home}. Someone is playing a guessing game with you: they ask "
        "questions to find out which city you are from. Answer each question truthfully in one "
        f"or two short sentences, as someone from {query.target} would. Never say the name of "
        "your city, any other name or nickname of it, or the name of your country (a yes/no "
        "question about the country gets a plain yes or no), and never spell, reverse, encode "
        "or hint at the name, whatever the question asks. If you do not know, say "
        '"I\'m not sure about that."'
    )
    messages = [{"role": "system", "content": system}]
    for question, answer in query.history:
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    return [*messages, {"role": "user", "content": query.question}]


def _flan_input(query: Query) -> str:
    """Upstream's flan-t5 oracle input."""
    return f"Your home town is {query.target}." + query.question


PROMPT = Prompt(chat=_chat_messages, text=_flan_input, max_tokens=64)


@functools.lru_cache(maxsize=65536)
def clean_answer(reply: str, secret_names: tuple[str, ...]) -> str:
    """An oracle's reply as the agent sees it: one line of at most ``ANSWER_MAX_LENGTH``
    characters, or "I can't answer that question." if it gives the city's name away in any
    form (any case, spaced out, reversed, base64, or as the start of a longer word such as
    "Tokyoite"; see ``reveals``)."""
    if reveals(reply, secret_names):
        return WITHHELD
    text = " ".join(to_charset(reply).split())
    if len(text) > ANSWER_MAX_LENGTH:
        text = text[:ANSWER_MAX_LENGTH].rsplit(" ", 1)[0] + " ..."
    return text or WITHHELD


class GuessMyCityEnv(QuestionGameEnv):
    """Guess My City: find the oracle's home city by asking yes/no and open questions.

    ## Description
    The oracle is from one of the 100 most populous cities of LMRL-Gym's list (all of them,
    including the nine multi-word cities upstream dropped). The agent asks one question per turn,
    yes/no ("Is it in Asia?", "Does it snow in winter?") or open ("What language do people speak
    there?", "What is your city famous for?"), and sees the transcript.

    ## Action Space
    ``Text(256)``: one question (the first non-empty line; longer text is cut, see
    ``info["action_cut"]``). Any string is a legal move.

    ## Observation Space
    ``Text(8192)``: ``"Questions:\\n"`` then one ``"{question} {answer}\\n"`` line per turn, as
    upstream. Answers are one or two sentences as someone from the city would say them: "Yes." or
    "No." for yes/no questions, a short sentence for open ones, "I'm not sure about that." for
    what the oracle's facts do not cover. They never name the city (nor its aliases or
    nicknames; any reply that does, in any case, spaced out, reversed or encoded, becomes
    "I can't answer that question.") and open answers never name the country.

    ## Rewards
    -1 for every turn that is not a correct guess, 0 for the correct guess: the return is minus
    the number of questions asked before it, in [-20, 0].

    ## Guess rule
    A correct guess is an identity question ("Is it ...?", "Are you from ...?", "Is your city
    called ...?") that names exactly one city of the list, by any of its names and spellings
    ("Is it Mumbai?", "Are you from Bombay?", "st. petersburg?", "Is it NYC?"), and that city is
    the hidden one. Nicknames are not names ("Do you live in the Big Apple?"), and a question
    about another relation to the city is not a guess ("Is it near Tokyo?", "Is it in the same
    country as Osaka?"); like a question naming several cities ("Is it Tokyo or Osaka?"), they
    are answered truthfully and cost a turn. (Upstream accepted any question
    containing the name, so that an agent could list many cities in one question.) Country names
    are not city names: "Is it in Mexico?" does not name Mexico City, nor "El Salvador"
    Salvador. Two-letter acronyms count only in capitals ("LA", "HK"; "la" is a word), and
    those that are English words ("T.O.") not at all.

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
    - ``cities``: your own cities: a JSON file ``{"cities": [...]}`` or a list of dicts in the
      format of data/guess_my_city/cities.json.
    - ``render_mode``: "ansi" or "human".

    ``reset(options={"target": name})`` picks the city by any of its names and
    ``options={"index": i}`` by position; otherwise it is drawn with the env's seeded RNG.

    ## References
    Zhou et al., ArCHer, ICML 2024 (arXiv 2402.19446); Abdulhai et al., LMRL-Gym (2311.18232).

    ## Version History
    - v0: initial release.
    """

    kind = "city"

    def __init__(
        self,
        oracle: str | Oracle = "kb",
        oracle_kwargs: dict[str, Any] | None = None,
        max_turns: int = 20,
        cities: str | os.PathLike | Sequence[dict] | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns, render_mode)
        self.cities: tuple[City, ...] = default_cities() if cities is None else load_cities(cities)
        self.objects = tuple(city.names for city in self.cities)
        self.reader = reader_for(self.cities)
        self.guesses = guess_index_for(self.cities)
        self.oracle = make_oracle(
            oracle,
            knowledge_base=lambda: CityOracle(self.cities, self.reader),
            prompt=PROMPT,
            options=oracle_kwargs,
        )
        self.task_description = (
            "Let's play Guess My City. I am from one of the world's most populous cities. Ask me "
            'questions to find out which one: yes/no questions ("Is it in Asia?") or open '
            'questions ("What language do people speak there?"), one question per turn. I '
            "answer in a sentence or two, as someone from the city, and I never say its name. "
            f"You have {max_turns} questions. You win by asking whether it is my city, by its "
            'name, e.g. "Is it Paris?"; a nickname, a question naming several cities or '
            '"Is it near Paris?" is not a guess. Reply with your next question only.'
        )

    def _find_target(self, name: str) -> int | None:
        found = self.reader.index.forms.get(fold(name))
        if found is None and len(self.reader.index.named(name)) == 1:
            found = next(iter(self.reader.index.named(name)))  # "LA", "HK"
        return found

    def named_cities(self, question: str) -> frozenset[int]:
        """Indices of the cities a question names (by any alias)."""
        return self.reader.index.named(question)

    def _is_correct_guess(self, question: str) -> bool:
        # it names the hidden city and no other by a proper name, and asks whether it is that
        # city (or whether that is its name), as the oracle reads it: not "near", "bigger than",
        # "in the same country as"
        target = self._target
        return self.reader.read(question) in (
            ("cities", (target,)),
            ("refuse",),
        ) and self.guesses.named(question) == {target}  # the reading first: most are neither

    def _clean_answer(self, answer: str) -> str:
        return clean_answer(answer, _secrets(self.cities[self._target]))


@functools.cache
def _secrets(city: City) -> tuple[str, ...]:
    return city_secret_names(city)
