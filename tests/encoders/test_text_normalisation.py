"""Text normalisation: exact outputs on crafted Markdown, idempotence, and its place in config, fingerprint and cache."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.pipeline import build_encoder, encoder_record
from mllmshift.encoders.text_normalisation import (
    MODES,
    NormalisedText,
    collapse_whitespace,
    count_markdown_markers,
    normalise_text,
    strip_markdown,
)

ANSWER = """# Making tea

Here is **how** to make *good* tea:

1. Boil the water.
2) Warm the __pot__.

- [x] Add _two_ spoons
* [ ] Wait ~~ten~~ four minutes
+ Pour

> **Tip:** see [the guide](https://example.com/tea "title") or ![a cup](cup.png).

---

```python
# keep this comment
print("**not bold**")
```

| Step | Time |
|:-----|-----:|
| Boil | 5 min |
| Steep | 4 min |

Use `snake_case` names and my_var_name, 2 * 3 * 4 = 24, and escape \\*stars\\*.<br>Done ##
"""

ANSWER_STRIPPED = (
    "Making tea Here is how to make good tea: Boil the water. Warm the pot. Add two spoons "
    "Wait ten four minutes Pour Tip: see the guide or a cup. # keep this comment print(\"**not bold**\") "
    "Step; Time Boil; 5 min Steep; 4 min Use snake_case names and my_var_name, 2 * 3 * 4 = 24, and escape "
    "*stars*. Done ##"
)


def test_markdown_mode_gives_the_stated_output_on_a_crafted_answer():
    assert strip_markdown(ANSWER) == ANSWER_STRIPPED


def test_markers_are_counted_one_per_construct():
    # heading 1, bold+italic 2, list numbers 2, bold 1, task bullets 2 + italic 1 + strike 1, bullet 1,
    # quote 1 + bold 1 + link 1 + image 1, break 1, fences 2, table rows 3 + alignment 1, code span 1,
    # escapes 2, <br> 1
    assert count_markdown_markers(ANSWER) == 1 + 2 + 2 + 1 + 4 + 1 + 4 + 1 + 2 + 4 + 1 + 2 + 1
    assert count_markdown_markers("plain prose, no markers.") == 0
    # what is left: **not bold** (from the code) and *stars* (from the escapes), now read as emphasis
    assert count_markdown_markers(ANSWER_STRIPPED) == 2


@pytest.mark.parametrize("text,expected", [
    ("## Title ##", "Title"),
    ("Setext title\n===", "Setext title"),
    ("***bold italic*** and ___also___", "bold italic and also"),
    ("> > nested quote", "nested quote"),
    ("   - indented bullet\n      10. deep number", "indented bullet deep number"),
    ("~~~\n# code, not a heading\n~~~~\nafter", "# code, not a heading after"),
    ("````md\n```\ninner fence kept\n```\n````\nend", "``` inner fence kept ``` end"),
    ("``code with ` tick``", "code with ` tick"),
    ("see <https://x.org/a?b=1> or <me@example.org>", "see https://x.org/a?b=1 or me@example.org"),
    ("[ref link][1] and [inline](u)", "ref link and inline"),
    ("an *unclosed emphasis and a lone _ underscore", "an *unclosed emphasis and a lone _ underscore"),
    ("***\n___\n- - -", ""),
    ("a | b without leading pipe |", "a; b without leading pipe"),
    ("unterminated fence\n```\ncode\n", "unterminated fence code"),
    ("", ""),
])
def test_markdown_mode_on_single_constructs(text, expected):
    assert strip_markdown(text) == expected


def test_whitespace_mode_collapses_every_kind_of_space():
    assert collapse_whitespace("  a\tb\n\n c\u00a0d\u2003e  \r\n") == "a b c d e"
    assert collapse_whitespace("**kept** # too") == "**kept** # too"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_both_modes_are_idempotent_on_texts_without_code_or_escapes(mode):
    texts = ["plain text", "a  *b*  _c_\n\n# d", "| x | y |\n|---|---|\n| 1 | 2 |", "> **q**\n- [x] [a](b)"]
    for t in texts:
        once = normalise_text(t, mode)
        assert normalise_text(once, mode) == once


def test_code_and_escapes_keep_their_characters_so_a_second_pass_may_strip_more():
    once = strip_markdown("```\nx = **kw\n```\n\\*lit\\*")
    assert once == "x = **kw *lit*"
    assert strip_markdown(once) == "x = **kw lit"  # the literal stars now read as emphasis


def test_plain_prose_is_unchanged_by_markdown_mode():
    prose = "The cat (a tabby) sat on the mat; it was 3.5 kg - quite heavy! Why? Because: food."
    assert strip_markdown(prose) == prose


def test_unknown_mode_is_an_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="markdown, whitespace"):
        normalise_text("x", "html")
    with pytest.raises(ValueError, match="markdown, whitespace"):
        build_encoder("hashing-bow", normalize="html")


# ------------------------------------------------------------------ as an encoder option
def test_normalize_option_embeds_the_normalised_text_and_is_recorded():
    raw = build_encoder("hashing-bow", dim=64)
    md = build_encoder("hashing-bow", dim=64, normalize="markdown")
    assert isinstance(md, NormalisedText) and (md.name, md.dim, md.modality) == ("hashing-bow", 64, "text")
    assert md.config() == {**raw.config(), "normalize": "markdown"}
    assert md.fingerprint() != raw.fingerprint()
    assert encoder_record(md)["config"]["normalize"] == "markdown"
    np.testing.assert_allclose(md.encode([ANSWER]), raw.encode([ANSWER_STRIPPED]), atol=1e-7)


def test_normalised_and_raw_rows_live_in_different_cache_files_and_keys_use_the_normalised_text(tmp_path):
    cache = EmbeddingCache(tmp_path)
    raw = build_encoder("content-hash", dim=16)
    md = build_encoder("content-hash", dim=16, normalize="markdown")
    assert cache.path_for(raw) != cache.path_for(md)
    a, b = "**Bold** answer\n\n- item", "Bold answer item"
    out = cache.encode(md, [a, b])
    # one key for both: the cache stored a single row, and both equal the raw encoder's row of the stripped text
    assert cache.count(md) == 1
    np.testing.assert_allclose(out[0], out[1], atol=0)
    np.testing.assert_allclose(out[0], raw.encode([b])[0], atol=1e-7)
    assert cache.count(raw) == 0


def test_normalisation_wraps_text_encoders_only_and_proxies_batch_size_and_threads():
    with pytest.raises(ValueError, match="text encoders"):
        NormalisedText(build_encoder("content-hash", modality="image"), "markdown")
    md = build_encoder("hashing-bow", normalize="whitespace", batch_size=7)
    assert md.batch_size == 7
    md.batch_size, md.threads = 3, 1
    assert (md.inner.batch_size, md.inner.threads, md.thread_count()) == (3, 1, 1)
