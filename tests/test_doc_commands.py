"""Every ``mllmshift …`` command shown in README.md and docs/*.md is executed here (or listed with a reason).

The commands of one document run in order, as written, in a fresh workspace (so a document's later commands
read what its earlier ones wrote, as a reader following it would). The workspace holds small files under the
names the documents use (:func:`workspace`); these substitutions are the only changes made to a command:

- ``http://localhost:8000/v1`` and ``https://api.openai.com/v1`` → the scripted chat server
  (``tests/responders/chat_server.py``), which answers every request; ``MY_KEY`` and ``OPENAI_API_KEY`` are
  set to a dummy key;
- ``../shared`` is the real data folder beside the project (commands that read it skip without it).

The Python blocks of README.md run as well.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "responders"))
from chat_server import ChatServer, last_text, ok  # noqa: E402

from mllmshift.cli.main import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SERVERS = ("http://localhost:8000/v1", "https://api.openai.com/v1")

#: commands shown in the documents that this test does not run, and why
NOT_RUN = {
    "mllmshift demo --out demo-out":
        "run by tests/study/test_study_demo.py (`mllmshift demo --out DIR --quiet` in a fresh process)",
    "mllmshift respond --responder hf --model llava-hf/llava-1.5-7b-hf --device cuda --batch-size 16 "
    "--data scenarios/ --out responses/llava-1.5-7b-hf":
        "needs the LLaVA-1.5 weights and a CUDA GPU; tests/responders/test_hf.py runs the hf responder on a tiny "
        "model built offline",
    "mllmshift encoders embed --encoder clip-vision --encoder-option model_name_or_path=/models/clip-vit-base-patch32 "
    "--input data.jsonl --field image --out v.npy":
        "needs CLIP weights at /models/clip-vit-base-patch32; tests/encoders/test_hf_clip.py runs the encoder on a "
        "tiny CLIP built offline",
    "mllmshift monitor --reference reference.jsonl --stream drop/ --out mon/ --window 1h --step 15m --follow "
    "--webhook https://hooks.example.org/mllmshift":
        "--follow polls until interrupted and the webhook is a placeholder; tests/monitor/test_monitor_runner.py runs "
        "follow mode (test_follow_polls_until_idle), time windows and a webhook on a local http.server",
    "mllmshift monitor --reference answers/llava_bench_coco.jsonl --questions questions.jsonl --references "
    "gpt4_answers.jsonl --captions captions_boxes.jsonl --stream shards/ --stream-columns timestamp=ts,response=text "
    "--out mon/ --window 45":
        "needs a model's LLaVA answer file and timestamped Parquet shards; the LLaVA reader options are tested in "
        "tests/io, Parquet shards and --stream-columns in tests/monitor/test_monitor_stream.py, and the llava-bench "
        "replay (run here) monitors the same LLaVA-Bench files",
    "mllmshift embed big.parquet --out /shared/emb --engine ray --ray-address ray://head.example:10001 "
    "--ray-concurrency 8":
        "needs a Ray cluster; tests/engines/test_ray_engine.py runs the Ray engine on a local Ray of 2 CPUs",
    "mllmshift estimators validate --real --data ../shared/data --out val-real/":
        "fits every real-data configuration from scratch (hours on two cores); the committed table comes from it "
        "(benchmarks/estimators_real.py), and tests/validation/test_real_suite.py runs a small grid of it on "
        "../shared",
    "mllmshift emid --id id.jsonl --ood shifted.jsonl --embeddings /shared/emb":
        "reads the store the cluster command above writes; tests/cli/test_embed.py runs emid --embeddings",
}
#: commands that take minutes: run by the slow test, each in its own workspace
SLOW = {
    "mllmshift study --preset llava_bench --data ../shared/data --out llava-out",
    "mllmshift estimators validate --preset ci --out val/",
    "mllmshift monitor --replay synthetic --out replay-out/",
}


def doc_commands(doc: Path) -> list[str]:
    """The ``mllmshift`` commands of a document's code blocks, continuation lines joined, comments and any
    leading ``$ `` removed, whitespace normalised."""
    text = doc.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if not line.startswith("mllmshift "):
                continue
            out.append(" ".join(shlex.quote(t) for t in shlex.split(line, comments=True)))
    return out


def _answer(request: dict, attempt: int):
    """A model, and a judge: judge requests get a score line, others an answer that echoes the question."""
    text = last_text(request)
    return ok("8 7\nBoth answers are relevant.") if "[Assistant 1]" in text else ok("I see: " + text)


def _png(path: Path, seed: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _text_rows(n: int, seed: int, drift: float) -> list[dict]:
    """Canonical text-only records (the API test's generator, renamed to the canonical fields)."""
    from test_api import rows

    return [{"id": str(r["qid"]), "question": r["prompt"], "response": r["answer"], "reference": r["gold"]}
            for r in rows(n, seed, drift)]


def workspace(root: Path, shared: Path | None) -> Path:
    """The files the documents name, small (see the module docstring)."""
    ws = root / "ws"
    ws.mkdir()
    if shared is not None:
        (root / "shared").symlink_to(shared)  # ../shared from the workspace
        coco = shared / "data" / "llava-bench-coco"
        questions = [json.loads(x) for x in (coco / "questions.jsonl").read_text().splitlines()[:6]]
        answers = [json.loads(x) for x in (coco / "gpt4_answers.jsonl").read_text().splitlines()[:6]]
    else:  # the same layout without the real data: commands that need it skip
        questions = [{"question_id": i, "image": f"img{i // 3}.jpg", "text": f"What is in picture {i}?",
                      "category": "conv"} for i in range(6)]
        answers = [{"question_id": i, "text": f"Picture {i} shows a thing."} for i in range(6)]
    # llava-bench-coco/: the first six LLaVA-Bench questions, their references, captions and the judge rules
    _jsonl(ws / "llava-bench-coco" / "questions.jsonl", questions)
    _jsonl(ws / "llava-bench-coco" / "gpt4_answers.jsonl", answers)
    _jsonl(ws / "llava-bench-coco" / "captions_boxes.jsonl",
           [{"image": q["image"], "captions": [f"a photo ({q['image']})"], "instances": []} for q in questions])
    rules = {f"llava_bench_{c}": {"role": "Assistant", "prompt": "Rate the two answers from 1 to 10."}
             for c in ("conv", "detail", "complex")}
    (ws / "llava-bench-coco" / "judge_rules.json").write_text(json.dumps(rules))
    # id.jsonl: those questions as a canonical ID split, with (made-up) images and the references
    refs = {a["question_id"]: a["text"] for a in answers}
    for q in questions:
        _png(ws / "images" / q["image"], q["question_id"])
    id_rows = [{"id": str(q["question_id"]), "question": q["text"], "image": f"images/{q['image']}",
                "reference": refs[q["question_id"]]} for q in questions]
    _jsonl(ws / "id.jsonl", id_rows)
    _jsonl(ws / "scenarios" / "llava_bench_coco.jsonl", [{**r, "image": "../" + r["image"]} for r in id_rows])
    # responses.jsonl (emi), data.jsonl (encoders embed), questions.jsonl (shift text -i)
    _jsonl(ws / "responses.jsonl", _text_rows(40, 0, 0.2))
    _jsonl(ws / "data.jsonl", [{"question": r["question"], "image": r["image"]} for r in id_rows])
    _jsonl(ws / "questions.jsonl", [{"id": r["id"], "question": r["question"]} for r in id_rows])
    # photo.jpg and photos/ (shift image)
    from PIL import Image

    Image.open(ws / id_rows[0]["image"]).convert("RGB").save(ws / "photo.jpg")
    for i in range(2):
        _png(ws / "photos" / f"p{i}.png", 10 + i)
    # grid.yaml (shift grid) and study.yaml (a small study over text-only files)
    (ws / "grid.yaml").write_text("dataset: mine\nseed: 0\ncombine: [visual, text]\n"
                                  "visual: [{corruption: frost, severities: [3]}]\n"
                                  "text: [{perturbation: keyboard, levels: [2]}]\n")
    _jsonl(ws / "study-data" / "id.jsonl", _text_rows(30, 1, 0.0))
    _jsonl(ws / "study-data" / "shifted" / "keyboard_3.jsonl", _text_rows(30, 2, 0.5))
    _jsonl(ws / "study-data" / "shifted" / "frost_5.jsonl", _text_rows(30, 3, 0.8))
    (ws / "study.yaml").write_text(
        "id: study-data/id.jsonl\nscenarios: [{folder: study-data/shifted}]\nthreads: 1\n"
        "encoders: {text: hashing-bow, image: null}\nestimator: {name: infonce, options: {max_steps: 200}}\n"
        "bootstrap: {n_resamples: 50}\ncorrelation: {n_resamples: 50}\n")
    # reference.jsonl, traffic.jsonl and monitor.yaml (monitor): generated text-only records, no shift
    from mllmshift.monitor.replay import stamp, synthetic_records

    _jsonl(ws / "reference.jsonl", synthetic_records(200, 0, 0, prefix="r"))
    _jsonl(ws / "traffic.jsonl", stamp(synthetic_records(150, 0, 1, prefix="s")))
    (ws / "monitor.yaml").write_text("reference: reference.jsonl\nstream: traffic.jsonl\nwindow: 50\nthreads: 1\n"
                                     "encoders: {text: {name: hashing-bow, options: {dim: 64}}}\n")
    return ws


def _needs_shared(cmd: str) -> bool:
    return "../shared" in cmd


def _run(cmd: str, ws: Path, monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    for url in SERVERS:
        cmd = cmd.replace(url, base_url)
    monkeypatch.chdir(ws)
    rc = main(shlex.split(cmd)[1:])
    assert rc == 0, f"`{cmd}` exited with {rc}"


def _shared_or_none() -> Path | None:
    """The real data folder (``$MLLMSHIFT_SHARED`` or ``../shared``, as tests/conftest.py finds it), or None."""
    shared = Path(os.environ.get("MLLMSHIFT_SHARED", REPO.parent / "shared"))
    return shared if (shared / "data" / "llavabench-shift").is_dir() else None


def test_every_listed_command_is_still_in_the_documents():
    shown = {c for doc in DOCS for c in doc_commands(doc)}
    assert set(NOT_RUN) <= shown and SLOW <= shown
    assert len(shown) > 15


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_commands_of_a_document_run_in_order(doc, tmp_path, monkeypatch):
    commands = [c for c in doc_commands(doc) if c not in NOT_RUN and c not in SLOW]
    if not commands:
        pytest.skip(f"{doc.name} shows no command that runs quickly")
    shared = _shared_or_none()
    ws = workspace(tmp_path, shared)
    for var in ("MY_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(var, "sk-test-dummy")
    with ChatServer(_answer) as srv:
        for cmd in commands:
            if _needs_shared(cmd) and shared is None:
                continue  # no real data beside the project: this command cannot run here
            _run(cmd, ws, monkeypatch, srv.base_url)


@pytest.mark.slow
@pytest.mark.parametrize("cmd", sorted(SLOW))
def test_the_slow_commands_run(cmd, tmp_path, monkeypatch):
    shared = _shared_or_none()
    if _needs_shared(cmd) and shared is None:
        pytest.skip("needs the real data in ../shared")
    ws = workspace(tmp_path, shared)
    _run(cmd, ws, monkeypatch, "http://127.0.0.1:9/v1")


def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.S | re.M)
    assert blocks, "README.md shows no Python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})  # noqa: S102


def test_command_extraction_joins_lines_and_drops_comments(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("text\n```bash\n$ mllmshift emi a.jsonl   # a comment\nmllmshift emid --id a \\\n"
                   "    --ood 'b c.jsonl'\nvllm serve x\n```\n")
    assert doc_commands(doc) == ["mllmshift emi a.jsonl", "mllmshift emid --id a --ood 'b c.jsonl'"]
    assert os.fspath(REPO / "README.md") in map(os.fspath, DOCS)
