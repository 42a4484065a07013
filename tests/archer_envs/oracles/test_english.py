"""The English both question games read: regexes that skip the texts they cannot match, the
index that tells which of many may match, substitutions applied in order, and the sentence
that asks."""

import json
import random
import re

import pytest

from archer_envs.guess_my_city import knowledge as city_kb
from archer_envs.oracles import english
from archer_envs.oracles.english import (
    NeedleIndex,
    Prefiltered,
    Substitutions,
    last_question,
    normalise,
)
from archer_envs.twenty_questions import knowledge as kb
from archer_envs.twenty_questions.knowledge import KnowledgeBaseOracle, QuestionParser
from tests import DATA

QUESTION_FILES = [
    "twenty_questions_people.jsonl",
    "twenty_questions_llm_agents.jsonl",
    "guess_my_city_questions.jsonl",
]


@pytest.fixture(scope="module")
def questions():
    return [
        json.loads(line)["question"]
        for name in QUESTION_FILES
        for line in (DATA / name).read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def texts(questions):
    """The dev sets' questions as written and normalised, and made-up ones of their words with
    odd spacing, line breaks and punctuation."""
    rng = random.Random(0)
    words = sorted({w for q in questions for w in q.split()})
    made_up = [
        "".join(
            rng.choice(words) + rng.choice([" ", " ", " ", "  ", "\n", "\t", ", ", "? "])
            for _ in range(rng.randint(1, 12))
        )
        for _ in range(400)
    ]
    return questions[::3] + [normalise(q) for q in questions[1::3]] + made_up


@pytest.fixture(scope="module")
def regexes(questions):
    """Every regex of both question games' readers that looks for its needles first."""
    knowledge = KnowledgeBaseOracle().knowledge
    parser = QuestionParser([obj.names for obj in knowledge.objects], knowledge)
    reader = city_kb.CityReader(city_kb.default_cities())
    for question in questions:
        reader.read(question)  # fills the reader's cache of inline patterns
    found = []
    for module in (english, kb, city_kb):
        for value in vars(module).values():
            if isinstance(value, Substitutions):
                found += [pattern for pattern, _ in value.pairs]
            elif isinstance(value, list):
                found += [row[0] for row in value if isinstance(row, tuple)]
            else:
                found.append(value)
    found += [row[0] for row in parser._matchers] + [r for _, r in reader.region_regexes]
    found += [reader.climate_regex, *city_kb._INLINE.values()]
    found = list({id(r): r for r in found if isinstance(r, Prefiltered)}.values())
    assert len(found) > 650 and sum(r.needles is not None for r in found) > 600
    return found


def test_needles_are_literal_texts_every_match_holds():
    """A regex's needles, found from its expansions: one of them is in every text it matches."""
    assert Prefiltered(r"\bwon't\b").needles == ("won't",)
    assert Prefiltered(r"\b(?:made|built) (?:of|from) (?:wood|metal)\b").needles == (
        "built",
        "made",
    )
    assert Prefiltered(r"\bcoast\w*|\bbeach(?:es)?\b").needles == ("beach", "coast")
    assert Prefiltered(r"\b(?:it|that)'s\b").needles == ("it's", "that's")
    assert Prefiltered(r"\w+ing").needles == ("ing",)
    assert Prefiltered(r"\w+( \w+)?").needles is None  # nothing literal
    assert Prefiltered(r"(?i)tokyo").needles is None  # any case: no plain substring test
    regex = Prefiltered(r"\bmade of (?:wood|metal)\b")
    assert regex.search("is it made of metal") is not None
    assert regex.search("is it wooden") is None and not regex.possible("is it wooden")
    assert regex.sub("X", "made of wood or made of glass") == "X or made of glass"


def test_prefiltered_regexes_skip_only_texts_they_cannot_match(regexes, texts):
    """On the dev sets' questions (as written, normalised, and mixed), every reader regex that
    looks for its needles first finds what the plain regex finds."""
    for text in texts[::2]:
        for regex in regexes:
            if not regex.possible(text):
                assert regex.regex.search(text) is None, (regex.pattern, text)


def test_the_needle_index_finds_exactly_the_regexes_that_may_match(regexes, texts):
    """``NeedleIndex.candidates`` is the set of regexes whose ``possible`` holds, on texts of
    every shape (multi-word needles, needles that start or end with a space, repeated
    spaces, tabs and line breaks), asked twice so that remembered pieces are checked too."""
    index = NeedleIndex(regexes)
    assert len(index.always) < len(regexes) / 10
    for text in texts + texts[:50]:
        expected = {i for i, regex in enumerate(regexes) if regex.possible(text)}
        assert index.candidates(text) == expected, text
    spaced = NeedleIndex([Prefiltered(r" (?:a|an) "), Prefiltered(r"made of  wood")])
    assert spaced.candidates("is it a dog") == {0} and spaced.candidates("a") == set()
    assert spaced.candidates("made of  wood") == {1} and spaced.candidates("made of wood") == set()


@pytest.mark.parametrize("strip", [False, True])
def test_substitutions_rewrite_as_the_regexes_do_one_after_another(texts, strip):
    """``Substitutions`` skips the pairs that cannot match and rechecks after each change: the
    result is that of every ``re.sub`` in order, also where one change makes the next match."""
    pairs = [
        (r"\bwon't\b", "will not"),
        (r"\bcannot\b", "can not"),
        (r"\bcan not tell\b", "unsure"),  # matches only after the pair before it
        (r"^(?:please|so) ", ""),
        (r"\b(?:usually|often)\b", ""),
        (r"\bunsure (\w+)", r"\1 unsure"),
    ]
    rewrite = Substitutions(pairs, strip=strip)
    extra = ["so cannot tell if it is often red", "  please won't it fly  ", "cannot tell dog"]
    for text in texts + extra:
        expected = text.strip() if strip else text
        for pattern, replacement in pairs:
            expected = re.sub(pattern, replacement, expected)
            expected = expected.strip() if strip else expected
        assert rewrite(text) == expected, text
    assert rewrite("cannot tell dog") == "dog unsure"


def test_the_question_is_the_last_sentence_that_asks(texts):
    assert last_question("Great! Next one: is it red?") == ("is it red?", True)
    assert last_question("Is it red? Or blue? Thanks.") == ("Or blue?", True)
    assert last_question("Is it red?\nI think so") == ("Is it red?", True)
    assert last_question("tell me about it") == ("tell me about it", False)
    assert last_question("Hmm.  Not sure. ") == ("Not sure.", False)
    assert last_question("") == ("", False) and last_question(" \n ") == ("", False)
    assert last_question("What is 3.5?") == ("What is 3.5?", True)  # no break inside a number
    for text in texts:  # as splitting every text at every break finds it
        sentences = [s for s in re.split(r"(?<=[?!.:;])\s+|\n", text) if s.strip()]
        asked = [s for s in sentences if s.rstrip().endswith("?")]
        chosen = asked[-1] if asked else (sentences[-1] if sentences else "")
        assert last_question(text) == (chosen, bool(asked)), text
