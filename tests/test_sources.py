"""Embedding sources: .npy files read in chunks give exactly the rows of the array; fused and pooled sources."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.embeddings import fuse
from mllmshift.errors import DataError
from mllmshift.sources import ArraySource, ConcatSource, FusedSource, NpySource, iter_blocks


def _npy(tmp_path, name, a):
    path = tmp_path / f"{name}.npy"
    np.save(path, a)
    return NpySource(path)


def test_npy_source_reads_and_takes_the_rows_of_the_array(tmp_path, rng):
    a = rng.standard_normal((103, 7)).astype(np.float32)
    src = _npy(tmp_path, "a", a)
    assert src.shape == (103, 7) and len(src) == 103
    np.testing.assert_array_equal(src.read(10, 37), a[10:37])
    np.testing.assert_array_equal(src[5:9], a[5:9])
    idx = np.array([99, 3, 3, 50, 0])
    np.testing.assert_array_equal(src.take(idx), a[idx])
    np.testing.assert_array_equal(src[idx], a[idx])
    np.testing.assert_array_equal(np.asarray(src), a)
    got = np.concatenate([b for _, b in src.chunks(10)])
    np.testing.assert_array_equal(got, a)


def test_prefetched_blocks_of_several_sources_are_aligned(tmp_path, rng):
    a = rng.standard_normal((50, 3)).astype(np.float32)
    b = rng.standard_normal((50, 4)).astype(np.float32)
    starts = []
    for start, (ba, bb) in iter_blocks([_npy(tmp_path, "a", a), b], 8, prefetch=True):
        starts.append(start)
        np.testing.assert_array_equal(ba, a[start : start + 8])
        np.testing.assert_array_equal(bb, b[start : start + 8])
    assert starts == list(range(0, 50, 8))


def test_fused_and_pooled_sources_equal_the_in_memory_arrays(tmp_path, rng):
    v = rng.standard_normal((20, 5)).astype(np.float32)
    t = rng.standard_normal((20, 5)).astype(np.float32)
    sv, st = _npy(tmp_path, "v", v), _npy(tmp_path, "t", t)
    for kind in ("mean", "concat"):
        fused = fuse(sv, st, kind)
        assert isinstance(fused, FusedSource)
        np.testing.assert_array_equal(np.asarray(fused), fuse(v, t, kind))
        np.testing.assert_array_equal(fused.take([3, 1]), fuse(v, t, kind)[[3, 1]])
    pooled = ConcatSource([sv, ArraySource(t)])
    both = np.concatenate([v, t])
    np.testing.assert_array_equal(pooled.read(15, 27), both[15:27])
    np.testing.assert_array_equal(pooled.take([39, 0, 20, 19]), both[[39, 0, 20, 19]])


def test_bad_files_and_rows_are_located(tmp_path, rng):
    a = rng.standard_normal((30, 4)).astype(np.float32)
    a[17, 2] = np.nan
    src = _npy(tmp_path, "bad", a)
    with pytest.raises(DataError, match=r"bad\.npy.*row 17"):
        for _ in src.chunks(8):
            pass
    np.save(tmp_path / "f64.npy", a.astype(np.float64))
    with pytest.raises(DataError, match="float32"):
        NpySource(tmp_path / "f64.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="junk.npy"):
        NpySource(tmp_path / "junk.npy")
