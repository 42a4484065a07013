"""archer-envs: list the environments, play one in the terminal, evaluate an agent, make data.

archer-envs list
archer-envs play archer/TwentyQuestions-v0
archer-envs eval --env archer/TwentyQuestionsSubset-v0 --agent mypkg.mod:my_agent
archer-envs eval --env archer/TwentyQuestions-v0 --agent openai:MODEL --base-url URL
archer-envs eval --env archer/TwentyQuestionsSubset-v0 --agent runs/archer \
    --agent-kwargs '{"greedy": false}'
archer-envs compare eval-*.json baselines/results/leaderboard/*/*/summary.json
archer-envs dataset --env archer/TwentyQuestions-v0 --epsilon 0.3 --out bc.jsonl
archer-envs dataset --from-upstream twenty_questions.json --env archer/TwentyQuestions-v0 \\
    --out 20q.jsonl
archer-envs webshop-server --port 3000

As `python -m` does, the current folder is importable: `--agent mypkg.mod:my_agent` finds
./mypkg.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

import archer_envs
from archer_envs.agents import load_agent
from archer_envs.core import check_env_id
from archer_envs.datasets import convert_upstream, generate_bc_dataset
from archer_envs.evaluation import evaluate


def _json_option(flag: str, text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{flag} must be a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, got {text}")
    return value


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = _json_option("--env-kwargs", args.env_kwargs)
    if args.oracle:
        kwargs["oracle"] = args.oracle
        if args.oracle_base_url:
            kwargs["oracle_kwargs"] = {"base_url": args.oracle_base_url}
    return kwargs


def cmd_list(args: argparse.Namespace) -> int:
    width = max(map(len, archer_envs.ENVIRONMENTS))
    for env_id, (module, name, _) in archer_envs.ENVIRONMENTS.items():
        try:
            env_class = getattr(importlib.import_module(module), name)
        except ImportError as error:  # an env whose extra is not installed
            print(f"{env_id:<{width}}  ({error})")
            continue
        print(f"{env_id:<{width}}  {describe(env_id, env_class)}")
    return 0


def describe(env_id: str, env_class: type) -> str:
    """The first sentence of an env's docstring (however it is wrapped) and the number of its
    targets ("157 objects", "100 cities") where it has a list of them."""
    paragraph = (env_class.__doc__ or "").strip().split("\n\n")[0]
    summary = " ".join(paragraph.split())
    kind = getattr(env_class, "kind", None)
    if kind is not None:  # a question game: the objects are cheap to list
        count = len(gym.make(env_id).unwrapped.objects)
        plural = "cities" if kind == "city" else f"{kind}s"
        summary += f" {count} {plural}"
    return summary


PLAY_HELP = "Commands: help (this text), quit (stop). Anything else is your move."


def cmd_play(args: argparse.Namespace) -> int:
    check_env_id(args.env)
    env = gym.make(args.env, **_env_kwargs(args))
    observation, info = env.reset(seed=args.seed)
    task = info.get("task", "")
    print(task, "\n")
    print(observation, end="" if observation.endswith("\n") else "\n")
    print(f"({PLAY_HELP})")
    total = 0.0
    while True:
        try:
            action = input("> ")
        except (EOFError, KeyboardInterrupt):
            print("\nbye")
            return 0
        command = action.strip().lower()
        if command in ("quit", "exit"):
            print("bye")
            return 0
        if command == "help":  # costs no turn
            print(f"{task}\n{PLAY_HELP}")
            continue
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        print(play_view(env.unwrapped, observation, reward, info))
        if terminated or truncated:
            ended = "Out of turns." if truncated or "answer" in info else "Game over."
            outcome = "You got it!" if info.get("success") else ended
            print(f"{outcome} It was: {info.get('target')}. Return: {total:g}")
            return 0


def play_view(env: Any, observation: str, reward: float, info: dict[str, Any]) -> str:
    """What a person needs after a move: a question game's answer and the questions left; a
    text adventure's reply once (not the command again, nor the room a second time) and the
    score when it changes; anything else, the observation."""
    if "answer" in info:
        left = getattr(env, "max_turns", None)
        if isinstance(left, int) and not info.get("success"):
            left -= info["turn"]
            return f"{info['answer']}  ({left} question{'s' if left != 1 else ''} left)"
        return str(info["answer"])
    if "reply" in info:
        reply = str(info["reply"])
        if reply.startswith("> "):
            reply = reply.partition("\n")[2]
        if reward and "score" in info:
            reply += f"\n[score {info['score']} of {info.get('max_score', '?')}]"
        return reply
    return observation


def cmd_eval(args: argparse.Namespace) -> int:
    check_env_id(args.env)
    options: dict[str, Any] = _json_option("--agent-kwargs", args.agent_kwargs)
    if args.agent.startswith("openai:"):
        options.setdefault("base_url", args.base_url)
        options.setdefault("api_key_env", args.api_key_env)
    agent = load_agent(args.agent, args.env, seed=args.seed, **options)
    episodes: Any = args.episodes
    if args.repeats is not None:
        if args.episodes is not None or args.repeats < 1:
            raise ValueError("--repeats is a positive number and replaces --episodes")
        env = gym.make(args.env, **_env_kwargs(args)).unwrapped
        fixed = env.episode_options() if hasattr(env, "episode_options") else [{}]
        episodes = fixed * args.repeats
    result = evaluate(
        agent,
        args.env,
        episodes=episodes,
        seed=args.seed,
        num_envs=args.num_envs,
        env_kwargs=_env_kwargs(args),
        agent_name=args.agent,
        progress=not args.quiet,
    )
    out = args.out or f"eval-{_slug(args.env)}-{_slug(args.agent)}.json"
    result.save(out)
    print(result)
    print(f"results: {out}")
    return 0


def read_summary(path: str) -> dict[str, Any]:
    """The summary in an eval results file (``archer-envs eval --out``), a leaderboard
    ``summary.json``, or a JSON list of summaries (``baselines.reference --out``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        data = data["summary"]
    keys = ("env_id", "mean_return", "success_rate")
    if not (isinstance(data, dict) and all(k in data for k in keys)):
        raise ValueError(f"{path}: not an evaluation result (no summary with {', '.join(keys)})")
    return data


def compare_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """One markdown table of evaluation summaries, by env and then by mean return."""
    lines = [
        "| env | agent | decoding | return | success | turns | episodes | file |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda r: (r[1]["env_id"], -r[1]["mean_return"], r[0]))
    for path, row in ordered:
        stderr = row.get("stderr_return")
        spread = f" ± {stderr:.2f}" if isinstance(stderr, (int, float)) else ""
        turns = row.get("mean_turns")
        lines.append(
            f"| {row['env_id']} | {row.get('entry') or row.get('agent', '?')} "
            f"| {row.get('decoding') or '-'} | {row['mean_return']:.2f}{spread} "
            f"| {100 * row['success_rate']:.1f}% "
            f"| {'-' if turns is None or math.isnan(turns) else f'{turns:.1f}'} "
            f"| {row.get('episodes', '?')} | {path} |"
        )
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    print(compare_table([(path, read_summary(path)) for path in args.files]))
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    if args.from_upstream:
        summary = convert_upstream(
            args.from_upstream, args.env, args.out, skip_bad=args.skip_bad, progress=not args.quiet
        )
        print(
            f"{summary['episodes']} conversations -> {args.out} ({summary['skipped']} skipped): "
            f"mean return {summary['mean_return']:.2f}, success "
            f"{100 * summary['success_rate']:.1f}% by {args.env}'s rules (upstream's verdict "
            f"differs in {summary['upstream_disagrees']})"
        )
        for problem in summary["problems"]:
            print(f"  skipped {problem}")
        return 0
    summary = generate_bc_dataset(
        args.env,
        args.out,
        episodes=args.episodes,
        agent=args.agent,
        epsilon=args.epsilon,
        seed=args.seed,
        num_envs=args.num_envs,
        progress=not args.quiet,
    )
    print(
        f"{summary['episodes']} episodes -> {args.out}: mean return {summary['mean_return']:.2f}, "
        f"success {100 * summary['success_rate']:.1f}%"
    )
    return 0


def cmd_webshop_server(args: argparse.Namespace) -> int:
    from archer_envs.webshop.server import serve

    serve(
        args.port,
        num_products=args.num_products,
        catalog_seed=args.catalog_seed,
        catalog_path=args.catalog_path,
        difficulty=args.difficulty,
    )
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archer-envs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="the registered environments").set_defaults(run=cmd_list)

    def env_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--oracle", help="kb (default), openai:<model> or hf:<name-or-path>")
        sub.add_argument("--oracle-base-url", help="endpoint of an openai: oracle")
        sub.add_argument("--env-kwargs", help="JSON keyword arguments for gym.make")

    play = commands.add_parser("play", help="play an environment in the terminal")
    play.add_argument("env")
    play.add_argument("--seed", type=int)
    env_options(play)
    play.set_defaults(run=cmd_play)

    evaluation = commands.add_parser("eval", help="evaluate an agent")
    evaluation.add_argument("--env", required=True)
    evaluation.add_argument(
        "--agent",
        required=True,
        help="random | expert | optimal | a run folder of archer-train | openai:<model> | "
        "hf:<name-or-path> | package.module:attribute",
    )
    evaluation.add_argument(
        "--episodes",
        type=int,
        help="number of seeded episodes, their targets drawn at random (default: every object "
        "once)",
    )
    evaluation.add_argument(
        "--repeats",
        type=int,
        help="every object (city, test goal) this many times, as the leaderboard plays them",
    )
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.add_argument("--num-envs", type=int, default=8)
    evaluation.add_argument("--base-url", help="endpoint of an openai: agent")
    evaluation.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="name of the environment variable holding the API key",
    )
    evaluation.add_argument(
        "--agent-kwargs",
        help="JSON keyword arguments for the agent: a run folder decodes greedily unless "
        "'{\"greedy\": false}' (sampling at temperature 1, seeded by --seed); openai: "
        '\'{"temperature": 0.7, "max_tokens": 128}\'; scripted: \'{"epsilon": 0.3}\'; '
        "module:attr: passed to the class or factory",
    )
    evaluation.add_argument("--out", help="JSON results file")
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")
    env_options(evaluation)
    evaluation.set_defaults(run=cmd_eval)

    compare = commands.add_parser("compare", help="one table from evaluation results files")
    compare.add_argument("files", nargs="+", help="eval --out JSON files or summary.json files")
    compare.set_defaults(run=cmd_compare)

    dataset = commands.add_parser(
        "dataset", help="behaviour-cloning data from a scripted agent or the paper's files"
    )
    dataset.add_argument("--env", required=True)
    dataset.add_argument("--out", required=True, help="trajectory JSONL file")
    dataset.add_argument(
        "--agent", default="expert", help="expert | random | optimal | rule (WebShop)"
    )
    dataset.add_argument(
        "--epsilon",
        type=float,
        default=0.0,
        help="probability that the expert wastes a turn (sub-optimal data)",
    )
    dataset.add_argument("--episodes", type=int, default=1000)
    dataset.add_argument("--seed", type=int, default=0)
    dataset.add_argument("--num-envs", type=int, default=16)
    dataset.add_argument(
        "--from-upstream",
        metavar="FILE",
        help="convert the paper's conversations (ArCHer's dataset/twenty_questions.json or "
        "guess_my_city.json, LMRL-Gym's 20Q/City files) instead of playing --agent: each "
        "conversation's questions replayed through --env with its word as the target",
    )
    dataset.add_argument(
        "--skip-bad", action="store_true", help="with --from-upstream: leave bad records out"
    )
    dataset.add_argument("--quiet", action="store_true")
    dataset.set_defaults(run=cmd_dataset)

    site = commands.add_parser("webshop-server", help="serve the WebShop site on 127.0.0.1")
    site.add_argument("--port", type=int, default=3000)
    site.add_argument("--num-products", type=int, default=10_000)
    site.add_argument("--catalog-seed", type=int, default=0)
    site.add_argument(
        "--catalog-path", help="folder with WebShop's items_shuffle.json and items_ins_v2.json"
    )
    site.add_argument(
        "--difficulty", default="hard", choices=("easy", "hard"), help="the generated catalogue"
    )
    site.set_defaults(run=cmd_webshop_server)
    return parser


def importable_current_folder() -> None:
    """Put the current folder first on the import path, as ``python -m`` does, so that
    ``--agent mypkg.mod:attr`` finds ./mypkg from a console script too."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, make the current folder importable and run the chosen subcommand; a bad input
    is one line on stderr and exit status 2."""
    args = parser.parse_args(argv)
    importable_current_folder()
    try:
        return args.run(args)
    except (ValueError, TypeError, archer_envs.OracleError, gym.error.Error) as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
