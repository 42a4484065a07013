"""The prompted local causal LM agent (``hf:<path>``): a tiny GPT-2 taught to ask "Is it a dog?"
plays the Subset through archer-envs eval, from a plain prompt and through a chat template."""

import json

import gymnasium as gym
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from archer_agents.tokenizer import load_tokenizer
from archer_envs import cli
from archer_envs.agents import HFCausalLMAgent, load_agent

ENV_ID = "archer/TwentyQuestionsSubset-v0"
TEMPLATE = (
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def teach(model, tokenizer, prompts: list[str], reply: str, steps: int = 150) -> None:
    """Fit the model to continue every prompt with ``reply`` (loss on the reply's tokens)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rows = []
    for prompt in prompts:
        context, answer = tokenizer(prompt).input_ids, tokenizer(reply).input_ids
        rows.append(
            (torch.tensor([context + answer]), torch.tensor([[-100] * len(context) + answer]))
        )
    for _ in range(steps):
        optimizer.zero_grad()
        sum(model(input_ids=ids, labels=labels).loss for ids, labels in rows).backward()
        optimizer.step()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two directories with the same tiny model: one tokenizer plain, one with a chat template."""
    torch.manual_seed(0)
    tokenizer = load_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=1,
        n_embd=32,
        n_head=2,
        n_positions=256,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    plain = tmp_path_factory.mktemp("hf") / "plain"
    chat = plain.parent / "chat"
    task = gym.make(ENV_ID, max_turns=3).unwrapped.task_description  # what eval's reset says
    history = [{"role": "system", "content": task}, {"role": "user", "content": "Questions:\n"}]
    plain_prompt = f"{task}\n\nQuestions:\n"
    tokenizer.chat_template = TEMPLATE
    chat_prompt = tokenizer.apply_chat_template(history, add_generation_prompt=True, tokenize=False)
    tokenizer.chat_template = None
    teach(model, tokenizer, [plain_prompt, chat_prompt], "Is it a dog?\n")
    model.save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    model.save_pretrained(chat)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(chat)
    return plain, chat, history, plain_prompt, chat_prompt


def test_the_prompt_is_the_chat_template_or_the_task_and_transcript(models):
    plain, chat, history, plain_prompt, chat_prompt = models
    assert HFCausalLMAgent(str(plain)).prompt(history) == plain_prompt
    assert HFCausalLMAgent(str(chat)).prompt(history) == chat_prompt
    assert chat_prompt == f"<system>{history[0]['content']}\n<user>Questions:\n\n<assistant>"


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_an_hf_agent_plays_through_archer_envs_eval(models, which, tmp_path):
    path = models[0] if which == "plain" else models[1]
    results = tmp_path / "eval.json"
    assert (
        cli.main(
            [
                "eval",
                "--env",
                ENV_ID,
                "--agent",
                f"hf:{path}",
                "--quiet",
                "--agent-kwargs",
                '{"max_new_tokens": 8}',
                "--env-kwargs",
                '{"max_turns": 3}',
                "--out",
                str(results),
            ]
        )
        == 0
    )
    episodes = json.loads(results.read_text())["episodes"]
    assert len(episodes) == 10  # every object once
    for episode in episodes:
        first = episode["steps"][0]["action"]
        assert first == "Is it a dog?", first  # the reply's first question, from the model
        assert episode["success"] == (episode["target"] == "Dog")
    dog = next(e for e in episodes if e["target"] == "Dog")
    assert dog["return"] == 0.0 and len(dog["steps"]) == 1


def test_a_model_that_is_not_on_this_machine_is_one_clear_error(tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert (
        cli.main(
            [
                "eval",
                "--env",
                ENV_ID,
                "--agent",
                f"hf:{missing}",
                "--episodes",
                "1",
                "--quiet",
                "--out",
                str(tmp_path / "eval.json"),
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert f"hf:{missing} is not a causal LM on this machine" in error
    assert "nothing is downloaded" in error
    with pytest.raises(ValueError, match="needs a model directory"):
        load_agent("hf:")
