"""The verbs chain: shift grid → respond (against the scripted chat server) → emid → study.

`respond` reads the grid's folder (``<scenario>/samples.jsonl``), names each answer file after its scenario
and keeps the references and images in it; `emid` and `study` read those answer files on their own and
give the same numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "responders"))
from chat_server import ChatServer, last_text, ok  # noqa: E402

from mllmshift.cli.main import main  # noqa: E402

pytest.importorskip("PIL", reason="the chain corrupts images (pillow)")

QUESTIONS = ["What animal is in the picture?", "What colour is the sky here?", "Where was this photo taken?",
             "How many people are visible?", "What is the weather like?", "What is on the table?"]
GRID = """dataset: toy
seed: 0
combine: [visual, text, joint]
visual:
  - {corruption: gaussian_noise, severities: [1, 5]}
text:
  - {perturbation: keyboard, levels: [3]}
"""
FAST = ["--text-encoder", "hashing-bow", "--image-encoder", "content-hash", "--image-encoder-option",
        "modality=image", "--mi-estimator", "infonce", "--estimator-option", "max_steps=100", "--bootstrap", "30",
        "--threads", "1", "--quiet"]


def make_id(root: Path, n: int = 12) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        rows.append({"id": f"s{i}", "question": QUESTIONS[i % len(QUESTIONS)], "image": f"images/{i}.png",
                     "reference": f"Reference answer number {i} about {QUESTIONS[i % len(QUESTIONS)].lower()}"})
    path = root / "id.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def answer(request: dict, attempt: int):
    """A model whose answers follow the question it read (typos reach the answer)."""
    return ok("I see: " + last_text(request))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    id_file = make_id(root)
    (root / "grid.yaml").write_text(GRID)
    assert main(["shift", "grid", str(root / "grid.yaml"), "--data", str(id_file), "--out", str(root / "shifted"),
                 "--no-progress"]) == 0
    with ChatServer(answer) as srv:
        for data in (id_file, root / "shifted"):
            assert main(["respond", "--data", str(data), "--out", str(root / "responses"), "--base-url", srv.base_url,
                         "--model", "toy-model", "--no-progress"]) == 0
    return root


def test_respond_reads_the_grid_folder_and_keeps_names_references_and_images(chain):
    names = sorted(p.stem for p in (chain / "responses").glob("*.jsonl"))
    assert names == ["id", "toy_gaussian_noise_1", "toy_gaussian_noise_1_keyboard_3", "toy_gaussian_noise_5",
                     "toy_gaussian_noise_5_keyboard_3", "toy_keyboard_3"]
    from mllmshift.io import read_split

    ref = read_split(chain / "id.jsonl")
    for name in names:
        split = read_split(chain / "responses" / f"{name}.jsonl")
        assert split.name == name and split.ids == ref.ids and split.references == ref.references
        assert split.has_images and all(Path(p).is_file() for p in split.images)
        assert all(r == "I see: " + q for r, q in zip(split.responses, split.questions))
    noisy = read_split(chain / "responses" / "toy_gaussian_noise_5.jsonl")
    assert noisy.images != ref.images and noisy.questions == ref.questions  # the image shifted, not the question


def test_emid_and_study_read_the_answer_files_and_agree(chain, tmp_path):
    responses = chain / "responses"
    oods = sorted(p for p in responses.glob("toy_*.jsonl"))
    out = tmp_path / "emid.json"
    assert main(["emid", "--id", str(responses / "id.jsonl"), *[a for p in oods for a in ("--ood", str(p))], *FAST,
                 "--out", str(out)]) == 0
    emid = json.loads(out.read_text())
    by = {s["name"]: s for s in emid["scenarios"]}
    assert set(by) == {p.stem for p in oods} and all(not s["partial"] for s in by.values())
    assert by["toy_gaussian_noise_5"]["group"] == "visual" and by["toy_keyboard_3"]["group"] == "text"
    assert by["toy_gaussian_noise_5_keyboard_3"]["group"] == "joint"
    assert by["toy_gaussian_noise_1"]["bound"]["jsd_visual"] > 0 and by["toy_keyboard_3"]["bound"]["jsd_text"] > 0
    config = {"id": str(responses / "id.jsonl"), "scenarios": [{"folder": str(responses)}], "threads": 1,
              "encoders": {"text": "hashing-bow", "image": {"name": "content-hash", "options": {"modality": "image"}}},
              "estimator": {"name": "infonce", "options": {"max_steps": 100}}, "bootstrap": {"n_resamples": 30},
              "correlation": {"n_resamples": 20}}
    (tmp_path / "study.yaml").write_text(json.dumps(config))
    assert main(["study", str(tmp_path / "study.yaml"), "--out", str(tmp_path / "study"), "--quiet"]) == 0
    study = json.loads((tmp_path / "study" / "results.json").read_text())
    assert study["id"] == emid["id"]
    for s in study["scenarios"]:
        assert s["emid"] == by[s["name"]]["emid"] and s["bound"] == by[s["name"]]["bound"], s["name"]
