"""The leaderboard (baselines/leaderboard.py) and the evaluation fixes it rests on: resumable
runs that never redo a finished episode, rendering that gives the same files twice, outside
agents (a module on disk, an OpenAI-compatible server on 127.0.0.1) end to end, one-line
errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import gymnasium as gym
import pytest

from archer_envs import cli
from archer_envs.agents import first_question, load_agent
from archer_envs.evaluation import compact_record, evaluate, expand_record
from archer_envs.twenty_questions import SUBSET, TwentyQuestionsEnv
from archer_envs.twenty_questions.agents import GreedyExpert, parse_turns
from baselines import leaderboard
from tests.openai_server import OpenAICompatibleServer

SUBSET_ID = "archer/TwentyQuestionsSubset-v0"

# an outside agent as a user writes one: a package in the current folder, not installed
AGENT_MODULE = '''
import random
from pathlib import Path

NAMES = ["football", "dog", "banana", "truck", "pants", "computer", "piano", "chair", "pen",
         "scissors"]


class Guesser:
    """Guesses objects at random; each construction is logged, and with a stop file present
    the third construction fails, as a run killed after two chunks."""

    def __init__(self, log, seed=0):
        log = Path(log)
        built = len(log.read_text().splitlines()) if log.exists() else 0
        if Path(str(log) + ".stop").exists() and built >= 2:
            raise RuntimeError("interrupted")
        with log.open("a") as handle:
            handle.write(f"{seed}\\n")
        self.rng = random.Random(seed)

    def act(self, observations):
        return [None if o is None else f"Is it a {self.rng.choice(NAMES)}?" for o in observations]
'''


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A folder holding mypkg/guess.py and an entry file naming it; the folder is the current
    one and is not on the import path (as for a console script)."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "guess.py").write_text(AGENT_MODULE)
    log = tmp_path / "built.log"
    entry = {
        "description": "random guesses",
        "envs": [SUBSET_ID],
        "seed": 3,
        "agent": "mypkg.guess:Guesser",
        "agent_kwargs": {"log": str(log)},
    }
    (tmp_path / "guesser.json").write_text(json.dumps(entry))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


def run(*args: str) -> int:
    return leaderboard.main(["run", "--suite", "cpu", "--envs", SUBSET_ID, "--quiet", *args])


def episodes_file(results, entry="guesser"):
    return results / "TwentyQuestionsSubset-v0" / entry / "episodes.jsonl"


def without_times(text):
    return [
        {k: v for k, v in json.loads(line).items() if k != "seconds"} for line in text.splitlines()
    ]


def test_an_interrupted_run_resumes_without_redoing_finished_episodes(outside, capsys):
    results, log = outside / "results", outside / "built.log"
    (outside / "built.log.stop").write_text("")
    with pytest.raises(RuntimeError, match="interrupted"):
        run("--entries", "guesser.json", "--results", str(results), "--no-render")
    first = episodes_file(results).read_text()
    assert len(first.splitlines()) == 2 * leaderboard.CHUNK  # two chunks finished
    # a kill in the middle of writing the next chunk leaves a line cut short
    with episodes_file(results).open("a") as handle:
        handle.write('{"index": 40, "seed": 40, "opt')
    (outside / "built.log.stop").unlink()
    assert run("--entries", "guesser.json", "--results", str(results)) == 0
    done = episodes_file(results).read_text()
    assert done.startswith(first)  # the finished episodes are kept as they were
    assert len(done.splitlines()) == 100
    # the agent was built once per chunk, seeded by the chunk: 2 before, 3 after the restart
    seeds = [int(s) for s in log.read_text().split()]
    assert seeds == [3 * 1_000_003 + start for start in range(0, 100, 20)]
    # the same episodes as a run straight through
    log.unlink()
    assert run("--entries", "guesser.json", "--results", str(outside / "again")) == 0
    assert without_times(episodes_file(outside / "again").read_text()) == without_times(done)
    # run again: nothing to play, nothing rewritten
    summary_path = results / "TwentyQuestionsSubset-v0" / "guesser" / "summary.json"
    summary = summary_path.read_text()
    log.unlink()
    assert run("--entries", "guesser.json", "--results", str(results)) == 0
    assert not log.exists() and summary_path.read_text() == summary
    saved = json.loads(summary)
    rows = without_times(done)
    assert saved["episodes"] == saved["planned"] == 100 and saved["complete"]
    assert saved["mean_return"] == pytest.approx(sum(r["return"] for r in rows) / 100)
    assert saved["agent"] == "mypkg.guess:Guesser" and saved["agent_kwargs"] == {"log": str(log)}
    assert saved["oracle"] == "KnowledgeBaseOracle" and saved["package_version"]
    # every object of the subset exactly ten times, the reset seed the episode's index
    assert sorted(r["target"] for r in rows) == sorted(n for n in SUBSET for _ in range(10))
    assert [r["seed"] for r in rows] == list(range(100))
    # an entry changed after its results were made cannot mix with them
    entry = json.loads((outside / "guesser.json").read_text())
    (outside / "guesser.json").write_text(json.dumps({**entry, "seed": 4}))
    capsys.readouterr()
    assert run("--entries", "guesser.json", "--results", str(results)) == 2
    assert "(changed: seed): delete the folder" in capsys.readouterr().err


def test_render_twice_gives_identical_files(outside):
    results = outside / "results"
    assert run("--entries", "guesser.json", "--results", str(results), "--limit", "20") == 0
    written = leaderboard.render(results)
    first = {path.name: path.read_bytes() for path in written}
    again = {path.name: path.read_bytes() for path in leaderboard.render(results)}
    assert first == again
    assert set(first) == {"LEADERBOARD.md", "leaderboard.html", "TwentyQuestionsSubset-v0.png"}
    assert first["TwentyQuestionsSubset-v0.png"].startswith(b"\x89PNG")
    summary = json.loads(
        (results / "TwentyQuestionsSubset-v0" / "guesser" / "summary.json").read_text()
    )
    assert summary["episodes"] == 20 and not summary["complete"]  # --limit: one chunk
    row = next(line for line in first["LEADERBOARD.md"].decode().splitlines() if "guesser" in line)
    assert f"{summary['mean_return']:.2f} ± {summary['stderr_return']:.2f}" in row
    assert "20 of 100" in row


def chatty_expert(messages):
    """An 'LLM' that thinks aloud before each question (the first line is no question)."""
    transcript = "".join(m["content"] for m in messages if m["role"] == "user")
    question = EXPERT.act_one(transcript)
    return f"Sure! Let me think about turn {len(parse_turns(transcript)) + 1}.\n{question}"


EXPERT = GreedyExpert(TwentyQuestionsEnv(objects=list(SUBSET)))


def test_an_openai_compatible_server_goes_through_the_leaderboard(tmp_path):
    with OpenAICompatibleServer(chatty_expert) as server:
        entry = {
            "envs": [SUBSET_ID],
            "agent": "openai:chatty",
            "agent_kwargs": {"base_url": server.base_url},
        }
        (tmp_path / "chatty.json").write_text(json.dumps(entry))
        assert (
            run(
                "--entries",
                str(tmp_path / "chatty.json"),
                "--results",
                str(tmp_path / "r"),
                "--limit",
                "20",
            )
            == 0
        )
    summary = json.loads((tmp_path / "r/TwentyQuestionsSubset-v0/chatty/summary.json").read_text())
    expert = evaluate(load_agent("expert", SUBSET_ID), SUBSET_ID, progress=False)
    assert summary["success_rate"] == 1.0 and summary["mean_return"] == expert.mean_return
    assert summary["decoding"] == "greedy"  # temperature 0
    line = json.loads(episodes_file(tmp_path / "r", "chatty").read_text().splitlines()[0])
    assert line["raw_replies"]["0"] == f"Sure! Let me think about turn 1.\n{line['actions'][0]}"
    # the actions and rewards give the whole transcript back
    transcript = leaderboard.replay(line, SUBSET_ID)
    assert f"> {line['actions'][-1]}" in transcript and "Yes." in transcript


def test_a_module_agent_from_the_current_folder_with_archer_envs_eval(outside, capsys):
    out = outside / "eval.json"
    assert (
        cli.main(
            [
                "eval",
                "--env",
                SUBSET_ID,
                "--agent",
                "mypkg.guess:Guesser",
                "--agent-kwargs",
                json.dumps({"log": "built.log"}),
                "--repeats",
                "2",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = json.loads(out.read_text())
    assert saved["summary"]["episodes"] == 20  # every object twice
    assert sorted(e["target"] for e in saved["episodes"]) == sorted(list(SUBSET) * 2)
    step = saved["episodes"][0]["steps"][0]  # compact: each step's new text only
    assert step["more"] in (f"{step['action']} No.\n", f"{step['action']} Yes.\n")
    capsys.readouterr()
    assert cli.main(["compare", str(out)]) == 0
    assert "| mypkg.guess:Guesser | - |" in capsys.readouterr().out


def test_compact_records_expand_to_the_same_trajectories():
    for env_id, agent in ((SUBSET_ID, "expert"), ("archer/Detective-v0", "random")):
        result = evaluate(load_agent(agent, env_id), env_id, episodes=2, progress=False)
        for record in result.records:
            assert expand_record(compact_record(record)) == record
    steps = compact_record(result.records[0])["steps"]
    assert all("edit" in step for step in steps)  # not a growing text: the lines that changed
    new = sum(len(part) for s in steps for part in s["edit"] if isinstance(part, str))
    assert new < sum(len(t["next_observation"]) for t in result.records[0]["transitions"]) / 2


def test_first_question_of_a_reply_with_a_preamble():
    assert first_question("Sure! Let me think.\nIs it alive?\nThanks") == "Is it alive?"
    assert first_question("Okay.\n\n**Question 2:** Is it red? Or blue?") == "Is it red?"
    assert first_question("I will go north.\nnorth") == "I will go north."  # no question


def test_trained_agents_say_how_they_decode():
    from archer_agents.models import PolicyAgent, PolicyLM

    policy = PolicyLM("tiny", max_new_tokens=4)
    sampled = evaluate(
        PolicyAgent(policy, greedy=False, seed=0),
        SUBSET_ID,
        episodes=[{"index": 0}],
        progress=False,
    )
    assert sampled.decoding == "sampled (temperature 1)"
    assert "[sampled (temperature 1)] on" in str(sampled)
    assert sampled.summary()["decoding"] == "sampled (temperature 1)"


def test_async_vector_envs_refuse_shared_memory():
    with pytest.raises(ValueError, match=r"shared memory.*shared_memory': False"):
        gym.make_vec(SUBSET_ID, num_envs=2, vectorization_mode="async")


def test_errors_are_one_line(tmp_path, capsys):
    def error(main, *args):
        assert main(list(args)) == 2
        text = capsys.readouterr().err
        assert text.count("\n") == 1, text
        return text

    assert "did you mean 'archer/TwentyQuestions-v0'" in error(
        cli.main, "eval", "--env", "archer/TwentyQuestion-v0", "--agent", "random"
    )
    assert "no run folder 'runs/archr'" in error(
        cli.main, "eval", "--env", SUBSET_ID, "--agent", "runs/archr"
    )
    assert "run folder of archer-train" in error(
        cli.main, "eval", "--env", SUBSET_ID, "--agent", "exprt"
    )
    (tmp_path / "typo.json").write_text(json.dumps({"envs": [SUBSET_ID], "agnet": "random"}))
    assert "unknown keys ['agnet']" in error(
        leaderboard.main, "run", "--entries", str(tmp_path / "typo.json")
    )
    assert "no entry 'nosuch'" in error(leaderboard.main, "run", "--entries", "nosuch")
    assert "nothing to run: no entry of ['optimal'] plays archer/GuessMyCity-v0" in error(
        leaderboard.main, "run", "--entries", "optimal", "--envs", "archer/GuessMyCity-v0"
    )


def test_the_console_script_reports_a_bad_entry_in_one_line(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps({"envs": [SUBSET_ID]}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "baselines.leaderboard",
            "run",
            "--entries",
            str(tmp_path / "e.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "exactly one of 'agent'" in result.stderr


def test_committed_entries_load():
    entries = leaderboard.load_entries(leaderboard.ENTRIES_DIR)
    assert {"random", "expert", "optimal", "bc", "archer"} <= set(entries)
    assert entries["archer"].train["init"] == "bc"
    for entry in entries.values():
        assert set(entry.envs) <= set(leaderboard.SUITES["cpu"])


def test_play_help_and_quit_cost_no_turn(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("help\nIs it alive?\nquit\n"))
    assert cli.main(["play", SUBSET_ID, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "(19 questions left)" in out and out.rstrip().endswith("bye")
    monkeypatch.setattr("sys.stdin", io.StringIO("north\nquit\n"))
    assert cli.main(["play", "archer/Detective-v0"]) == 0
    out = capsys.readouterr().out  # the reply once: no echoed command, no second room text
    assert out.count("A panelled hall") == 1 and "> north" not in out


def test_a_trained_entry_trains_once_and_counts_its_samples(tmp_path):
    """A training budget in an entry: BC (40 short epochs on 30 expert episodes: seconds, not a
    converged start) trained on first use, its run reused afterwards."""
    entries = tmp_path / "entries"
    entries.mkdir()
    bc = {
        "envs": [SUBSET_ID],
        "seed": 1,
        "train": {
            "algo": "bc",
            "set": {"epochs": 40},
            "dataset": {"agent": "expert", "episodes": 30},
        },
    }
    (entries / "tiny-bc.json").write_text(json.dumps(bc))
    sampled = {"envs": [SUBSET_ID], "trained": "tiny-bc", "agent_kwargs": {"greedy": False}}
    (entries / "tiny-bc-sampled.json").write_text(json.dumps(sampled))
    args = [
        "--entries-dir",
        str(entries),
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "r"),
        "--limit",
        "20",
        "--no-render",
    ]
    assert run(*args) == 0
    run_dir = tmp_path / "runs" / "tiny-bc" / "TwentyQuestionsSubset-v0"
    record = json.loads((run_dir / "training.json").read_text())
    assert record["samples"] == 30 and record["algo"] == "bc"
    folder = tmp_path / "r" / "TwentyQuestionsSubset-v0"
    greedy = json.loads((folder / "tiny-bc" / "summary.json").read_text())
    other = json.loads((folder / "tiny-bc-sampled" / "summary.json").read_text())
    assert greedy["decoding"] == "greedy" and other["decoding"] == "sampled (temperature 1)"
    assert greedy["training_samples"] == other["training_samples"] == 30
    assert greedy["agent"] == other["agent"] == str(run_dir.relative_to(tmp_path.parent)) or (
        greedy["agent"] == other["agent"] == str(run_dir)
    )
    checkpoint = next((run_dir / "checkpoints").iterdir())
    stamp = checkpoint.stat().st_mtime_ns
    shutil.rmtree(folder)  # results gone, the run kept: evaluated again, not trained again
    assert run(*args) == 0
    assert checkpoint.stat().st_mtime_ns == stamp
