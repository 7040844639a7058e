"""``mllmshift respond`` on LLaVA questions files: images as data URLs, output readable by the LLaVA reader."""

from __future__ import annotations

import base64
import json

import pytest
from chat_server import ChatServer, last_text, ok

from mllmshift.cli.main import main
from mllmshift.errors import DataError
from mllmshift.io.llava import read_llava

JPEG = b"\xff\xd8\xff\xe0" + b"1234567890" * 3


def test_llava_questions_file_round_trip(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "imgs" / name).write_bytes(JPEG + name.encode())
    qfile = tmp_path / "questions.jsonl"
    qfile.write_text("".join(json.dumps({"question_id": i, "image": "ab"[i % 2] + ".jpg", "text": f"Q{i}?",
                                         "category": "conv"}) + "\n" for i in range(4)))
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"question_id": i, "text": f"ref {i}"}) + "\n" for i in range(4)))
    with ChatServer(lambda req, a: ok("seen: " + last_text(req))) as srv:
        rc = main(["respond", "--data", str(qfile), "--image-folder", str(tmp_path / "imgs"), "--out",
                   str(tmp_path / "out"), "--base-url", srv.base_url, "--model", "llava-v1.5-7b", "--no-progress"])
        urls = {last_text(r["body"]): r["body"]["messages"][0]["content"][0]["image_url"]["url"]
                for r in srv.requests}
    assert rc == 0
    assert base64.b64decode(urls["Q1?"].split(",", 1)[1]) == JPEG + b"b.jpg"
    out = tmp_path / "out" / "questions.jsonl"
    split = read_llava(out, questions=qfile, references=refs)   # the project's reader takes it as is
    assert split.responses == [f"seen: Q{i}?" for i in range(4)]
    assert split.references == [f"ref {i}" for i in range(4)]
    manifest = json.loads((tmp_path / "out" / "respond.json").read_text())
    assert manifest["scenarios"]["questions"]["n_items"] == 4
    assert manifest["config"]["model"] == "llava-v1.5-7b"
    assert manifest["run"]["command"].startswith("mllmshift respond ")  # provenance (mllmshift.provenance)
    assert str(qfile.resolve()) in {i["path"] for i in manifest["run"]["inputs"]}


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"question_id": 0, "image": "missing.jpg", "text": "Q?"}) + "\n")
    (tmp_path / "images").mkdir()  # an output inside an input folder is refused (issue #22), so apart
    rc = main(["respond", "--data", str(qfile), "--image-folder", str(tmp_path / "images"), "--out", str(tmp_path / "o"),
               "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--no-progress"])
    assert rc == 1 and "missing.jpg" in capsys.readouterr().err
    with pytest.raises(DataError, match="no \\*.jsonl"):
        from mllmshift.cli.respond import dataset_files

        (tmp_path / "empty").mkdir()
        dataset_files(tmp_path / "empty")
    rc = main(["respond", "--data", str(qfile), "--out", str(tmp_path / "o"), "--api-key-env", "UNSET_VAR_X",
               "--model", "m", "--no-progress"])
    assert rc == 1 and "UNSET_VAR_X" in capsys.readouterr().err


def test_a_plugin_responder_is_named_as_in_a_study_config(tmp_path, monkeypatch, capsys):
    """`--responder package.module:Class` (a Responder subclass) works in `respond` as in `responder:` of a study."""
    (tmp_path / "my_responders.py").write_text(
        "from mllmshift.responders.base import Responder\n"
        "class Shout(Responder):\n"
        "    name = 'shout'\n"
        "    def respond(self, samples):\n"
        "        return [s.question.upper() for s in samples]\n"
        "class NotOne:\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": i, "question": f"q{i}?", "reference": f"r{i}"}) + "\n" for i in range(3)))
    rc = main(["respond", "--responder", "my_responders:Shout", "--allow-plugin", "my_responders", "--data", str(data),
               "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "d.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Q0?", "Q1?", "Q2?"] and [r["reference"] for r in rows] == ["r0", "r1", "r2"]
    capsys.readouterr()
    rc = main(["respond", "--responder", "my_responders:NotOne", "--allow-plugin", "my_responders", "--data",
               str(data), "--out", str(tmp_path / "o2"), "--no-progress"])
    assert rc == 1 and "is not a subclass of mllmshift.responders.base.Responder" in capsys.readouterr().err
    rc = main(["respond", "--responder", "my_responders:Shout", "--data", str(data), "--out", str(tmp_path / "o3"),
               "--no-progress"])
    assert rc == 1 and "is not allowed" in capsys.readouterr().err and not (tmp_path / "o3" / "d.jsonl").exists()
