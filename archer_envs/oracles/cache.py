"""A sqlite cache of language-model oracle replies, so that a run can be replayed exactly.

Keys are SHA-256 hashes of (backend, model, prompt, sampling settings); values are JSON objects
``{"text": reply, "sha256": hash of key and reply}``, so that a row edited by hand is reported
instead of replayed. Modes: ``"off"`` (no cache), ``"read-write"`` (the default) and
``"replay-only"`` (a miss is an error: nothing is sent to the model). Only successful replies are
ever stored.

A file that is not a readable database is moved aside (``<name>.damaged``) with a warning and a
new cache is started in read-write mode (it is only a cache); replay-only mode refuses it, as it
refuses a damaged row in any mode (``CacheError``, naming the file and what is wrong).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any

from archer_envs.oracles.base import OracleError

CACHE_MODES = ("off", "read-write", "replay-only")
COLUMNS = ["key", "value"]


class CacheError(OracleError):
    """The cache file cannot be used as it is; the message names the file and says why."""


class CacheMiss(CacheError, LookupError):
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


def _row_sum(key: str, text: str) -> str:
    return hashlib.sha256(f"{key}\n{text}".encode()).hexdigest()


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
            try:
                self._connection = self._open()
            except sqlite3.OperationalError as error:  # locked, not permitted, not a file
                raise CacheError(f"oracle cache {self.path} cannot be opened: {error}") from None
            except sqlite3.DatabaseError as error:  # not a database, or a damaged one
                if self.mode == "replay-only":
                    raise CacheError(
                        f"oracle cache {self.path} cannot be read ({error}): replay-only mode "
                        "cannot replay from it"
                    ) from None
                aside = self.path.with_name(self.path.name + ".damaged")
                for suffix in ("", "-wal", "-shm"):  # a stale log must not replay into the new file
                    damaged = Path(f"{self.path}{suffix}")
                    if damaged.exists():
                        os.replace(damaged, f"{aside}{suffix}")
                warnings.warn(
                    f"oracle cache {self.path} could not be read ({error}); it was moved to "
                    f"{aside} and a new cache started",
                    stacklevel=3,
                )
                self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        """The database, checked whole (a truncated file fails here, not halfway through a run)
        and holding a replies table of the expected shape."""
        if self.mode == "replay-only":
            if not self.path.is_file():
                raise CacheError(f"replay-only oracle cache {self.path} does not exist")
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        try:
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            columns = [row[1] for row in connection.execute("PRAGMA table_info(replies)")]
            tables = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            if self.mode == "read-write" and (columns == COLUMNS or tables == 0):
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                connection.commit()
                columns = COLUMNS
        except sqlite3.DatabaseError:
            connection.close()
            raise
        if columns != COLUMNS:  # another program's database: leave it as it is
            connection.close()
            found = f"columns {columns}" if columns else "no replies table"
            raise CacheError(
                f"{self.path} is not an oracle cache ({found}, expected {COLUMNS}): "
                "pass another cache path or remove this file"
            )
        return connection

    def get(self, key: str) -> str | None:
        """The cached reply, or None on a miss (``CacheMiss`` in replay-only mode)."""
        if self.mode == "off":
            return None
        row = self._execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            if self.mode == "replay-only":
                raise CacheMiss(
                    f"replay-only oracle cache {self.path} has no reply for this query; "
                    "run once with cache_mode='read-write' to record it"
                )
            return None
        try:
            value = json.loads(row[0])
        except (TypeError, json.JSONDecodeError):
            value = row[0]
        text = value.get("text") if isinstance(value, dict) else None
        if (
            not isinstance(text, str)
            or set(value) != {"text", "sha256"}
            or value["sha256"] != _row_sum(key, text)
        ):
            raise CacheError(
                f"oracle cache {self.path}: the row {key} is damaged or was edited (its value is "
                f'{row[0]!r:.120}, expected {{"text": reply, "sha256": checksum}} as the cache '
                "wrote it): delete the row or the file (it is only a cache)"
            )
        return text

    def put(self, key: str, text: str) -> None:
        if self.mode != "read-write":
            return
        value = json.dumps({"text": text, "sha256": _row_sum(key, text)})
        with self._db():
            self._execute("INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)", (key, value))

    def _execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        db = self._db()
        try:
            return db.execute(sql, parameters)
        except sqlite3.DatabaseError as error:
            raise CacheError(f"oracle cache {self.path} failed: {error}") from None

    def __len__(self) -> int:
        if self.mode == "off":
            return 0
        return self._execute("SELECT COUNT(*) FROM replies").fetchone()[0]


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
    replies = [cache.get(key) for key in keys]
    missing = [i for i, reply in enumerate(replies) if reply is None]
    if missing:
        fresh = generate([prompts[i] for i in missing])
        for i, text in zip(missing, fresh, strict=True):
            replies[i] = text
            cache.put(keys[i], text)
    return replies
