"""A study config's engine, device and bootstrap scheme: parsed, checked, and outside the fingerprint where
they do not change the numbers."""

from __future__ import annotations

import pytest

from mllmshift.errors import DataError
from mllmshift.study.config import StudyConfig


def _cfg(tmp_path, extra):
    for name in ("id", "shift"):
        (tmp_path / f"{name}.jsonl").write_text('{"id": 1, "question": "q", "response": "r", "reference": "r"}\n')
    return StudyConfig.from_dict({"id": "id.jsonl", "scenarios": ["shift.jsonl"], **extra}, base_dir=tmp_path)


def test_engine_device_and_scheme_keys(tmp_path):
    plain = _cfg(tmp_path, {})
    assert plain.engine.name == "local" and plain.eval.device == "cpu" and plain.eval.bootstrap_scheme == "auto"
    ray = _cfg(tmp_path, {"engine": {"name": "ray", "address": "ray://head:10001", "concurrency": 4},
                          "device": "auto", "bootstrap": {"scheme": "poisson"}})
    assert (ray.engine.name, ray.engine.address, ray.engine.concurrency) == ("ray", "ray://head:10001", 4)
    assert ray.eval.device == "auto" and ray.eval.bootstrap_scheme == "poisson"
    # where and on what it runs does not change the numbers; the bootstrap scheme does
    assert ray.with_(bootstrap_scheme="auto").fingerprint() == plain.fingerprint()
    assert ray.fingerprint() != plain.fingerprint()
    back = StudyConfig.from_dict(ray.to_yaml_dict(), base_dir=tmp_path)
    assert back.engine == ray.engine and back.eval.device == "auto"


@pytest.mark.parametrize("lines, field, line, says", [
    (["engine:", "  name: spark"], "engine.name", 4, "expected one of local, ray"),
    (["engine: {name: ray, gpus: 2}"], "engine.gpus", 3, "unknown key"),
    (["engine:", "  name: ray", "  concurrency: 0"], "engine.concurrency", 5, "must be >= 1"),
    (["engine:", "  name: ray", "  batch_size: many"], "engine.batch_size", 5, "expected an integer"),
    (["engine:", "  name: ray", "  address: 7"], "engine.address", 5, "expected a Ray address"),
    (["device: tpu"], "device", 3, "tpu"),
])
def test_bad_scale_keys_name_file_line_and_field(tmp_path, lines, field, line, says):
    for name in ("id", "shift"):
        (tmp_path / f"{name}.jsonl").write_text('{"id": 1, "question": "q", "response": "r", "reference": "r"}\n')
    path = tmp_path / "study.yaml"
    path.write_text("\n".join(["id: id.jsonl", "scenarios: [shift.jsonl]", *lines]) + "\n")
    with pytest.raises(DataError) as err:
        StudyConfig.from_yaml(path)
    assert (err.value.path, err.value.field, err.value.line) == (str(path), field, line)
    assert says in err.value.message


def test_engine_short_form(tmp_path):
    assert _cfg(tmp_path, {"engine": "ray"}).engine.name == "ray"
