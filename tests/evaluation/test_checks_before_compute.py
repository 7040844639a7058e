"""Every bad input stops before anything is embedded or fitted: each class of error is raised while a counting
encoder (a plugin, allowed with --allow-plugin) has not been built, let alone called, and no output is left."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.vocab import EXIT_BAD_INPUT, EXIT_USAGE, MIN_SAMPLES

PLUGIN = '''
from pathlib import Path
from mllmshift.encoders.hashing import HashingBOW

LOG = Path(__file__).with_name("calls.log")


class Counting(HashingBOW):
    """hashing-bow that appends a line to calls.log when it is built and whenever it encodes."""

    name = "counting"

    def __init__(self, **kw):
        super().__init__(**kw)
        with LOG.open("a") as fh:
            fh.write("built\\n")

    def _encode_batch(self, items):
        with LOG.open("a") as fh:
            fh.write(f"encode {len(items)}\\n")
        return super()._encode_batch(items)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    mod = tmp_path / "plug"
    mod.mkdir()
    (mod / "countenc.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(mod))
    monkeypatch.setenv("MLLMSHIFT_CACHE", str(tmp_path / "cache"))
    yield mod / "calls.log"
    sys.modules.pop("countenc", None)


ENC = ["--text-encoder", "countenc:Counting", "--allow-plugin", "countenc", "--image-encoder", "none", "--no-cache",
       "--bootstrap", "0", "--mi-estimator", "gaussian", "--quiet"]


def rows(n: int, prefix: str = "s", **extra) -> list[dict]:
    return [{"id": f"{prefix}{i}", "question": f"what is thing {i}", "response": f"thing {i} is red",
             "reference": f"thing {i} is blue", **extra} for i in range(n)]


def write(path: Path, rs: list[dict], drop: tuple[str, ...] = ()) -> str:
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in drop}) + "\n" for r in rs))
    return str(path)


def test_the_counting_encoder_counts(tmp_path, plugin, capsys):
    """The control: a good run builds and calls it (so a 0 below means 'never reached')."""
    d = write(tmp_path / "d.jsonl", rows(MIN_SAMPLES))
    assert main(["emi", d, *ENC]) == 0
    assert "built" in plugin.read_text() and "encode" in plugin.read_text()


def _bad(tmp: Path) -> dict[str, tuple[list[str], str]]:
    ok = write(tmp / "ok.jsonl", rows(12))
    return {
        "too-few-samples": (["emi", write(tmp / "few.jsonl", rows(MIN_SAMPLES - 1))],
                            rf"split 'few' has {MIN_SAMPLES - 1} sample\(s\); an estimate needs at least {MIN_SAMPLES}"),
        "no-response": (["emi", write(tmp / "nr.jsonl", rows(12), drop=("response",))],
                        r"nr\.jsonl: field 'response': the ID split 'nr' needs a response for every sample"),
        "no-reference": (["emi", write(tmp / "nf.jsonl", rows(12), drop=("reference",))],
                         r"nf\.jsonl: field 'reference': the ID split 'nf' needs a reference"),
        "visual-mismatch": (["emid", "--id", ok, "--ood", write(tmp / "cap.jsonl", rows(12, image_text="a cat"))],
                            r"cap\.jsonl: field 'image_text': the shifted split 'cap' \(.*cap\.jsonl\) has captions "
                            r"\(image_text\), but the ID split 'ok' \(.*ok\.jsonl\) has no visual input"),
        "small-ood": (["emid", "--id", ok, "--ood", write(tmp / "s.jsonl", rows(3))], r"split 's' has 3 sample"),
        "hidden-size": (["emi", ok, "--hidden-size", "0", "--mi-estimator", "club"],
                        r"field '--estimator-option': estimator 'club': option 'hidden_size' must be >= 1, got 0"),
        "max-epochs": (["emi", ok, "--max-epochs", "-3", "--mi-estimator", "club"],
                       r"option 'max_epochs' must be >= 1, got -3"),
        "option-type": (["emi", ok, "--estimator-option", "lr=fast", "--mi-estimator", "club"],
                        r"option 'lr' must be a number, got 'fast'"),
        "confidence": (["emi", ok, "--confidence", "nan"], r"field '--confidence': expected a finite number"),
        "entropy-scale": (["emid", "--id", ok, "--ood", ok, "--entropy-scale", "inf"],
                          r"field '--entropy-scale': expected a finite number"),
        "out-folder": (["emi", ok, "--out", str(tmp)], r"field '--out': .* is a folder; give a file name"),
        "out-under-file": (["emi", ok, "--out", str(tmp / "ok.jsonl" / "r.json")],
                           r"field '--out': .*r\.json lies under .*ok\.jsonl, which is a file"),
        "save-estimator-folder": (["emi", ok, "--save-estimator", str(tmp)], r"field '--save-estimator'"),
    }


CASES = ["too-few-samples", "no-response", "no-reference", "visual-mismatch", "small-ood", "hidden-size",
         "max-epochs", "option-type", "confidence", "entropy-scale", "out-folder", "out-under-file",
         "save-estimator-folder"]


@pytest.mark.parametrize("case", CASES)
def test_each_class_of_error_comes_before_the_encoder_is_built(tmp_path, plugin, capsys, case):
    import re

    argv, message = _bad(tmp_path)[case]
    flags = [a for a in ENC if not (case in ("hidden-size", "max-epochs", "option-type") and a == "gaussian")]
    if case in ("hidden-size", "max-epochs", "option-type"):
        flags.remove("--mi-estimator")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([*argv, *flags]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not plugin.exists(), plugin.read_text()  # never built, never called
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_nan_checkpoint_is_refused_before_embedding(tmp_path, plugin, capsys):
    import torch

    ok = write(tmp_path / "ok.jsonl", rows(12))
    ckpt = tmp_path / "e.pt"
    saved = tmp_path / "saved.mllmshift"
    assert main(["emi", ok, *ENC[:-3], "--mi-estimator", "club", "--max-epochs", "1", "--folds", "0",
                 "--save-estimator", str(saved), "--quiet"]) == 0
    plugin.unlink()
    from mllmshift.evaluation.artifact import load_artifact

    load_artifact(saved).members[0].save(ckpt)  # the one member as a single estimator file
    obj = torch.load(ckpt, weights_only=True)
    obj["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in obj["state_dict"].items()}
    torch.save(obj, ckpt)
    out = tmp_path / "r.json"
    assert main(["emi", ok, *ENC[:-3], "--estimator-file", str(ckpt), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "e.pt: field 'state_dict.p_mu.0.weight': holds NaN or infinite weights" in err
    assert not plugin.exists() and not out.exists()


def _study(tmp: Path, n: int = 12, extra: str = "") -> Path:
    write(tmp / "id.jsonl", rows(n))
    write(tmp / "frost_1.jsonl", rows(n))
    cfg = tmp / "s.yaml"
    cfg.write_text("id: id.jsonl\nscenarios: [frost_1.jsonl]\nplugins: [countenc]\n"
                   "encoders: {text: 'countenc:Counting', image: null}\nestimator: {name: gaussian}\n"
                   "bootstrap: {n_resamples: 0}\ncorrelation: {n_resamples: 0}\n" + extra)
    return cfg


def test_a_study_with_a_small_split_stops_before_compute_and_leaves_no_output(tmp_path, plugin, capsys):
    cfg = _study(tmp_path, n=4)
    assert main(["study", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_BAD_INPUT
    assert "split 'id' has 4 sample(s)" in capsys.readouterr().err
    assert not plugin.exists() and not (tmp_path / "out").exists()


def test_a_study_whose_shifted_split_has_captions_the_id_lacks_names_both_files(tmp_path, plugin, capsys):
    cfg = _study(tmp_path)
    write(tmp_path / "frost_1.jsonl", rows(12, image_text="a cat"))
    assert main(["study", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "frost_1.jsonl" in err and "id.jsonl" in err and "no visual input" in err
    assert not plugin.exists() and not (tmp_path / "out").exists()


def test_a_study_config_with_a_preset_is_a_usage_error(tmp_path, plugin, capsys):
    cfg = _study(tmp_path)
    assert main(["study", str(cfg), "--preset", "llava_bench", "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert "give a CONFIG file or --preset llava_bench, not both" in capsys.readouterr().err
    assert not plugin.exists() and not (tmp_path / "out").exists()


def test_study_out_that_is_a_file(tmp_path, plugin, capsys):
    cfg = _study(tmp_path)
    (tmp_path / "out").write_text("mine")
    assert main(["study", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_BAD_INPUT
    assert "field '--out': the output folder is a file" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "mine" and not plugin.exists()


def test_ids_shared_with_none_of_the_id_split_are_a_warning_in_the_results(tmp_path, plugin, capsys):
    a, b = write(tmp_path / "a.jsonl", rows(12, "a")), write(tmp_path / "b.jsonl", rows(12, "b"))
    assert main(["emid", "--id", a, "--ood", b, *ENC[:-1], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["warnings"] == ["b: shares no sample id with the ID split 'a' (an EMID usually compares the same "
                               "questions under a shift)"]
