"""The knowledge base and the oracle's understanding of English.

The two question sets in tests/data were written by hand, independently of the oracle's code and
data, as people (casual) and LLM agents (verbose) ask in Twenty Questions; answers are common
sense. They are not produced from the patterns the oracle parses.
"""

import json
import re

import pytest

from archer_envs.twenty_questions.knowledge import INVALID, KnowledgeBaseOracle
from tests import DATA

# the accuracy the README states for each set (the oracle is deterministic: the figure is the floor)
QUESTION_SETS = {"twenty_questions_people.jsonl": 0.988, "twenty_questions_llm_agents.jsonl": 0.978}


@pytest.fixture(scope="module")
def oracle():
    return KnowledgeBaseOracle()


def test_enough_distinct_properties_answered_for_every_object(knowledge):
    assert len(knowledge.properties) >= 150
    assert len({p.question for p in knowledge.properties.values()}) == len(knowledge.properties)
    for obj in knowledge.objects:
        assert obj.names and obj.category and obj.size_cm > 0 and obj.weight_kg > 0
        assert len(obj.yes) >= 8, obj.name


def test_knowledge_is_consistent(knowledge):
    for obj in knowledge.objects:
        for prop in obj.yes:
            missing = set(knowledge.properties[prop].implies) - obj.yes
            assert not missing, f"{obj.name}: {prop} implies {missing}"
        assert not {"natural", "man_made"} <= obj.yes, obj.name
        assert not {"liquid", "solid"} <= obj.yes, obj.name
        if "heavier_than_person" in obj.yes:
            assert obj.weight_kg > 70
        if "fits_in_pocket" in obj.yes and "flexible" not in obj.yes:  # a necklace folds up
            assert obj.size_cm <= 30, obj.name
        if "alive" in obj.yes:
            assert "natural" in obj.yes, obj.name
    names = [n.lower() for o in knowledge.objects for n in o.names]
    assert len(names) == len(set(names)), "a name may belong to one object only"


def test_canonical_questions_read_as_their_own_property(knowledge, oracle):
    for prop in knowledge.properties.values():
        for obj in knowledge.objects:
            expected = "Yes." if prop.id in obj.yes else "No."
            assert oracle.answer_one(obj.name, prop.question) == expected, (prop.id, obj.name)


def test_patterns_are_valid_regular_expressions(knowledge):
    for prop in knowledge.properties.values():
        assert prop.patterns, prop.id
        for pattern in prop.patterns:
            re.compile(pattern.removeprefix("!"))


@pytest.mark.parametrize("name", QUESTION_SETS)
def test_oracle_accuracy_on_freely_written_questions(oracle, name, capsys):
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    assert len(rows) >= 400
    wrong = [r for r in rows if oracle.answer_one(r["object"], r["question"]) != r["answer"]]
    valid = [r for r in rows if r["answer"] != INVALID]
    invalid_on_valid = sum(oracle.answer_one(r["object"], r["question"]) == INVALID for r in valid)
    accuracy = 1 - len(wrong) / len(rows)
    with capsys.disabled():
        print(
            f"\n{name}: accuracy {accuracy:.1%} on {len(rows)} questions; "
            f'"Invalid Question." on {invalid_on_valid / len(valid):.1%} of valid ones'
        )
    assert round(accuracy, 3) >= QUESTION_SETS[name], [
        (r["object"], r["question"], r["answer"]) for r in wrong
    ]
    assert invalid_on_valid == 0


@pytest.mark.parametrize(
    "question, target, answer",
    [
        ("Can you eat it?", "banana", "Yes."),
        ("Is it something edible?", "hammer", "No."),
        ("Would I find it in a kitchen?", "whisk", "Yes."),
        ("Is the object made of metal?", "wrench", "Yes."),
        ("Does it have wheels?", "bus", "Yes."),
        ("Could you hold it in one hand?", "elephant", "No."),
        ("Is it not alive?", "rock", "Yes."),
        ("Isn't it alive?", "rock", "No."),
        ("Is it something you can't eat?", "hammer", "Yes."),
        ("Are they worn on the feet?", "socks", "Yes."),
        ("Is it bigger than a breadbox?", "piano", "Yes."),
        ("Is it heavier than a person?", "dog", "No."),
        ("Is it smaller than a cat?", "pen", "Yes."),
        ("Is it longer than 1 meter?", "baseball bat", "No."),
        ("Does it weigh more than 10 pounds?", "bed", "Yes."),
        ("Is it a kind of furniture?", "dresser", "Yes."),
        ("Is it in the fruit family?", "mango", "Yes."),
        ("Is it an automobile?", "car", "Yes."),
        ("Is it a sofa?", "couch", "Yes."),
        ("Is it a feline?", "tiger", "Yes."),
        ("Is it a pizza?", "dog", "No."),
        ("Is it made of stone, metal or clay?", "sculpture", "Yes."),
        ("Is it red or yellow?", "banana", "Yes."),
        ("Is it an animal that can fly?", "dog", "No."),
        ("Is it bigger or smaller than a car?", "bus", "Invalid Question."),
        ("What colour is it?", "bus", "Invalid Question."),
        ("asdfgh", "bus", "Invalid Question."),
    ],
)
def test_phrasings(oracle, question, target, answer):
    assert oracle.answer_one(target, question) == answer


def test_the_word_index_of_the_patterns_changes_no_reading():
    """``_spans`` tries only the patterns that a word of the question can trigger: on questions
    made of the patterns' own words, mixed and joined, it reads exactly what trying every
    pattern reads."""
    import random

    from archer_envs.twenty_questions.knowledge import QuestionParser, _expansion_words

    knowledge = KnowledgeBaseOracle().knowledge
    names = [obj.names for obj in knowledge.objects]
    indexed = QuestionParser(names, knowledge)
    every = QuestionParser(names, knowledge)
    every._by_word, every._always = {}, list(range(len(every._matchers)))
    assert len(indexed._always) < len(indexed._matchers) / 5  # the index does prune
    assert set(_expansion_words("(do )?push it( around)?")) == {
        frozenset(words.split())
        for words in ("push it", "do push it", "push it around", "do push it around")
    }
    assert set(_expansion_words(r"like (a |the )?\w+")) == {  # \w+: unknown text
        frozenset({"like"}),
        frozenset({"like", "a"}),
        frozenset({"like", "the"}),
    }
    assert _expansion_words(r"\w+ing") is None  # no word known: always tried
    rng = random.Random(0)
    questions = [prop.question for prop in knowledge.properties.values()]
    words = sorted({w for q in questions for w in re.findall(r"[a-z]+", q.lower())})
    for _ in range(1500):
        question = rng.choice(["is it {} {}?", "does it {} or {}?", "{} and not {}?"]).format(
            rng.choice(questions).rstrip("?").lower(),
            " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))),
        )
        assert indexed._parse(question) == every._parse(question), question


def test_a_negated_filler_phrase_is_answered_not_a_crash(oracle):
    """ "and not is the object ..." negates a lead-in the reader ignores: it stays ignored (it
    raised "unknown logical form ('ignore',)" before)."""
    questions = [
        "Do people there speak Portuguese and not is the object a kind of meat?",
        "Is it not an animal and not is the object a tool?",
    ]
    for question in questions:
        answer = oracle.answer_one("Banana", question)
        assert answer in ("Yes.", "No.", INVALID)
