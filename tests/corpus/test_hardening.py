"""The rules behind issue #22's refusals, each against an independent statement of it (the corpus cases in
cases/harden.yaml check the command-line behaviour; these check the rule at its edges)."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from mllmshift.cli._outputs import MARKER, check_disjoint, check_folder_ours, claim_folder
from mllmshift.errors import DataError
from mllmshift.evaluation.config import min_resamples
from mllmshift.io.strict_json import JsonProblem, loads
from mllmshift.io.yaml_strict import MAX_NODES, parse_yaml
from mllmshift.monitor.config import WindowSpec, min_null_draws
from mllmshift.monitor.null import NullDistribution
from mllmshift.monitor.stream import JsonlFileSource
from mllmshift.monitor.windows import MAX_WINDOW_JUMP, TimeWindows
from mllmshift.secrets import basic_auth, redact, redact_url, request_url, url_secrets
from mllmshift.sources import NpySource


@pytest.mark.parametrize("alpha", [0.3, 0.05, 0.0123, 0.01, 0.05 / 7, 0.001])
def test_min_null_draws_is_the_fewest_with_a_finite_conformal_threshold(alpha):
    n = min_null_draws(alpha)
    assert np.isfinite(NullDistribution("t", 1, tuple(range(n))).threshold(alpha))
    assert NullDistribution("t", 1, tuple(range(n - 1))).threshold(alpha) == float("inf")


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_min_resamples_leaves_a_resample_beyond_each_end(confidence):
    """B = min_resamples: each tail of the percentile interval holds >= 1 resample; one fewer: < 1."""
    b = min_resamples(confidence)
    assert b * (1 - confidence) / 2 >= 1 - 1e-9
    assert (b - 1) * (1 - confidence) / 2 < 1


def test_strict_json_refuses_duplicate_keys_and_lone_surrogates_and_keeps_the_rest():
    assert loads('{"a": "\\ud83d\\ude00", "b": [1, {"c": "\\u00e9"}]}') == json.loads(
        '{"a": "\\ud83d\\ude00", "b": [1, {"c": "\\u00e9"}]}')
    with pytest.raises(JsonProblem) as err:
        loads('{"a": 1, "b": {"k": 1, "k": 2}}')
    assert err.value.field == "k"
    for text, field in (('{"r": "x \\ud800"}', "r"), ('{"r": ["ok", "\\udfff"]}', "r[1]"),
                        ('{"o": {"p": "\\udc00\\ud800"}}', "o.p")):
        with pytest.raises(JsonProblem) as err:
            loads(text)
        assert err.value.field == field and "lone surrogate" in err.value.message


def test_yaml_aliases_are_bounded_but_merges_and_shared_anchors_still_read():
    assert parse_yaml("base: &b {x: 1}\nc: {<<: *b, y: 2}\nd: [*b, *b]\n").data == {
        "base": {"x": 1}, "c": {"x": 1, "y": 2}, "d": [{"x": 1}, {"x": 1}]}
    with pytest.raises(DataError, match="recursive alias"):
        parse_yaml("a: &x {b: [*x]}\n", "f.yaml")
    # 4 levels of 20 aliases: 20^4 = 160,000 leaves, under the limit; 5 levels (3.2 million) are refused
    doc = lambda k: "l0: &l0 [" + ", ".join(["x"] * 20) + "]\n" + "".join(  # noqa: E731
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 20) + "]\n" for i in range(1, k))
    assert len(parse_yaml(doc(4)).data["l3"]) == 20
    with pytest.raises(DataError, match=f"more than {MAX_NODES:,} values"):
        parse_yaml(doc(5))


def _rows(ts: float) -> SimpleNamespace:
    return SimpleNamespace(record=SimpleNamespace(timestamp=ts, path="s.jsonl", line=7))


def test_a_time_jump_closes_up_to_the_cap_of_windows_and_no_more():
    w = TimeWindows(WindowSpec.parse("1h"))
    assert w.add(_rows(0.0)) == []
    closed = w.add(_rows(3600.0 * MAX_WINDOW_JUMP))  # closes windows 0 .. MAX-1: exactly the cap
    assert len(closed) == MAX_WINDOW_JUMP and sum(len(c.items) for c in closed) == 1
    with pytest.raises(DataError, match="s.jsonl:7: field 'timestamp'"):
        w.add(_rows(3600.0 * (2 * MAX_WINDOW_JUMP + 1)))  # MAX + 1 windows at once


def test_a_stream_file_replaced_by_a_longer_one_is_refused_and_a_grown_one_read_on(tmp_path):
    path = tmp_path / "s.jsonl"
    row = lambda i: json.dumps({"id": f"q{i}", "timestamp": i, "question": "q", "response": "a"}) + "\n"  # noqa: E731
    path.write_text("".join(row(i) for i in range(5)))
    src = JsonlFileSource(path)
    for e in src.events():
        src.commit(e)
    saved = src.state()
    path.write_text("".join(row(i) for i in range(8)))  # grown: the next three records
    again = JsonlFileSource(path)
    again.restore(saved)
    assert [e.record.id for e in again.events()] == ["q5", "q6", "q7"]
    path.write_text("".join(row(i + 100) for i in range(8)))  # replaced, longer than what was read
    replaced = JsonlFileSource(path)
    replaced.restore(saved)
    with pytest.raises(DataError, match="not the one read so far"):
        list(replaced.events())


def test_a_nan_is_reported_at_its_row_in_the_file_whatever_rows_are_taken(tmp_path):
    a = np.ones((40, 4), dtype="<f4")
    a[5, 2] = np.nan
    np.save(tmp_path / "e.npy", a)
    src = NpySource(tmp_path / "e.npy")
    for rows in ([19, 5, 3], [5], list(range(40))[::-1]):
        with pytest.raises(DataError, match=r"e\.npy:6: row 5 contains NaN"):
            src.take(rows)


def test_outputs_are_compared_with_inputs_through_links(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    os.link(data, tmp_path / "hard.jsonl")
    (tmp_path / "soft.jsonl").symlink_to(data)
    for out in ("hard.jsonl", "soft.jsonl", "./d.jsonl"):
        with pytest.raises(DataError, match="is the input file"):
            check_disjoint([("DATA", data)], [("--out", tmp_path / out, False)])
    check_disjoint([("DATA", data)], [("--out", tmp_path / "r.json", False), ("--log", tmp_path / "logs", True)])
    with pytest.raises(DataError, match="inside the output folder of --log"):
        check_disjoint([("DATA", data)], [("--out", tmp_path / "logs" / "r.json", False), ("--log", tmp_path / "logs", True)])


def test_a_claimed_folder_is_ours_and_a_failed_claim_leaves_nothing(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"holds files mllmshift did not write \(notes\.txt\)"):
        check_folder_ours(mine, "--out")
    new = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError), claim_folder(new, "test"):
        raise RuntimeError("the verb failed before writing")
    assert not (tmp_path / "a").exists()
    with claim_folder(new, "test"):
        (new / "series.jsonl").write_text("{}\n")
    assert (new / MARKER).is_file()
    check_folder_ours(new, "--out")  # ours now, and again on the next run


def test_urls_lose_their_secrets_but_keep_their_request():
    url = "https://bob:s3cr%40t@host:8443/v1/hook?token=abc123XYZ&lang=en#frag"
    assert redact_url(url) == "https://***@host:8443/v1/hook?token=***&lang=***"
    assert request_url(url) == "https://host:8443/v1/hook?token=abc123XYZ&lang=en"
    assert basic_auth(url) == {"Authorization": "Basic Ym9iOnMzY3JAdA=="}  # base64 of bob:s3cr@t
    message = f"<urlopen error [Errno 111] refused> {url} s3cr@t"
    cleaned = redact(message, url_secrets(url))
    assert "abc123XYZ" not in cleaned and "s3cr" not in cleaned and "refused" in cleaned


def test_a_data_frame_with_two_columns_of_one_name_is_refused():
    pd = pytest.importorskip("pandas")
    from mllmshift.io.memory import read_memory

    rows = [[f"s{i}", f"q {i}", f"a {i}", f"b {i}", f"r {i}"] for i in range(12)]
    df = pd.DataFrame(rows, columns=["id", "question", "response", "response", "reference"])
    with pytest.raises(DataError, match=r"<DataFrame>: field 'response': columns \['response'\] appear more than once"):
        read_memory(df)
    assert [s.response for s in read_memory(df.iloc[:, [0, 1, 2, 4]]).samples][:2] == ["a 0", "a 1"]
