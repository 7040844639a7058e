"""Stream sources: only new, complete records are read; bad ones come back as located errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mllmshift.errors import DataError
from mllmshift.monitor.stream import (
    FolderSource,
    JsonlFileSource,
    open_source,
    parse_record,
    parse_timestamp,
)


def rec(i: int, **kw) -> dict:
    return {"id": f"q{i}", "timestamp": 1000 + i, "question": f"question {i}", "response": f"answer {i}", **kw}


def lines(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def drain(source):
    """Read everything new and commit it, as the monitor does."""
    out = []
    for e in source.events():
        source.commit(e)
        out.append(e)
    return out


@pytest.mark.parametrize("value,expected", [
    (1735689600, 1735689600.0),
    (1735689600.5, 1735689600.5),
    ("2025-01-01T00:00:00Z", 1735689600.0),
    ("2025-01-01T00:00:00", 1735689600.0),  # naive: UTC
    ("2025-01-01T01:00:00+01:00", 1735689600.0),
])
def test_timestamps_from_epoch_seconds_and_iso_strings(value, expected):
    assert parse_timestamp(value) == expected
    assert datetime.fromtimestamp(parse_timestamp(value), tz=timezone.utc).year == 2025


@pytest.mark.parametrize("value", ["yesterday", True, [1], float("nan")])
def test_bad_timestamps_are_refused(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_record_errors_name_the_field(tmp_path):
    path = tmp_path / "s.jsonl"
    with pytest.raises(DataError, match=r"s\.jsonl:7: field 'response': missing"):
        parse_record({"timestamp": 1, "question": "q"}, path, 7)
    with pytest.raises(DataError, match=r":3: field 'timestamp': not an ISO 8601"):
        parse_record({"timestamp": "soon", "question": "q", "response": "a"}, path, 3)
    with pytest.raises(DataError, match="field 'question': expected a string"):
        parse_record({"timestamp": 1, "question": 5, "response": "a"}, path, 1)


def test_record_defaults_and_column_mapping(tmp_path):
    path = tmp_path / "s.jsonl"
    r = parse_record({"ts": "2025-01-01T00:00:00Z", "prompt": "q", "text": "a", "image": "img/1.png"}, path, 4,
                     {"timestamp": "ts", "question": "prompt", "response": "text"})
    assert (r.id, r.timestamp, r.question, r.response, r.reference) == ("s.jsonl:4", 1735689600.0, "q", "a", None)
    assert r.image == str(tmp_path / "img" / "1.png") and r.source == f"{path}:4"


def test_jsonl_tail_reads_only_complete_new_lines(tmp_path):
    path = tmp_path / "stream.jsonl"
    first = lines([rec(1), rec(2)])
    path.write_text(first + json.dumps(rec(3))[:20])  # the third line is still being written
    src = JsonlFileSource(path)
    got = drain(src)
    assert [e.record.id for e in got] == ["q1", "q2"]
    assert src.positions["stream.jsonl"][:2] == (len(first.encode()), 2)  # then the seal
    assert drain(src) == []  # nothing complete is new
    path.write_text(first + lines([rec(3), rec(4)]))  # the writer finishes the line and adds one
    assert [(e.record.id, e.record.line) for e in drain(src)] == [("q3", 3), ("q4", 4)]


def test_positions_restore_without_recount_or_skip(tmp_path):
    path = tmp_path / "stream.jsonl"
    path.write_text(lines([rec(i) for i in range(5)]) + "\n\n")
    src = JsonlFileSource(path)
    events = list(src.events())
    src.commit(events[2])  # the monitor used three records, then stopped
    again = JsonlFileSource(path)
    again.restore(json.loads(json.dumps(src.state())))
    assert [e.record.id for e in drain(again)] == ["q3", "q4"]


def test_malformed_lines_are_events_with_file_and_line(tmp_path):
    path = tmp_path / "stream.jsonl"
    path.write_text(lines([rec(1)]) + "{not json\n" + "[1, 2]\n" + lines([{"timestamp": 5, "question": "q"}])
                    + lines([rec(5)]))
    got = drain(JsonlFileSource(path))
    assert [e.record.id if e.record else None for e in got] == ["q1", None, None, None, "q5"]
    errors = [str(e.error) for e in got if e.error]
    assert errors[0].startswith(f"{path}:2: bad JSON")
    assert errors[1] == f"{path}:3: expected a JSON object, got list"
    assert errors[2] == f"{path}:4: field 'response': missing"


def test_a_shrinking_file_is_an_error(tmp_path):
    path = tmp_path / "stream.jsonl"
    path.write_text(lines([rec(1), rec(2)]))
    src = JsonlFileSource(path)
    drain(src)
    path.write_text(lines([rec(1)]))
    with pytest.raises(DataError, match="shrank"):
        drain(src)


def test_a_missing_stream_file_is_simply_empty_until_created(tmp_path):
    src = JsonlFileSource(tmp_path / "later.jsonl")
    assert drain(src) == []
    (tmp_path / "later.jsonl").write_text(lines([rec(1)]))
    assert len(drain(src)) == 1


def _parquet(path, records):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=3)


def test_drop_folder_reads_jsonl_batches_and_parquet_shards_in_name_order(tmp_path):
    (tmp_path / "b-002.jsonl").write_text(lines([rec(4), rec(5)]))
    _parquet(tmp_path / "a-001.parquet", [rec(i) for i in range(4)])
    (tmp_path / ".c-003.jsonl.tmp").write_text(lines([rec(99)]))  # a file still being dropped
    (tmp_path / "notes.txt").write_text("ignored")
    src = FolderSource(tmp_path)
    got = drain(src)
    assert [e.record.id for e in got] == ["q0", "q1", "q2", "q3", "q4", "q5"]
    assert [e.record.line for e in got[:4]] == [1, 2, 3, 4]  # Parquet rows, 1-based
    assert {k: v[:2] for k, v in src.positions.items()} == {"a-001.parquet": (4, 4),
                                                            "b-002.jsonl": (len(lines([rec(4), rec(5)]).encode()), 2)}
    assert src.warnings == [f"{tmp_path / 'notes.txt'}: not read: the stream folder's batches are .jsonl or "
                            ".parquet files"]
    (tmp_path / "a-000.jsonl").write_text(lines([rec(6)]))  # a late file with an early name is still read
    (tmp_path / "b-002.jsonl").write_text(lines([rec(4), rec(5), rec(7)]))
    assert [e.record.id for e in drain(src)] == ["q6", "q7"]


def test_parquet_shard_resumes_mid_file(tmp_path):
    _parquet(tmp_path / "s.parquet", [rec(i) for i in range(8)])
    src = open_source(tmp_path / "s.parquet")
    events = list(src.events())
    src.commit(events[4])
    again = open_source(tmp_path / "s.parquet")
    again.restore(src.state())
    assert [e.record.id for e in drain(again)] == ["q5", "q6", "q7"]


def test_unfinished_parquet_shard_is_retried_with_a_warning(tmp_path):
    (tmp_path / "s.parquet").write_bytes(b"PAR1 half written")
    src = FolderSource(tmp_path)
    assert drain(src) == [] and "cannot read this Parquet shard yet" in src.warnings[0]
    _parquet(tmp_path / "s.parquet", [rec(1)])
    assert [e.record.id for e in drain(src)] == ["q1"]


def test_open_source_checks_the_column_mapping(tmp_path):
    with pytest.raises(DataError, match="unknown fields"):
        open_source(tmp_path / "s.jsonl", {"answer": "text"})
