"""The bad-input corpus: every case runs one command on bad input and checks exit code, message and leftovers.

Cases live in ``tests/corpus/cases/*.yaml`` (one file per verb or area), so new ones are data, not code::

    cases:
      - id: shift-image-severity-0          # unique, also the pytest id
        argv: [shift, image, "{tmp}/in.png", "{tmp}/out.png", -c, defocus_blur, -s, "0"]
        files:                              # created under {tmp} before the run
          in.png: {image: {mode: RGB, size: [8, 8]}}
        env: {NAME: value}                  # optional environment variables
        exit: 1                             # 0 done, 1 bad input, 2 usage
        stderr: "severity must be an integer 1\\.\\.5, got 0"   # a regular expression (re.search)
        may_create: []                      # globs under {tmp} a failed run may leave (default: none)

Optional steps prepare derived inputs: ``before`` (commands run first, each must exit 0, e.g. ``embed`` to
make a store) and ``then`` (edits after them: ``{swap: [A, B]}`` exchanges two files, ``{cut: [PATH, 0.5]}``
keeps that fraction of a file, ``{write: {PATH: spec}}`` writes one more file, ``{link: [LINK, TARGET]}``).
``stdout`` is a regular expression like ``stderr``; ``absent`` lists strings (planted secrets, ``"inf"``) that
must appear neither in stdout, stderr nor any file the run wrote.

Inputs are sacred: every file present before the run (after the steps) keeps its SHA-256, whatever the
exit code, unless ``may_change`` lists it (a folder the verb resumes).

File kinds: ``text`` (UTF-8), ``bytes`` (a string whose characters are bytes, ``"caf\\xe9"``),
``jsonl`` (a list of objects, or of strings written verbatim as bad lines), ``canonical`` (N valid canonical
rows ``s0``, ``s1``, …, with the fields of ``extra`` added and those of ``drop`` left out), ``json``, ``image``
(``mode``, ``size``, optional ``fill`` or ``values``, ``cut``: the fraction of the file kept),
``png_header`` ([width, height]: a PNG that claims that size, for decompression bombs), ``dir`` (an empty folder).

Each run must end with the expected exit code and message, never with a traceback, and a failed run
must leave nothing behind: no file under ``{tmp}`` is created or changed unless ``may_create`` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mllmshift.cli.main import main

CASES = Path(__file__).resolve().parent / "cases"


def _cases() -> list[Any]:
    out, seen = [], set()
    for f in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]:
            assert case["id"] not in seen, f"duplicate case id {case['id']} in {f.name}"
            seen.add(case["id"])
            out.append(pytest.param(case, id=case["id"]))
    return out


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _make(path: Path, spec: dict[str, Any], tmp: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if "text" in spec:
        path.write_text(spec["text"].replace("{tmp}", str(tmp)), encoding="utf-8")
    elif "bytes" in spec:
        path.write_bytes(spec["bytes"].encode("latin-1"))
    elif "jsonl" in spec:
        lines = [r if isinstance(r, str) else json.dumps(r) for r in spec["jsonl"]]
        path.write_text("".join(line.replace("{tmp}", str(tmp)) + "\n" for line in lines), encoding="utf-8")
    elif "canonical" in spec:  # N valid canonical rows, each with ``extra`` fields (``drop``: fields left out)
        rows = [{"id": f"s{i}", "question": f"what is thing {i}", "response": f"thing {i} is red",
                 "reference": f"thing {i} is blue", **(spec.get("extra") or {})} for i in range(spec["canonical"])]
        rows = [{k: v for k, v in r.items() if k not in (spec.get("drop") or ())} for r in rows]
        path.write_text("".join(json.dumps(r).replace("{tmp}", str(tmp)) + "\n" for r in rows), encoding="utf-8")
    elif "json" in spec:
        path.write_text(json.dumps(spec["json"]), encoding="utf-8")
    elif "image" in spec:
        from PIL import Image

        im = spec["image"]
        if "values" in im:
            img = Image.fromarray(np.array(im["values"], dtype=im.get("dtype", "uint8")))
        else:
            fill = im.get("fill", 0)
            img = Image.new(im.get("mode", "RGB"), tuple(im.get("size", [8, 8])),
                            tuple(fill) if isinstance(fill, list) else fill)
        img.save(path)
        if "cut" in im:  # keep only this fraction of the file: a truncated image
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * im["cut"])])
    elif "png_header" in spec:
        path.write_bytes(_png_header(*spec["png_header"]))
    elif spec.get("dir"):
        path.mkdir(parents=True, exist_ok=True)
    else:  # pragma: no cover - a mistake in a case file
        raise ValueError(f"unknown file kind {spec}")


def _step(step: dict[str, Any], tmp: Path) -> None:
    """One ``then`` edit (see the module docstring)."""
    sub = lambda p: tmp / str(p).replace("{tmp}/", "")  # noqa: E731
    if "swap" in step:
        a, b = (sub(x) for x in step["swap"])
        held = a.with_name(a.name + ".swap")
        os.replace(a, held)
        os.replace(b, a)
        os.replace(held, b)
    elif "cut" in step:
        path, keep = sub(step["cut"][0]), float(step["cut"][1])
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    elif "write" in step:
        for name, spec in step["write"].items():
            _make(sub(name), spec, tmp)
    elif "link" in step:
        sub(step["link"][0]).symlink_to(sub(step["link"][1]))
    elif "reverse_rows" in step:  # an .npy file's rows in reverse order (same bytes, other order)
        path = sub(step["reverse_rows"])
        np.save(path, np.load(path)[::-1].copy())
    elif "remove" in step:
        target = sub(step["remove"])
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    else:  # pragma: no cover - a mistake in a case file
        raise ValueError(f"unknown step {step}")


def _hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (links followed), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Files by size and modification time; folders by existence."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, -1)
            for p in root.rglob("*")}


@pytest.mark.parametrize("case", _cases())
def test_bad_input(case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, spec in (case.get("files") or {}).items():
        _make(tmp_path / name, spec, tmp_path)
    monkeypatch.setenv("MLLMSHIFT_CACHE", str(tmp_path / ".cache-outside"))
    for key, value in (case.get("env") or {}).items():
        monkeypatch.setenv(key, str(value).replace("{tmp}", str(tmp_path)))
    for pre in case.get("before") or []:
        assert main([str(a).replace("{tmp}", str(tmp_path)) for a in pre]) == 0, capsys.readouterr().err
    for step in case.get("then") or []:
        _step(step, tmp_path)
    capsys.readouterr()
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in case["argv"]]
    before = _snapshot(tmp_path)
    inputs = _hashes(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == case["exit"], f"exit {code}, expected {case['exit']}\nstderr: {err}\nstdout: {out}"
    assert "Traceback" not in err
    if "stderr" in case:
        assert re.search(case["stderr"], err), f"stderr does not match {case['stderr']!r}:\n{err}"
    if "stdout" in case:
        assert re.search(case["stdout"], out), f"stdout does not match {case['stdout']!r}:\n{out}"
    keep = [g.replace("{tmp}/", "") for g in case.get("may_change") or []]
    after = _hashes(tmp_path)
    touched = sorted(p for p, h in inputs.items() if after.get(p) != h and not p.startswith(".cache-outside/")
                     and not any(Path(p).match(g) for g in keep))
    assert not touched, f"inputs changed or removed (SHA-256): {touched}"
    for text in case.get("absent") or []:
        written = [p for p in after if p not in inputs and text.encode() in (tmp_path / p).read_bytes()]
        assert text not in out + err and not written, f"{text!r} appears in the output: {written or 'stdout/stderr'}"
    if code != 0:
        after = _snapshot(tmp_path)
        allowed = [g.replace("{tmp}/", "") for g in case.get("may_create") or []]
        changed = sorted(p for p, st in after.items() if before.get(p) != st and p != ".cache-outside"
                         and not p.startswith(".cache-outside/")
                         and not any(Path(p).match(g) for g in allowed))
        assert not changed, f"a failed run left files behind: {changed}"
