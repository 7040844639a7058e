"""A content-addressed, crash-safe, multi-process-safe on-disk cache of embeddings.

Layout: one SQLite database per encoder function under ``root``,
``<root>/<encoder name>-<fingerprint>.sqlite``, in WAL mode, with

    embeddings(key BLOB PRIMARY KEY, dim INTEGER, vector BLOB, checksum BLOB)  -- float32 row, little-endian
    meta(k TEXT PRIMARY KEY, v TEXT)                                            -- the encoder's config (JSON)

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

Healing. Each row carries ``checksum = BLAKE2b-128(key ‖ dim ‖ vector)``. A row whose checksum,
dimension or length does not fit (a flipped bit, a truncated write, another encoder's row) is
deleted and recomputed, with a :class:`~mllmshift.errors.MllmshiftWarning`. A file that is not an
SQLite database at all (or whose pages are damaged) is moved aside as
``<name>.sqlite.corrupt-<timestamp>``, with a warning, and a fresh database is started. Rows written
before checksums existed are checked for length and given their checksum when first read.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts
from mllmshift.encoders.images import content_digest
from mllmshift.errors import MllmshiftWarning

#: seconds a writer waits for another process's transaction before giving up
BUSY_TIMEOUT_S = 120.0
#: keys per ``SELECT … IN (…)`` (below SQLite's host-parameter limit)
LOOKUP_CHUNK = 500

T = TypeVar("T")


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


def row_checksum(key: bytes, dim: int, vector: bytes) -> bytes:
    """The checksum stored with a row: BLAKE2b-128 of key, dimension (4 bytes, little-endian) and vector."""
    return hashlib.blake2b(bytes(key) + int(dim).to_bytes(4, "little") + bytes(vector), digest_size=16).digest()


def _is_damaged_file(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database, or a damaged one (not: locked, busy, I/O, permission)."""
    if isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    message = str(exc).lower()  # pragma: no cover - Python < 3.11
    return "not a database" in message or "malformed" in message


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

    def _healing(self, encoder: Encoder, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` on the encoder's database; a damaged file is moved aside once and the work redone."""
        try:
            with self._connect(encoder) as conn:
                return work(conn)
        except sqlite3.DatabaseError as exc:
            if not _is_damaged_file(exc):
                raise
            self._quarantine(self.path_for(encoder), exc)
        with self._connect(encoder) as conn:
            return work(conn)

    @staticmethod
    def _quarantine(path: Path, exc: Exception) -> None:
        """Move a damaged database (and its WAL and shared-memory files) aside, with a warning."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            try:
                Path(f"{path}{suffix}").rename(f"{aside}{suffix}")
            except FileNotFoundError:  # absent, or another process moved it first
                pass
        warnings.warn(f"{path}: embedding cache is damaged ({exc}); moved aside to {aside.name}, starting a fresh "
                      "one (its embeddings are recomputed)", MllmshiftWarning, stacklevel=4)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, encoder: Encoder) -> None:
        """Switch to WAL (once per file: the mode persists) and create the tables if missing."""
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, "
                         "vector BLOB NOT NULL, checksum BLOB) WITHOUT ROWID")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(embeddings)")}
            if "checksum" not in columns:  # a database written before rows had checksums
                conn.execute("ALTER TABLE embeddings ADD COLUMN checksum BLOB")
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
        """The stored, intact rows of ``keys``; damaged rows are deleted (and so recomputed) with a warning."""
        found: dict[bytes, np.ndarray] = {}
        damaged: list[bytes] = []
        unchecked: list[tuple[bytes, bytes]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            rows = conn.execute("SELECT key, dim, vector, checksum FROM embeddings "
                                f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for key, dim, blob, checksum in rows:
                key = bytes(key)
                intact = isinstance(blob, bytes) and dim == encoder.dim and len(blob) == 4 * dim
                if intact and checksum is None:  # written before checksums: trusted once, then sealed
                    unchecked.append((row_checksum(key, dim, blob), key))
                elif not intact or bytes(checksum) != row_checksum(key, dim, blob):
                    damaged.append(key)
                    continue
                found[key] = np.frombuffer(blob, dtype="<f4")
        if damaged:
            self._write(conn, "DELETE FROM embeddings WHERE key = ?", [(k,) for k in damaged])
            warnings.warn(f"{self.path_for(encoder)}: {len(damaged)} damaged cache entr"
                          f"{'y' if len(damaged) == 1 else 'ies'} (checksum, dimension or length wrong) dropped; "
                          "recomputing", MllmshiftWarning, stacklevel=4)
        if unchecked:
            self._write(conn, "UPDATE embeddings SET checksum = ? WHERE key = ? AND checksum IS NULL", unchecked)
        return found

    @staticmethod
    def _write(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _store(self, conn: sqlite3.Connection, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        dim = vectors.shape[1]
        self._write(conn, "INSERT OR IGNORE INTO embeddings (key, dim, vector, checksum) VALUES (?, ?, ?, ?)",
                    [(k, dim, v.tobytes(), row_checksum(k, dim, v.tobytes())) for k, v in zip(keys, vectors)])

    # --------------------------------------------------------------------- API
    def get_many(self, encoder: Encoder, items: Sequence[Any]) -> tuple[list[np.ndarray | None], list[int]]:
        """The cached row of each item (None where absent) and the indices of the absent items."""
        keys = self.keys(encoder, items)
        found = self._healing(encoder, lambda conn: self._lookup(conn, encoder, keys))
        rows = [found.get(k) for k in keys]
        return rows, [i for i, r in enumerate(rows) if r is None]

    def count(self, encoder: Encoder) -> int:
        """How many vectors the cache holds for ``encoder``."""
        return self._healing(encoder, lambda conn: int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]))

    def encode(self, encoder: Encoder, items: Sequence[Any], progress: bool = False) -> np.ndarray:
        """``encoder.encode(items)`` through the cache: only missing distinct items are encoded and stored.

        Returns the (n × dim) float32 unit rows in ``items`` order.
        """
        items = list(items)
        keys = self.keys(encoder, items)

        def work(conn: sqlite3.Connection) -> dict[bytes, np.ndarray]:
            found = self._lookup(conn, encoder, keys)
            first: dict[bytes, int] = {}
            for i, k in enumerate(keys):
                if k not in found and k not in first:
                    first[k] = i
            todo = list(first.items())
            bs = max(1, int(encoder.batch_size))
            bar = None
            label = f"encode[{encoder.name}]"
            tty = sys.stderr.isatty()
            if progress and todo and tty:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(todo), desc=f"{label} ({len(items) - len(todo)} cached)", unit="item",
                           file=sys.stderr)
            t0 = time.perf_counter()
            try:
                for start in range(0, len(todo), bs):
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
            return found

        found = self._healing(encoder, work)
        if not items:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
