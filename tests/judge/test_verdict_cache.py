"""The verdict cache heals: a damaged entry is dropped with a warning and asked again, with identical results."""

from __future__ import annotations

import json

import pytest
from chat_server import ChatServer
from test_judge_run import judge, judge_script, make_split

from mllmshift.errors import MllmshiftWarning
from mllmshift.judge.cache import VerdictCache, entry_checksum


def test_entries_carry_a_checksum(tmp_path):
    cache = VerdictCache(tmp_path)
    cache.put("ab12", "7 8\nfine", {"model": "m"})
    entry = json.loads((tmp_path / "ab" / "ab12.json").read_text())
    assert entry == {"text": "7 8\nfine", "model": "m", "checksum": entry_checksum("ab12", "7 8\nfine")}
    assert cache.get("ab12") == "7 8\nfine" and cache.get("ffff") is None


@pytest.mark.parametrize("damage", [
    lambda e: json.dumps({**e, "text": e["text"].replace("1", "9", 1) + "x"}),   # text changed, checksum kept
    lambda e: json.dumps(e)[: len(json.dumps(e)) // 2],                          # truncated write
    lambda e: "\udcff not utf-8",                                                 # garbage bytes
    lambda e: json.dumps({"checksum": e["checksum"]}),                            # no text
])
def test_a_damaged_verdict_is_asked_again_with_identical_results(tmp_path, damage):
    split = make_split(6)
    with ChatServer(judge_script()) as srv:
        first = judge(srv.base_url, tmp_path).judge_split(split)
    files = sorted((tmp_path / "cache").glob("*/*.json"))
    assert len(files) == 6
    entry = json.loads(files[2].read_text())
    files[2].write_bytes(damage(entry).encode("utf-8", "surrogateescape"))
    with ChatServer(judge_script()) as srv:
        with pytest.warns(MllmshiftWarning, match="damaged judge cache entry .* dropped; the verdict is asked again"):
            again = judge(srv.base_url, tmp_path).judge_split(split)
        assert len(srv.requests) == 1
    assert again == first
    assert json.loads(files[2].read_text())["checksum"] == entry["checksum"]


def test_entries_from_before_checksums_are_kept_and_sealed(tmp_path):
    cache = VerdictCache(tmp_path)
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / "cd34.json").write_text(json.dumps({"text": "3 4"}))
    assert cache.get("cd34") == "3 4"
    assert json.loads((tmp_path / "cd" / "cd34.json").read_text())["checksum"] == entry_checksum("cd34", "3 4")
