"""Verdict parsing: well-formed, malformed and adversarial first lines."""

from __future__ import annotations

import pytest

from mllmshift.judge.verdict import VerdictError, parse_verdict


@pytest.mark.parametrize("text,expected", [
    ("8 7\nAssistant 1 is more accurate.", (8.0, 7.0)),
    ("8 7", (8.0, 7.0)),
    ("10 1\n", (10.0, 1.0)),
    ("8,7\nx", (8.0, 7.0)),
    ("8, 7\nx", (8.0, 7.0)),
    ("6.5 9\nx", (6.5, 9.0)),
    ("**8 7**\nx", (8.0, 7.0)),
    ("(7, 9)\nx", (7.0, 9.0)),
    ("Scores: 4 5\nx", (4.0, 5.0)),
    ("\n\n  9 3  \nlater lines 1 2 3", (9.0, 3.0)),
    ("8\t7", (8.0, 7.0)),
])
def test_well_formed(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text,reason", [
    ("", "empty"),
    ("   \n \n", "empty"),
    ("Assistant 1 gave a better answer.\n8 7", "tokens"),          # prose first, scores later: not the contract
    ("8 7 6\nx", "3 tokens"),                                        # three numbers
    ("8\nx", "1 tokens"),                                            # one number
    ("11 5\nx", "outside"),                                          # out of range
    ("0 5\nx", "outside"),
    ("10.5 2", "outside"),
    ("-1 -1\nx", "not a score"),                                     # LLaVA's own error sentinel
    ("nan nan", "not a score"),
    ("inf 5", "not a score"),
    ("1e1 5", "not a score"),
    ("8/10 7/10", "not a score"),
    ("Assistant 1: 8, Assistant 2: 7", "tokens"),
    ("eight seven", "not a score"),
    ("100 7", "not a score"),
])
def test_malformed_and_adversarial(text, reason):
    with pytest.raises(VerdictError, match=reason):
        parse_verdict(text)


def test_non_text_is_rejected():
    with pytest.raises(VerdictError):
        parse_verdict(None)  # type: ignore[arg-type]
