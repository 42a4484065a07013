"""External agents, evaluate(), the reference agents, BC data and the archer-envs CLI."""

import json
import subprocess
import sys
from collections import Counter

import pytest

from archer_envs.agents import OpenAIChatAgent, first_question, load_agent
from archer_envs.datasets import generate_bc_dataset, read_trajectories, write_trajectories
from archer_envs.evaluation import evaluate
from archer_envs.twenty_questions import SUBSET as SUBSET_NAMES
from archer_envs.twenty_questions import TwentyQuestionsEnv
from archer_envs.twenty_questions.agents import GreedyExpert, parse_turns
from tests.openai_server import OpenAICompatibleServer

SUBSET = "archer/TwentyQuestionsSubset-v0"


def always_alive(observation: str) -> str:
    """A plain str -> str agent, loaded by the CLI test as
    tests.archer_envs.test_agents_evaluation:always_alive."""
    return "Is it alive?"


def test_evaluate_a_callable_on_every_object_once():
    result = evaluate(always_alive, SUBSET, progress=False)
    assert (result.episodes, result.mean_return, result.success_rate) == (10, -20.0, 0.0)
    assert result.stderr_return == 0.0 and result.mean_turns == 20.0
    assert [r["target"] for r in result.records] == list(SUBSET_NAMES)
    json.dumps(result.records)


def test_batched_agents_see_one_slot_per_episode_and_none_once_done():
    calls = []

    class Batched:
        def reset(self, tasks):
            calls.append(("reset", len(tasks)))

        def act(self, observations):
            calls.append(("act", [o is None for o in observations]))
            return [
                None if o is None else f"Is it a {['dog', 'pen', 'cat'][i]}?"
                for i, o in enumerate(observations)
            ]

    result = evaluate(
        Batched(),
        SUBSET,
        episodes=[{"target": "dog"}, {"target": "pen"}, {"target": "truck"}],
        num_envs=3,
        progress=False,
    )
    assert calls[0] == ("reset", 3)
    assert calls[1] == ("act", [False, False, False])
    assert calls[2] == ("act", [True, True, False])  # the solved episodes are masked
    assert [r["success"] for r in result.records] == [True, True, False]
    assert result.mean_return == pytest.approx((0 + 0 - 20) / 3)


def test_evaluate_rejects_malformed_agents():
    with pytest.raises(TypeError, match="NoneType, not a str action"):
        evaluate(lambda obs: None, SUBSET, episodes=1, progress=False)

    class TooFew:
        def act(self, observations):
            return ["Is it alive?"]

    with pytest.raises(TypeError, match="one action per observation"):
        evaluate(TooFew(), SUBSET, episodes=3, num_envs=3, progress=False)
    with pytest.raises(TypeError, match="callable str -> str"):
        evaluate(42, SUBSET, progress=False)


def test_seeded_episodes_are_reproducible():
    agent = load_agent("random", SUBSET, seed=1)
    first = evaluate(agent, SUBSET, episodes=12, seed=5, progress=False)
    again = evaluate(
        load_agent("random", SUBSET, seed=1), SUBSET, episodes=12, seed=5, progress=False
    )
    assert first.records == again.records
    assert len({r["target"] for r in first.records}) > 3


def test_recorded_options_replay_the_episodes_also_of_an_env_without_a_fixed_list():
    """Detective has no list of targets: its records' options are None (seeded episodes), and
    playing them again as a list replays the same episodes (as a trainer's sampled evaluation
    does with the greedy one's)."""
    detective = "archer/Detective-v0"
    first = evaluate(load_agent("expert", detective), detective, episodes=2, seed=3, progress=False)
    options = [r["options"] for r in first.records]
    assert options == [None, None]
    again = evaluate(
        load_agent("expert", detective), detective, episodes=options, seed=3, progress=False
    )
    assert again.records == first.records and first.success_rate == 1.0


def test_reference_agents_are_ordered_and_the_optimum_is_exact():
    optimal = load_agent("optimal", SUBSET)
    assert optimal.expected_return() == pytest.approx(-2.8)
    scores = {
        name: evaluate(load_agent(name, SUBSET), SUBSET, progress=False)
        for name in ("random", "expert", "optimal")
    }
    assert scores["optimal"].mean_return == pytest.approx(-2.8)
    assert scores["optimal"].success_rate == scores["expert"].success_rate == 1.0
    assert scores["random"].mean_return < scores["expert"].mean_return <= -2.8
    full = evaluate(
        load_agent("expert", "archer/TwentyQuestions-v0"),
        "archer/TwentyQuestions-v0",
        progress=False,
    )
    assert full.success_rate == 1.0 and full.mean_return > -9
    with pytest.raises(ValueError, match="at most"):
        load_agent("optimal", "archer/TwentyQuestions-v0")


def test_wasteful_questioners_are_consistent_wasteful_and_hold_the_better_moves():
    """The BC data's agent: one style per episode, confirmations only once the object is
    known, always right in the end, several turns from the optimum, and sometimes the better
    move (the splitting question first, a guess as soon as one candidate is left)."""
    agent = load_agent("wasteful", SUBSET, seed=0)
    optimal = load_agent("optimal", SUBSET)
    result = evaluate(agent, SUBSET, episodes=300, seed=0, num_envs=12, progress=False)
    assert result.success_rate == 1.0
    assert -7.5 < result.mean_return < optimal.expected_return() - 3
    first_questions = Counter(r["transitions"][0]["action"] for r in result.records)
    assert len(first_questions) == 2  # the category style's and the splitter's
    assert 0.15 < min(first_questions.values()) / 300 < 0.35
    early_guesses = 0
    for record in result.records:
        turns = [t["action"] for t in record["transitions"]]
        assert all(not a.startswith("Is it a ") or a == turns[-1] for a in turns)  # one guess
        known = [len(agent.candidates(t["observation"])) == 1 for t in record["transitions"]]
        assert known[-1] and sum(known) - 1 <= agent.max_confirmations
        assert known == sorted(known)  # once known, it stays known
        early_guesses += sum(known) == 1
        category_style = turns[0] == "Is it alive?"
        for transition, is_known in zip(record["transitions"], known, strict=True):
            candidates = agent.candidates(transition["observation"])
            yes = int((agent.column(transition["action"])[candidates] == "Yes.").sum())
            if not is_known:  # the style holds for the whole episode
                assert (yes == 1) if category_style else (yes == len(candidates) // 2)
    assert 0.15 < early_guesses / 300 < 0.4
    again = evaluate(
        load_agent("wasteful", SUBSET, seed=0),
        SUBSET,
        episodes=300,
        seed=0,
        num_envs=12,
        progress=False,
    )
    assert again.records == result.records
    with pytest.raises(ValueError, match="splitter_share"):
        load_agent("wasteful", SUBSET, splitter_share=2.0)


def test_optimal_action_values_satisfy_bellman_in_the_real_env():
    """Q*(s, a) = mean over the candidates t of r + V*(s') with s' from stepping the env with
    hidden object t; V*(s) = max_a Q*(s, a), reached by the optimal agent's own action."""
    optimal = load_agent("optimal", SUBSET)
    env = TwentyQuestionsEnv(objects=SUBSET_NAMES)
    history = ["Is it alive?", "Is it a dog?", "Is it made of metal?"]
    actions = [
        *optimal.questions[:12],
        *map(optimal.guess, range(10)),
        "Is it a pen or a piano?",
        "Is it alive?",
        "hello there",
    ]
    chair = SUBSET_NAMES.index("Chair")
    for turns in range(len(history) + 1):  # the transcripts of a game about the chair
        s = "Questions:\n" + "".join(f"{q} {optimal.column(q)[chair]}\n" for q in history[:turns])
        candidates = optimal.candidates(s)
        values = {}
        for action in actions:
            outcomes = []
            for target in candidates:
                env.reset(options={"index": target})
                for question, _ in parse_turns(s):
                    env.step(question)
                observation, reward, terminated, _, _ = env.step(action)
                outcomes.append(reward + (0.0 if terminated else optimal.state_value(observation)))
            values[action] = optimal.action_value(s, action)
            assert values[action] == pytest.approx(sum(outcomes) / len(outcomes)), (s, action)
        assert optimal.action_value(s, optimal.act_one(s)) == pytest.approx(optimal.state_value(s))
        assert max(values.values()) <= optimal.state_value(s) + 1e-9
    refuted = "Questions:\nIs it a dog? No.\n"
    assert (
        optimal.action_value(refuted, "Is it a dog?")
        == pytest.approx(optimal.action_value(refuted, "hello there"))
        == pytest.approx(-1 + optimal.state_value(refuted))
    )
    assert optimal.state_value("Questions:\n") == pytest.approx(-2.8)


def test_expert_copes_with_an_oracle_that_errs():
    class SometimesWrong:
        """Answers truthfully except that it always says the object is not alive."""

        def answer(self, queries):
            from archer_envs.twenty_questions.knowledge import KnowledgeBaseOracle

            truth = KnowledgeBaseOracle()
            return [
                "No." if "alive" in q.question else truth.answer_one(q.target, q.question)
                for q in queries
            ]

    result = evaluate(
        load_agent("expert", SUBSET),
        SUBSET,
        progress=False,
        env_kwargs={"oracle": SometimesWrong()},
    )
    assert result.success_rate == 1.0


def test_sub_optimal_bc_data(tmp_path):
    path = tmp_path / "bc.jsonl"
    clean = generate_bc_dataset(SUBSET, path, episodes=60, progress=False)
    noisy = generate_bc_dataset(
        SUBSET, tmp_path / "noisy.jsonl", episodes=60, epsilon=0.6, progress=False
    )
    assert noisy["mean_return"] < clean["mean_return"] - 1
    records = list(read_trajectories(tmp_path / "noisy.jsonl"))
    assert len(records) == 60 and records[0]["agent"] == "expert(epsilon=0.6)"
    first = records[0]["transitions"][0]
    assert first["observation"] == "Questions:\n"
    assert first["next_observation"].startswith("Questions:\n" + first["action"])
    write_trajectories(records, tmp_path / "copy.jsonl")
    assert list(read_trajectories(tmp_path / "copy.jsonl")) == records
    (tmp_path / "broken.jsonl").write_text(json.dumps({**records[0], "return": 5}) + "\n")
    with pytest.raises(ValueError, match=r"broken\.jsonl:1.*summed rewards"):
        list(read_trajectories(tmp_path / "broken.jsonl"))


def test_first_question_of_chatty_replies():
    assert first_question("Sure! Is it alive? I think so.") == "Sure! Is it alive?"
    assert (
        first_question("\n\n**Question 3:** Is it made of wood?\nThanks") == "Is it made of wood?"
    )
    assert first_question("1. Does it have legs?") == "Does it have legs?"
    assert first_question('"Is it a dog?"') == "Is it a dog?"


def chat_expert(messages):
    """A scripted 'LLM' agent: rebuilds the transcript from the chat and asks what the greedy
    expert would, in a chatty format that the agent must parse."""
    transcript = "".join(m["content"] for m in messages if m["role"] == "user")
    question = EXPERT.act_one(transcript)
    return f"Question {len(parse_turns(transcript)) + 1}: {question}\nLet me know!"


EXPERT = GreedyExpert(TwentyQuestionsEnv(objects=SUBSET_NAMES))


def test_evaluate_an_openai_chat_agent_against_a_loopback_server():
    with OpenAICompatibleServer(chat_expert) as server:
        agent = OpenAIChatAgent("scripted-llm", base_url=server.base_url)
        result = evaluate(agent, SUBSET, num_envs=4, progress=False)
        expert = evaluate(load_agent("expert", SUBSET), SUBSET, progress=False)
        assert result.success_rate == 1.0
        assert result.mean_return == expert.mean_return
        system = server.requests[0]["messages"][0]
        assert system["role"] == "system" and "Twenty Questions" in system["content"]
        # the chat history grows by one user and one assistant turn per question
        longest = max(len(r["messages"]) for r in server.requests)
        assert longest == 1 + 2 * max(len(r["transitions"]) for r in result.records) - 1


def run_cli(*args, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "archer_envs.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_list():
    result = run_cli("list")
    assert result.returncode == 0
    assert "archer/TwentyQuestions-v0" in result.stdout and "157 objects" in result.stdout
    assert "archer/TwentyQuestionsSubset-v0" in result.stdout and "10 objects" in result.stdout


def test_cli_eval_a_module_agent_writes_json(tmp_path):
    out = tmp_path / "results.json"
    result = run_cli(
        "eval",
        "--env",
        SUBSET,
        "--agent",
        "tests.archer_envs.test_agents_evaluation:always_alive",
        "--episodes",
        "100",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert saved["summary"]["episodes"] == 100 and saved["summary"]["mean_return"] == -20.0
    assert len(saved["episodes"]) == 100
    assert "return -20.00" in result.stdout


def test_cli_eval_openai_agent(tmp_path):
    with OpenAICompatibleServer(chat_expert) as server:
        out = tmp_path / "r.json"
        result = run_cli(
            "eval",
            "--env",
            SUBSET,
            "--agent",
            "openai:scripted-llm",
            "--base-url",
            server.base_url,
            "--out",
            str(out),
            "--quiet",
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(out.read_text())["summary"]["success_rate"] == 1.0


def test_cli_errors_are_clear():
    result = run_cli("eval", "--env", SUBSET, "--agent", "nosuchmodule:thing", "--quiet")
    assert result.returncode == 2 and "cannot load agent" in result.stderr
    result = run_cli("eval", "--env", SUBSET, "--agent", "genius", "--quiet")
    assert result.returncode == 2 and "unknown agent 'genius'" in result.stderr


def test_cli_play_in_the_terminal():
    moves = "Is it an animal?\nIs it a dog?\n"
    result = run_cli("play", SUBSET, "--env-kwargs", "{}", "--seed", "0", stdin=moves)
    assert result.returncode == 0
    assert "Let's play Twenty Questions" in result.stdout
    env = TwentyQuestionsEnv(objects=list(SUBSET_NAMES))  # the same game, seeded alike
    env.reset(seed=0)
    answers = [env.step(move)[4]["answer"] for move in moves.splitlines()]
    lines = result.stdout.splitlines()
    shown = [line.split("  (")[0] for line in lines if "questions left" in line]
    assert shown == [f"> {answer}" for answer in answers]  # the env's own answers, in order


def test_cli_dataset(tmp_path):
    out = tmp_path / "bc.jsonl"
    result = run_cli(
        "dataset",
        "--env",
        SUBSET,
        "--epsilon",
        "0.3",
        "--episodes",
        "20",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert len(list(read_trajectories(out))) == 20


def test_the_envs_import_neither_the_learning_agents_nor_torch():
    """Every archer_envs module (WebShop's server and browser aside: their extras) imports
    without archer_agents or torch: the envs install and test without them."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import archer_envs\n"
        "for module in pkgutil.walk_packages(archer_envs.__path__, 'archer_envs.'):\n"
        "    if module.name not in ('archer_envs.webshop.server', 'archer_envs.webshop.browser'):\n"
        "        importlib.import_module(module.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('archer_agents', 'torch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_folder_loads_through_a_registered_loader(tmp_path):
    from archer_envs.agents import _FOLDER_LOADERS, register_agent_loader

    def load_notes(path, seed=0, greedy=True):
        notes = tmp_path / "notes" / "question.txt"
        if path != str(notes.parent):
            raise ValueError("not a notes folder")
        return lambda observation: notes.read_text()

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "question.txt").write_text("Is it a dog?")
    register_agent_loader("notes", load_notes)
    try:
        agent = load_agent(str(tmp_path / "notes"), seed=3)
        assert agent.act(["Questions:\n"]) == ["Is it a dog?"]
        with pytest.raises(ValueError, match="notes: not a notes folder"):
            load_agent(str(tmp_path))
    finally:
        del _FOLDER_LOADERS["notes"]


def test_every_registered_scripted_agent_is_a_class_of_its_game_package():
    import archer_envs

    for env_id, agents in archer_envs.SCRIPTED_AGENTS.items():
        package = archer_envs.ENVIRONMENTS[env_id][0].rsplit(".", 1)[0]
        for name, agent_class in archer_envs.scripted_agents(env_id).items():
            assert agent_class.__module__ == f"{package}.agents", (env_id, name)
            assert agents[name].endswith(":" + agent_class.__name__)
