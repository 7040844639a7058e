"""The Encoder base: batches run under the encoder's thread count, chosen when not given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from mllmshift.encoders.base import Encoder


class ThreadProbe(Encoder):
    """Records the torch thread count each batch ran with."""

    name, modality, dim, batch_size = "probe", "text", 2, 2

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self.seen: list[int] = []

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        import torch

        self.seen.append(torch.get_num_threads())
        return np.ones((len(items), self.dim))


def test_batches_run_with_the_encoders_threads_and_the_limit_is_lifted_after():
    import torch

    before = torch.get_num_threads()
    enc = ThreadProbe(threads=1)
    out = enc.encode(["a", "b", "c"])
    assert enc.seen == [1, 1] and torch.get_num_threads() == before
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_threads_left_none_are_chosen_once_and_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLLMSHIFT_THREADS", "1")
    enc = ThreadProbe()
    assert enc.threads is None and enc.thread_count() == 1 and enc.threads == 1
    monkeypatch.setenv("MLLMSHIFT_THREADS", "2")
    assert enc.thread_count() == 1  # kept: one decision per encoder


class DecodeProbe(Encoder):
    """Decodes (doubles) items in one step and forwards them in another. Its forward of batch k waits (up to
    1 s) for batch k+1 to be decoded and records whether it was: only an encoder that decodes ahead sees it."""

    name, modality, dim, batch_size = "decode-probe", "image", 2, 2

    def __init__(self, overlap: bool, n_batches: int) -> None:
        import threading

        self.overlap_decode, self.threads, self.n_batches = overlap, 1, n_batches
        self.decoded_in_caller: list[bool] = []
        self.next_ready: list[bool] = []
        self._main = threading.get_ident()
        self._cond = threading.Condition()

    def decode_batch(self, items: Sequence[Any]) -> np.ndarray:
        import threading

        with self._cond:
            self.decoded_in_caller.append(threading.get_ident() == self._main)
            self._cond.notify_all()
        return np.array([[2.0 * v, 1.0] for v in items])

    def forward_batch(self, decoded: np.ndarray) -> np.ndarray:
        k = len(self.next_ready)
        if k + 1 < self.n_batches:
            with self._cond:
                self.next_ready.append(self._cond.wait_for(lambda: len(self.decoded_in_caller) > k + 1, timeout=1))
        else:
            self.next_ready.append(True)
        return decoded + 1.0

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        return self.forward_batch(self.decode_batch(items))


def test_overlapped_decoding_runs_ahead_in_a_thread_and_gives_the_sequential_output():
    items = [1, 2, 3, 4, 5]
    seq, ovl = DecodeProbe(overlap=False, n_batches=3), DecodeProbe(overlap=True, n_batches=3)
    np.testing.assert_array_equal(ovl.encode(items), seq.encode(items))
    assert seq.decoded_in_caller == [True] * 3 and seq.next_ready == [False, False, True]
    assert ovl.decoded_in_caller == [False] * 3 and ovl.next_ready == [True] * 3
