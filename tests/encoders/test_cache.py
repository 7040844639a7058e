"""EmbeddingCache: hits, resumption after a crash, concurrent writers, fingerprint isolation, image content keys."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mllmshift.encoders.cache import EmbeddingCache, cache_key, item_content, row_checksum
from mllmshift.encoders.content_hash import HashEncoder
from mllmshift.errors import MllmshiftWarning

TEXTS = [f"question number {i}" for i in range(23)]


class Counting(HashEncoder):
    """A hash encoder that records the items it was asked to encode, and can fail after k batches."""

    def __init__(self, fail_after: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[list[Any]] = []
        self.fail_after = fail_after

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(list(items))
        return super()._encode_batch(items)


def test_first_call_equals_direct_encoding_and_second_call_encodes_nothing(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = Counting(dim=8, batch_size=5)
    first = cache.encode(enc, TEXTS)
    np.testing.assert_array_equal(first, HashEncoder(dim=8).encode(TEXTS))
    assert [len(c) for c in enc.calls] == [5, 5, 5, 5, 3]
    enc.calls.clear()
    again = cache.encode(enc, list(reversed(TEXTS)))
    assert enc.calls == []
    np.testing.assert_array_equal(again, first[::-1])
    assert cache.count(enc) == len(TEXTS)


def test_only_missing_and_distinct_items_are_encoded(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = Counting(dim=8, batch_size=4)
    cache.encode(enc, TEXTS[:10])
    enc.calls.clear()
    items = TEXTS[5:15] + TEXTS[12:15] + ["new", "new"]
    out = cache.encode(enc, items)
    assert sorted(x for c in enc.calls for x in c) == sorted(TEXTS[10:15] + ["new"])
    np.testing.assert_array_equal(out, HashEncoder(dim=8).encode(items))
    rows, missing = cache.get_many(enc, ["new", "never seen", TEXTS[0]])
    assert missing == [1] and rows[1] is None
    np.testing.assert_array_equal(rows[2], HashEncoder(dim=8).encode([TEXTS[0]])[0])


def test_interrupted_run_keeps_finished_batches_and_resumes(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    crashing = Counting(dim=8, batch_size=5, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(crashing, TEXTS)
    assert cache.count(crashing) == 10
    rows, missing = cache.get_many(crashing, TEXTS)
    assert missing == list(range(10, 23))
    resumed = Counting(dim=8, batch_size=5)
    out = cache.encode(resumed, TEXTS)
    assert sum(len(c) for c in resumed.calls) == 13
    np.testing.assert_array_equal(out, HashEncoder(dim=8).encode(TEXTS))


class Slow(HashEncoder):
    """Same function (and fingerprint) as HashEncoder, but each batch takes a while, so writers interleave."""

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        time.sleep(0.004)
        return super()._encode_batch(items)


def _writer(root: str, texts: list[str], seed: int, barrier: Any) -> None:
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(texts)))
    barrier.wait(timeout=60)
    EmbeddingCache(root).encode(Slow(dim=16, batch_size=3), [texts[i] for i in order])


def _opener(root: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    EmbeddingCache(root).count(HashEncoder(dim=4))


def test_processes_creating_the_same_new_db_at_once_all_succeed(tmp_path: Path) -> None:
    # Regression: two processes switching a brand-new file to WAL at the same moment got
    # "database is locked" at once (SQLite skips its busy handler there); 3 of 180 opens failed
    # in 30 rounds of 6 before the set-up step was retried.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    codes = []
    for round_ in range(12):
        root = tmp_path / str(round_)
        barrier = ctx.Barrier(6)
        procs = [ctx.Process(target=_opener, args=(str(root), barrier)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        codes += [p.exitcode for p in procs]
        db = EmbeddingCache(root).path_for(HashEncoder(dim=4))
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert codes == [0] * len(codes)


def test_two_processes_writing_concurrently_leave_a_consistent_db(tmp_path: Path) -> None:
    texts = [f"shared text {i}" for i in range(150)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), texts[lo:hi], seed, barrier))
             for seed, (lo, hi) in enumerate([(0, 100), (50, 150)])]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    enc = HashEncoder(dim=16, batch_size=3)
    cache = EmbeddingCache(tmp_path)
    db = cache.path_for(enc)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cache.count(enc) == 150
    counting = Counting(dim=16, batch_size=3)
    np.testing.assert_array_equal(cache.encode(counting, texts), enc.encode(texts))
    assert counting.calls == []


def test_different_fingerprints_do_not_collide(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    a, b = HashEncoder(dim=8, seed=0), HashEncoder(dim=8, seed=1)
    assert a.fingerprint() != b.fingerprint() and cache.path_for(a) != cache.path_for(b)
    ea, eb = cache.encode(a, TEXTS[:4]), cache.encode(b, TEXTS[:4])
    np.testing.assert_array_equal(ea, a.encode(TEXTS[:4]))
    np.testing.assert_array_equal(eb, b.encode(TEXTS[:4]))
    assert np.abs(ea - eb).max() > 0.1
    assert cache_key(a.fingerprint(), b"x") != cache_key(b.fingerprint(), b"x")


def test_image_keys_follow_file_content_not_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pix).save(tmp_path / "a.png")
    (tmp_path / "copy.png").write_bytes((tmp_path / "a.png").read_bytes())
    Image.fromarray(255 - pix).save(tmp_path / "b.png")
    enc = Counting(dim=8, modality="image")
    cache = EmbeddingCache(tmp_path / "cache")
    out = cache.encode(enc, [tmp_path / "a.png", tmp_path / "copy.png", tmp_path / "b.png"])
    assert [len(c) for c in enc.calls] == [2]
    np.testing.assert_array_equal(out[0], out[1])
    assert item_content(enc, tmp_path / "a.png") != item_content(enc, Image.fromarray(pix))
    (tmp_path / "a.png").write_bytes((tmp_path / "b.png").read_bytes())  # edited in place -> now equals b
    enc.calls.clear()
    np.testing.assert_array_equal(cache.encode(enc, [tmp_path / "a.png"])[0], out[2])
    assert enc.calls == []


def _flip(cache: EmbeddingCache, enc: Any, sql: str, params: tuple = ()) -> None:
    with sqlite3.connect(cache.path_for(enc)) as conn:
        conn.execute(sql, params)


@pytest.mark.parametrize("damage", [
    "UPDATE embeddings SET dim = 4 WHERE key = ?",                                # another encoder's row
    "UPDATE embeddings SET vector = substr(vector, 1, 16) WHERE key = ?",           # truncated vector
    "UPDATE embeddings SET vector = zeroblob(32) WHERE key = ?",                   # contents changed
    "UPDATE embeddings SET checksum = zeroblob(16) WHERE key = ?",                 # checksum changed
])
def test_a_damaged_row_is_dropped_and_recomputed(tmp_path: Path, damage: str) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = Counting(dim=8, batch_size=4)
    first = cache.encode(enc, TEXTS)
    victim = cache.keys(enc, [TEXTS[6]])[0]
    _flip(cache, enc, damage, (victim,))
    enc.calls.clear()
    with pytest.warns(MllmshiftWarning, match="1 damaged cache entry .* dropped; recomputing"):
        again = cache.encode(enc, TEXTS)
    assert enc.calls == [[TEXTS[6]]]
    np.testing.assert_array_equal(again, first)
    enc.calls.clear()
    np.testing.assert_array_equal(cache.encode(enc, TEXTS), first)   # healed: no warning, nothing encoded
    assert enc.calls == [] and cache.count(enc) == len(TEXTS)


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = Counting(dim=8)
    first = cache.encode(enc, TEXTS)
    path = cache.path_for(enc)
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(b"this is not an SQLite database" * 100)
    enc.calls.clear()
    with pytest.warns(MllmshiftWarning, match="embedding cache is damaged .*moved aside to .*corrupt-"):
        again = cache.encode(enc, TEXTS)
    np.testing.assert_array_equal(again, first)
    assert sum(len(c) for c in enc.calls) == len(TEXTS)
    aside = list(tmp_path.glob(f"{path.name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not an SQLite database")
    assert cache.count(enc) == len(TEXTS)


def test_damaged_pages_are_moved_aside_too(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = Counting(dim=64, batch_size=1000)
    items = [f"item {i}" for i in range(2000)]
    first = cache.encode(enc, items)
    path = cache.path_for(enc)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096:len(data) - 4096] = bytes(len(data) - 8192)   # zero every page but the first and the last
    path.write_bytes(bytes(data))
    with pytest.warns(MllmshiftWarning, match="damaged"):
        again = cache.encode(enc, items)
    np.testing.assert_array_equal(again, first)


def test_rows_from_before_checksums_are_kept_and_sealed(tmp_path: Path) -> None:
    enc = Counting(dim=8)
    cache = EmbeddingCache(tmp_path)
    path = cache.path_for(enc)
    vecs = HashEncoder(dim=8).encode(TEXTS[:3])
    with sqlite3.connect(path) as conn:  # the layout of earlier versions: no checksum column
        conn.execute("CREATE TABLE embeddings (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, vector BLOB NOT NULL) "
                     "WITHOUT ROWID")
        conn.executemany("INSERT INTO embeddings VALUES (?, ?, ?)",
                         [(k, 8, v.astype("<f4").tobytes()) for k, v in zip(cache.keys(enc, TEXTS[:3]), vecs)])
    np.testing.assert_array_equal(cache.encode(enc, TEXTS[:3]), vecs)
    assert enc.calls == []
    with sqlite3.connect(path) as conn:
        sums = conn.execute("SELECT key, dim, vector, checksum FROM embeddings").fetchall()
    assert all(bytes(c) == row_checksum(bytes(k), d, bytes(v)) for k, d, v, c in sums) and len(sums) == 3


def test_empty_items(tmp_path: Path) -> None:
    assert EmbeddingCache(tmp_path).encode(HashEncoder(dim=5), []).shape == (0, 5)


def test_progress_into_a_log_is_one_line_per_call_not_a_bar(tmp_path, capsys):
    from mllmshift.encoders.hashing import HashingBOW

    cache = EmbeddingCache(tmp_path)
    enc = HashingBOW(dim=16, batch_size=2)
    cache.encode(enc, ["a"], progress=True)
    capsys.readouterr()
    cache.encode(enc, ["a", "b", "c", "d", "b"], progress=True)  # stderr is captured: not a terminal
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("\n") == 1
    assert err.startswith("encode[hashing-bow]: 3 encoded, 2 from the cache or repeated, ")
    cache.encode(enc, ["a", "b"], progress=True)  # nothing to encode: silent
    assert capsys.readouterr().err == ""
