"""How fast are TwentyQuestions-v0 and GuessMyCity-v0 with their knowledge-base oracles, and how
much cheaper is an answer than with the upstream oracle's architecture (a flan-t5-small-sized T5)?

Prints figures; it asserts nothing. Run on an otherwise idle machine:

    python -m baselines.benchmarks.env_speed [--steps 100000]
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import archer_envs  # noqa: F401  (registers the ids)
from archer_envs.twenty_questions.knowledge import default_knowledge_base

ENV_ID = "archer/TwentyQuestions-v0"


def question_pool(seed: int = 0) -> list[str]:
    """What agents ask: the knowledge base's questions and guesses of every object."""
    knowledge = default_knowledge_base()
    pool = [p.question for p in knowledge.properties.values()]
    pool += [f"Is it a {o.name.lower()}?" for o in knowledge.objects]
    rng = np.random.default_rng(seed)
    return [pool[i] for i in rng.integers(len(pool), size=4096)]


def single_env(steps: int, questions: list[str]) -> float:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    start = time.perf_counter()
    for i in range(steps):
        *_, terminated, truncated, _ = env.step(questions[i % len(questions)])
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def vector_env(steps: int, questions: list[str], num_envs: int = 32) -> float:
    envs = gym.make_vec(ENV_ID, num_envs=num_envs)
    envs.reset(seed=0)
    batches = steps // num_envs
    start = time.perf_counter()
    for i in range(batches):
        offset = (i * num_envs) % (len(questions) - num_envs)
        envs.step(questions[offset : offset + num_envs])
    return batches * num_envs / (time.perf_counter() - start)


def unseen_questions(count: int) -> float:
    """Questions never asked before (no parse cache): the oracle's worst case."""
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    start = time.perf_counter()
    for i in range(count):
        *_, terminated, truncated, _ = env.step(
            f"Is it bigger than {i} centimeters or made of wood?"
        )
        if terminated or truncated:
            env.reset()
    return count / (time.perf_counter() - start)


def city_speed(steps: int) -> tuple[float, float]:
    """GuessMyCity-v0 steps/s with the knowledge-base oracle: the scripted agents' questions,
    guesses and open questions (warm parse cache), then never-seen questions."""
    from archer_envs.guess_my_city.agents import question_pool
    from archer_envs.guess_my_city.knowledge import default_cities

    cities = default_cities()
    pool = question_pool(cities) + [f"Is it {c.name}?" for c in cities]
    pool += ["What language do people speak there?", "What is your city famous for?"]
    questions = [pool[i] for i in np.random.default_rng(0).integers(len(pool), size=4096)]
    env = gym.make("archer/GuessMyCity-v0")
    env.reset(seed=0)
    rates = []
    for batch in (questions, [f"Is it colder than {i} degrees in winter?" for i in range(steps)]):
        start = time.perf_counter()
        for i in range(steps):
            *_, terminated, truncated, _ = env.step(batch[i % len(batch)])
            if terminated or truncated:
                env.reset()
        rates.append(steps / (time.perf_counter() - start))
    return rates[0], rates[1]


def detective_steps_per_second(steps: int, seed: int = 0) -> float:
    """archer/Detective-v0 played by random valid actions: every step parses the command, runs
    it, and composes the observation with the valid actions of the new state."""
    env = gym.make("archer/Detective-v0")
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        actions = info["valid_actions"]
        *_, terminated, truncated, info = env.step(actions[int(rng.integers(len(actions)))])
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.perf_counter() - start)


def t5_seconds_per_answer(questions: list[str], batch: int = 32, batches: int = 4) -> float:
    """Greedy 16-token answers of a T5 with flan-t5-small's shape, built from its config."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    prompts = [f"The object is dog.{q}" for q in questions[: batch * batches]]
    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(
        prompts, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"])
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = transformers.T5Config(  # google/flan-t5-small
        vocab_size=32128,
        d_model=512,
        d_kv=64,
        d_ff=1024,
        num_layers=8,
        num_decoder_layers=8,
        num_heads=6,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = transformers.T5ForConditionalGeneration(config).eval()
    encoded = [
        tokenizer(prompts[i : i + batch], padding=True, return_tensors="pt")
        for i in range(0, len(prompts), batch)
    ]
    with torch.inference_mode():
        model.generate(**encoded[0], max_new_tokens=16, min_new_tokens=16, do_sample=False)
        start = time.perf_counter()
        for inputs in encoded:
            model.generate(**inputs, max_new_tokens=16, min_new_tokens=16, do_sample=False)
    return (time.perf_counter() - start) / len(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--skip-t5", action="store_true")
    args = parser.parse_args()
    questions = question_pool()
    single_env(2000, questions)  # warm the parse cache as a running agent would
    single = single_env(args.steps, questions)
    vector = vector_env(args.steps, questions)
    cold = unseen_questions(min(args.steps, 20_000))
    print(f"TwentyQuestions-v0, knowledge-base oracle, one process ({os.cpu_count()} cores here)")
    print(f"  single env (gym.make):          {single:>10,.0f} steps/s")
    print(f"  make_vec, 32 envs:              {vector:>10,.0f} env steps/s")
    print(f"  never-seen questions (no cache): {cold:>9,.0f} steps/s")
    city_warm, city_cold = city_speed(min(args.steps, 20_000))
    print("GuessMyCity-v0, knowledge-base oracle, one process")
    print(f"  single env (gym.make):          {city_warm:>10,.0f} steps/s")
    print(f"  never-seen questions (no cache): {city_cold:>9,.0f} steps/s")
    detective = detective_steps_per_second(args.steps)
    print(f"Detective-v0, random valid actions, single env: {detective:>10,.0f} steps/s")
    if args.skip_t5:
        return
    import torch

    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        seconds = t5_seconds_per_answer(questions)
        print(
            f"flan-t5-small-sized oracle, batch 32, greedy 16 tokens, {threads} thread(s): "
            f"{1000 * seconds:.1f} ms per answer = {1 / seconds:,.0f} answers/s; "
            f"the knowledge base is {seconds * single:,.0f}x cheaper per answer"
        )


if __name__ == "__main__":
    main()
