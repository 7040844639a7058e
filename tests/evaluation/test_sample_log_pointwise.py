"""samples/<split>.jsonl under the defaults: every row has a contribution, and they average to the split's EMI
exactly, for SMILE (the default), CLUB (the paper's) and both held out (cross-fitted, the default) or in-sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mllmshift

WORDS = ["red", "blue", "cat", "dog", "sun", "rain", "car", "tree", "fish", "bird", "milk", "bread"]


def _rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS, 3))
        out.append({"id": f"q{i}", "question": q, "response": q + " " + str(rng.choice(WORDS)),
                    "reference": q})
    return out


@pytest.mark.parametrize(("estimator", "options", "folds"), [
    ("smile", {"max_steps": 60, "eval_every": 20, "patience": 2, "hidden_size": 16, "embed_dim": 8}, 3),
    ("smile", {"max_steps": 60, "eval_every": 20, "patience": 2, "hidden_size": 16, "embed_dim": 8}, 0),
    ("club", {"hidden_size": 16, "max_epochs": 10}, 3),
])
def test_sample_rows_average_to_the_split_emi(tmp_path, estimator, options, folds):
    res = mllmshift.emi(_rows(48, 0), text_encoder={"name": "hashing-bow", "options": {"dim": 32}}, image_encoder=None,
                        estimator={"name": estimator, "options": options}, n_estimators=2, folds=folds,
                        n_resamples=0, threads=1, cache_dir=tmp_path / "cache", log_samples=tmp_path / "samples")
    rows = [json.loads(line) for line in (tmp_path / "samples" / "data.jsonl").read_text().splitlines()]
    assert len(rows) == 48 and all(r["emi"] is not None for r in rows)
    emi = res.emi
    assert np.mean([r["mi_response"] for r in rows]) == pytest.approx(emi.mi_response, rel=1e-9, abs=1e-9)
    assert np.mean([r["mi_reference"] for r in rows]) == pytest.approx(emi.mi_reference, rel=1e-9, abs=1e-9)
    assert np.mean([r["emi"] for r in rows]) == pytest.approx(emi.value, rel=1e-9, abs=1e-9)
