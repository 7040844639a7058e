"""A content-addressed, crash-safe, multi-process-safe on-disk cache of embeddings.

Layout: one SQLite database per encoder function under ``root``,
``<root>/<encoder name>-<fingerprint>.sqlite``, in WAL mode, with

    embeddings(key BLOB PRIMARY KEY, dim INTEGER, vector BLOB)   -- float32 row, little-endian
    meta(k TEXT PRIMARY KEY, v TEXT)                             -- the encoder's config (JSON)

The key of an item is

    key = SHA-256( fingerprint ‖ 0x00 ‖ content ),

with ``content`` the UTF-8 bytes of the text as the encoder sees it (``encoder.prepare``, e.g. after
Markdown is stripped) for text encoders and, for image
encoders, the digest of the image file's bytes (or of an in-memory image's
pixels), so a renamed file hits and an edited file misses.

:meth:`EmbeddingCache.encode` looks every item up, encodes only the missing
distinct items in batches of ``encoder.batch_size``, and writes each batch in
its own transaction (``INSERT OR IGNORE``, commit): an interrupted run loses at
most the batch in flight, and concurrent runs on the same database serialise
their writes through SQLite's locking (``BEGIN IMMEDIATE`` with a busy
timeout) and never corrupt it. Duplicates inside ``items`` are encoded once.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts
from mllmshift.encoders.images import content_digest
from mllmshift.errors import MllmshiftError

#: seconds a writer waits for another process's transaction before giving up
BUSY_TIMEOUT_S = 120.0
#: keys per ``SELECT … IN (…)`` (below SQLite's host-parameter limit)
LOOKUP_CHUNK = 500


class CacheError(MllmshiftError):
    """A cache database whose contents do not fit the encoder (wrong dim, truncated vector)."""


def _retry_while_locked(step: Callable[[], None], timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Run ``step`` again (with jittered back-off) while SQLite says the database is locked.

    SQLite does not call its busy handler for every lock it takes: switching a
    new file to WAL while another process does the same (or is mid-way through
    creating the tables) returns SQLITE_BUSY at once. Those races only happen
    while a database is being created, so retrying the set-up step is enough.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (1.0 + random.random()))
        delay = min(delay * 2.0, 0.5)


def item_content(encoder: Encoder, item: Any) -> bytes:
    """The bytes that identify ``item`` for ``encoder``: those of ``encoder.prepare(item)`` (see the module docstring)."""
    if encoder.modality == "text":
        return b"text:" + check_texts([encoder.prepare(item)], encoder.name)[0].encode("utf-8")
    return content_digest(item)


def cache_key(fingerprint: str, content: bytes) -> bytes:
    return hashlib.sha256(fingerprint.encode("ascii") + b"\x00" + content).digest()


class EmbeddingCache:
    """Content-addressed embeddings on disk (see the module docstring).

    Args:
        root: folder holding one ``.sqlite`` file per encoder fingerprint (created if missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- storage
    def path_for(self, encoder: Encoder) -> Path:
        """The database file of ``encoder``'s fingerprint."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name)
        return self.root / f"{safe}-{encoder.fingerprint()}.sqlite"

    @contextmanager
    def _connect(self, encoder: Encoder) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path_for(encoder), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _retry_while_locked(lambda: self._prepare(conn, encoder))
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _prepare(conn: sqlite3.Connection, encoder: Encoder) -> None:
        """Switch to WAL (once per file: the mode persists) and create the tables if missing."""
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS embeddings "
                         "(key BLOB PRIMARY KEY, dim INTEGER NOT NULL, vector BLOB NOT NULL) WITHOUT ROWID")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('config', ?), ('fingerprint', ?)",
                         (json.dumps(encoder.config(), sort_keys=True, default=str), encoder.fingerprint()))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def keys(self, encoder: Encoder, items: Sequence[Any]) -> list[bytes]:
        """The cache key of each item."""
        fp = encoder.fingerprint()
        return [cache_key(fp, item_content(encoder, item)) for item in items]

    def _lookup(self, conn: sqlite3.Connection, encoder: Encoder, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            rows = conn.execute(f"SELECT key, dim, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})",
                                chunk).fetchall()
            for key, dim, blob in rows:
                if dim != encoder.dim or len(blob) != 4 * dim:
                    raise CacheError(f"{self.path_for(encoder)}: a stored vector has dim {dim} and {len(blob)} bytes,"
                                     f" but encoder '{encoder.name}' gives dim {encoder.dim}; delete the file")
                found[bytes(key)] = np.frombuffer(blob, dtype="<f4")
        return found

    @staticmethod
    def _store(conn: sqlite3.Connection, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO embeddings (key, dim, vector) VALUES (?, ?, ?)",
                             [(k, vectors.shape[1], v.tobytes()) for k, v in zip(keys, vectors)])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --------------------------------------------------------------------- API
    def get_many(self, encoder: Encoder, items: Sequence[Any]) -> tuple[list[np.ndarray | None], list[int]]:
        """The cached row of each item (None where absent) and the indices of the absent items."""
        keys = self.keys(encoder, items)
        with self._connect(encoder) as conn:
            found = self._lookup(conn, encoder, keys)
        rows = [found.get(k) for k in keys]
        return rows, [i for i, r in enumerate(rows) if r is None]

    def count(self, encoder: Encoder) -> int:
        """How many vectors the cache holds for ``encoder``."""
        with self._connect(encoder) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def encode(self, encoder: Encoder, items: Sequence[Any], progress: bool = False) -> np.ndarray:
        """``encoder.encode(items)`` through the cache: only missing distinct items are encoded and stored.

        Returns the (n × dim) float32 unit rows in ``items`` order.
        """
        items = list(items)
        keys = self.keys(encoder, items)
        with self._connect(encoder) as conn:
            found = self._lookup(conn, encoder, keys)
            first: dict[bytes, int] = {}
            for i, k in enumerate(keys):
                if k not in found and k not in first:
                    first[k] = i
            todo = list(first.items())
            bs = max(1, int(encoder.batch_size))
            batches = range(0, len(todo), bs)
            bar = None
            label = f"encode[{encoder.name}]"
            tty = sys.stderr.isatty()
            if progress and todo and tty:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(todo), desc=f"{label} ({len(items) - len(todo)} cached)", unit="item",
                           file=sys.stderr)
            t0 = time.perf_counter()
            try:
                for start in batches:
                    chunk = todo[start : start + bs]
                    vectors = encoder.encode([items[i] for _, i in chunk])
                    self._store(conn, [k for k, _ in chunk], vectors)
                    found.update((k, v) for (k, _), v in zip(chunk, vectors))
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            if progress and todo and not tty:  # a log, not a terminal: one line per call instead of a bar
                print(f"{label}: {len(todo)} encoded, {len(items) - len(todo)} from the cache or repeated, "
                      f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if not items:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
