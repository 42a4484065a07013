"""archer-envs: list the environments, play one in the terminal, evaluate an agent, make data.

archer-envs list
archer-envs play archer/TwentyQuestions-v0
archer-envs eval --env archer/TwentyQuestionsSubset-v0 --agent mypkg.mod:my_agent
archer-envs eval --env archer/TwentyQuestions-v0 --agent openai:MODEL --base-url URL
archer-envs dataset --env archer/TwentyQuestions-v0 --epsilon 0.3 --out bc.jsonl
archer-envs dataset --from-upstream twenty_questions.json --env archer/TwentyQuestions-v0 \\
    --out 20q.jsonl
archer-envs webshop-server --port 3000
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from typing import Any

import gymnasium as gym

import archer_envs
from archer_envs.agents import load_agent
from archer_envs.datasets import convert_upstream, generate_bc_dataset
from archer_envs.evaluation import evaluate


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = json.loads(args.env_kwargs) if args.env_kwargs else {}
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
        summary = (env_class.__doc__ or "").strip().splitlines()[0]
        try:
            env = gym.make(env_id).unwrapped
        except ValueError:  # needs arguments of the user's (Jericho-v0: a story file)
            env = None
        size = f"{len(env.objects)} objects" if hasattr(env, "objects") else ""
        print(f"{env_id:<{width}}  {summary} {size}".rstrip())
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    env = gym.make(args.env, **_env_kwargs(args))
    observation, info = env.reset(seed=args.seed)
    print(info.get("task", ""), "\n")
    print(observation, end="")
    total = 0.0
    while True:
        try:
            action = input("> ")
        except (EOFError, KeyboardInterrupt):
            print("\nbye")
            return 0
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        print(f"{info.get('answer', observation)}")
        if terminated or truncated:
            ended = "Out of turns." if truncated or "answer" in info else "Game over."
            outcome = "You got it!" if info.get("success") else ended
            print(f"{outcome} It was: {info.get('target')}. Return: {total:g}")
            return 0


def cmd_eval(args: argparse.Namespace) -> int:
    options: dict[str, Any] = json.loads(args.agent_kwargs) if args.agent_kwargs else {}
    if args.agent.startswith("openai:"):
        options.setdefault("base_url", args.base_url)
        options.setdefault("api_key_env", args.api_key_env)
    agent = load_agent(args.agent, args.env, seed=args.seed, **options)
    result = evaluate(
        agent,
        args.env,
        episodes=args.episodes,
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


def cmd_dataset(args: argparse.Namespace) -> int:
    if args.from_upstream:
        summary = convert_upstream(args.from_upstream, args.env, args.out, skip_bad=args.skip_bad,
                                   progress=not args.quiet)  # fmt: skip
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
        help="random | expert | optimal | openai:<model> | package.module:attribute",
    )
    evaluation.add_argument(
        "--episodes", type=int, help="number of seeded episodes (default: every object once)"
    )
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.add_argument("--num-envs", type=int, default=8)
    evaluation.add_argument("--base-url", help="endpoint of an openai: agent")
    evaluation.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="name of the environment variable holding the API key",
    )
    evaluation.add_argument("--agent-kwargs", help="JSON keyword arguments for the agent")
    evaluation.add_argument("--out", help="JSON results file")
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")
    env_options(evaluation)
    evaluation.set_defaults(run=cmd_eval)

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
    site.set_defaults(run=cmd_webshop_server)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, archer_envs.OracleError) as error:
        print(f"archer-envs {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
