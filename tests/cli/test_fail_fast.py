"""Size refusals come before any work: `monitor` with a window too large for its reference stops before the
reference is embedded or an estimator fitted, and leaves no output folder."""

from __future__ import annotations

import json

import pytest

from mllmshift.cli.main import main
from mllmshift.monitor.replay import stamp, synthetic_records


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("window, expected", [("1000", "reference of at least 2000 records (it has 200)"),
                                              ("2", "at least")])
def test_monitor_refuses_a_window_too_large_before_embedding(window, expected, tmp_path, capsys, monkeypatch):
    import mllmshift.monitor.runner as runner

    def no_work(*a, **k):
        raise AssertionError("the reference was embedded before the size check")

    monkeypatch.setattr(runner, "embed_split", no_work)
    ref, stream, out = tmp_path / "ref.jsonl", tmp_path / "s.jsonl", tmp_path / "mon"
    _jsonl(ref, synthetic_records(200, 0, 0, prefix="r"))
    _jsonl(stream, stamp(synthetic_records(20, 0, 1, prefix="s")))
    rc = main(["monitor", "--reference", str(ref), "--stream", str(stream), "--out", str(out), "--window", window,
               "--text-encoder", "hashing-bow", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 1 and "field 'window'" in err and expected in err, err
    assert not out.exists()
