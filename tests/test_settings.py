"""One config resolution: the same settings give the same EvalConfig from every verb and the Python API, from flags
and from a YAML file (mllmshift.settings); an EvalConfig is built without torch and read back from any
results.json; names agree across verbs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mllmshift.cli.main import build_parser, main
from mllmshift.components import Component
from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor.config import MONITOR_DIVERGENCE
from mllmshift.settings import FLAGS, SETTINGS, YAML_FIELDS, resolve

#: what every case shares: a fast encoder and no image encoder, a seed, a small bootstrap, one thread
COMMON_FLAGS = ["--text-encoder", "hashing-bow", "--image-encoder", "none", "--seed", "3", "--bootstrap", "40",
                "--threads", "1"]
COMMON_YAML = {"encoders": {"text": "hashing-bow", "image": None}, "seed": 3, "bootstrap": {"n_resamples": 40},
               "threads": 1}
COMMON_PY = {"text_encoder": "hashing-bow", "image_encoder": None, "seed": 3, "n_resamples": 40, "threads": 1}
#: the cases: the project's defaults, the paper's estimators, a bare CLUB
CASES = {
    "defaults": ([], {}, {}),
    "paper": (["--paper"], {"paper": True}, {"paper": True}),
    "bare-club": (["--mi-estimator", "club"], {"estimator": "club"}, {"estimator": "club"}),
}


def _rows(n: int, shift: str = "") -> list[dict]:
    return [{"id": str(i), "question": f"what colour is thing {i} {shift}", "response": f"thing {i} is red {shift}",
             "reference": f"thing {i} is blue"} for i in range(n)]


#: the numbers compared across routes: a closed-form MI on 32-dim hashed texts (the route, not the encoder's size,
#: is what is tested; 256 dims made each of the ~250 Gaussian MIs of a run a 512 × 512 log-determinant)
NUMBERS_FLAGS = [*COMMON_FLAGS, "--text-encoder-option", "dim=32", "--mi-estimator", "gaussian", "--bootstrap", "30",
                 "--divergence", "rjsd"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    folder = tmp_path_factory.mktemp("data")
    for name, shift in (("id", ""), ("shift", "please")):
        p = folder / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in _rows(24, shift)))
        out[name] = p
    return out


def _args(argv: list[str]):
    return build_parser().parse_args(argv)


def _yaml(tmp_path: Path, name: str, body: dict) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(body))
    return p


def _configs(case: str, data: dict[str, Path], tmp_path: Path) -> dict[str, EvalConfig]:
    """The EvalConfig each route resolves for ``case`` (the verbs' own config-building code, no compute)."""
    from mllmshift import api
    from mllmshift.cli._common import eval_config_from_args
    from mllmshift.cli.monitor import build_config
    from mllmshift.cli.study import load_config
    from mllmshift.monitor.config_file import read_monitor_file

    flags, body, py = CASES[case]
    flags = [*COMMON_FLAGS, *flags]
    body = {**COMMON_YAML, **body}
    split_keys = {"id": str(data["id"]), "scenarios": [str(data["shift"])]}
    out = {
        "emi": eval_config_from_args(_args(["emi", str(data["id"]), *flags])),
        "emid": eval_config_from_args(_args(["emid", "--id", str(data["id"]), "--ood", str(data["shift"]), *flags])),
        "api": api.eval_config(**{**COMMON_PY, **py}),
    }
    bare = _yaml(tmp_path, "study-bare.yaml", split_keys)
    full = _yaml(tmp_path, "study-full.yaml", {**split_keys, **body})
    out["study-flags"] = load_config(_args(["study", str(bare), "--out", str(tmp_path / "s1"), *flags])).eval
    out["study-yaml"] = load_config(_args(["study", str(full), "--out", str(tmp_path / "s2")])).eval
    # the monitor: one window equal to the split; its own defaults (50 resamples, the plug-in RJSD) are overridden
    # by the bootstrap given here, and its divergence is rjsd in every case (the paper's, and the monitor's)
    mon = ["monitor", "--reference", str(data["id"]), "--stream", str(data["shift"]), "--out", str(tmp_path / "m"),
           "--window", "24"]
    out["monitor-flags"] = build_config(_args([*mon, *flags]), None, "24", 1).eval
    mfile = _yaml(tmp_path, "monitor.yaml", {"window": 24, **body})
    margs = _args(["monitor", "--config", str(mfile), "--out", str(tmp_path / "m2")])
    out["monitor-yaml"] = build_config(margs, read_monitor_file(mfile), "24", 1).eval
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_every_route_resolves_the_same_config(case, data, tmp_path):
    cfgs = _configs(case, data, tmp_path)
    ref = cfgs["emi"].to_dict()
    for route, cfg in cfgs.items():
        want = dict(ref, divergence={"name": MONITOR_DIVERGENCE, "options": {}}) if route.startswith("monitor") \
            else ref
        assert json.dumps(cfg.to_dict(), sort_keys=True) == json.dumps(want, sort_keys=True), route
    est = cfgs["emi"].estimator
    if case == "defaults":  # the registry entry's options, the default ensemble, the debiased RJSD
        assert (est.name, dict(est.options), cfgs["emi"].n_estimators) == ("club", {"hidden_size": 250, "max_epochs": 50,
                                                                                    "patience": 5},
                                                                           3)
        assert cfgs["emi"].divergence.name == "rjsd-debiased"
    elif case == "paper":
        assert (est.name, dict(est.options), cfgs["emi"].n_estimators) == ("club", {"hidden_size": 500,
                                                                                    "max_epochs": 200,
                                                                                    "patience": 10}, 1)
        assert cfgs["emi"].divergence.name == "rjsd"
    else:  # a bare club: its registry entry's options (the default's), the default ensemble
        assert (est.name, dict(est.options), cfgs["emi"].n_estimators) == ("club", {"hidden_size": 250,
                                                                                    "max_epochs": 50,
                                                                                    "patience": 5}, 3)
    assert cfgs["emi"].text_encoder == Component("hashing-bow") and cfgs["emi"].image_encoder is None


@pytest.fixture(scope="module")
def emid_json(data, tmp_path_factory) -> dict:
    """The ``emid --json`` result of NUMBERS_FLAGS: run once, compared with the API's and the study's."""
    out = tmp_path_factory.mktemp("emid") / "r.json"
    assert main(["emid", "--id", str(data["id"]), "--ood", str(data["shift"]), *NUMBERS_FLAGS, "--out", str(out),
                 "--no-cache", "--quiet"]) == 0
    return json.loads(out.read_text())


def test_the_cli_and_the_api_give_the_same_numbers(data, emid_json, tmp_path):
    from mllmshift import api

    cli = emid_json
    res = api.evaluate(str(data["id"]), str(data["shift"]),
                       **{**COMMON_PY, "text_encoder": Component("hashing-bow", {"dim": 32}), "n_resamples": 30},
                       estimator="gaussian", divergence="rjsd", cache_dir=tmp_path / "cache")
    assert cli["config"]["eval"] == res.config.to_dict()
    assert cli["config"]["eval"]["text_encoder"]["options"] == {"dim": 32}
    mine, theirs = res.scenarios[0], cli["scenarios"][0]
    assert mine.emid == pytest.approx(theirs["emid"]["value"], rel=1e-9, abs=1e-12)
    assert mine.emid_ci.low == pytest.approx(theirs["emid"]["ci"]["low"], rel=1e-9, abs=1e-12)
    assert mine.emid_ci.high == pytest.approx(theirs["emid"]["ci"]["high"], rel=1e-9, abs=1e-12)
    assert mine.bound.value == pytest.approx(theirs["bound"]["value"], rel=1e-9, abs=1e-12)


def test_flags_win_over_the_file_which_wins_over_the_verbs_defaults():
    file = {"estimator": "club", "estimator_options": {"hidden_size": 8}, "seed": 5, "n_resamples": 7}
    flags = {"seed": 9, "estimator_options": {"max_epochs": 2}}
    cfg = resolve(flags, file, {"n_resamples": 50, "divergence": "rjsd", "seed": 1})
    assert cfg.seed == 9 and cfg.n_resamples == 7 and cfg.divergence.name == "rjsd"
    # the estimator keeps its name, so the flag's options add to the file's
    assert cfg.estimator == Component("club", {"hidden_size": 8, "max_epochs": 2, "patience": 5})  # + the registry's
    # a layer that renames a component starts from that layer's options (plus the registry entry's)
    assert resolve({"estimator": "smile"}, file).estimator == Component("smile", {"max_steps": 300, "patience": 3})
    # --paper first puts the paper's estimators in place, then the layer's own settings apply
    assert resolve({"paper": True, "n_estimators": 2}, file).estimator.options == {"hidden_size": 500,
                                                                                  "max_epochs": 200,
                                                                                  "patience": 10}
    assert resolve({"paper": True, "n_estimators": 2}, file).n_estimators == 2
    # entropy_scale alone selects the theorem's form
    assert resolve({"entropy_scale": 2.0}).bound_form == "theorem"


def test_a_value_is_reported_under_the_flag_or_the_yaml_field_that_gave_it(tmp_path):
    from mllmshift.errors import DataError
    from mllmshift.io.yaml_strict import load_yaml
    from mllmshift.settings import file_values

    p = tmp_path / "c.yaml"
    p.write_text("seed: 1\nbootstrap:\n  confidence: 1.5\n")
    doc = load_yaml(p, "config")
    layer = file_values(doc.data, doc, tmp_path)
    with pytest.raises(DataError) as err:
        resolve(None, layer, doc=doc)
    assert (err.value.field, err.value.line) == ("bootstrap.confidence", 3)
    with pytest.raises(DataError) as err:
        resolve({"confidence": 2.0}, {"seed": 1}, doc=doc)
    assert err.value.field == "--confidence"


def test_the_table_names_each_flag_and_yaml_field_once():
    flags = [s.flag for s in SETTINGS if s.flag] + [a for s in SETTINGS for a in s.aliases]
    assert len(flags) == len(set(flags))
    assert len(set(YAML_FIELDS.values())) == len(YAML_FIELDS)
    # every EvalConfig field is reachable from the table, as a flag or a YAML field
    from dataclasses import fields

    for f in fields(EvalConfig):
        assert f.name in YAML_FIELDS and (f.name in FLAGS), f.name


def test_the_old_spellings_still_work_and_warn(data, tmp_path, capsys):
    args = _args(["emi", str(data["id"]), "--estimator", "x.pt", "--no-progress"])
    err = capsys.readouterr().err
    assert args.checkpoint == Path("x.pt") and args.quiet is True
    assert "--estimator is deprecated; use --estimator-file" in err and "--no-progress is deprecated" in err
    judge = _args(["judge", "--responses", "r", "--out", "o", "--model", "m", "--bootstrap-seed", "4"])
    assert judge.seed == 4 and "--bootstrap-seed is deprecated; use --seed" in capsys.readouterr().err
    assert _args(["monitor", "--out", "o", "--restart"]).overwrite is True


def test_preset_and_replay_names_take_either_spelling(tmp_path):
    from mllmshift.study.presets import presets

    assert presets.canonical("llava-bench") == "llava_bench" and "llava-bench" in presets
    assert _args(["monitor", "--out", "o", "--replay", "llava_bench"]).replay == "llava-bench"
    # a component named with the other spelling is recorded under the registered one
    assert EvalConfig(divergence="rjsd_debiased").divergence.name == "rjsd-debiased"


BLOCK_TORCH = textwrap.dedent("""
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")

    sys.meta_path.insert(0, NoTorch())
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.settings import resolve

    print(EvalConfig().estimator.options["hidden_size"], resolve({"paper": True}).estimator.name,
          EvalConfig(checkpoint="/nowhere.pt", text_encoder="somepkg.mod:Enc").n_estimators,
          "torch" in sys.modules)
""")


def test_an_eval_config_is_built_where_torch_cannot_be_imported():
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", BLOCK_TORCH], capture_output=True, text=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["250", "club", "1", "False"]


def test_a_results_file_reads_back_without_its_checkpoint_or_plugin(tmp_path):
    from mllmshift.evaluation.results import StudyResult
    from mllmshift.evaluation.runnable import check_runnable
    from mllmshift.errors import DataError

    ckpt = tmp_path / "est.json"
    ckpt.write_text("{}")
    cfg = EvalConfig(checkpoint=str(ckpt), text_encoder="hashing-bow", image_encoder=None)
    d = {"schema": _schema(), "title": "t", "config": {"eval": cfg.to_dict()},
         "id": {"name": "id", "n": 20, "emi": None}, "scenarios": []}
    ckpt.unlink()  # the reading machine lacks the checkpoint ...
    d["config"]["eval"]["divergence"] = {"name": "absentplugin", "options": {"k": 1}}  # ... and an entry point
    back = StudyResult.from_json(d)
    assert back.config.checkpoint == str(ckpt) and back.config.divergence == Component("absentplugin", {"k": 1})
    with pytest.raises(DataError, match="file not found"):
        check_runnable(back.config)  # running it here is refused, before anything is computed


def _schema() -> str:
    from mllmshift.evaluation.results import SCHEMA

    return SCHEMA


def test_the_study_gives_the_numbers_of_emid(data, emid_json, tmp_path, capsys):
    # one config from the same flags: the study's scenario and emid's agree on EMID, its interval and the bound
    cli = emid_json
    cfg = _yaml(tmp_path, "s.yaml", {"id": str(data["id"]), "correlation": {"n_resamples": 0},
                                     "scenarios": [{"path": str(data["shift"]), "group": "text"}]})
    assert main(["study", str(cfg), "--out", str(tmp_path / "out"), *NUMBERS_FLAGS, "--quiet",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    study = json.loads((tmp_path / "out" / "results.json").read_text())
    assert study["config"]["eval"] == cli["config"]["eval"]
    mine, theirs = study["scenarios"][0], cli["scenarios"][0]
    for key in ("value", "ci"):
        assert mine["emid"][key] == pytest.approx(theirs["emid"][key], rel=1e-9, abs=1e-12) if key == "value" \
            else {k: mine["emid"]["ci"][k] for k in ("low", "high")} == pytest.approx(
                {k: theirs["emid"]["ci"][k] for k in ("low", "high")}, rel=1e-9, abs=1e-12)
    assert mine["bound"]["value"] == pytest.approx(theirs["bound"]["value"], rel=1e-9, abs=1e-12)
