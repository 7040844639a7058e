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
