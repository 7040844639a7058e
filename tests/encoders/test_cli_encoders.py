"""``mllmshift encoders list|embed``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mllmshift.cli.main import main
from mllmshift.encoders.content_hash import HashEncoder


def test_list_shows_every_encoder_with_modality_dim_extra(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encoders", "list"]) == 0
    rows = {line.split()[0]: line.split()[:4] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["use-multilingual"] == ["use-multilingual", "text", "512", "encoders"]
    assert rows["efficientnet-lite0"] == ["efficientnet-lite0", "image", "1280", "encoders"]
    assert rows["clip-vision"][1:] == ["image", "model", "hf"]
    assert rows["hf-embedding-layer"][1:] == ["text", "model", "hf"]
    assert rows["content-hash"][1:3] == ["text|image", "option"]


def test_embed_text_field_writes_array_and_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    texts = ["first question", "second question", "first question"]
    data.write_text("".join(json.dumps({"id": i, "question": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out" / "q.npy"
    rc = main(["encoders", "embed", "--encoder", "content-hash", "--option", "dim=12", "--option", "seed=7",
               "--input", str(data), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert rc == 0
    x = np.load(out)
    np.testing.assert_array_equal(x, HashEncoder(dim=12, seed=7).encode(texts))
    side = json.loads((tmp_path / "out" / "q.npy.json").read_text())
    assert side["n"] == 3 and side["dim"] == 12 and side["field"] == "question"
    assert side["encoder"]["fingerprint"] == HashEncoder(dim=12, seed=7).fingerprint()
    assert "wrote" in capsys.readouterr().out


def test_embed_image_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(np.full((4, 4, 3), 100 * i, np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"image": f"imgs/{i}.png"}) + "\n" for i in range(2)))
    out = tmp_path / "v.npy"
    assert main(["encoders", "embed", "--encoder", "content-hash", "--option", "modality=image", "--input",
                 str(data), "--field", "image", "--out", str(out), "--no-cache", "--quiet"]) == 0
    expected = HashEncoder(modality="image").encode([tmp_path / "imgs" / "0.png", tmp_path / "imgs" / "1.png"])
    np.testing.assert_array_equal(np.load(out), expected)


def test_embed_missing_field_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a"}\n\n{"prompt": "b"}\n')
    rc = main(["encoders", "embed", "--encoder", "content-hash", "--input", str(data), "--out",
               str(tmp_path / "x.npy"), "--no-cache", "--quiet"])
    assert rc == 1
    assert f"{data}:3: field 'question': missing" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


def test_bad_option_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a"}\n')
    assert main(["encoders", "embed", "--encoder", "content-hash", "--option", "dim", "--input", str(data),
                 "--out", str(tmp_path / "x.npy")]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
