"""Twenty Questions rules: rewards, the guess rule, the transcript, objects and knowledge."""

import json

import gymnasium as gym
import pytest

from archer_envs.twenty_questions.env import SUBSET, TwentyQuestionsEnv, normalise_answer
from archer_envs.twenty_questions.knowledge import KnowledgeBase


@pytest.fixture
def env():
    return gym.make("archer/TwentyQuestions-v0").unwrapped


def test_object_lists_match_the_paper(knowledge):
    assert len(knowledge.objects) == 157
    assert len({o.category for o in knowledge.objects}) == 17
    assert tuple(knowledge.objects[i].name for i in range(1, 100, 10)) == SUBSET
    subset = gym.make("archer/TwentyQuestionsSubset-v0").unwrapped
    assert [names[0] for names in subset.objects] == list(SUBSET)


def test_rewards_and_termination_follow_the_paper(env):
    observation, _ = env.reset(options={"target": "dog"})
    assert observation == "Questions:\n"
    observation, reward, terminated, truncated, info = env.step("Is it an animal?")
    assert (observation, reward, terminated, truncated) == (
        "Questions:\nIs it an animal? Yes.\n",
        -1.0,
        False,
        False,
    )
    observation, reward, terminated, truncated, info = env.step("Is it a dog?")
    assert (reward, terminated, truncated, info["success"]) == (0.0, True, False, True)
    assert observation.endswith("Is it a dog? Yes.\n")
    assert info["target"] == "Dog"


def test_out_of_questions_ends_the_episode_as_a_game_rule():
    env = TwentyQuestionsEnv(max_turns=3)
    env.reset(options={"target": "cat"})
    results = [env.step("Is it made of metal?") for _ in range(3)]
    assert [r[1] for r in results] == [-1.0, -1.0, -1.0]
    assert [r[2] for r in results] == [False, False, True]
    assert results[-1][3] is False and results[-1][4]["success"] is False
    assert results[-1][4]["target"] == "Cat"


@pytest.mark.parametrize("obj", range(157))
def test_every_object_is_winnable_by_each_of_its_names(knowledge, obj):
    env = TwentyQuestionsEnv()
    for name in knowledge.objects[obj].names:
        env.reset(options={"index": obj})
        _, reward, terminated, _, info = env.step(f"Is it a {name.lower()}?")
        assert (reward, terminated, info["success"]) == (0.0, True, True), name


@pytest.mark.parametrize(
    "question, target, solved, answer",
    [
        ("Is it a soccer ball?", "soccer ball", True, "Yes."),  # multi-word names win
        ("Are you thinking of a lawn mower?", "lawn mower", True, "Yes."),
        ("watering can?", "watering can", True, "Yes."),
        ("Is the answer a pair of shoes?", "shoes", True, "Yes."),
        ("I think it's a tennis racket.", "tennis racket", True, "Yes."),
        ("Is it a ball?", "soccer ball", False, "Yes."),  # a class, not the object
        ("Is it a cat or a dog or a cow?", "dog", False, "Yes."),  # several objects: not a guess
        ("Is it a dog or a cello?", "dog", False, "Yes."),
        ("Is it bigger than a dog?", "dog", False, "No."),  # a comparison names it, no guess
        ("Is it a golf ball?", "tennis ball", False, "No."),
        ("Is it a kind of dog?", "dog", True, "Yes."),
        ("Is it orange?", "orange", False, "Yes."),  # the colour, not the fruit
        ("Is it an orange?", "orange", True, "Yes."),
        ("ball", "soccer ball", False, "Invalid Question."),
    ],
)
def test_guess_rule(env, question, target, solved, answer):
    env.reset(options={"target": target})
    _, reward, terminated, _, info = env.step(question)
    assert (terminated, info["success"], info["answer"]) == (solved, solved, answer)
    assert reward == (0.0 if solved else -1.0)


def test_answers_are_only_the_three_strings_and_invalid_for_non_questions(env):
    env.reset(options={"target": "piano"})
    for text, answer in [
        ("What is it?", "Invalid Question."),
        ("hello", "Invalid Question."),
        ("Give me a hint", "Invalid Question."),
        ("How big is it?", "Invalid Question."),
        ("Does it have keys?", "Yes."),
        ("Is it not a musical instrument?", "No."),
        ("Isn't it a musical instrument?", "Yes."),
    ]:
        assert env.step(text)[4]["answer"] == answer, text


def test_actions_are_cleaned_and_cut(env):
    env.reset(options={"target": "dog"})
    observation, _, _, _, info = env.step("  Is it an animal?\nAnd also a second line")
    assert observation == "Questions:\nIs it an animal? Yes.\n" and info["action_cut"]
    observation, _, _, _, info = env.step("Is it " + "very " * 200 + "big?")
    assert info["action_cut"] and len(observation.splitlines()[-1]) <= 256 + len(" Yes.") + 1
    observation, _, _, _, info = env.step("Is it a “café”\u200b?")
    assert observation.splitlines()[-1].startswith('Is it a "cafe" ?')


def test_long_games_keep_the_observation_inside_the_space():
    env = TwentyQuestionsEnv(max_turns=100)
    env.reset(options={"target": "dog"})
    for i in range(99):
        observation, *_ = env.step(f"Question {i}: is it made of metal? " + "x" * 200)
    assert len(observation) <= env.observation_space.max_length
    assert observation.startswith("Questions:\n") and "Question 98" in observation
    assert "Question 0:" not in observation  # the oldest turns made room


def test_answer_normalisation_of_llm_replies():
    assert normalise_answer("Yes, it is.") == "Yes."
    assert normalise_answer("No, it's not") == "No."
    assert normalise_answer("It doesn't have wheels.") == "No."
    assert normalise_answer("I don't know.") == "Invalid Question."  # upstream: No
    assert normalise_answer("I know it") == "Invalid Question."  # upstream read "know" as No
    assert normalise_answer("That is an invalid question") == "Invalid Question."
    assert normalise_answer("") == "Invalid Question."


def test_own_objects_from_our_knowledge_base_with_the_kb_oracle():
    env = TwentyQuestionsEnv(objects=["Kitten", "Hammer;claw hammer", "Ocean"])
    assert [n[0] for n in env.objects] == ["Cat", "Hammer", "Ocean"]
    env.reset(options={"target": "ocean"})
    assert env.step("Is it salty?")[4]["answer"] == "Yes."
    assert env.step("Is it a sea?")[4]["answer"] == "No."


def test_own_objects_unknown_to_the_kb_need_an_llm_oracle_or_knowledge(tmp_path):
    with pytest.raises(ValueError, match="knows nothing about"):
        TwentyQuestionsEnv(objects=["Zeppelin", "Dog"])

    class AlwaysNo:
        def answer(self, queries):
            return ["No." for _ in queries]

    env = TwentyQuestionsEnv(objects=["Zeppelin;Blimp", "Dog"], oracle=AlwaysNo())
    env.reset(options={"target": "blimp"})
    assert env.step("Is it alive?")[4]["answer"] == "No."
    _, reward, terminated, _, info = env.step("Is it a zeppelin?")  # the env knows the guess
    assert (reward, terminated, info["success"]) == (0.0, True, True)

    # knowledge in our format: a user's own objects with our properties
    entry = {
        "names": ["Zeppelin", "Blimp"],
        "category": "Vehicles",
        "size_cm": 24000,
        "weight_kg": 200000,
        "yes": ["vehicle", "man_made", "can_fly", "air_vehicle"],
    }
    path = tmp_path / "kb.json"
    path.write_text(json.dumps({"objects": [entry]}))
    env = TwentyQuestionsEnv(objects=path)
    env.reset()
    assert env.step("Can it fly?")[4]["answer"] == "Yes."
    assert env.step("Is it bigger than a car?")[4]["answer"] == "Yes."
    assert env.step("Is it alive?")[4]["answer"] == "No."
    bad = dict(entry, yes=["vehicle", "is_purple_spotted"])
    with pytest.raises(ValueError, match="unknown properties"):
        KnowledgeBase.load([bad])


def test_oracle_argument_errors():
    with pytest.raises(ValueError, match="unknown oracle"):
        TwentyQuestionsEnv(oracle="gpt-4")
    with pytest.raises(TypeError, match="oracle must be"):
        TwentyQuestionsEnv(oracle=42)
    with pytest.raises(ValueError, match="max_turns"):
        TwentyQuestionsEnv(max_turns=0)
