"""The project's BPE tokenizer (archer_agents.tokenizer)."""

from archer_agents.tokenizer import load_tokenizer, train_tokenizer

OBSERVATION = "Questions:\nIs it an animal? No.\nIs it man-made? Yes.\n"


def test_project_tokenizer_round_trips_suite_text_in_few_tokens():
    tokenizer = load_tokenizer()
    ids = tokenizer(OBSERVATION)["input_ids"]
    assert tokenizer.decode(ids) == OBSERVATION
    assert len(ids) <= 20  # common question words are single tokens
    odd = "naïve ☃ <|endoftext|> \x00"
    assert tokenizer.decode(tokenizer(odd)["input_ids"], skip_special_tokens=False) == odd


def test_tokenizer_trains_from_text():
    tokenizer = train_tokenizer(iter([OBSERVATION] * 50), vocab_size=300)
    assert "<|endoftext|>" in tokenizer.get_vocab()
    assert tokenizer.decode(tokenizer.encode(OBSERVATION).ids) == OBSERVATION
