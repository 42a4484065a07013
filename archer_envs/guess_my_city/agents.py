"""Guess My City's scripted reference agents: random, and an expert that narrows the cities down
greedily. They use the knowledge base, never the hidden city."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from archer_envs.core import check_epsilon
from archer_envs.guess_my_city.env import GuessMyCityEnv
from archer_envs.guess_my_city.knowledge import City, CityOracle, reader_for
from archer_envs.question_game import QuestionGameAgent


def question_pool(cities: Sequence[City]) -> list[str]:
    """The yes/no questions the scripted agents ask: continent, region, country, hemispheres,
    capital, coast, seas and rivers, elevation, climate, population, languages, religions and
    neighbours, phrased as a person would."""
    pool: list[str] = []

    def add(question: str) -> None:
        if question not in pool:
            pool.append(question)

    for city in cities:
        add(f"Is your city in {city.continent}?")
    for city in cities:
        if city.region:
            add(f"Is your city in {city.region}?")
    for city in cities:
        add(f"Is your city in {city.country}?")
    add("Is your city in the southern hemisphere?")
    add("Is your city in the western hemisphere?")
    add("Is it the capital of its country?")
    add("Is it a state or provincial capital?")
    add("Is your city on the coast?")
    add("Does it snow there in winter?")
    add("Is your city at a high altitude?")
    add("Is your city at a low elevation?")
    add("Does your city have more than 5 million people?")
    add("Does your city have more than 10 million people?")
    add("Does your city have more than 20 million people?")
    for climate in sorted({c.climate for c in cities if c.climate}):
        add(f"Does your city have a {climate} climate?")
    for language in sorted({lang for c in cities for lang in c.languages}):
        add(f"Do people in your city speak {language}?")
    for religion in sorted({c.religions[0] for c in cities if c.religions}):
        if re.fullmatch(r"[A-Z][A-Za-z ]+", religion) and religion != "No religion":
            add(f"Is {religion} the main religion in your city?")
    # seas and rivers with proper names (the knowledge describes some without them)
    for water in sorted({w for c in cities for w in (*c.seas, *c.rivers)}):
        if water[:1].isupper() and "name" not in water:
            add(f"Is your city on the {water}?")
    return pool


def known_turns(observation: str, questions: Sequence[str]) -> list[tuple[str, str]]:
    """The (question, answer) turns of an observation whose questions are among ``questions``
    (the scripted agents' own); other lines are skipped."""
    known = sorted(questions, key=len, reverse=True)
    turns = []
    for line in observation.split("\n")[1:]:
        for question in known:
            if line.startswith(question + " "):
                turns.append((question, line[len(question) + 1 :]))
                break
    return turns


@functools.cache
def _shared_knowledge(cities: tuple[City, ...]) -> tuple[CityOracle, dict[str, np.ndarray]]:
    """One knowledge-base oracle per city list, shared by the scripted agents, and the answers
    to their questions for every city, computed once."""
    return CityOracle(cities, reader_for(cities)), {}


class KnowledgeAgent(QuestionGameAgent):
    """A scripted agent of the env's cities; questions: ``question_pool``. Its oracle and the
    answers it has worked out are shared with every agent of the same city list."""

    def __init__(self, env: GuessMyCityEnv, seed: int | None = None):
        oracle, columns = _shared_knowledge(env.cities)
        names = [city.name for city in env.cities]
        super().__init__(names, question_pool(env.cities), oracle, seed, columns)
        self.cities = env.cities
        self.guesses = [self.guess(i) for i in range(len(self.names))]

    def turns(self, observation: str) -> list[tuple[str, str]]:
        return known_turns(observation, self.questions + self.guesses)

    def disagrees(self, column: np.ndarray, answer: str) -> np.ndarray:
        return _yes_no(column) != _yes_no(np.array([answer]))[0]

    def guess(self, index: int) -> str:
        return f"Is it {self.names[index]}?"


def _yes_no(answers: np.ndarray) -> np.ndarray:
    """Answers reduced to "yes", "no" or "other" (LLM oracles word them freely)."""
    lowered = np.char.lower(answers.astype(str))
    return np.where(
        np.char.startswith(lowered, "yes"),
        "yes",
        np.where(np.char.startswith(lowered, "no"), "no", "other"),
    )


class RandomQuestioner(KnowledgeAgent):
    """Each turn a uniformly random action among the pool's questions and the guesses of every
    city: the floor learning agents must beat."""

    def act_one(self, observation: str) -> str:
        return self.random_action()


class CityExpert(KnowledgeAgent):
    """Narrows the candidates down by continent, region, country, coast, climate, language and
    the rest of the knowledge base, greedily: it asks the question whose answers split the
    remaining cities most evenly, and guesses when at most two remain. With probability
    ``epsilon`` a turn is wasted on a random question or an early random guess instead: the knob
    that makes sub-optimal behaviour-cloning data."""

    def __init__(self, env: GuessMyCityEnv, seed: int | None = None, epsilon: float = 0.0):
        super().__init__(env, seed)
        self.epsilon = check_epsilon(epsilon)

    def act_one(self, observation: str) -> str:
        candidates = self.candidates(observation)
        wasted = self.wasted_turn(candidates, self.epsilon)
        if wasted is not None:
            return wasted
        asked = {q for q, _ in self.turns(observation)}
        if len(candidates) <= 2:
            for index in candidates:
                if self.guesses[index] not in asked:
                    return self.guesses[index]
        best, best_score = None, 0
        for question in self.questions:
            if question in asked:
                continue
            answers = _yes_no(self.column(question)[candidates])
            score = len(candidates) - max(int((answers == a).sum()) for a in ("yes", "no", "other"))
            if score > best_score:
                best, best_score = question, score
        if best is None:
            remaining = [i for i in candidates if self.guesses[i] not in asked] or candidates
            return self.guesses[remaining[0]]
        return best
