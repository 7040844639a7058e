"""Non-finite numbers are written as null with a reason, in every JSON output; they read back as NaN."""

from __future__ import annotations

import json
import math

import pytest

from mllmshift.io.strict_json import NULL_REASONS, clean, dumps


def strict_load(text: str):
    def refuse(const):
        raise ValueError(f"bare {const} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_clean_replaces_non_finite_values_and_says_why():
    obj = {"a": 1.0, "b": math.nan, "c": [0.5, math.inf, [-math.inf]], "d": {"e": math.nan}, "f": None, "g": (1, 2)}
    out = clean(obj)
    assert out["a"] == 1.0 and out["b"] is None and out["c"] == [0.5, None, [None]] and out["f"] is None
    assert out["g"] == [1, 2]
    reasons = out[NULL_REASONS]
    assert set(reasons) == {"b", "c[1]", "c[2][0]"}
    assert reasons["b"].startswith("NaN") and reasons["c[1]"].startswith("+infinity")
    assert reasons["c[2][0]"].startswith("-infinity")
    assert out["d"] == {"e": None, NULL_REASONS: {"e": clean({"x": math.nan})[NULL_REASONS]["x"]}}
    assert "null_reasons" not in clean({"only": None})  # null for another reason: no reason added


def test_clean_is_idempotent_and_keeps_reasons_of_an_inner_view():
    inner = clean({"value": math.nan})
    outer = clean({"split": inner, "other": math.inf})
    assert outer["split"] == inner and set(outer[NULL_REASONS]) == {"other"}
    assert clean(outer) == outer


def test_dumps_never_writes_bare_nan():
    text = dumps({"x": [math.nan, math.inf]})
    assert ": NaN" not in text and "Infinity" not in text and "NaN," not in text
    assert strict_load(text)["x"] == [None, None]


def test_a_nan_result_round_trips_through_json():
    from mllmshift.evaluation.results import SplitResult
    from mllmshift.metrics import EMIResult, Interval

    res = SplitResult("d", 12, EMIResult(math.nan, math.nan, 0.3, 12, None, (math.nan,)),
                      Interval(math.nan, 1.0, math.nan, 10, 3, 0.95))
    data = strict_load(json.dumps(res.to_json()))
    assert data["emi"]["value"] is None and data["emi"][NULL_REASONS]["value"].startswith("NaN")
    back = SplitResult.from_json(data)
    assert back.emi is not None and math.isnan(back.emi.value) and back.emi.mi_reference == pytest.approx(0.3)
    assert math.isnan(back.emi.members[0]) and back.ci is not None and math.isnan(back.ci.low)


def test_an_entropy_scale_that_overflows_the_bound_is_null_with_a_reason_in_the_out_file(tmp_path, capsys):
    """Ĥ = 1.5e308 times √JSD_v + √JSD_t > 1 overflows to inf: --out, --json and the sample log stay valid JSON."""
    from mllmshift.cli.main import main

    def write(path, flip):
        rows = []
        for i in range(30):
            q = f"what colour is object {i} in room {i % 7}"
            cap = f"a photo of object {i} in room {i % 7}"
            if flip:
                q, cap = "zz qq " + q[::-1], "xx yy " + cap[::-1]
            rows.append({"id": str(i), "question": q, "image_text": cap, "response": f"it is {i % 5} red",
                         "reference": f"object {i} is red"})
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    out = tmp_path / "res" / "emid.json"
    argv = ["emid", "--id", write(tmp_path / "a.jsonl", False), "--ood", write(tmp_path / "b.jsonl", True),
            "--text-encoder", "hashing-bow", "--image-encoder", "none", "--no-cache", "--bootstrap", "0",
            "--mi-estimator", "gaussian", "--entropy-scale", "1.5e308", "--out", str(out), "--json", "--quiet"]
    assert main(argv) == 0
    printed = strict_load(capsys.readouterr().out)
    saved = strict_load(out.read_text())
    for doc in (printed, saved):
        bound = doc["scenarios"][0]["bound"]
        assert bound["value"] is None and bound["jsd_visual"] > 0.3 and bound["jsd_text"] > 0.3
        assert bound[NULL_REASONS]["value"].startswith("+infinity: the value is unbounded (an overflow")
        assert doc["summary"]["mean_bound"] is None and "mean_bound" in doc["summary"][NULL_REASONS]
