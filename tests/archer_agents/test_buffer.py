"""The replay buffer of utterance-level transitions (archer_agents.buffer)."""

import json

import numpy as np
import pytest

from archer_agents.buffer import ReplayBuffer


def test_buffer_is_a_seeded_fifo_that_round_trips(tmp_path):
    buffer = ReplayBuffer(capacity=3, seed=0)
    for i in range(5):
        buffer.add(f"s{i}", f"a{i}", -1.0, f"s{i + 1}", i == 4)
    assert len(buffer) == 3
    assert sorted(t["observation"] for t in buffer.transitions) == ["s2", "s3", "s4"]
    again = ReplayBuffer(capacity=3, seed=0)
    for i in range(5):
        again.add(f"s{i}", f"a{i}", -1.0, f"s{i + 1}", i == 4)
    first, second = buffer.sample(8), again.sample(8)
    assert first.observations == second.observations  # same seed, same draws
    assert np.array_equal(first.dones, second.dones)
    assert len(set(buffer.sample(50).observations)) == 3  # uniform over what is stored
    buffer.save(tmp_path / "buffer.jsonl")
    loaded = ReplayBuffer(capacity=3)
    loaded.load(tmp_path / "buffer.jsonl")
    assert [t["observation"] for t in loaded.transitions] == ["s2", "s3", "s4"]
    (tmp_path / "bad.jsonl").write_text(json.dumps({"observation": "s"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not a buffer transition"):
        loaded.load(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2).sample(1)
