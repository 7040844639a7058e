"""The emi / emid verbs end to end on small text-only files, and on the real LLaVA-Bench data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mllmshift.cli.main import main

WORDS = "red blue green cat dog car tree house sky river boat bird road city field".split()


def _write_split(path: Path, n: int, seed: int, drift: float) -> Path:
    """Text-only samples whose responses repeat words of the question (less so with drift)."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q = rng.sample(WORDS, 4)
        ref = " ".join(q[:3])
        kept = [w for w in q if rng.random() > drift]
        resp = " ".join(kept + rng.sample(WORDS, 1)) or "nothing"
        rows.append({"id": i, "question": "what about " + " ".join(q), "response": resp, "reference": ref})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


FAST = ["--text-encoder", "hashing-bow", "--no-cache", "--estimator-option", "max_epochs=50", "--bootstrap", "50",
        "--quiet"]  # the default estimator (an ensemble of CLUBs) with its default epoch budget
FAST_PAPER = ["--text-encoder", "hashing-bow", "--no-cache", "--paper", "--hidden-size", "32", "--max-epochs", "15",
              "--bootstrap", "50", "--quiet"]  # CLUB + linear RJSD, a small CLUB


def _run_json(capsys, argv: list[str]) -> dict:
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_emi_json_is_complete_and_reproducible(tmp_path, capsys):
    data = _write_split(tmp_path / "id.jsonl", 80, 0, 0.0)
    out = _run_json(capsys, ["emi", str(data), *FAST, "--seed", "3"])
    emi = out["emi"]
    assert set(emi) >= {"value", "mi_response", "mi_reference", "n", "ci"}
    assert emi["n"] == 80 and math.isclose(emi["value"], emi["mi_response"] - emi["mi_reference"])
    assert emi["ci"]["low"] <= emi["ci"]["high"] and emi["ci"]["n_resamples"] == 50
    assert out["config"]["eval"]["seed"] == 3 and out["versions"]["torch"]
    assert out["data"]["embeddings"]["id"]["fusion"] == "text"  # no images: X is the question alone
    assert out["name"] == "id" and out["seeds"]["bootstrap_emi"]["id"] == emi["ci"]["seed"]
    again = _run_json(capsys, ["emi", str(data), *FAST, "--seed", "3"])
    assert again["emi"] == emi


def test_emi_threads_come_from_the_flag_then_the_environment_and_are_recorded(tmp_path, capsys, monkeypatch):
    from mllmshift.threads import detect_cpus

    data = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    fast = [*FAST, "--estimator-option", "max_epochs=5", "--bootstrap", "0"]
    monkeypatch.setenv("MLLMSHIFT_THREADS", "1")
    assert _run_json(capsys, ["emi", str(data), *fast])["threads"] == {
        "threads": 1, "usable_cpus": detect_cpus().usable, "load": None, "source": "MLLMSHIFT_THREADS",
        "requested": 1,  # an explicit count is every stage's (an automatic one is re-read per stage)
        "stages": {s: {"threads": 1, "load": None, "changes": []} for s in ("embed", "fit", "scenarios")}}
    t = _run_json(capsys, ["emi", str(data), *fast, "--threads", "64"])["threads"]
    assert (t["source"], t["requested"], t["threads"]) == ("argument", 64, min(64, detect_cpus().usable))
    # without --quiet the choice is one line on stderr
    assert main(["emi", str(data), *[a for a in fast if a != "--quiet"], "--threads", "1"]) == 0
    assert "threads: 1 thread (argument = 1;" in capsys.readouterr().err


def test_emid_with_saved_and_loaded_estimator(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 80, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 80, 1, 0.9)
    ckpt = tmp_path / "club.pt"
    res = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST_PAPER, "--save-estimator", str(ckpt),
                             "--out", str(tmp_path / "r.json")])
    (sc,) = res["scenarios"]
    assert sc["name"] == "shift"
    assert math.isclose(sc["emid"]["value"], res["id"]["emi"]["value"] - sc["emi"]["value"])
    assert sc["emid"]["value"] > 0  # responses ignore the question under "shift"
    bound = sc["bound"]
    assert bound["jsd_visual"] is None and bound["value"] is not None and bound["form"] == "scale-adjusted"
    assert json.loads((tmp_path / "r.json").read_text()) == res
    loaded = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST, "--estimator-file", str(ckpt),
                                "--entropy-scale", "1.5"])
    # the file says what it holds, whatever --mi-estimator says
    # (held out by default: the saved file is the cross-fitted CLUB, members and fold table included)
    assert loaded["estimator"]["config"]["name"] == "crossfit" and loaded["estimator"]["config"]["base"] == "club"
    assert loaded["estimator"]["source"] == "checkpoint"
    assert loaded["scenarios"][0]["emid"]["value"] == pytest.approx(sc["emid"]["value"], rel=1e-6)
    assert loaded["scenarios"][0]["bound"]["form"] == "theorem"
    # the same round trip with the default estimator, CLUB, as one estimator (a checkpoint is one member)
    nce = tmp_path / "club.pt"
    first = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST, "--n-estimators", "1",
                               "--save-estimator", str(nce)])
    again = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST, "--estimator-file", str(nce)])
    assert again["estimator"]["config"]["base"] == "club" and again["config"]["eval"]["n_estimators"] == 1
    assert again["scenarios"][0]["emid"]["value"] == pytest.approx(first["scenarios"][0]["emid"]["value"], rel=1e-6)


def test_defaults_are_a_club_ensemble_and_rjsd_debiased_and_recorded(tmp_path, capsys):
    # the defaults chosen by the amended decision rule (docs/estimators.md): CLUB with its
    # default options, an ensemble of DEFAULT_N_ESTIMATORS, the shuffle-corrected RJSD for every bound term
    from mllmshift.estimators.registries import mi_estimators
    from mllmshift.vocab import DEFAULT_N_ESTIMATORS

    DEFAULT_MI_OPTIONS = mi_estimators.options("club")
    assert DEFAULT_MI_OPTIONS == {"hidden_size": 250, "max_epochs": 50, "patience": 5}

    a = _write_split(tmp_path / "id.jsonl", 80, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 80, 1, 0.9)
    res = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST])
    cfg = res["config"]["eval"]
    assert cfg["estimator"] == {"name": "club", "options": DEFAULT_MI_OPTIONS}
    assert cfg["divergence"]["name"] == "rjsd-debiased" and cfg["n_estimators"] == DEFAULT_N_ESTIMATORS == 3
    assert res["estimator"]["config"]["name"] == "club" and res["estimator"]["config"]["hidden_size"] == 250
    held = res["estimator"]["held_out"]  # held out by default: cross-fitted over folds of the sample ids
    assert (held["scores"], held["folds"], held["base"]) == ("held-out", 3, "club")
    assert res["config"]["eval"]["folds"] == 3
    assert len(res["estimator"]["members"]) == DEFAULT_N_ESTIMATORS
    (sc,) = res["scenarios"]
    assert sc["emid"]["value"] > 0  # responses ignore the question under "shift"
    assert len(sc["emid"]["members"]) == 3 and sc["emid"]["value"] == pytest.approx(np.mean(sc["emid"]["members"]))
    assert "sign_stable" in sc["emid"]
    emi_id = res["id"]["emi"]
    assert emi_id["ceiling"] is None and emi_id["saturated"] is False  # CLUB has no cap by construction
    # one estimator at every n: every bound term used the shuffle-corrected RJSD
    assert sc["bound"]["estimators"] == {"text": "rjsd-debiased", "id_output": "rjsd-debiased",
                                         "ood_output": "rjsd-debiased"}


def test_paper_switch_gives_club_and_rjsd_and_explicit_options_win(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 60, 0, 0.0)
    res = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(a), *FAST_PAPER, "--bootstrap", "0"])
    est = res["estimator"]["config"]
    assert est["name"] == "club" and est["hidden_size"] == 32
    assert est["max_epochs"] == 15 and res["config"]["eval"]["divergence"]["name"] == "rjsd"
    assert res["id"]["emi"]["ceiling"] is None  # CLUB has no cap by construction
    res = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(a), *FAST_PAPER, "--bootstrap", "0",
                             "--divergence", "classifier-jsd"])
    assert res["estimator"]["config"]["name"] == "club"
    assert res["config"]["eval"]["divergence"]["name"] == "classifier-jsd"
    assert set(res["scenarios"][0]["bound"]["estimators"].values()) == {"classifier-jsd"}


def test_unknown_estimator_or_option_is_a_clear_error(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 30, 0, 0.0)
    assert main(["emi", str(a), *FAST, "--mi-estimator", "clubb"]) == 1
    err = capsys.readouterr().err
    assert "unknown MI estimator 'clubb'" in err and "smile" in err
    assert main(["emi", str(a), *FAST, "--estimator-option", "max_steps=5"]) == 1
    assert "estimator 'club' does not take the options" in capsys.readouterr().err
    assert main(["emi", str(a), *FAST, "--estimator-option", "oops"]) == 1
    assert "--estimator-option must look like KEY=VALUE" in capsys.readouterr().err
    assert main(["emid", "--id", str(a), "--ood", str(a), *FAST, "--divergence", "jsd"]) == 1
    assert "unknown divergence estimator 'jsd'" in capsys.readouterr().err


def test_bad_input_is_reported_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "q", "response": "r", "reference": "x"}\n{"id": 2, "response": "r"}\n')
    assert main(["emi", str(bad), *FAST]) == 1
    assert "bad.jsonl:2: field 'question': missing" in capsys.readouterr().err


def test_human_output(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    assert main(["emid", "--id", str(a), "--ood", str(a), *FAST, "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "EMID" in out and "bound form: scale-adjusted" in out
    assert ("MI 3 × club fitted on the pooled pairs, cross-fitted over 3 folds of the sample ids; bound JSD "
            "rjsd-debiased; seed 0") in out
    assert main(["emid", "--id", str(a), "--ood", str(a), *FAST, "--bootstrap", "0", "--n-estimators", "1",
                 "--folds", "0"]) == 0
    assert "MI club fitted on the pooled pairs, scored in-sample" in capsys.readouterr().out


@pytest.mark.shared
def test_emid_on_real_llava_bench(shared_data, tmp_path, capsys):
    """COCO ID vs frost severity 5, captions standing in for images, the default offline text encoder."""
    coco = shared_data / "llava-bench-coco"
    resp = shared_data / "llavabench-shift/responses/llava-v1.5-13b"
    res = _run_json(capsys, ["emid", "--id", str(resp / "llava_bench_coco.jsonl"),
                             "--ood", str(resp / "llava_bench_coco_frost_5_KeyboardAug_3.jsonl"),
                             "--questions", str(coco / "questions.jsonl"),
                             "--references", str(coco / "gpt4_answers.jsonl"),
                             "--captions", str(coco / "captions_boxes.jsonl"),
                             "--cache-dir", str(tmp_path / "cache"), "--bootstrap", "200", "--paper",
                             "--max-epochs", "50",
                             "--quiet"])
    sc = res["scenarios"][0]
    numbers = [sc["emid"]["value"], res["id"]["emi"]["value"], sc["emi"]["value"], sc["emid"]["ci"]["low"],
               sc["emid"]["ci"]["high"]] + [sc["bound"][k] for k in
                                            ("value", "jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output")]
    assert all(isinstance(v, float) and math.isfinite(v) for v in numbers)
    assert res["id"]["emi"]["n"] == sc["emi"]["n"] == 90
    # captions and questions, same encoder
    assert res["data"]["embeddings"]["llava_bench_coco"]["fusion"] == "mean"
    assert sc["bound"]["jsd_visual"] == pytest.approx(0.0, abs=1e-9)  # same captions in both splits
    assert sc["bound"]["jsd_text"] > 0  # typos change the questions


def test_key_value_options_parse_json_values_and_keep_text():
    """One parser serves --estimator-option, --option (encoders, respond) and --param (shift)."""
    from mllmshift.cli._common import parse_key_values
    from mllmshift.errors import DataError

    got = parse_key_values(["lr=1e-3", "steps=300", "flag=true", "none=null", "sizes=[1, 2]", "name=frost",
                            " pad = x=y"], "--option")
    assert got == {"lr": 0.001, "steps": 300, "flag": True, "none": None, "sizes": [1, 2], "name": "frost",
                   "pad": " x=y"}
    assert parse_key_values(["max-tokens=8"], "--option", underscores=True) == {"max_tokens": 8}
    assert parse_key_values(["max-tokens=8"], "--option") == {"max-tokens": 8}
    for bad in ("novalue", "=3"):
        with pytest.raises(DataError, match=f"--param must look like KEY=VALUE, got '{bad}'"):
            parse_key_values([bad], "--param")


def test_estimator_option_numbers_reach_the_estimator_as_numbers(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    res = _run_json(capsys, ["emi", str(a), *FAST, "--estimator-option", "lr=1e-3", "--bootstrap", "0"])
    assert res["estimator"]["config"]["lr"] == 0.001  # YAML 1.1 would have kept '1e-3' as text


def test_a_loaded_estimator_of_other_dimensions_is_refused_with_a_message(tmp_path, capsys):
    from mllmshift.estimators.mi.club import CLUB

    a = _write_split(tmp_path / "id.jsonl", 30, 0, 0.0)
    CLUB(3, 3, hidden_size=4).save(tmp_path / "small.pt")
    assert main(["emi", str(a), *FAST, "--estimator-file", str(tmp_path / "small.pt")]) == 1
    err = capsys.readouterr().err
    assert f"the estimator at {tmp_path / 'small.pt'} takes 3-d inputs and 3-d answers" in err
    assert "use the encoders it was trained on" in err


def test_encoder_options_reach_the_encoder(tmp_path, capsys):
    """--text-encoder-option carries any encoder option (the paper's encoders need model_name_or_path)."""
    a = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    res = _run_json(capsys, ["emi", str(a), *FAST, "--bootstrap", "0", "--text-encoder-option", "dim=64"])
    assert res["encoders"]["text"]["config"]["dim"] == 64
    assert res["config"]["eval"]["text_encoder"] == {"name": "hashing-bow", "options": {"dim": 64}}
    assert main(["emi", str(a), *FAST, "--text-encoder", "hf-embedding-layer"]) == 1
    assert "model_name_or_path" in capsys.readouterr().err  # a clear error, not a traceback
    # normalize (and threads) are encoder options too: build_encoder(name, **options), recorded in the config
    res = _run_json(capsys, ["emi", str(a), *FAST, "--bootstrap", "0", "--text-encoder-option", "normalize=markdown"])
    assert res["encoders"]["text"]["config"]["normalize"] == "markdown"
    assert res["config"]["eval"]["text_encoder"]["options"] == {"normalize": "markdown"}
    # a bad option is refused when the config is built (before any reading or embedding), under the flag
    for option, message in (("normalize=bogus", "field '--text-encoder-option': unknown text normalisation 'bogus' "
                                                "for encoder 'hashing-bow'; choose from markdown, whitespace"),
                            ("dimm=3", "field '--text-encoder-option': encoder 'hashing-bow' does not take these "
                                       "options"),
                            ("batch_size=0", "field '--text-encoder-option': encoder 'hashing-bow': batch_size must "
                                             "be an integer >= 1, got 0")):
        assert main(["emi", str(a), *FAST, "--text-encoder-option", option]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


@pytest.mark.parametrize("flags, flag, message", [
    (["--confidence", "1.5"], "--confidence", "must be in (0, 1)"),
    (["--bootstrap", "-1"], "--bootstrap", "must be >= 0"),
    (["--n-estimators", "0"], "--n-estimators", "must be >= 1"),
    (["--text-encoder", "no-such-encoder"], "--text-encoder", "unknown encoder 'no-such-encoder'"),
    (["--estimator-file", "missing.pt"], "--estimator-file", "file not found"),
    (["--estimator", "missing.pt"], "--estimator-file", "file not found"),  # the old spelling (deprecated)
])
def test_bad_flags_are_refused_before_any_work_naming_the_flag(tmp_path, capsys, flags, flag, message):
    a = _write_split(tmp_path / "id.jsonl", 20, 0, 0.0)
    assert main(["emi", str(a), *FAST, *flags]) == 1
    err = capsys.readouterr().err
    assert f"field '{flag}': " in err and message in err


def test_out_is_never_overwritten_by_another_run_and_samples_are_logged(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 50, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 50, 1, 0.9)
    out = tmp_path / "res" / "emid.json"
    # the default CLUB: per-sample MI terms (its per-row log-ratios);
    # a fixed thread count: with the automatic choice the record holds the load, which changes between runs
    args = ["emid", "--id", str(a), "--ood", str(b), *FAST, "--threads", "1", "--out", str(out)]
    first = _run_json(capsys, args)
    rows = [json.loads(line) for line in (out.parent / "samples" / "shift.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(50)]
    # CLUB has per-sample terms: their means are the two MIs of the shifted split's EMI
    emi = first["scenarios"][0]["emi"]
    assert sum(r["mi_response"] for r in rows) / 50 == pytest.approx(emi["mi_response"], rel=1e-5)
    assert sum(r["emi"] for r in rows) / 50 == pytest.approx(emi["value"], rel=1e-4, abs=1e-6)
    import hashlib

    line0 = json.loads(b.read_text().splitlines()[0])
    assert rows[0]["sha256"]["question"] == hashlib.sha256(line0["question"].encode()).hexdigest()
    _run_json(capsys, args)  # the same run again may replace its own result
    assert main([*args, "--seed", "1"]) == 1
    kept = json.loads(out.read_text())
    assert "holds the result of another run" in capsys.readouterr().err
    # the same numbers and config; the run record (time made, command) is the rerun's own
    same = lambda d: {k: v for k, v in d.items() if k not in ("threads", "run")}  # noqa: E731
    assert same(kept) == same(first) and kept["run"]["command"] == first["run"]["command"]
    assert main([*args, "--seed", "1", "--overwrite"]) == 0
    assert json.loads(out.read_text())["config"]["eval"]["seed"] == 1
    capsys.readouterr()


def test_an_ensemble_keeps_each_member_and_its_mean(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 50, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 50, 1, 0.9)
    res = _run_json(capsys, ["emid", "--id", str(a), "--ood", str(b), *FAST, "--n-estimators", "3"])
    emid = res["scenarios"][0]["emid"]
    assert len(emid["members"]) == 3 and len(set(emid["members"])) == 3
    assert emid["value"] == pytest.approx(sum(emid["members"]) / 3, rel=1e-9)
    assert len(res["estimator"]["members"]) == 3 and res["seeds"]["estimator"][0] != 0
    assert emid["sign_stable"] == (emid["members_agree"] and emid["ci"]["low"] > 0)


def test_answers_kept_on_request_are_warnings_in_the_json_and_the_summary(tmp_path, capsys):
    """--allow-empty-answers / --allow-mixed-visual keep what the readers refuse by default; the result says so."""
    a = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 40, 1, 0.5)
    rows = [json.loads(line) for line in b.read_text().splitlines()]
    rows[2]["response"] = ""
    rows[5]["image_text"] = "a caption"  # one sample with a visual stand-in among 40 without
    b.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fast = [*FAST, "--estimator-option", "max_epochs=5", "--bootstrap", "0"]
    assert main(["emid", "--id", str(a), "--ood", str(b), *fast]) == 1
    assert "shift.jsonl:3: field 'response': sample '2' has an empty response" in capsys.readouterr().err
    assert main(["emid", "--id", str(a), "--ood", str(b), *fast, "--allow-empty-answers"]) == 1
    assert "shift.jsonl:1: field 'image_text': sample '0' has no image_text" in capsys.readouterr().err
    argv = ["emid", "--id", str(a), "--ood", str(b), *fast, "--allow-empty-answers", "--allow-mixed-visual"]
    res = _run_json(capsys, argv)
    assert len(res["warnings"]) == 2
    assert res["warnings"][0].startswith("shift: 1 of 40 samples have an empty response (kept on request")
    assert res["warnings"][1].startswith("shift: 39 of 40 samples have no image_text (accepted on request")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert all(f"\n  warning: {w}" in out for w in res["warnings"])
    assert not _run_json(capsys, ["emi", str(a), *fast])["warnings"]


def test_a_sign_unstable_emid_is_flagged_in_the_summary_and_the_json(tmp_path, capsys):
    # a "shift" that equals the ID split: every member's EMID is 0, so no interval excludes 0 and the sign is not
    # stable; the shifted split with a real drift keeps its sign (members agree, interval above 0)
    a = _write_split(tmp_path / "id.jsonl", 80, 0, 0.0)
    same = _write_split(tmp_path / "same.jsonl", 80, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 80, 1, 0.9)
    argv = ["emid", "--id", str(a), "--ood", str(same), "--ood", str(b), "--text-encoder", "hashing-bow",
            "--no-cache", "--quiet", "--mi-estimator", "gaussian", "--n-estimators", "1", "--bootstrap", "200"]
    assert main(argv) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["same"].endswith("(sign not stable)") and not lines["shift"].endswith("(sign not stable)")
    res = _run_json(capsys, argv)
    flags = {s["name"]: s["emid"]["sign_stable"] for s in res["scenarios"]}
    assert flags == {"same": False, "shift": True}
