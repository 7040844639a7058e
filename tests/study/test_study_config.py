"""The study config: defaults, path resolution, and located errors for every malformed field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mllmshift.errors import DataError
from mllmshift.study.config import StudyConfig


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


def test_full_config_resolves_paths_and_values(tmp_path):
    (tmp_path / "ck.pt").write_bytes(b"x")
    (tmp_path / "judge.csv").write_text("scenario,win_rate\n")
    p = write(tmp_path, """
        title: T
        seed: 3
        id: data/id.jsonl
        scenarios:
          - data/frost_3.jsonl
          - {folder: shifted, group: visual}
          - {grid: {dataset: d, visual: [{corruption: frost, severities: [1]}]}}
          - {path: r.jsonl, format: llava, options: {questions: q.jsonl, references: ref.jsonl}}
        encoders: {text: {name: hashing-bow, options: {dim: 16}}, image: null, fusion: text}
        estimator: {name: club, options: {hidden_size: 8}, checkpoint: ck.pt}
        bound: {form: theorem, entropy_scale: 2.5}
        bootstrap: {n_resamples: 10, confidence: 0.9}
        correlation: {n_resamples: 7}
        judge: judge.csv
        responder: baseline
        threads: 1
    """)
    c = StudyConfig.from_yaml(p)
    assert c.title == "T" and c.seed == 3 and c.threads == 1
    assert c.id.path == str(tmp_path / "data" / "id.jsonl")
    assert c.scenarios[0].path == str(tmp_path / "data" / "frost_3.jsonl")
    assert c.scenarios[1].folder == str(tmp_path / "shifted") and c.scenarios[1].group == "visual"
    assert c.scenarios[2].grid["dataset"] == "d"
    assert c.scenarios[3].format == "llava" and c.scenarios[3].options["questions"] == str(tmp_path / "q.jsonl")
    assert c.text_encoder.name == "hashing-bow" and c.text_encoder.options == {"dim": 16}
    assert c.image_encoder is None and c.fusion == "text"
    assert c.checkpoint == str(tmp_path / "ck.pt") and c.estimator.options == {"hidden_size": 8}
    assert (c.bound_form, c.entropy_scale) == ("theorem", 2.5)
    assert (c.n_resamples, c.confidence, c.correlation_resamples) == (10, 0.9, 7)
    assert c.judge == str(tmp_path / "judge.csv") and c.responder.name == "baseline"
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d and d["source"] == str(p.resolve())
    assert c.fingerprint() == StudyConfig.from_yaml(p).fingerprint()
    assert c.with_(seed=4).fingerprint() != c.fingerprint()


def test_defaults(tmp_path):
    c = StudyConfig.from_yaml(write(tmp_path, "id: a.jsonl\nscenarios: [b.jsonl]\n"))
    assert (c.text_encoder.name, c.image_encoder.name, c.fusion) == ("use-multilingual", "efficientnet-lite0", "auto")
    # the defaults chosen by the ground-truth validation (docs/estimators.md), not the paper's CLUB + RJSD
    assert (c.estimator.name, c.checkpoint, c.bound_form, c.entropy_scale) == ("infonce", None, "scale-adjusted", None)
    assert c.divergence == "auto"
    assert (c.n_resamples, c.confidence, c.seed, c.responder, c.threads) == (1000, 0.95, 0, None, None)


@pytest.mark.parametrize("body, field, line, message", [
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbootstrap: {n_resample: 3}\n", "bootstrap.n_resample", 3, "unknown key"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nsead: 1\n", "sead", 3, "unknown key"),
    ("scenarios: [b.jsonl]\n", "id", None, "required"),
    ("id: a.jsonl\n", "scenarios", None, "at least one"),
    ("id: a.jsonl\nscenarios:\n  - b.jsonl\n  - {path: c.jsonl, folder: d}\n", "scenarios[1]", 4, "exactly one"),
    ("id: a.jsonl\nscenarios:\n  - {path: c.jsonl, group: audio}\n", "scenarios[0].group", 3, "visual, text or joint"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbound: {form: loose}\n", "bound.form", 3, "scale-adjusted"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbound: {divergence: jsd}\n", "bound.divergence", 3,
     "unknown divergence estimator 'jsd'"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbound: {entropy_scale: -1}\n", "bound.entropy_scale", 3, "must be >"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbootstrap:\n  n_resamples: many\n", "bootstrap.n_resamples", 4,
     "an integer"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nbootstrap: {confidence: 1.0}\n", "bootstrap.confidence", 3, "must be <"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nseed: true\n", "seed", 3, "an integer"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nestimator: {checkpoint: nope.pt}\n", "estimator.checkpoint", 3,
     "file not found"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\njudge: nope.csv\n", "judge", 3, "file not found"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nencoders: {fusion: sum}\n", "encoders.fusion", 3, "auto, mean"),
    ("id: a.jsonl\nscenarios: [b.jsonl]\nencoders: {text: {options: {}}}\n", "encoders.text.name", 3, "registry"),
])
def test_located_errors(tmp_path, body, field, line, message):
    p = write(tmp_path, body)
    with pytest.raises(DataError) as err:
        StudyConfig.from_yaml(p)
    e = err.value
    assert e.path == str(p) and e.field == field and e.line == line, str(e)
    assert message in str(e)
    assert str(e).startswith(f"{p}:{line}: " if line else f"{p}: ")


def test_bad_yaml_names_the_line(tmp_path):
    p = write(tmp_path, "id: a.jsonl\nscenarios: [b.jsonl\nseed: 1\n")
    with pytest.raises(DataError, match="bad YAML") as err:
        StudyConfig.from_yaml(p)
    assert err.value.line is not None and err.value.line >= 2


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="config file not found"):
        StudyConfig.from_yaml(tmp_path / "none.yaml")


def test_theorem_form_needs_entropy_scale(tmp_path):
    from mllmshift.errors import MllmshiftError
    from mllmshift.study.runner import StudyRunner

    c = StudyConfig.from_yaml(write(tmp_path, "id: a.jsonl\nscenarios: [b.jsonl]\nbound: {form: theorem}\n"))
    with pytest.raises(MllmshiftError, match="entropy_scale"):
        StudyRunner(c, tmp_path / "out", progress=False)
