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


@pytest.mark.parametrize("extra, field", [({"engine": {"name": "spark"}}, "engine"),
                                          ({"engine": {"name": "ray", "gpus": 2}}, "engine"),
                                          ({"device": "tpu"}, "device")])
def test_bad_scale_keys_are_located(tmp_path, extra, field):
    with pytest.raises(DataError) as err:
        _cfg(tmp_path, extra)
    assert err.value.field is not None and err.value.field.startswith(field)
