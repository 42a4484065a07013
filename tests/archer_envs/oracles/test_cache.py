"""The oracle cache, damaged or edited by hand: a clear error naming the file and what is wrong
(or, for a file that is no database, a warning and a new cache beside the old one), the backend
never called in replay-only mode, and nothing on disk changed by a refused attempt."""

import json
import os
import sqlite3

import pytest

from archer_envs.oracles.cache import CacheError, CacheMiss, ReplyCache, cache_key, cached_generate

PROMPTS = [f"question {i}?" for i in range(300)]


class Backend:
    """A generate function that counts the prompts it is sent."""

    def __init__(self):
        self.sent: list[str] = []

    def __call__(self, prompts):
        self.sent += prompts
        return [f"answer to {p}" for p in prompts]


def ask(cache, prompts=PROMPTS[:3], backend=None):
    backend = backend or Backend()
    return cached_generate(cache, "openai", "m", prompts, {"temperature": 0.0}, backend)


def folder_bytes(folder):
    """Every file of a folder but sqlite's transient -wal/-shm files, with its bytes."""
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture(scope="module")
def recorded_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    cache = ReplyCache(path)
    ask(cache, PROMPTS)
    cache._connection.close()
    return path.read_bytes()


@pytest.fixture
def recorded(tmp_path, recorded_bytes):
    """A cache file that holds replies to PROMPTS."""
    path = tmp_path / "cache.sqlite"
    path.write_bytes(recorded_bytes)
    return path


def edit_row(path, value):
    """Replace the stored value of PROMPTS[0]'s row, as a user with the sqlite3 shell would."""
    key = cache_key("openai", "m", PROMPTS[0], {"temperature": 0.0})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE replies SET value = ? WHERE key = ?", (value, key))
    db.close()


def test_a_recorded_cache_replays_without_calling_the_backend(recorded):
    backend = Backend()
    assert ask(ReplyCache(recorded, "replay-only"), backend=backend) == [
        f"answer to {p}" for p in PROMPTS[:3]
    ]
    assert backend.sent == []


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_an_unreadable_file_is_set_aside_and_rebuilt_in_read_write_mode(recorded, damage):
    data = recorded.read_bytes()
    damaged = data[: len(data) // 2] if damage == "truncate" else os.urandom(len(data))
    recorded.write_bytes(damaged)
    backend = Backend()
    with pytest.warns(UserWarning, match=rf"{recorded}.*could not be read.*cache.sqlite.damaged"):
        assert ask(ReplyCache(recorded), backend=backend)[0] == "answer to question 0?"
    assert backend.sent == PROMPTS[:3]  # asked again: the old replies could not be read
    assert (recorded.parent / "cache.sqlite.damaged").read_bytes() == damaged  # nothing lost
    assert len(ReplyCache(recorded)) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_an_unreadable_file_is_refused_in_replay_only_mode(recorded, damage):
    data = recorded.read_bytes()
    recorded.write_bytes(data[:4096] if damage == "truncate" else b"\x00garbage" * 500)
    before = folder_bytes(recorded.parent)
    backend = Backend()
    with pytest.raises(CacheError, match=rf"oracle cache {recorded} cannot be read .*replay-only"):
        ask(ReplyCache(recorded, "replay-only"), backend=backend)
    assert backend.sent == [] and folder_bytes(recorded.parent) == before


@pytest.mark.parametrize("mode", ["read-write", "replay-only"])
def test_a_database_of_another_shape_is_refused_and_left_alone(tmp_path, mode):
    path = tmp_path / "mine.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE replies (key TEXT, answer TEXT, score REAL)")
    db.close()
    before = folder_bytes(tmp_path)
    with pytest.raises(
        CacheError,
        match=rf"{path} is not an oracle cache \(columns "
        r"\['key', 'answer', 'score'\]",
    ):
        ask(ReplyCache(path, mode))
    assert folder_bytes(tmp_path) == before


def checksum_of(path):
    key = cache_key("openai", "m", PROMPTS[0], {"temperature": 0.0})
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
    db.close()
    return json.loads(value)["sha256"]


# each hand edit of a row, named by what is wrong with it
EDITS = {
    "edited text": lambda sha: json.dumps({"text": "WRONG", "sha256": sha}),
    "wrong type": lambda sha: json.dumps({"text": 123, "sha256": sha}),
    "a number, not JSON text": lambda sha: 123,
    "missing key": lambda sha: json.dumps({"text": "answer to question 0?"}),
    "extra key": lambda sha: json.dumps({"text": "answer to question 0?", "sha256": sha, "x": 1}),
    "bad JSON": lambda sha: '{"text": "answer to',
    "null": lambda sha: "null",
    "a list": lambda sha: json.dumps(["answer to question 0?"]),
    "out-of-range checksum": lambda sha: json.dumps(
        {"text": "answer to question 0?", "sha256": "f" * 64}
    ),
}


@pytest.mark.parametrize("mode", ["read-write", "replay-only"])
@pytest.mark.parametrize("edit", EDITS)
def test_a_row_edited_by_hand_is_a_clear_error_and_never_sent(recorded, edit, mode):
    edit_row(recorded, EDITS[edit](checksum_of(recorded)))
    before = folder_bytes(recorded.parent)
    backend = Backend()
    cache = ReplyCache(recorded, mode)
    message = (
        rf"oracle cache {recorded}: the row [0-9a-f]{{64}} is damaged or was edited "
        r"\(its value is .*delete the row or the file"
    )
    with pytest.raises(CacheError, match=message) as raised:
        ask(cache, backend=backend)
    assert not isinstance(raised.value, CacheMiss) and backend.sent == []
    cache._connection.close()
    assert folder_bytes(recorded.parent) == before


def test_replay_only_never_creates_a_cache_nor_calls_the_backend(tmp_path):
    backend = Backend()
    with pytest.raises(CacheError, match=r"replay-only oracle cache .*nothing.sqlite does not"):
        ask(ReplyCache(tmp_path / "nothing.sqlite", "replay-only"), backend=backend)
    assert backend.sent == [] and list(tmp_path.iterdir()) == []


def test_a_miss_in_replay_only_mode_is_a_clear_error(recorded):
    backend = Backend()
    with pytest.raises(CacheMiss, match=rf"replay-only oracle cache {recorded} has no reply"):
        ask(ReplyCache(recorded, "replay-only"), ["never asked?"], backend)
    assert backend.sent == []
