"""A sqlite cache of language-model oracle replies, so that a run can be replayed exactly.

Keys are SHA-256 hashes of (backend, model, prompt, sampling settings); values are JSON. Modes:
``"off"`` (no cache), ``"read-write"`` (the default) and ``"replay-only"`` (a miss is an error:
nothing is sent to the model). Only successful replies are ever stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

CACHE_MODES = ("off", "read-write", "replay-only")


class CacheMiss(LookupError):
    """A replay-only cache was asked for a reply it does not hold."""


def default_cache_path() -> Path:
    """$ARCHER_GYM_CACHE_DIR, else $XDG_CACHE_HOME/archer-gym, else ~/.cache/archer-gym."""
    root = os.environ.get("ARCHER_GYM_CACHE_DIR")
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "archer-gym") if xdg else str(Path.home() / ".cache" / "archer-gym")
    return Path(root) / "oracle-cache.sqlite"


def cache_key(backend: str, model: str, prompt: Any, sampling: dict[str, Any]) -> str:
    blob = json.dumps([backend, model, prompt, sampling], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ReplyCache:
    def __init__(self, path: str | os.PathLike | None = None, mode: str = "read-write"):
        if mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {mode!r}")
        self.mode = mode
        self.path = Path(path) if path is not None else default_cache_path()
        self._connection: sqlite3.Connection | None = None

    def __getstate__(self):  # a connection cannot cross a process boundary; reopen lazily
        return {**self.__dict__, "_connection": None}

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            connection.commit()
            self._connection = connection
        return self._connection

    def get(self, key: str) -> Any | None:
        """The cached value, or None on a miss (``CacheMiss`` in replay-only mode)."""
        if self.mode == "off":
            return None
        row = self._db().execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            if self.mode == "replay-only":
                raise CacheMiss(
                    f"replay-only oracle cache {self.path} has no reply for this query; "
                    "run once with cache_mode='read-write' to record it"
                )
            return None
        return json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        if self.mode != "read-write":
            return
        db = self._db()
        with db:
            db.execute(
                "INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def __len__(self) -> int:
        if self.mode == "off":
            return 0
        return self._db().execute("SELECT COUNT(*) FROM replies").fetchone()[0]


def cached_generate(
    cache: ReplyCache,
    backend: str,
    model: str,
    prompts: list[Any],
    sampling: dict[str, Any],
    generate: Any,
) -> list[str]:
    """Replies for ``prompts``: cached ones from ``cache``, the rest from ``generate(prompts)``
    (called once with all misses, so a backend can batch them), then stored."""
    keys = [cache_key(backend, model, prompt, sampling) for prompt in prompts]
    replies: list[str | None] = []
    for key in keys:
        hit = cache.get(key)
        replies.append(hit["text"] if hit is not None else None)
    missing = [i for i, reply in enumerate(replies) if reply is None]
    if missing:
        fresh = generate([prompts[i] for i in missing])
        for i, text in zip(missing, fresh, strict=True):
            replies[i] = text
            cache.put(keys[i], {"text": text})
    return [str(reply) for reply in replies]
