"""Checked dataclasses: each field's type and range are checked on construction (shifts, judge, retry policy)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from mllmshift.checked import Checked, FieldError, bounded
from mllmshift.errors import DataError
from mllmshift.judge.llava_bench import JudgeConfig
from mllmshift.responders.http import RetryPolicy


@dataclass(frozen=True)
class P(Checked):
    n: int = bounded(0, 3)
    x: float = bounded(-1, 1, lo_open=True, default=0.0)
    tag: str | None = None
    xs: tuple[float, ...] = bounded(0, 1, default=(0.5,))


def test_types_ranges_and_normalisation() -> None:
    assert P(2).n == 2 and P(2, tag="t").tag == "t" and P(2, tag=None).tag is None
    assert P(2.0).n == 2 and isinstance(P(2.0).n, int)
    assert P(1, xs=[0, 1]).xs == (0, 1)
    with pytest.raises(FieldError, match=r"'n' must be in \[0, 3\], got 4"):
        P(4)
    with pytest.raises(FieldError, match=r"'x' must be in \(-1, 1\], got -1"):
        P(0, x=-1)
    with pytest.raises(FieldError, match=r"'x' must be a finite number, got nan"):
        P(0, x=float("nan"))
    with pytest.raises(FieldError, match=r"'tag' must be a string, got 5"):
        P(0, tag=5)  # type: ignore[arg-type]
    with pytest.raises(FieldError, match=r"'xs': every value must be in \[0, 1\], got 2"):
        P(0, xs=(0.5, 2))
    with pytest.raises(FieldError) as err:
        P("1")  # type: ignore[arg-type]
    assert err.value.param == "n" and isinstance(err.value, DataError) and isinstance(err.value, TypeError)
    assert [f.name for f in fields(P)] == ["n", "x", "tag", "xs"]


@pytest.mark.parametrize("kw,match", [
    ({"confidence": 1.5}, r"'confidence' must be in \(0, 1\), got 1\.5"),
    ({"confidence": float("nan")}, r"'confidence' must be a finite number"),
    ({"n_resamples": -5}, r"'n_resamples' must be >= 0, got -5"),
    ({"temperature": float("inf")}, r"'temperature' must be a finite number"),
    ({"temperature": 3}, r"'temperature' must be in \[0, 2\]"),
    ({"concurrency": 0}, r"'concurrency' must be in \[1, 1024\]"),
    ({"max_tokens": 0}, r"'max_tokens' must be >= 1"),
    ({"seed": -1}, r"'seed' must be >= 0"),
    ({"question_source": "both"}, r"'question_source' must be one of 'original', 'prompt'"),
    ({"model": " "}, r"'model' must name the judge model"),
])
def test_judge_config_is_checked(kw: dict, match: str) -> None:
    with pytest.raises(FieldError, match=match):
        JudgeConfig(**{"model": "m", **kw})
    assert JudgeConfig(model="m", seed=None).seed is None


@pytest.mark.parametrize("kw,match", [
    ({"max_attempts": 0}, r"'max_attempts' must be in \[1, 1000\]"),
    ({"timeout": 0}, r"'timeout' must be > 0"),
    ({"backoff_base": -1}, r"'backoff_base' must be >= 0"),
    ({"backoff_max": float("nan")}, r"'backoff_max' must be a finite number"),
])
def test_retry_policy_is_checked(kw: dict, match: str) -> None:
    with pytest.raises(FieldError, match=match):
        RetryPolicy(**kw)
