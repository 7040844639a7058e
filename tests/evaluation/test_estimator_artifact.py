"""The estimator as an artifact (issue #19 item 1): ``mllmshift fit`` fits once on a declared fitting set; with
the saved estimator a split's EMI is identical whatever else a call is given (emi, emid with different --ood
sets, a study, the Python API); every result carries the fit's fingerprint and names its fitting set; without a
saved estimator the summary says the values are relative to the call's own fit; a saved estimator whose encoders
differ from the run's is a located error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.vocab import EXIT_BAD_INPUT

WORDS = ["red", "blue", "cat", "dog", "tree", "car", "sun", "moon", "bird", "fish", "road", "house", "lamp", "door",
         "shoe", "cup"]
ENC = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=32", "--image-encoder", "none", "--no-cache"]
EST = ["--mi-estimator", "club", "--estimator-option", "hidden_size=16", "--estimator-option", "max_epochs=10",
       "--n-estimators", "2", "--seed", "3"]
RUN = ["--bootstrap", "20", "--threads", "1", "--quiet"]


def write_split(path: Path, n: int, seed: int, drift: float) -> Path:
    """Text-only samples whose responses repeat words of the question (less so with drift)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q = rng.sample(WORDS, 4)
        ref = " ".join(q[:3])
        resp = " ".join(rng.sample(WORDS, 3)) if rng.random() < drift else " ".join(q[1:4])
        rows.append({"id": str(i), "question": " ".join(q), "response": resp, "reference": ref})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifact")
    files = {name: write_split(root / f"{name}.jsonl", 40, k, drift)
             for k, (name, drift) in enumerate([("a", 0.0), ("b", 0.5), ("c", 0.9), ("pool", 0.3)])}
    est = root / "global.mllmshift"
    assert main(["fit", str(files["a"]), str(files["pool"]), "--fit-set-name", "bench-pool", *ENC, *EST,
                 "--save-estimator", str(est), *RUN]) == 0
    return root, files, est


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_split_s_emi_is_identical_with_a_saved_estimator_whatever_else_is_passed(data, capsys):
    from mllmshift.api import emi, evaluate

    root, f, est = data
    alone = run_json(capsys, ["emi", str(f["a"]), *ENC, "--estimator", str(est), *RUN])
    with_b = run_json(capsys, ["emid", "--id", str(f["a"]), "--ood", str(f["b"]), *ENC, "--estimator", str(est), *RUN])
    with_bc = run_json(capsys, ["emid", "--id", str(f["a"]), "--ood", str(f["b"]), "--ood", str(f["c"]), *ENC,
                                "--estimator", str(est), *RUN])
    c_first = run_json(capsys, ["emid", "--id", str(f["c"]), "--ood", str(f["a"]), *ENC, "--estimator", str(est),
                                *RUN])
    api = evaluate(str(f["a"]), [str(f["c"])], text_encoder={"name": "hashing-bow", "options": {"dim": 32}},
                   image_encoder=None, checkpoint=str(est), n_resamples=20, threads=1, cache_dir=None)
    api_emi = emi(str(f["a"]), text_encoder={"name": "hashing-bow", "options": {"dim": 32}}, image_encoder=None,
                  checkpoint=str(est), n_resamples=20, threads=1)
    value = alone["emi"]["value"]
    assert with_b["id"]["emi"]["value"] == value and with_bc["id"]["emi"]["value"] == value
    assert c_first["scenarios"][0]["emi"]["value"] == value  # as a shifted split too
    assert api.id.emi.value == value and api_emi.emi.value == value
    # and b's EMI is the same in both emid calls (its own estimator would have been fitted on other pools)
    assert with_b["scenarios"][0]["emi"]["value"] == with_bc["scenarios"][0]["emi"]["value"]
    # every result names the same fit
    prints = {r["estimator"]["fingerprint"] for r in (alone, with_b, with_bc, c_first)} | {api.estimator["fingerprint"]}
    assert len(prints) == 1
    assert with_b["estimator"]["fit_set"]["name"] == "bench-pool" and with_b["estimator"]["fit_set"]["declared"]
    assert len(with_b["estimator"]["members"]) == 2  # the whole ensemble was saved and loaded


def test_the_same_splits_in_a_study_give_the_same_numbers_with_the_saved_estimator(data, tmp_path):
    import yaml

    from mllmshift.study import StudyConfig, run_study

    root, f, est = data
    cfg = {"title": "artifact", "seed": 3, "threads": 1, "id": str(f["a"]), "scenarios": [{"path": str(f["b"]), "group": "text"}],
           "encoders": {"text": {"name": "hashing-bow", "options": {"dim": 32}}, "image": None},
           "estimator": {"checkpoint": str(est)}, "bootstrap": {"n_resamples": 20}, "correlation": {"n_resamples": 20}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    study = run_study(StudyConfig.from_yaml(path), tmp_path / "out", progress=False, cache_dir=None).results
    main(["emi", str(f["a"]), *ENC, "--estimator", str(est), *RUN, "--out", str(tmp_path / "emi.json")])
    alone = json.loads((tmp_path / "emi.json").read_text())
    assert study["id"]["emi"]["value"] == alone["emi"]["value"]
    assert study["estimator"]["fingerprint"] == alone["estimator"]["fingerprint"]
    assert study["summary"]["estimator_fingerprint"] == alone["estimator"]["fingerprint"]
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert f"Estimator fit: estimator {alone['estimator']['fingerprint']} loaded from {est}" in report


def test_the_fingerprint_is_the_fit_s_own_calls_that_pool_other_splits_get_other_fingerprints(data, capsys):
    from mllmshift.evaluation.artifact import check_same_fit, load_artifact

    root, f, est = data
    art = load_artifact(est)
    # emid pooling exactly the fitting set's splits, with the same estimator config and seed, is the same fit
    same = run_json(capsys, ["emid", "--id", str(f["a"]), "--ood", str(f["pool"]), *ENC, *EST, *RUN])
    assert same["estimator"]["fingerprint"] == art.fingerprint
    assert not same["estimator"]["fit_set"]["declared"]
    own = run_json(capsys, ["emi", str(f["a"]), *ENC, *EST, *RUN])
    other = run_json(capsys, ["emid", "--id", str(f["a"]), "--ood", str(f["b"]), *ENC, *EST, *RUN])
    seeded = run_json(capsys, ["emi", str(f["a"]), *ENC, *EST[:-1], "4", *RUN])
    assert len({own["estimator"]["fingerprint"], other["estimator"]["fingerprint"], art.fingerprint,
                seeded["estimator"]["fingerprint"]}) == 4
    assert own["estimator"]["fit_set"]["splits"][0]["name"] == "a"
    with pytest.raises(Exception, match="different estimator fits"):
        check_same_fit([own, other])
    assert check_same_fit([same, {"estimator": art.info()}]) == art.fingerprint


def test_the_summary_says_whose_fit_the_values_are_relative_to(data, capsys):
    root, f, est = data
    assert main(["emi", str(f["a"]), *ENC, *EST, *RUN]) == 0
    own = capsys.readouterr().out
    assert "values are relative to this call's fit on the pooled pairs of a" in own
    assert main(["emid", "--id", str(f["a"]), "--ood", str(f["b"]), *ENC, *EST, *RUN]) == 0
    assert "this call's fit on the pooled pairs of a, b" in capsys.readouterr().out
    assert main(["emi", str(f["a"]), *ENC, "--estimator", str(est), *RUN]) == 0
    loaded = capsys.readouterr().out
    assert "relative to this call" not in loaded and "fitted on 'bench-pool'" in loaded


def test_a_saved_estimator_of_other_encoders_is_a_located_error(data, capsys, tmp_path):
    root, f, est = data
    out = tmp_path / "r.json"
    other = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=32", "--text-encoder-option", "bigrams=false",
             "--image-encoder", "none", "--no-cache"]
    code = main(["emi", str(f["a"]), *other, "--estimator", str(est), *RUN, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and f"{est}: field 'encoders.text': the estimator was fitted on embeddings of " \
                                      "another text encoder" in err
    assert "Traceback" not in err and not out.exists()


def test_fit_refuses_splits_it_cannot_pool_and_writes_nothing(data, capsys, tmp_path):
    root, f, est = data
    bad = tmp_path / "noresp.jsonl"
    bad.write_text("".join(json.dumps({"id": str(i), "question": "q w", "reference": "r"}) + "\n" for i in range(20)))
    target = tmp_path / "x.mllmshift"
    assert main(["fit", str(f["a"]), str(bad), *ENC, *EST, "--save-estimator", str(target), *RUN]) == EXIT_BAD_INPUT
    assert "no response for sample '0'" in capsys.readouterr().err and not target.exists()


def test_a_study_with_a_fit_key_fits_once_on_the_declared_set_as_the_fit_verb_does(data, tmp_path, capsys):
    import yaml

    from mllmshift.evaluation.artifact import load_artifact
    from mllmshift.study import StudyConfig, run_study

    root, f, est = data
    cfg = {"title": "declared", "seed": 3, "threads": 1, "id": str(f["a"]),
           "scenarios": [{"path": str(f["b"]), "group": "text"}, {"path": str(f["c"]), "group": "text"}],
           "encoders": {"text": {"name": "hashing-bow", "options": {"dim": 32}}, "image": None},
           "estimator": {"name": "club", "options": {"hidden_size": 16, "max_epochs": 10}, "n_estimators": 2},
           "fit": {"splits": [str(f["a"]), str(f["pool"])], "name": "bench-pool"},
           "bootstrap": {"n_resamples": 20}, "correlation": {"n_resamples": 20}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    config = StudyConfig.from_yaml(path)
    first = run_study(config, tmp_path / "out", progress=False, cache_dir=None)
    art = load_artifact(est)
    assert first.results["estimator"]["fingerprint"] == art.fingerprint  # the fit verb's fit, made here
    assert first.results["estimator"]["fit_set"]["name"] == "bench-pool"
    alone = run_json(capsys, ["emi", str(f["a"]), *ENC, "--estimator", str(est), *RUN])
    assert first.results["id"]["emi"]["value"] == pytest.approx(alone["emi"]["value"], abs=1e-6)
    saved = load_artifact(first.files["estimator.mllmshift"])
    assert saved.fingerprint == art.fingerprint and len(saved.members) == 2
    again = run_study(config, tmp_path / "out", progress=False, cache_dir=None)
    assert again.results["run"]["stages"]["estimator"]["computed"] == 0  # read back from the sealed state
    assert again.results["scenarios"] == first.results["scenarios"]


def test_the_api_fit_is_the_fit_verb(data, tmp_path):
    import mllmshift

    root, f, est = data
    art = mllmshift.fit([str(f["a"]), str(f["pool"])], tmp_path / "api.mllmshift", name="bench-pool",
                        text_encoder={"name": "hashing-bow", "options": {"dim": 32}}, image_encoder=None,
                        estimator={"name": "club", "options": {"hidden_size": 16, "max_epochs": 10}}, n_estimators=2,
                        seed=3, threads=1, cache_dir=None)
    from mllmshift.evaluation.artifact import load_artifact

    assert art.fingerprint == load_artifact(est).fingerprint and (tmp_path / "api.mllmshift").is_file()
    assert art.fit_set["declared"] and [s["name"] for s in art.fit_set["splits"]] == ["a", "pool"]


def test_fit_from_an_embedding_store_is_the_same_fit(data, tmp_path, capsys):
    from mllmshift.evaluation.artifact import load_artifact

    root, f, est = data
    store = tmp_path / "emb"
    assert main(["embed", str(f["a"]), str(f["pool"]), *ENC, "--out", str(store)]) == 0
    again = tmp_path / "again.mllmshift"
    assert main(["fit", str(f["a"]), str(f["pool"]), "--fit-set-name", "bench-pool", *ENC, *EST, "--embeddings",
                 str(store), "--save-estimator", str(again), *RUN]) == 0
    assert load_artifact(again).fingerprint == load_artifact(est).fingerprint
