"""The project's byte-level BPE tokenizer, trained on the suite's own text.

The corpus is env transcripts played by the scripted reference agents of every registered env
(plus each env's task description), so questions such as "Is it an animal?" become a few tokens.
The trained file is committed as data/tokenizer/tokenizer.json; rebuild it with

    python -m archer_agents.tokenizer [--vocab-size 4096] [--episodes 300]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import gymnasium as gym
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

import archer_envs
from archer_envs.agents import scripted_agents
from archer_envs.core import data_path
from archer_envs.evaluation import evaluate

END_OF_TEXT = "<|endoftext|>"
VOCAB_SIZE = 4096


def tokenizer_file():
    return data_path("tokenizer", "tokenizer.json")


def corpus(episodes: int = 300, seed: int = 0) -> Iterator[str]:
    """Final transcripts (which contain every turn) of each scripted agent on each env id."""
    for env_id in archer_envs.ENVIRONMENTS:
        if env_id == "archer/WebShopBrowser-v0":  # the same text as WebShop-v0, via a browser
            continue
        try:
            env = gym.make(env_id)
        except ValueError:  # needs the user's files (e.g. Jericho-v0's story file)
            continue
        _, info = env.reset(seed=seed)
        yield info.get("task", "")
        for name, agent_class in scripted_agents(env_id).items():
            try:
                agent = agent_class(env.unwrapped, seed=seed)
            except ValueError:  # e.g. the optimal agent on a long object list
                continue
            result = evaluate(agent, env_id, episodes=episodes, seed=seed, agent_name=name)
            for record in result.records:
                yield record["transitions"][-1]["next_observation"]


def train_tokenizer(texts: Iterator[str], vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_tokenizer(
    name_or_path: str | None = None, local_files_only: bool = False
) -> PreTrainedTokenizerFast:
    """The project's tokenizer (``None``) or a pretrained one by name or path (with
    ``local_files_only``, never downloaded), as a transformers fast tokenizer that pads and
    truncates on the left (the newest turns are kept)."""
    if name_or_path is None:
        path = tokenizer_file()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: rebuild it with `python -m archer_agents.tokenizer`"
            )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_file=str(path),
            eos_token=END_OF_TEXT,
            bos_token=END_OF_TEXT,
            pad_token=END_OF_TEXT,
            unk_token=END_OF_TEXT,
        )
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_files_only)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    parser.add_argument("--episodes", type=int, default=300, help="per scripted agent and env")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = train_tokenizer(corpus(args.episodes, args.seed), args.vocab_size)
    path = tokenizer_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    print(f"wrote {path} ({tokenizer.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main()
