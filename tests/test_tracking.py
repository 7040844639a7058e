"""Experiment tracking (mllmshift.tracking): `--log-to mlflow` against a temporary local store, read back with
MLflow's own client; the helpers that shape what is logged; a missing tracker fails before any work."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.tracking import flat_params, safe_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_api import rows  # noqa: E402


def _canonical(path: Path, n: int, seed: int, drift: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": str(r["qid"]), "question": r["prompt"], "response": r["answer"],
                                        "reference": r["gold"]}) + "\n" for r in rows(n, seed, drift)))


def test_params_are_flattened_and_keys_made_safe():
    assert flat_params({"estimator": {"name": "smile", "options": {"max_steps": 300}}, "seed": 0, "plugins": []}) == \
        {"estimator.name": "smile", "estimator.options.max_steps": "300", "seed": "0", "plugins": "[]"}
    assert safe_key("coco:frost@5") == "coco_frost_5"


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed (the tracking extra)")
def test_study_logged_to_a_local_mlflow_store_reads_back(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    _canonical(tmp_path / "shifted" / "keyboard_3.jsonl", 30, 1, 0.5)
    _canonical(tmp_path / "shifted" / "frost_5.jsonl", 30, 2, 0.9)
    (tmp_path / "study.yaml").write_text(
        "title: tracked\nid: id.jsonl\nscenarios: [{folder: shifted}]\nthreads: 1\n"
        "encoders: {text: hashing-bow, image: null}\n"
        "estimator: {name: infonce, options: {max_steps: 100}, n_estimators: 1}\nbootstrap: {n_resamples: 20}\n"
        "correlation: {n_resamples: 20}\n")
    store = tmp_path / "store"
    assert main(["study", "study.yaml", "--out", "out", "--quiet", "--log-to", "mlflow", "--log-to-dir",
                 str(store)]) == 0
    assert "logged to mlflow run" in capsys.readouterr().err
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store.resolve().as_uri())
    exp = client.get_experiment_by_name("mllmshift")
    (run,) = client.search_runs([exp.experiment_id])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    # config: every field of the evaluation config, flattened
    assert run.data.params["estimator.name"] == "infonce" and run.data.params["seed"] == "0"
    # headline numbers equal the results file's
    m = run.data.metrics
    assert m["id_emi"] == pytest.approx(results["id"]["emi"]["value"])
    for s in results["scenarios"]:
        assert m[f"emid/{s['name']}"] == pytest.approx(s["emid"]["value"])
        assert m[f"bound/{s['name']}"] == pytest.approx(s["bound"]["value"])
    assert m["mean_emid"] == pytest.approx(results["summary"]["mean_emid"])
    assert run.data.tags["mllmshift.command"] == f"mllmshift study study.yaml --out out --quiet --log-to mlflow " \
                                                 f"--log-to-dir {store}"
    assert run.info.run_name == "tracked"
    # the per-scenario table, results.json and the plots are artifacts
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.json", "scenarios.csv", "plots"} <= arts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {f"plots/{p.name}" for p in (tmp_path / "out" / "plots").glob("*.png")} <= plots and plots
    table = client.download_artifacts(run.info.run_id, "scenarios.csv", str(tmp_path / "dl"))
    got = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert sorted(r["scenario"] for r in got) == sorted(s["name"] for s in results["scenarios"])


def test_a_missing_tracker_fails_before_any_work(tmp_path, monkeypatch, capsys):
    import mllmshift.cli._tracking as t

    monkeypatch.setattr(t.importlib.util, "find_spec", lambda name: None)
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    out = tmp_path / "r.json"
    rc = main(["emi", str(tmp_path / "id.jsonl"), "--text-encoder", "hashing-bow", "--log-to", "wandb",
               "--out", str(out)])
    assert rc == 1 and not out.exists()
    assert "pip install 'mllmshift[tracking]'" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed (the tracking extra)")
def test_emid_logged_to_wandb_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    _canonical(tmp_path / "ood.jsonl", 30, 1, 0.8)
    assert main(["emid", "--id", "id.jsonl", "--ood", "ood.jsonl", "--text-encoder", "hashing-bow", "--no-cache",
                 "--mi-estimator", "infonce", "--estimator-option", "max_steps=50", "--n-estimators", "1",
                 "--bootstrap", "10", "--threads", "1", "--quiet", "--log-to", "wandb", "--log-to-dir", "wb"]) == 0
    err = capsys.readouterr().err
    assert "logged to wandb run" in err and "offline" in err
    assert list((tmp_path / "wb").rglob("*-results.json"))  # the offline run's files, for `wandb sync`
