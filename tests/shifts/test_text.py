"""Text perturbations: exact outputs, protected tokens, rates, synonym counts, translation, bad inputs."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from mllmshift.errors import DataError, MllmshiftError
from mllmshift.shifts import text_perturbations
from mllmshift.shifts.text.keyboard import KeyboardTypo, keyboard_model, nlpaug_token_count
from mllmshift.shifts.text.tokens import STOP_WORDS, tokenize
from mllmshift.shifts.text.wordnet import WordNetNotFound

S = "Describe the <image>: what are the 2 people in the kitchen doing, and why?"


EXACT = [
    ("keyboard", 3, {}, "DescfUb@ the <image>: what are the 2 peo(,e in the kJtchrm doing, and why?"),
    ("char_swap", 10, {}, "Describe the <image>: what are the 2 peolpe in the kitchen doing, and why?"),
    ("char_insert", 3, {}, "Describe the <image>: what are the 2 people in the kitcheyn doing, and why?"),
    ("char_delete", 3, {}, "Describe the <image>: what are the 2 peple in the kitchen doing, and why?"),
    ("word_dropout", 3, {}, "the <image>: what are the 2 people in the kitchen doing, and why?"),
    ("case_noise", 3, {}, "DEscribe the <image>: what are the 2 pEople in the kitcheN doing, and why?"),
]
EXACT_WORDNET = [
    ("synonym", 4, {}, "Distinguish the <image>: what are the 2 masses in the kitchen doing, and why?"),
    ("synonym", 7, {"style": "eda"}, "report the <image> what are the 2 masses in the kitchen doing and why"),
]


def _check_exact(name: str, level: int, kw: dict, want: str) -> None:
    p = text_perturbations.create(name, level=level, **kw)
    res = p.apply(S, seed=11)
    assert res.text == want
    assert res.text != S and res.changes
    assert p.apply(S, seed=11) == res
    for c in res.changes:
        assert S[c.start:c.end] == c.original


@pytest.mark.parametrize("name,level,kw,want", EXACT)
def test_exact_output(name: str, level: int, kw: dict, want: str) -> None:
    _check_exact(name, level, kw, want)


@pytest.mark.parametrize("name,level,kw,want", EXACT_WORDNET)
def test_exact_output_synonym(name: str, level: int, kw: dict, want: str) -> None:
    _check_exact(name, level, kw, want)


LEVELLED = ["keyboard", "char_swap", "char_insert", "char_delete", "word_dropout", "case_noise"]


@pytest.mark.parametrize("name", LEVELLED + ["synonym"])
def test_protected_tokens_survive(name: str) -> None:
    text = "Look at <image> and count the 12 cups, the 3.5 kg box and <im_end> on that wooden table."
    protected = [t.text for t in tokenize(text) if t.protected]
    p = text_perturbations.create(name, level=8)
    changed = 0
    for seed in range(40):
        res = p.apply(text, seed)
        for c in res.changes:
            assert c.original not in protected and not c.original.lower() in STOP_WORDS
        out_tokens = [t.text for t in tokenize(res.text)]
        for tok in ("<image>", "<im_end>", "12", "3.5"):
            assert tok in res.text
        assert out_tokens.count("the") == 2
        changed += res.changed
    assert changed >= 30


@pytest.mark.parametrize("name", LEVELLED + ["synonym", "translate"])
def test_empty_and_bad_text(name: str) -> None:
    kw = {"language": "German"} if name == "translate" else {"level": 2}
    p = text_perturbations.create(name, **kw)
    assert p.apply("", 0).text == "" and p.apply("", 0).changes == ()
    assert p.apply("  \n", 0).text == "  \n"
    with pytest.raises(DataError, match="UTF-8"):
        p.apply(b"caf\xe9 au lait", 0)
    with pytest.raises(TypeError, match="str"):
        p.apply(None, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        p.apply("text", -3)


def test_level_zero_is_identity() -> None:
    for name in LEVELLED:
        assert text_perturbations.create(name, level=0).apply(S, 1).text == S


# ------------------------------------------------------------------------------------------------ keyboard


def test_keyboard_model_is_nlpaugs() -> None:
    m = keyboard_model()
    assert m["a"] == ("A", "Q", "S", "W", "X", "Z", "q", "s", "w", "x", "z")  # 'a' lists itself: upper case stays
    assert "t" in m["u"] and " t" not in m["u"]
    assert "0" not in m and m["%"] == ("$",)
    assert all(k not in v for k, v in m.items())


def test_keyboard_counts_follow_nlpaug() -> None:
    k = KeyboardTypo(level=1)
    assert nlpaug_token_count("What is the color of the two suitcases in the image?") == 12
    assert k.word_count("What is the color of the two suitcases in the image?") == 1  # ceil(0.05·12)
    assert KeyboardTypo(level=3).word_count("What is the color of the two suitcases in the image?") == 2
    assert k.char_count("suitcases") == 3 and k.char_count("image") == 2  # ceil(0.3·len)
    res = KeyboardTypo(level=3).apply("What is the color of the two suitcases in the image?", 5)
    assert len(res.changes) == 2
    for c in res.changes:
        assert len(c.replacement) == len(c.original)
        assert sum(a != b for a, b in zip(c.original, c.replacement)) == k.char_count(c.original)


VOCAB = ("kitchen table person dog street window picture mountain river bottle coffee laptop sandwich bicycle "
         "morning yellow wooden people playing holding standing looking bright cloudy several large small "
         "children market umbrella painting").split()
STOPS = "the a of in on with and what is are this that there".split()


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [VOCAB[i] if rng.random() < 0.6 else STOPS[i % len(STOPS)]
                 for i in rng.integers(0, len(VOCAB), rng.integers(8, 26))]
        out.append(" ".join(words).capitalize() + "?")
    return out


def test_keyboard_cer_grows_and_matches_nominal() -> None:
    sents = _sentences(1000)
    cers = {}
    for level in (1, 2, 3):
        k = KeyboardTypo(level=level)
        errs = chars = 0
        nominal = 0.0
        for i, s in enumerate(sents):
            out = k.apply(s, seed=i).text
            assert len(out) == len(s)  # substitutions only: Hamming distance = edit distance
            errs += sum(a != b for a, b in zip(s, out))
            chars += len(s)
            nominal += k.expected_cer(s) * len(s)
        cers[level] = errs / chars
        assert abs(cers[level] / (nominal / chars) - 1) < 0.30, (level, cers[level], nominal / chars)
    assert cers[1] < cers[2] < cers[3]


# ------------------------------------------------------------------------------------------------ synonyms


def test_synonym_keeps_word_count_and_replaces_expected_fraction() -> None:
    sents = _sentences(300, seed=1)
    for level in (2, 4, 7):
        p = text_perturbations.create("synonym", level=level)
        replaced = expected = 0
        for i, s in enumerate(sents):
            res = p.apply(s, seed=i)
            words_in = [t.text for t in tokenize(s)]
            words_out = [t.text for t in tokenize(res.text)]
            assert len(words_in) == len(words_out)
            types = {t.text.lower() for t in tokenize(s) if not t.protected and p.synonyms(t.text)}
            n = min(p.n_replacements(s), len(types))
            assert len({c.original.lower() for c in res.changes}) == n
            replaced += sum(a != b for a, b in zip(words_in, words_out))
            expected += sum(1 for w in words_in if w.lower() in {c.original.lower() for c in res.changes})
            assert p.n_replacements(s) == max(1, int(0.05 * level * len(words_in)))
        assert replaced == expected


def test_wordnet_reader_lemmatises_like_nltk() -> None:
    from mllmshift.shifts.text.wordnet import load_wordnet

    wn = load_wordnet()
    assert wn.morphy("suitcases", "n") == ["suitcase"]
    assert wn.morphy("taken", "v") == ["take"]
    assert "colour" in wn.lemma_names("color") and "colour in" in wn.lemma_names("color")
    assert set(wn.lemma_names("two")) >= {"deuce", "ii", "2"}


def test_missing_wordnet_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WordNetNotFound, match="no WordNet database .*leave wordnet_dir unset to use the table"):
        text_perturbations.create("synonym", level=1, wordnet_dir=str(tmp_path))


# ------------------------------------------------------------------------------------------------ translation


class _FakeChat(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeChat.seen.append((self.path, self.headers.get("Authorization"), body))
        text = body["messages"][-1]["content"]
        if text == "fail":
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"bad request")
            return
        reply = {"choices": [{"message": {"content": "DE: " + text.replace("What", "Was")}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_server():  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeChat.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_translation_via_openai_compatible_endpoint(chat_server: str) -> None:
    from mllmshift.shifts.text.translate import OpenAICompatibleTranslator, TranslationError

    tr = OpenAICompatibleTranslator(chat_server, "tiny", api_key="k", max_retries=0)
    p = text_perturbations.create("translate", language="German", translator=tr)
    res = p.apply("What is in the <image>?", seed=3)
    assert res.text == "DE: Was is in the <image>? Please answer in English."
    path, auth, body = _FakeChat.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer k" and body["model"] == "tiny"
    assert body["temperature"] == 0.0 and "German" in body["messages"][0]["content"]
    assert "[[0]]" in body["messages"][1]["content"]
    assert p.apply("What is in the <image>?", seed=3) == res
    assert "k" not in json.dumps(p.config()["translator"]).replace("api_key_env", "")
    with pytest.raises(TranslationError, match="HTTP 400"):
        p.apply("fail", 0)


def test_translation_without_translator_fails_clearly() -> None:
    p = text_perturbations.create("translate", language="Korean")
    with pytest.raises(MllmshiftError, match="no translator"):
        p.apply("Hello", 0)
    with pytest.raises(TypeError, match="language"):
        text_perturbations.create("translate")


# ------------------------------------------------------------------------------------------------ the paper's files


@pytest.mark.shared
def test_keyboard_rates_match_the_papers_files(shared_data) -> None:  # type: ignore[no-untyped-def]
    """Words typed over per question: ours vs the authors' KeyboardAug files (same nlpaug counting rule)."""
    folder = shared_data / "llavabench-shift" / "responses" / "llava-v1.5-13b"

    def prompts(name: str) -> list[str]:
        return [json.loads(line)["prompt"] for line in (folder / f"{name}.jsonl").read_text().splitlines()]

    clean = prompts("llava_bench_coco")

    def changed(a: str, b: str) -> int:  # words of ``a`` missing from ``b`` (their detokeniser respaces "'s")
        wa, wb = Counter(re.findall(r"[A-Za-z]+", a)), Counter(re.findall(r"[A-Za-z]+", b))
        return sum((wa - wb).values())

    for level in (1, 3):
        theirs = prompts(f"llava_bench_coco_KeyboardAug_{level}")
        k = KeyboardTypo(level=level)
        ours = [k.apply(q, seed=i).text for i, q in enumerate(clean)]
        formula = np.mean([k.word_count(q) for q in clean])
        t = np.mean([changed(a, b) for a, b in zip(clean, theirs)])
        o = np.mean([changed(a, b) for a, b in zip(clean, ours)])
        assert abs(t / formula - 1) < 0.05, (level, t, formula)  # their files follow the nlpaug count rule
        assert abs(o / t - 1) < 0.10, (level, o, t)
