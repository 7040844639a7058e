"""The Ray engine embeds with Ray Data batch inference and gives the local engine's numbers (a local Ray of 2 CPUs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.test_emi_emid import FAST_PAPER, _write_split

ray = pytest.importorskip("ray", reason="the Ray engine needs the mllmshift[ray] extra")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs started inside the test module (with this checkout's package), shut down after."""
    from mllmshift.engines.ray_engine import runtime_env

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_equals_local_engine(tmp_path, capsys, local_ray):
    from mllmshift.cli.main import main
    from mllmshift.encoders.store import EmbeddingStore
    from mllmshift.engines import EngineConfig
    from mllmshift.engines.ray_engine import embed_with_ray
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.evaluation.embedding import Encoders, embed_to_store
    from mllmshift.io import read_split

    a = _write_split(tmp_path / "id.jsonl", 90, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 90, 1, 0.8)
    splits = [read_split(str(a)), read_split(str(b))]
    cfg = EvalConfig(text_encoder="hashing-bow", image_encoder=None)
    ray_store, local_store = EmbeddingStore(tmp_path / "ray"), EmbeddingStore(tmp_path / "local")
    lines = embed_with_ray(splits, cfg, ray_store, EngineConfig("ray", batch_size=16, concurrency=2))
    assert [(t.split, t.texts) for t in lines] == [("id", 270), ("shift", 270)]
    for s in splits:
        embed_to_store(s, Encoders(cfg), None, local_store, chunk=32)
    for name in ("id", "shift"):
        assert ray_store.entry(name)["key"] == local_store.entry(name)["key"]
        for field in ("x_text", "response", "reference"):
            np.testing.assert_array_equal(np.load(tmp_path / "ray" / name / f"{field}.npy"),
                                          np.load(tmp_path / "local" / name / f"{field}.npy"))

    args = ["emid", "--id", str(a), "--ood", str(b), *FAST_PAPER, "--json"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(args + ["--engine", "ray"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert remote["id"]["emi"]["value"] == pytest.approx(local["id"]["emi"]["value"], rel=1e-5, abs=1e-7)
    assert remote["scenarios"][0]["emid"]["value"] == pytest.approx(local["scenarios"][0]["emid"]["value"],
                                                                     rel=1e-5, abs=1e-7)
    assert remote["scenarios"][0]["bound"]["value"] == pytest.approx(local["scenarios"][0]["bound"]["value"], rel=1e-5)


@pytest.mark.slow
def test_a_study_on_the_ray_engine_gives_the_local_studys_numbers_and_resumes(tmp_path, local_ray):
    """`engine: ray` in a study config: Ray embeds into OUT/.state/embeddings, the same stages score, and a
    rerun reads the store instead of embedding again."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "study"))
    from study_helpers import make_study

    from mllmshift.engines import EngineConfig
    from mllmshift.study import StudyConfig, run_study

    cfg = StudyConfig.from_yaml(make_study(tmp_path))
    local = run_study(cfg, tmp_path / "local", progress=False, cache_dir=None).results
    on_ray = cfg.with_(engine=EngineConfig("ray", batch_size=16))
    remote = run_study(on_ray, tmp_path / "ray", progress=False, cache_dir=None).results
    assert remote["run"]["stages"]["embed"]["computed"] == 1 + len(local["scenarios"])
    assert (tmp_path / "ray" / ".state" / "embeddings" / "manifest.json").is_file()
    assert remote["id"]["emi"]["value"] == pytest.approx(local["id"]["emi"]["value"], rel=1e-5, abs=1e-7)
    for a, b in zip(remote["scenarios"], local["scenarios"]):
        assert a["name"] == b["name"]
        for key in ("emid", "bound"):
            assert a[key]["value"] == pytest.approx(b[key]["value"], rel=1e-5, abs=1e-7), (a["name"], key)
    again = run_study(on_ray, tmp_path / "ray", progress=False, cache_dir=None).results
    assert again["run"]["stages"]["embed"] == {**again["run"]["stages"]["embed"], "computed": 0}
    assert again["scenarios"] == remote["scenarios"]
