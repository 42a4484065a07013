"""The paper's conversation files (ArCHer's dataset/*.json, LMRL-Gym's 20Q and City data) as
trajectory JSONL: every conversation replayed through our env, rewards by our rules, bad
records refused with a message that names them. The files are written here in those formats."""

import itertools
import json

import pytest

from archer_envs import cli
from archer_envs.datasets import convert_upstream, read_trajectories

SUBSET = "archer/TwentyQuestionsSubset-v0"


def write_json(path, records) -> str:
    path.write_text(json.dumps(records))
    return str(path)


def convert(tmp_path, records, env_id=SUBSET, **options):
    summary = convert_upstream(
        write_json(tmp_path / "upstream.json", records),
        env_id,
        tmp_path / "out.jsonl",
        progress=False,
        **options,
    )
    return summary, list(read_trajectories(tmp_path / "out.jsonl"))


def test_rewards_answers_and_ends_are_our_envs(tmp_path):
    records = [
        # upstream's oracle said "alive? Yes." for the pen: ours says No, and ours is kept
        {
            "word": "Pen",
            "lines": ["Is it alive? Yes.", "Is it used for writing? Yes.", "Is it a pen? Yes."],
            "correct": True,
        },
        # ";"-separated variants; the first question is already a right guess by our rule,
        # so the episode ends there and the line after it is dropped
        {
            "word": "Pants;Pant;Pair of pants",
            "lines": ["Is it a pair of pants? Yes.", "Is it alive? No."],
            "correct": True,
        },
        # variants as a list; the conversation stops before the game ends: truncated
        {
            "word": ["Scissors", "Pair of scissors"],
            "lines": ["Is it sharp? Yes.", "Is it a knife? No."],
        },
        # 25 questions: our env ends the episode after its 20
        {"word": "Dog", "lines": ["Is it made of metal? No."] * 25, "correct": False},
    ]
    summary, trajectories = convert(tmp_path, records)
    pen, pants, scissors, dog = trajectories
    assert [t["reward"] for t in pen["transitions"]] == [-1.0, -1.0, 0.0]
    assert (pen["return"], pen["success"], pen["target"]) == (-2.0, True, "Pen")
    assert pen["transitions"][1]["observation"] == "Questions:\nIs it alive? No.\n"
    assert pen["transitions"][-1]["terminated"] and not pen["transitions"][-1]["truncated"]
    assert [t["action"] for t in pants["transitions"]] == ["Is it a pair of pants?"]
    assert (pants["return"], pants["success"]) == (0.0, True)
    last = scissors["transitions"][-1]
    assert (scissors["return"], scissors["success"]) == (-2.0, False)
    assert last["truncated"] and not last["terminated"]
    assert len(dog["transitions"]) == 20 and dog["return"] == -20.0
    assert dog["transitions"][-1]["terminated"]
    for first, second in itertools.pairwise(pen["transitions"]):
        assert first["next_observation"] == second["observation"]
    assert summary["episodes"] == 4 and summary["skipped"] == 0
    assert summary["mean_return"] == pytest.approx((-2 + 0 - 2 - 20) / 4)
    assert summary["upstream_disagrees"] == 0


def test_upstream_verdicts_that_differ_from_ours_are_counted(tmp_path):
    records = [
        {"word": "Pen", "lines": ["Is it a pen? Yes."], "correct": False},
        {"word": "Dog", "lines": ["Is it a dog or a cat? Yes."], "correct": True},
    ]
    summary, trajectories = convert(tmp_path, records)
    assert [t["success"] for t in trajectories] == [True, False]  # naming two is no guess
    assert summary["upstream_disagrees"] == 2


def test_guess_my_city_records_and_json_lines(tmp_path):
    lines = [
        {
            "word": "Seoul, South Korea",
            "lines": ["Is your city in Asia? Yes, it is.", "Is it Seoul? Yes."],
        },
        {"word": "Seoul,South korea", "conversation": ["Is it Tokyo? No."]},  # LMRL-Gym's
    ]
    source = tmp_path / "guess_my_city.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in lines))
    convert_upstream(source, "archer/GuessMyCity-v0", tmp_path / "out.jsonl", progress=False)
    found, tokyo = read_trajectories(tmp_path / "out.jsonl")
    assert [t["reward"] for t in found["transitions"]] == [-1.0, 0.0]
    assert found["success"] and found["target"] == "Seoul"
    assert tokyo["return"] == -1.0 and tokyo["transitions"][-1]["truncated"]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"word": "Elephant", "lines": ["Is it alive? Yes."]}, "'Elephant' is not a target of"),
        ({"word": "Pen", "lines": ["Is it alive"]}, 'line 0 is not "question? answer"'),
        ({"word": "Pen", "lines": []}, "must be a non-empty list"),
        ({"lines": ["Is it alive? No."]}, 'expected an object with "word"'),
        ({"word": 3, "lines": ["Is it alive? No."]}, '"word" must be a name'),
        ("Is it alive? No.", "not a conversation"),
    ],
)
def test_a_bad_record_is_one_clear_error_or_skipped(tmp_path, record, message):
    good = {"word": "Pen", "lines": ["Is it a pen? Yes."]}
    with pytest.raises(ValueError, match="record 1: ") as error:
        convert(tmp_path, [good, record])
    assert message in str(error.value) and "--skip-bad" in str(error.value)
    assert not (tmp_path / "out.jsonl").exists()  # nothing written
    summary, trajectories = convert(tmp_path, [good, record], skip_bad=True)
    assert (summary["episodes"], summary["skipped"], len(trajectories)) == (1, 1, 1)
    assert summary["problems"][0].startswith("record 1: ")


def test_files_that_are_not_conversations_and_envs_that_are_not_question_games(tmp_path):
    (tmp_path / "broken.json").write_text('[{"word": "Pen"')
    with pytest.raises(ValueError, match="neither a JSON file nor JSON lines"):
        convert_upstream(tmp_path / "broken.json", SUBSET, tmp_path / "out.jsonl")
    with pytest.raises(ValueError, match="expected a list of conversations"):
        convert_upstream(write_json(tmp_path / "number.json", 3), SUBSET, tmp_path / "out.jsonl")
    with pytest.raises(ValueError, match="no record could be converted"):
        convert(tmp_path, [{"word": "Elephant", "lines": ["Is it big? Yes."]}], skip_bad=True)
    with pytest.raises(ValueError, match="archer/Detective-v0 is neither"):
        convert(
            tmp_path,
            [{"word": "Pen", "lines": ["Is it a pen? Yes."]}],
            env_id="archer/Detective-v0",
        )


def test_the_cli_converts_and_reports_bad_records(tmp_path, capsys):
    source = write_json(
        tmp_path / "twenty_questions.json",
        [
            {"word": "Pen", "lines": ["Is it alive? No.", "Is it a pen? Yes."]},
            {"word": "Elephant", "lines": ["Is it alive? Yes."]},
        ],
    )
    args = [
        "dataset",
        "--from-upstream",
        source,
        "--env",
        SUBSET,
        "--out",
        str(tmp_path / "out.jsonl"),
        "--quiet",
    ]
    assert cli.main(args) == 2
    assert "record 1: 'Elephant' is not a target" in capsys.readouterr().err
    assert cli.main([*args, "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "1 conversations" in out and "(1 skipped)" in out and "mean return -1.00" in out
    assert [t["return"] for t in read_trajectories(tmp_path / "out.jsonl")] == [-1.0]
