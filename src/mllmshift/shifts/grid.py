"""Scenario grids written as datasets (the grid's declaration and naming: :mod:`mllmshift.shifts.grid_spec`).

A grid (:class:`~mllmshift.shifts.grid_spec.GridSpec`, from YAML or a dict) expands to named scenarios, e.g.
``llava_bench_coco_defocus_blur_3_sr_4``; ``preset("paper-synthetic")`` is the paper's 34 synthetic scenarios.

:func:`apply_grid` writes each scenario to ``<out>/<scenario>/``: ``images/``
(corrupted images, PNG), ``samples.jsonl`` (canonical records: original ids,
perturbed questions, image paths relative to the folder, the shift and seed
in ``metadata``) and ``manifest.json`` (spec, seeds, versions, and the ``run`` block of the
command that wrote it, :func:`mllmshift.provenance.run_record`, where one is given). A sample's
image and text seeds are ``stable_seed`` of the global seed, the shift component
and the sample id (:func:`sample_seeds`), so a joint scenario is exactly the
composition of its visual-only and text-only scenarios. Finished scenarios are
skipped on re-runs; an interrupted one resumes from ``samples.partial.jsonl``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MllmshiftWarning
from mllmshift.io.atomic import atomic_open, atomic_write_text
from mllmshift.io.images import DEFAULT_MAX_PIXELS, load_image
from mllmshift.io.jsonl import write_jsonl_atomic
from mllmshift.provenance import file_sha256
from mllmshift.records import Sample, Split
from mllmshift.shifts.base import ImageCorruption, TextPerturbation, stable_seed
from mllmshift.shifts.grid_spec import GridSpec, Scenario, TextShift, VisualShift, preset

__all__ = ["GridSpec", "Scenario", "TextShift", "VisualShift", "apply_grid", "preset", "sample_seeds"]

def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("mllmshift", "numpy", "scipy", "pillow", "scikit-image", "imagecorruptions"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            if pkg == "mllmshift":
                from mllmshift import __version__

                out[pkg] = __version__
    return out


def _image_name(sample_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:100]
    if safe != sample_id or not safe or safe.startswith("."):
        safe = f"{safe}-{stable_seed('image-name', sample_id) & 0xFFFFFFFF:08x}"
    return f"{safe}.png"


def _fingerprint(scenario: Scenario, seed: int, split: Split, extra: Mapping[str, Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps({"scenario": scenario.to_dict(), "seed": seed, "extra": dict(extra)}, sort_keys=True,
                        default=str).encode())
    for s in split:
        h.update(json.dumps([s.id, s.question, s.image], ensure_ascii=False).encode())
    return h.hexdigest()


def _read_partial(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with path.open("rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                break  # a line cut by the interruption: redo from here
            if isinstance(rec, dict) and "id" in rec:
                done[str(rec["id"])] = rec
    return done


def _write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _save_png_atomic(img: Any, path: Path) -> None:
    with atomic_open(path) as fh:
        img.save(fh, format="PNG")


def apply_grid(spec: GridSpec, split: Split, out_dir: str | os.PathLike[str], seed: int | None = None,
               progress: bool = False, *, max_pixels: int = DEFAULT_MAX_PIXELS, translator: Any = None,
               scenarios: Sequence[str] | None = None, run: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write every scenario of ``spec`` applied to ``split`` under ``out_dir``; return ``{name: folder}``.

    Args:
        seed: global seed (default: the spec's); per-sample seeds come from :func:`sample_seeds`.
        progress: show a tqdm bar per scenario.
        max_pixels: refuse larger source images (clear error naming the file).
        translator: the translator for ``translate`` shifts (else taken from their params).
        scenarios: only these scenario names (default: all).
        run: the provenance block written into each manifest this call writes (``mllmshift shift grid`` gives
            its :func:`~mllmshift.provenance.run_record`); a finished scenario that is skipped keeps its own.
    """
    seed = spec.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"must be a non-negative integer, got {seed!r}", field="seed")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise DataError(f"must be a positive integer, got {max_pixels!r}", field="max_pixels")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("is a file; the output of a grid is a folder (one sub-folder per scenario)", path=out)
    todo = spec.scenarios()
    if scenarios is not None:
        known = {s.name for s in todo}
        missing = sorted(set(scenarios) - known)
        if missing:
            raise DataError(f"unknown scenario(s) {missing}; the grid has {sorted(known)}", field="scenarios")
        todo = [s for s in todo if s.name in set(scenarios)]
    if any(s.visual for s in todo):  # every source image is there before any work starts
        for s in split:
            if s.image is None:
                raise DataError(f"sample '{s.id}' has no image, and the grid has visual shifts",
                                path=split.metadata.get("source"), field="image")
            if not os.path.isfile(s.image):
                raise DataError(f"sample '{s.id}': image file not found", path=s.image, field="image")
    for scen in todo:
        pert = scen.perturbation(translator=translator)
        if pert is not None:
            pert.check_ready()
    written: dict[str, Path] = {}
    for scen in todo:
        written[scen.name] = _apply_scenario(spec, scen, split, out / scen.name, seed, progress, max_pixels,
                                             translator, run)
    return written


def _apply_scenario(spec: GridSpec, scen: Scenario, split: Split, folder: Path, seed: int, progress: bool,
                    max_pixels: int, translator: Any, run: Mapping[str, Any] | None = None) -> Path:
    corruption = scen.corruption(max_pixels=max_pixels)
    perturbation = scen.perturbation(translator=translator)
    fp = _fingerprint(scen, seed, split, {"max_pixels": max_pixels})
    manifest_path = folder / "manifest.json"
    partial_path = folder / "samples.partial.jsonl"
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            old = {}
        if old.get("fingerprint") == fp and old.get("complete") and (folder / "samples.jsonl").is_file():
            damage = _damage(folder, old.get("checksums"))
            if damage is None:
                return folder
            warnings.warn(f"{folder}: the written scenario is not used, {damage}; recomputing it", MllmshiftWarning,
                          stacklevel=3)
            old = {}
            (folder / "samples.jsonl").unlink()
            shutil.rmtree(folder / "images", ignore_errors=True)
        if old.get("complete") and old.get("fingerprint") != fp:
            raise DataError("this scenario was already written from a different grid, seed or data; "
                            "remove the folder or write to another --out", path=manifest_path, field="fingerprint")
        if old.get("fingerprint") != fp:  # an unfinished run of something else: start over
            partial_path.unlink(missing_ok=True)
            shutil.rmtree(folder / "images", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "scenario": scen.to_dict(),
        "dataset": spec.dataset,
        "spec": spec.to_dict(),
        "seed": seed,
        "sample_seeds": "mllmshift.shifts.grid.sample_seeds(seed, scenario, sample_id): stable_seed (BLAKE2b) of "
                        "the seed, the shift component and the sample id",
        "source": {"name": split.name, "n": len(split), "metadata": dict(split.metadata)},
        "corruption": corruption.config() if corruption else None,
        "perturbation": perturbation.config() if perturbation else None,
        "max_pixels": max_pixels,
        "versions": _versions(),
        "fingerprint": fp,
        "complete": False,
    }
    if run is not None:
        manifest["run"] = dict(run)
    _write_json_atomic(manifest_path, manifest)
    done = _read_partial(partial_path)
    if corruption is not None:  # a record counts only once its image is on disk
        done = {k: r for k, r in done.items() if (folder / str(r.get("image"))).is_file()}
    if done:
        write_jsonl_atomic(partial_path, (done[s.id] for s in split if s.id in done))
    images = folder / "images"
    if corruption is not None:
        images.mkdir(exist_ok=True)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(split), initial=len(done), desc=scen.name, disable=not progress, leave=False)
    with partial_path.open("a", encoding="utf-8") as fh:
        for s in split:
            if s.id in done:
                continue
            rec = _shift_sample(s, scen, seed, folder, corruption, perturbation, max_pixels)
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            done[s.id] = rec
            bar.update(1)
    bar.close()
    write_jsonl_atomic(folder / "samples.jsonl", (done[s.id] for s in split))
    manifest["complete"] = True
    manifest["n_samples"] = len(split)
    manifest["checksums"] = {rel: file_sha256(folder / rel) for rel in
                             ["samples.jsonl", *sorted(str(r["image"]) for r in done.values()
                                                       if corruption is not None and r.get("image"))]}
    _write_json_atomic(manifest_path, manifest)
    partial_path.unlink(missing_ok=True)
    return folder


def _damage(folder: Path, checksums: Any) -> str | None:
    """What is wrong with a written scenario's files (``manifest.json`` → ``checksums``: SHA-256 of
    ``samples.jsonl`` and of every shifted image), None when every file is there and intact."""
    if not isinstance(checksums, dict) or "samples.jsonl" not in checksums:
        return "its manifest records no checksums (written by an older version)"
    for rel, want in checksums.items():
        p = folder / rel
        if not p.is_file():
            return f"{rel} is missing"
        if file_sha256(p) != want:
            return f"the checksum of {rel} does not match (truncated or altered)"
    return None


def sample_seeds(seed: int, scenario: Scenario, sample_id: str) -> tuple[int | None, int | None]:
    """``(image seed, text seed)`` of one sample: ``stable_seed`` of the global seed, the shift
    component (name, severity/level, parameters) and the sample id.

    Seeds depend on the component, not on the scenario, so a joint scenario is exactly the
    composition of its two single-shift scenarios (the same corrupted image, the same text).
    """
    v = t = None
    if scenario.visual is not None:
        v = stable_seed(seed, "visual", *scenario.visual, json.dumps(dict(scenario.visual_params), sort_keys=True,
                                                                     default=str), sample_id)
    if scenario.text is not None:
        params = {k: val for k, val in scenario.text_params.items() if k != "translator"}
        t = stable_seed(seed, "text", *scenario.text, json.dumps(params, sort_keys=True, default=str), sample_id)
    return v, t


def _shift_sample(s: Sample, scen: Scenario, seed: int, folder: Path, corruption: ImageCorruption | None,
                  perturbation: TextPerturbation | None, max_pixels: int) -> dict[str, Any]:
    visual_seed, text_seed = sample_seeds(seed, scen, s.id)
    if corruption is not None:
        assert s.image is not None and visual_seed is not None
        img = corruption.apply(load_image(s.image, max_pixels=max_pixels, field="image"), visual_seed)
        rel = f"images/{_image_name(s.id)}"
        _save_png_atomic(img, folder / rel)
        image: str | None = rel
    else:
        image = os.path.relpath(s.image, folder) if s.image is not None else None
    question, changes = s.question, []
    if perturbation is not None:
        assert text_seed is not None
        res = perturbation.apply(s.question, text_seed)
        question, changes = res.text, [c.to_dict() for c in res.changes]
    meta = dict(s.metadata)
    meta["original_question"] = s.question
    meta["shift"] = {"scenario": scen.name, "visual": list(scen.visual) if scen.visual else None,
                     "text": list(scen.text) if scen.text else None, "seed": seed, "visual_seed": visual_seed,
                     "text_seed": text_seed, "text_changes": changes}
    return {"id": s.id, "question": question, "response": None, "reference": s.reference, "image": image,
            "image_text": s.image_text, "metadata": meta}
