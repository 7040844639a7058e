"""The blind responder: answers depend on the seed and the position only, never on the input."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.records import Sample
from mllmshift.responders import responders
from mllmshift.responders.blind import DEFAULT_ANSWERS, BlindResponder


def _samples(n: int, tag: str) -> list[Sample]:
    return [Sample(f"{tag}{i}", f"{tag} question {i} about picture {i % 3}?", image=f"/no/such/{tag}{i}.png")
            for i in range(n)]


def test_answers_do_not_depend_on_the_input():
    r = BlindResponder(seed=3)
    a = r.respond(_samples(40, "a"))
    b = r.respond(_samples(40, "b"))                          # other ids, questions, images
    c = r.respond(list(reversed(_samples(40, "a"))))          # same samples, other order
    assert a == b == c
    assert set(a) <= set(DEFAULT_ANSWERS) and len(set(a)) > 1  # a varying answer, from the pool


def test_answers_are_the_seeded_draws_from_the_pool():
    pool = ["one", "two", "three"]
    picks = np.random.default_rng(7).integers(3, size=10)
    assert BlindResponder(pool, seed=7).respond(_samples(10, "x")) == [pool[k] for k in picks]
    assert BlindResponder(pool, seed=8).respond(_samples(10, "x")) != BlindResponder(pool, seed=7).respond(
        _samples(10, "x"))
    assert BlindResponder(["only"]).respond(_samples(4, "x")) == ["only"] * 4   # a constant responder
    assert BlindResponder().respond([]) == []


def test_needs_no_images_and_records_its_pool_and_seed():
    r = responders.create("blind", seed=2)
    assert isinstance(r, BlindResponder)
    assert r.respond([Sample("t", "text only?")])[0] in DEFAULT_ANSWERS
    assert r.config() == {"name": "blind", "answers": list(DEFAULT_ANSWERS), "seed": 2}


@pytest.mark.parametrize("bad", [[], [""], ["ok", "  "], ["ok", 3]])
def test_a_bad_pool_is_an_error(bad):
    with pytest.raises(ValueError, match="non-empty"):
        BlindResponder(bad)
