"""Scenario grids: expansion and naming, YAML validation, writing, resuming, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mllmshift.errors import DataError
from mllmshift.io import read_split
from mllmshift.records import Sample, Split
from mllmshift.shifts.grid import GridSpec, Scenario, apply_grid, preset, sample_seeds

skdata = pytest.importorskip("skimage.data")


def test_paper_preset_is_the_34_scenarios() -> None:
    spec = preset("paper-synthetic")
    names = [s.name for s in spec.scenarios()]
    assert len(names) == len(set(names)) == 34
    assert "llava_bench_coco_defocus_blur_3_sr_4" in names and "llava_bench_coco_frost_5_KeyboardAug_3" in names
    joint = next(s for s in spec.scenarios() if s.name == "llava_bench_coco_defocus_blur_3_sr_4")
    assert joint == Scenario("llava_bench_coco_defocus_blur_3_sr_4", ("defocus_blur", 3), ("synonym", 4), {},
                             {"style": "eda"})
    assert [s.name for s in preset("paper-translation").scenarios()][0] == "llava_bench_coco_German"


@pytest.mark.shared
def test_paper_preset_names_match_the_released_files(shared_data: Path) -> None:
    folder = shared_data / "llavabench-shift" / "responses" / "llava-v1.5-13b"
    released = {p.stem for p in folder.glob("llava_bench_coco_*.jsonl")}
    synthetic = {n for n in released if any(k in n for k in ("defocus", "frost", "sr_", "KeyboardAug"))}
    assert {s.name for s in preset("paper-synthetic").scenarios()} == synthetic
    langs = {n for n in released if n.split("_")[-1] in {"German", "Chinese", "Korean", "Greek", "Arabic", "Hindi"}}
    assert {s.name for s in preset("paper-translation").scenarios()} == langs


def test_yaml_round_trip_and_combinations(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(
        "dataset: mini\nseed: 4\ncombine: [joint]\n"
        "visual:\n  - {corruption: fog, severities: [2], name: haze}\n"
        "text:\n  - {perturbation: keyboard, levels: [1, 2]}\n", encoding="utf-8")
    spec = GridSpec.from_yaml(tmp_path / "g.yaml")
    assert [s.name for s in spec.scenarios()] == ["mini_haze_2_keyboard_1", "mini_haze_2_keyboard_2"]
    assert GridSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("text,field", [
    ("dataset: d\nvisual:\n  - {corruption: fogg}\n", "visual[0].corruption"),
    ("dataset: d\nvisual:\n  - {corruption: fog, severities: [0, 6]}\n", "visual[0].severities"),
    ("dataset: d\nvisual:\n  - {corruption: fog, params: {radius: 3}}\n", "visual[0].params"),
    ("dataset: d\ntext:\n  - {perturbation: keyboard, levels: [one]}\n", "text[0].levels"),
    ("dataset: d\ntext:\n  - {perturbation: keyboard, colour: 1}\n", "text[0]"),
    ("dataset: d\ncombine: [both]\n", "combine"),
    ("dataset: 'a b'\n", "dataset"),
    ("dataset: d\ntext:\n  - {perturbation: keyboard, levels: [1]}\n  - {perturbation: char_swap, name: keyboard,"
     " levels: [1]}\n", "(top level)"),
])
def test_bad_specs_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    (tmp_path / "g.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        GridSpec.from_yaml(tmp_path / "g.yaml")
    assert info.value.field == field and info.value.path == str(tmp_path / "g.yaml")


def test_bad_yaml_and_encoding(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("dataset: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.yaml:\d+: bad YAML"):
        GridSpec.from_yaml(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_bytes(b"dataset: caf\xe9\n")
    with pytest.raises(DataError, match="UTF-8"):
        GridSpec.from_yaml(tmp_path / "b.yaml")


@pytest.fixture
def id_split(tmp_path: Path) -> Split:
    img = tmp_path / "src"
    img.mkdir()
    Image.fromarray(skdata.astronaut()[::8, ::8]).save(img / "a.png")
    Image.fromarray(skdata.chelsea()[::6, ::6]).convert("L").save(img / "b.jpg")
    Image.fromarray(skdata.coffee()[::8, ::8]).save(img / "c.png")
    samples = [Sample("0", "What is the color of the two suitcases in the image?", reference="black",
                      image=str(img / "a.png"), metadata={"category": "conv"}),
               Sample("q/1", "Describe the following photograph in detail.", image=str(img / "b.jpg")),
               Sample("2", "", image=str(img / "c.png"))]
    return Split("id", samples, {"source": str(tmp_path / "id.jsonl")})


GRID = {"dataset": "mini", "seed": 1,
        "visual": [{"corruption": "defocus_blur", "severities": [1, 3]}, {"corruption": "frost", "severities": [2]}],
        "text": [{"perturbation": "keyboard", "name": "KeyboardAug", "levels": [3]}]}


def test_apply_grid_writes_readable_composable_scenarios(tmp_path: Path, id_split: Split) -> None:
    spec = GridSpec.from_dict(GRID)
    out = apply_grid(spec, id_split, tmp_path / "out")
    assert list(out) == [s.name for s in spec.scenarios()] and len(out) == 3 + 1 + 3
    joint = read_split(out["mini_defocus_blur_3_KeyboardAug_3"] / "samples.jsonl")
    vis = read_split(out["mini_defocus_blur_3"] / "samples.jsonl")
    txt = read_split(out["mini_KeyboardAug_3"] / "samples.jsonl")
    assert joint.ids == id_split.ids and joint.references == id_split.references
    assert joint.questions == txt.questions and vis.questions == id_split.questions
    assert joint.questions[0] != id_split.questions[0] and joint.questions[2] == ""
    for a, b in zip(joint.images, vis.images):  # the joint image is the visual-only image
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert Path(txt.images[1]).resolve() == Path(id_split.images[1]).resolve()
    blurred = np.asarray(Image.open(vis.images[0]))
    from mllmshift.shifts import image_corruptions

    v_seed, _ = sample_seeds(1, spec.scenarios()[1], "0")
    want = image_corruptions.create("defocus_blur", severity=3).apply(Image.open(id_split.images[0]), v_seed)
    assert np.array_equal(blurred, np.asarray(want))
    rec = json.loads((out["mini_defocus_blur_3"] / "samples.jsonl").read_text().splitlines()[1])
    assert rec["image"].startswith("images/") and rec["metadata"]["original_question"] == id_split.questions[1]
    manifest = json.loads((out["mini_frost_2"] / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 1 and manifest["spec"] == spec.to_dict()
    assert manifest["corruption"]["params"] == {"image_weight": 0.8, "frost_weight": 0.6, "n_textures": 5}
    assert {"numpy", "pillow", "python"} <= set(manifest["versions"])


def test_rerun_skips_and_interrupted_run_resumes(tmp_path: Path, id_split: Split, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spec = GridSpec.from_dict(GRID)
    clean = apply_grid(spec, id_split, tmp_path / "clean")
    import mllmshift.shifts.grid as grid

    real = grid._shift_sample
    calls = {"n": 0}

    def flaky(*a, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(grid, "_shift_sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        apply_grid(spec, id_split, tmp_path / "run")
    second = spec.scenarios()[1].name
    assert (tmp_path / "run" / second / "samples.partial.jsonl").is_file()
    assert not json.loads((tmp_path / "run" / second / "manifest.json").read_text())["complete"]
    calls["n"] = -100
    out = apply_grid(spec, id_split, tmp_path / "run")
    assert calls["n"] == -100 + len(id_split) * len(out) - 4  # only the missing samples were made
    for name, folder in out.items():
        assert (folder / "samples.jsonl").read_text() == (clean[name] / "samples.jsonl").read_text()
        for f in sorted((clean[name] / "images").glob("*.png")) if (clean[name] / "images").is_dir() else []:
            assert (folder / "images" / f.name).read_bytes() == f.read_bytes()
    before = calls["n"]
    apply_grid(spec, id_split, tmp_path / "run")
    assert calls["n"] == before  # everything complete: nothing redone
    with pytest.raises(DataError, match="different grid"):
        apply_grid(spec, id_split, tmp_path / "run", seed=2)


@pytest.mark.parametrize("damage", ["truncate-image", "alter-samples", "delete-image", "old-manifest"])
def test_a_damaged_written_scenario_is_recomputed_with_a_warning(tmp_path: Path, id_split: Split, damage: str) -> None:
    """A complete scenario's manifest holds the SHA-256 of samples.jsonl and of every shifted image: a damaged or
    missing file (or a manifest without checksums) makes the scenario be written again, identically."""
    from mllmshift.errors import MllmshiftWarning

    spec = GridSpec.from_dict(GRID)
    clean = apply_grid(spec, id_split, tmp_path / "clean")
    out = apply_grid(spec, id_split, tmp_path / "run")
    folder = out["mini_defocus_blur_3"]
    image = sorted((folder / "images").glob("*.png"))[0]
    if damage == "truncate-image":
        image.write_bytes(image.read_bytes()[:100])
    elif damage == "alter-samples":
        (folder / "samples.jsonl").write_text((folder / "samples.jsonl").read_text().replace("images/", "images//", 1))
    elif damage == "delete-image":
        image.unlink()
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["checksums"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(MllmshiftWarning, match=r"mini_defocus_blur_3: the written scenario is not used.*recomputing it"):
        again = apply_grid(spec, id_split, tmp_path / "run")
    for name, f in again.items():
        assert (f / "samples.jsonl").read_text() == (clean[name] / "samples.jsonl").read_text()
        for img in sorted((clean[name] / "images").glob("*.png")) if (clean[name] / "images").is_dir() else []:
            assert (f / "images" / img.name).read_bytes() == img.read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and set(manifest["checksums"]) == {"samples.jsonl"} | {
        f"images/{p.name}" for p in (folder / "images").glob("*.png")}


def test_visual_grid_needs_images(tmp_path: Path) -> None:
    split = Split("id", [Sample("a", "q?", image=None)], {"source": "id.jsonl"})
    with pytest.raises(DataError, match="no image") as info:
        apply_grid(GridSpec.from_dict(GRID), split, tmp_path)
    assert info.value.field == "image"
    text_only = GridSpec.from_dict({**GRID, "visual": []})
    out = apply_grid(text_only, split, tmp_path)
    assert read_split(out["mini_KeyboardAug_3"] / "samples.jsonl").images == [None]


def test_bad_source_image_is_located(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    split = Split("id", [Sample("a", "q?", image=str(tmp_path / "broken.png"))])
    with pytest.raises(DataError, match=r"broken\.png: field 'image'"):
        apply_grid(GridSpec.from_dict(GRID), split, tmp_path / "out")


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_image_text_grid_list(tmp_path: Path, id_split: Split, capsys) -> None:  # type: ignore[no-untyped-def]
    from mllmshift.cli.main import main
    from mllmshift.io import write_canonical

    src = Path(id_split.images[0])
    assert main(["shift", "image", str(src), str(tmp_path / "o.png"), "-c", "defocus_blur", "-s", "3"]) == 0
    from mllmshift.shifts import image_corruptions

    want = image_corruptions.create("defocus_blur", severity=3).apply(Image.open(src), 0)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(want))
    assert main(["shift", "image", str(src.parent), str(tmp_path / "dir"), "-c", "snow", "-s", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["a.png", "b.png", "c.png"]

    capsys.readouterr()
    assert main(["shift", "text", "Describe the kitchen picture", "-p", "keyboard", "-l", "3", "--seed", "2"]) == 0
    from mllmshift.shifts import text_perturbations

    assert capsys.readouterr().out.strip() == text_perturbations.create("keyboard", level=3).apply(
        "Describe the kitchen picture", 2).text
    (tmp_path / "q.txt").write_text("first question here\nsecond question there\n", encoding="utf-8")
    assert main(["shift", "text", "-i", str(tmp_path / "q.txt"), "-o", str(tmp_path / "q2.txt"), "-p", "case_noise",
                 "-l", "10"]) == 0
    assert len((tmp_path / "q2.txt").read_text().splitlines()) == 2
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    assert main(["shift", "text", "-i", str(tmp_path / "bad.txt"), "-o", str(tmp_path / "x.txt"), "-p",
                 "keyboard"]) == 1
    assert "bad.txt:1: not valid UTF-8" in capsys.readouterr().err

    write_canonical(id_split, tmp_path / "id.jsonl")
    (tmp_path / "g.yaml").write_text(json.dumps({**GRID, "visual": [GRID["visual"][0]]}), encoding="utf-8")
    assert main(["shift", "grid", str(tmp_path / "g.yaml"), "--data", str(tmp_path / "id.jsonl"), "--out",
                 str(tmp_path / "grid"), "--no-progress"]) == 0
    assert "5 scenarios" in capsys.readouterr().out
    assert read_split(tmp_path / "grid" / "mini_defocus_blur_1_KeyboardAug_3" / "samples.jsonl").ids == id_split.ids

    assert main(["shift", "list"]) == 0
    listing = capsys.readouterr().out
    from mllmshift.shifts.image import CORRUPTIONS
    from mllmshift.shifts.text import PERTURBATIONS

    for name in [*CORRUPTIONS, *PERTURBATIONS]:
        assert f"  {name}" in listing
    assert "radius=6, alias_blur=0.5" in listing and "word_p=0.15" in listing
