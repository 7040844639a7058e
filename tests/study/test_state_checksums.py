"""Every ``.state`` entry carries a checksum: a truncated, altered or unsealed entry is moved aside with a warning
and recomputed, and the resumed study gives the results of an uninterrupted run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mllmshift.errors import MllmshiftWarning
from mllmshift.study import StudyConfig, run_study
from study_helpers import make_study, write_split


def without_run(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in ("run", "threads")}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A finished study (with a responder, so every kind of entry exists) and a pristine copy of its folder."""
    root = tmp_path_factory.mktemp("sealed")
    cfg_path = make_study(root, extra={"responder": {"name": "blind"}})
    for f in [root / "data" / "id.jsonl", *sorted((root / "data" / "shifted").glob("*.jsonl"))[:1]]:
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        f.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "response"}) + "\n" for r in rows))
    cfg = StudyConfig.from_yaml(cfg_path)
    res = run_study(cfg, root / "out", progress=False)
    shutil.copytree(root / "out", root / "pristine")
    return cfg, res, root


KINDS = {"scenario": ("scenarios", "frost_1.*.json"), "id": ("scenarios", "__id__.*.json"),
         "embedded": ("embedded", "id.*.npz"), "estimator": ("estimator", "*.pt"),
         "responses": ("responses", "id.*.jsonl")}
STAGE = {"scenario": "scenarios", "id": "scenarios", "embedded": "embed", "estimator": "estimator",
         "responses": "respond"}


def _fresh(root: Path, name: str) -> Path:
    out = root / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(root / "pristine", out)
    return out


@pytest.mark.parametrize("damage", ["truncate", "flip", "unsealed"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_damaged_entry_is_recomputed_with_a_warning_and_the_results_are_unchanged(done, kind, damage):
    cfg, first, root = done
    out = _fresh(root, f"{kind}-{damage}")
    folder, pattern = KINDS[kind]
    (entry,) = sorted((out / ".state" / folder).glob(pattern))
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same length, one byte changed
        i = len(data) // 2
        entry.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    else:  # a run killed between the entry and its checksum
        entry.with_name(entry.name + ".sha256").unlink()
    (out / "results.json").unlink()
    with pytest.warns(MllmshiftWarning, match=r"study state entry not used.*moved aside.*recomputing it") as rec:
        again = run_study(cfg, out, progress=False)
    assert any(entry.name in str(w.message) for w in rec)
    assert without_run(again.results) == without_run(first.results)
    stages = again.results["run"]["stages"]
    if kind in STAGE:
        assert stages[STAGE[kind]]["computed"] >= 1
    assert entry.is_file() and entry.with_name(entry.name + ".sha256").is_file()  # recomputed and sealed again
    moved = list((out / ".state" / "corrupt").rglob(entry.name))
    assert len(moved) == 1
    # everything else was read back: only the damaged entry (and what depends on it) was recomputed
    if kind in ("scenario", "id"):
        assert stages["embed"]["computed"] == 0 and stages["estimator"]["computed"] == 0
        assert stages["scenarios"]["computed"] == 1
    if kind == "embedded":
        assert stages["embed"]["computed"] == 1 and stages["estimator"]["cached"] == 1


@pytest.mark.parametrize("damage", ["truncate", "unsealed"])
def test_a_damaged_config_record_refuses_the_folder_unless_overwrite(done, damage):
    """config.json says which config OUT belongs to: damaged, it cannot vouch for the results, so the run is
    refused (as for another config) unless --overwrite, which replaces it and reuses the intact entries."""
    from mllmshift.study.state import OutputInUse

    cfg, first, root = done
    out = _fresh(root, f"config-{damage}")
    record = out / ".state" / "config.json"
    if damage == "truncate":
        record.write_bytes(record.read_bytes()[:20])
    else:
        record.with_name("config.json.sha256").unlink()
    with pytest.raises(OutputInUse, match=r"config record .*config\.json\) is damaged.*--overwrite"):
        run_study(cfg, out, progress=False)
    with pytest.warns(MllmshiftWarning, match="config.json: study state entry not used"):
        again = run_study(cfg, out, progress=False, overwrite=True)
    assert without_run(again.results) == without_run(first.results)
    assert all(v["computed"] == 0 for v in again.results["run"]["stages"].values())


def test_an_intact_state_is_read_back_without_warnings(done, recwarn):
    cfg, first, root = done
    out = _fresh(root, "intact")
    again = run_study(cfg, out, progress=False)
    assert not [w for w in recwarn if issubclass(w.category, MllmshiftWarning)]
    assert all(v["computed"] == 0 for v in again.results["run"]["stages"].values())
    assert without_run(again.results) == without_run(first.results)
