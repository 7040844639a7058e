"""``mllmshift shift``: corrupt images, perturb text, and write scenario grids.

::

    mllmshift shift list
    mllmshift shift image IN OUT --corruption defocus_blur --severity 3 [--seed 0]
    mllmshift shift text "What is in the image?" --perturbation keyboard --level 3 [--seed 0]
    mllmshift shift text --input questions.jsonl --output typo.jsonl --perturbation synonym --level 4
    mllmshift shift grid SPEC.yaml --data id.jsonl --out shifted/      # or --preset paper-synthetic

For folders, each file gets the seed ``stable_seed(seed, relative path)`` (images)
or ``stable_seed(seed, record id | line number)`` (text); a single image or text
uses ``--seed`` itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mllmshift.cli._common import add_run_args, parse_key_values
from mllmshift.io.atomic import Outputs
from mllmshift.io.readers import FORMATS
from mllmshift.vocab import EXIT_OK

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("shift", help="make shifted data: image corruptions, text perturbations, scenario grids",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="shift_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    ls = sub.add_parser("list", help="every corruption and perturbation with its parameters")
    ls.set_defaults(func=run_list)

    im = sub.add_parser("image", help="corrupt one image file or every image of a folder")
    im.add_argument("input", help="image file or folder")
    im.add_argument("output", help="output file (for a file) or folder (for a folder; written as PNG)")
    im.add_argument("--corruption", "-c", required=True)
    im.add_argument("--severity", "-s", type=int, default=3)
    im.add_argument("--seed", type=int, default=0)
    im.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    im.add_argument("--max-pixels", type=int, default=None)
    im.set_defaults(func=run_image)

    tx = sub.add_parser("text", help="perturb a text, a .txt (per line) or .jsonl (questions) file, or a folder")
    tx.add_argument("text", nargs="?", help="the text (or use --input)")
    tx.add_argument("--input", "-i", help=".txt, canonical .jsonl, or a folder of them")
    tx.add_argument("--output", "-o", help="output file or folder (required with --input)")
    tx.add_argument("--perturbation", "-p", required=True)
    tx.add_argument("--level", "-l", type=int, default=1)
    tx.add_argument("--seed", type=int, default=0)
    tx.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    tx.add_argument("--changes", action="store_true", help="print the edits as JSON too")
    tx.set_defaults(func=run_text)

    gr = sub.add_parser("grid", help="apply a grid of visual x text shifts to a dataset")
    gr.add_argument("spec", nargs="?", help="grid YAML file")
    gr.add_argument("--preset", help="a named grid instead of SPEC (paper-synthetic, paper-translation)")
    gr.add_argument("--data", required=True, help="the in-distribution split (any format read_split reads)")
    gr.add_argument("--format", default="auto", choices=FORMATS, help="format of --data (default: sniffed)")
    gr.add_argument("--out", required=True, help="output folder (one sub-folder per scenario)")
    gr.add_argument("--seed", type=int, default=None, help="global seed (default: the grid's)")
    gr.add_argument("--scenario", action="append", default=None, help="only this scenario (repeatable)")
    gr.add_argument("--max-pixels", type=int, default=None)
    gr.add_argument("--translator-url", help="OpenAI-compatible base URL for translate shifts")
    gr.add_argument("--translator-model", help="model name for --translator-url")
    gr.add_argument("--dry-run", action="store_true", help="list the scenarios and stop")
    add_run_args(gr, overwrite="", cache=False)
    gr.set_defaults(func=run_grid)


def run_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from mllmshift.shifts import image_corruptions, text_perturbations
    from mllmshift.shifts.image import CORRUPTIONS, IMAGENET_C

    print("Image corruptions (severity 1..5):")
    for name in CORRUPTIONS:
        cls = image_corruptions.get(name)
        tag = "" if name in IMAGENET_C else "  [extra]"
        print(f"  {name}{tag}: {cls.__doc__.strip().splitlines()[0]}")
        for sev in range(1, 6):
            print(f"    {sev}: {_fmt(asdict(cls.TABLE[sev - 1]))}")
    print("\nText perturbations:")
    for entry in text_perturbations.entries():
        cls = text_perturbations.get(entry.name)
        print(f"  {entry.name}: {entry.description}")
        if cls.levelled:
            for level in (1, 3, 5):
                print(f"    level {level}: {_fmt(asdict(cls.params_for(level)))}")
        else:
            print(f"    params: {_fmt(asdict(cls.params_for(None)))} (language required)")
    return EXIT_OK


def _fmt(d: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        if isinstance(v, tuple) and len(v) > 4:
            return f"({v[0]:g}, {v[1]:g}, ..., {v[-1]:g}) [{len(v)}]"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    return ", ".join(f"{k}={short(v)}" for k, v in d.items())


def _check_seed(seed: int) -> None:
    from mllmshift.errors import DataError

    if seed < 0:
        raise DataError(f"must be a non-negative integer, got {seed}", field="--seed")


def _image_format(dst: Path) -> str:
    """The Pillow format that writes ``dst``'s extension, or a located error."""
    from PIL import Image

    from mllmshift.errors import DataError

    if dst.is_dir():
        raise DataError("is a folder; give an image file name (or a folder as input for a folder)", path=dst)
    fmt = Image.registered_extensions().get(dst.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise DataError(f"cannot write an image with the extension {dst.suffix!r}; use .png or .jpg", path=dst)
    return fmt


def _save_image(outs: Outputs, img: Any, dst: Path) -> None:
    import io

    buf = io.BytesIO()
    img.save(buf, _image_format(dst))
    outs.write_bytes(dst, buf.getvalue())


def _outputs_folder(dst: Path) -> None:
    from mllmshift.errors import DataError

    if dst.exists() and not dst.is_dir():
        raise DataError("is a file; the output of a folder is a folder", path=dst)


def run_image(args: argparse.Namespace) -> int:
    from mllmshift.errors import DataError
    from mllmshift.shifts import DEFAULT_MAX_PIXELS, image_corruptions, load_image, stable_seed

    _check_seed(args.seed)
    max_px = DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
    corr = image_corruptions.create(args.corruption, severity=args.severity, max_pixels=max_px,
                                    **parse_key_values(args.param, "--param"))
    src, dst = Path(args.input), Path(args.output)
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("INPUT", src)], [("OUTPUT", dst, src.is_dir())])
    if not src.is_dir():
        _image_format(dst)
        img = corr.apply(load_image(src, max_pixels=max_px), args.seed)
        with Outputs() as outs:
            _save_image(outs, img, dst)
        print(f"wrote {dst}")
        return EXIT_OK
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DataError("no image files (" + ", ".join(IMAGE_EXTS) + ") in folder", path=src)
    _outputs_folder(dst)
    from tqdm.auto import tqdm

    with Outputs() as outs:  # a failure part-way removes the images written so far
        for f in tqdm(files, desc=args.corruption, disable=not sys.stderr.isatty()):
            rel = f.relative_to(src)
            _save_image(outs, corr.apply(load_image(f, max_pixels=max_px), stable_seed(args.seed, rel.as_posix())),
                        (dst / rel).with_suffix(".png"))
    print(f"wrote {len(files)} images to {dst}")
    return EXIT_OK


def run_text(args: argparse.Namespace) -> int:
    from mllmshift.errors import DataError
    from mllmshift.shifts import text_perturbations

    _check_seed(args.seed)
    pert = text_perturbations.create(args.perturbation, level=args.level, **parse_key_values(args.param, "--param"))
    pert.check_ready()
    if args.input is None:
        if args.text is None:
            raise DataError("give a TEXT argument or --input")
        res = pert.apply(args.text, args.seed)
        print(res.text)
        if args.changes:
            print(json.dumps([c.to_dict() for c in res.changes], ensure_ascii=False))
        return EXIT_OK
    if args.output is None:
        raise DataError("--output is required with --input")
    src, dst = Path(args.input), Path(args.output)
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("--input", src)], [("--output", dst, src.is_dir())])
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
        if not files:
            raise DataError("no .txt or .jsonl files in folder", path=src)
        _outputs_folder(dst)
        with Outputs() as outs:
            for f in files:
                _text_file(outs, pert, f, dst / f.relative_to(src), args.seed)
        print(f"wrote {len(files)} files to {dst}")
        return EXIT_OK
    with Outputs() as outs:
        n = _text_file(outs, pert, src, dst, args.seed)
    print(f"wrote {n} texts to {dst}")
    return EXIT_OK


def _text_file(outs: Outputs, pert: Any, src: Path, dst: Path, seed: int) -> int:
    from mllmshift.errors import DataError
    from mllmshift.io.text import read_utf8
    from mllmshift.shifts import stable_seed

    if dst.is_dir():
        raise DataError("is a folder; give an output file name", path=dst)
    if src.suffix == ".jsonl":
        from mllmshift.io import read_canonical

        split = read_canonical(src)
        recs = []
        for s in split:
            res = pert.apply(s.question, stable_seed(seed, s.id))
            d = s.to_dict()
            if s.image is not None:
                d["image"] = s.image
            d["question"] = res.text
            d["metadata"] = {**d["metadata"], "original_question": s.question,
                             "text_changes": [c.to_dict() for c in res.changes]}
            recs.append(d)
        outs.write_text(dst, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
        return len(recs)
    lines = read_utf8(src).splitlines()
    out = [pert.apply(line, stable_seed(seed, i)).text for i, line in enumerate(lines, start=1)]
    outs.write_text(dst, "".join(line + "\n" for line in out))
    return len(out)


def run_grid(args: argparse.Namespace) -> int:
    from mllmshift.errors import DataError
    from mllmshift.io import read_split
    from mllmshift.shifts import DEFAULT_MAX_PIXELS
    from mllmshift.shifts.grid import GridSpec, apply_grid, preset

    if (args.spec is None) == (args.preset is None):
        raise DataError("give exactly one of SPEC or --preset")
    spec = preset(args.preset) if args.preset else GridSpec.from_yaml(args.spec)
    scenarios = spec.scenarios()
    from mllmshift.evaluation.scenarios import check_scenario_count

    check_scenario_count(len(scenarios), "SPEC")
    if args.dry_run:
        for s in scenarios:
            print(s.name)
        print(f"{len(scenarios)} scenarios")
        return EXIT_OK
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("--data", args.data), ("SPEC", args.spec)], [("--out", args.out, True)])
    split = read_split(args.data, format=args.format)
    translator = None
    if args.translator_url:
        from mllmshift.shifts.text.translate import OpenAICompatibleTranslator

        if not args.translator_model:
            raise DataError("--translator-model is required with --translator-url")
        translator = OpenAICompatibleTranslator(args.translator_url, args.translator_model)
    from mllmshift.provenance import run_record

    written = apply_grid(spec, split, args.out, seed=args.seed, progress=not args.quiet,
                         max_pixels=DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels,
                         translator=translator, scenarios=args.scenario, run=run_record())
    for name, folder in written.items():
        print(f"{name}\t{folder}")
    print(f"{len(written)} scenarios in {args.out}")
    return EXIT_OK
