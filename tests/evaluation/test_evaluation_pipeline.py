"""The one pipeline: `mllmshift emid` and `mllmshift study` give identical numbers and intervals on the same data,
config and seed; a study uses the shared embedding content cache; ensembles behave as documented."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "study"))
from study_helpers import SCENARIOS, make_study  # noqa: E402

from mllmshift.cli.main import main  # noqa: E402
from mllmshift.study import StudyConfig, run_study  # noqa: E402

CLI_CONFIG = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=32", "--image-encoder", "none",
              "--mi-estimator", "club", "--estimator-option", "hidden_size=16", "--estimator-option", "max_epochs=15",
              "--estimator-option", "patience=5", "--n-estimators", "1", "--folds", "0", "--bootstrap", "40",
              "--seed", "0",
              "--threads", "1", "--quiet"]  # one CLUB, as the study helper's


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("agree")
    cfg = StudyConfig.from_yaml(make_study(root))
    study = run_study(cfg, root / "out", progress=False).results
    shifted = sorted((root / "data" / "shifted").glob("*.jsonl"))
    out = root / "emid.json"
    assert main(["emid", "--id", str(root / "data" / "id.jsonl"), *[a for p in shifted for a in ("--ood", str(p))],
                 *CLI_CONFIG, "--out", str(out)]) == 0
    return cfg, study, json.loads(out.read_text())


def test_emid_and_study_agree_on_every_number_and_interval(both):
    cfg, study, cli = both
    assert cli["config"]["eval"] == cfg.eval.to_dict()  # the flags built the study's EvalConfig
    assert cli["id"] == study["id"]
    assert [s["name"] for s in cli["scenarios"]] == [s["name"] for s in study["scenarios"]] == sorted(SCENARIOS)
    for a, b in zip(cli["scenarios"], study["scenarios"]):
        assert a["emi"] == b["emi"] and a["emid"] == b["emid"] and a["bound"] == b["bound"], a["name"]
        assert a["jsd_response"] == b["jsd_response"] and a["emid"]["ci"]["n_resamples"] == 40
    assert cli["seeds"] == study["seeds"] and cli["estimator"]["config"] == study["estimator"]["config"]


def test_the_summary_and_samples_agree_too(both, tmp_path):
    _, study, cli = both
    for key in ("id_emi", "mean_emi", "mean_emid", "mean_bound", "n_sign_unstable"):
        assert cli["summary"][key] == study["summary"][key], key


def test_a_second_study_elsewhere_reads_the_shared_content_cache(tmp_path):
    """Another --out has no per-split snapshot, but every embedding comes from the content cache."""
    from mllmshift.encoders import encoders
    from mllmshift.encoders.hashing import HashingBOW

    class CountingBOW(HashingBOW):
        name = "counting-bow"
        texts = 0

        def _encode_batch(self, items):
            CountingBOW.texts += len(items)
            return super()._encode_batch(items)

    encoders.add("counting-bow", CountingBOW)
    path = make_study(tmp_path, extra={"encoders": {"text": {"name": "counting-bow", "options": {"dim": 32}},
                                                    "image": None}})
    cfg = StudyConfig.from_yaml(path)
    cache = tmp_path / "cache"
    first = run_study(cfg, tmp_path / "a", progress=False, cache_dir=cache)
    assert CountingBOW.texts > 0
    before = CountingBOW.texts
    second = run_study(cfg, tmp_path / "b", progress=False, cache_dir=cache)
    assert CountingBOW.texts == before  # nothing encoded again
    assert second.results["run"]["stages"]["embed"]["computed"] == 6  # no snapshot in b/.state, yet no encoding
    assert second.results["scenarios"] == first.results["scenarios"]


def test_an_ensemble_study_records_members_and_resumes(tmp_path):
    path = make_study(tmp_path, extra={"estimator": {"name": "club", "n_estimators": 2,
                                                     "options": {"hidden_size": 16, "max_epochs": 10, "patience": 5}}})
    cfg = StudyConfig.from_yaml(path)
    res = run_study(cfg, tmp_path / "out", progress=False)
    r = res.results
    assert len(list((tmp_path / "out" / ".state" / "estimator").glob("*.pt"))) == 2
    assert len(r["estimator"]["members"]) == 2 and r["seeds"]["estimator"][0] != r["seeds"]["estimator"][1]
    for s in r["scenarios"]:
        assert len(s["emid"]["members"]) == 2
        assert s["emid"]["value"] == pytest.approx(np.mean(s["emid"]["members"]), rel=1e-9, abs=1e-12)
    again = run_study(cfg, tmp_path / "out", progress=False)
    assert again.results["run"]["stages"]["estimator"] == {"computed": 0, "cached": 1,
                                                           "seconds": again.results["run"]["stages"]["estimator"][
                                                               "seconds"]}
    assert again.results["scenarios"] == r["scenarios"]
