"""``mllmshift respond``: generate the evaluated model's answers for a dataset or a whole scenario folder.

``--data`` is one dataset file or a folder: every ``*.jsonl`` / ``*.parquet`` in it is a scenario named
after the file, and every ``<scenario>/samples.jsonl`` (a ``mllmshift shift grid`` output folder) one named
after its folder. Writes ``<out>/<scenario>.jsonl`` (LLaVA answer files, appended item by item,
resumable; each record keeps the sample's reference answer and image, so ``emi``/``emid``/``study`` read
the file on its own), ``<out>/<scenario>.failed.json`` for items that failed after their
last retry (retried by the next run), ``<out>/respond.log`` (retries and
failures; never the API key) and ``<out>/respond.json`` (config and counts).
Exit status 0 when every item is answered, 3 when some failed (rerun to retry).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.cli._common import add_run_args, parse_key_values
from mllmshift.io.readers import FORMATS
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.records import Split
from mllmshift.vocab import EXIT_OK, EXIT_PARTIAL

_TABULAR = (".parquet",)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "respond", help="generate model responses (OpenAI-compatible server or local HF model), resumable",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--responder", default="openai-compatible",
                   help="registered responder (openai-compatible (default), hf, baseline) or package.module:Class")
    p.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                   help="allow a package.module:Class responder from MODULE (repeatable)")
    p.add_argument("--data", required=True, type=Path,
                   help="a dataset file (canonical JSONL, LLaVA questions or answer file, AlpacaEval "
                        "model_outputs.json, Parquet), a folder of them, or a `mllmshift shift grid` output folder "
                        "(<scenario>/samples.jsonl)")
    p.add_argument("--out", required=True, type=Path, help="output folder (one answer file per scenario)")
    p.add_argument("--data-format", default="auto", choices=list(FORMATS),
                   help="format of --data: a registered reader (mllmshift.io.readers), llava-questions for a LLaVA "
                        "questions file (default: sniffed)")
    p.add_argument("--image-folder", type=Path, help="folder of the images a LLaVA questions file names")
    p.add_argument("--model", help="served model name (openai-compatible) or HF model id/path (hf)")
    p.add_argument("--model-id", help="model_id written in the answer file (default: --model)")
    g = p.add_argument_group("openai-compatible")
    g.add_argument("--base-url", default="http://127.0.0.1:8000/v1",
                   help="e.g. http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama)")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable that holds the API key")
    g.add_argument("--concurrency", type=int, default=8)
    g.add_argument("--max-attempts", type=int, default=6)
    g.add_argument("--timeout", type=float, default=120.0, help="seconds for connecting and for each read")
    g.add_argument("--backoff-base", type=float, default=1.0)
    g.add_argument("--backoff-max", type=float, default=60.0)
    g.add_argument("--deadline", type=float, default=600.0, help="seconds for one whole attempt (default: 600)")
    g.add_argument("--retry-after-max", type=float, default=300.0,
                   help="longest wait a server's Retry-After may ask for (default: 300)")
    g.add_argument("--system-prompt")
    gen = p.add_argument_group("generation")
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gen.add_argument("--max-tokens", type=int, default=1024)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--seed", type=int, default=0)
    h = p.add_argument_group("hf")
    h.add_argument("--device", default="auto")
    h.add_argument("--dtype", default="auto")
    h.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra responder argument (VALUE parsed as JSON when it can be); repeatable")
    add_run_args(p, overwrite="", cache=False)


#: generation flag → (attribute, lowest value, whether the lowest is allowed); None values (not given) are not
#: checked. The client flags (--max-attempts, --timeout, --backoff-*) are checked by the HTTP RetryPolicy.
_RANGES = {"--temperature": ("temperature", 0.0, True), "--top-p": ("top_p", 0.0, False),
           "--max-tokens": ("max_tokens", 1, True), "--concurrency": ("concurrency", 1, True),
           "--batch-size": ("batch_size", 1, True)}


def check_generation_args(args: argparse.Namespace) -> None:
    """Every generation flag is a finite number in its range (``--top-p`` at most 1) and the client flags make a
    valid :class:`~mllmshift.responders.http.RetryPolicy`, whichever responder is chosen: a DataError naming the
    flag."""
    from mllmshift.checked import FieldError
    from mllmshift.responders.http import RetryPolicy

    for flag, (attr, low, inclusive) in _RANGES.items():
        value = getattr(args, attr)
        if value is None:
            continue
        ok = math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok or (flag == "--top-p" and value > 1):
            span = "in (0, 1]" if flag == "--top-p" else f"{'>=' if inclusive else '>'} {low:g}"
            raise DataError(f"must be a finite number {span}, got {value}", field=flag)
    try:
        RetryPolicy(max_attempts=args.max_attempts, timeout=args.timeout, backoff_base=args.backoff_base,
                    backoff_max=args.backoff_max, deadline=args.deadline, retry_after_max=args.retry_after_max)
    except FieldError as err:
        raise DataError(err.message, field=f"--{(err.param or '').replace('_', '-')}") from None


def responder_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the chosen responder from the command line (flags checked first)."""
    check_generation_args(args)
    kw: dict[str, Any]
    if args.responder == "openai-compatible":
        if not args.model:
            raise MllmshiftError("--model is required for the openai-compatible responder")
        kw = {"model": args.model, "base_url": args.base_url, "api_key_env": args.api_key_env,
              "temperature": args.temperature, "max_tokens": args.max_tokens, "top_p": args.top_p,
              "seed": args.seed, "system_prompt": args.system_prompt, "concurrency": args.concurrency,
              "max_attempts": args.max_attempts, "timeout": args.timeout, "backoff_base": args.backoff_base,
              "backoff_max": args.backoff_max, "deadline": args.deadline, "retry_after_max": args.retry_after_max}
    elif args.responder == "hf":
        if not args.model:
            raise MllmshiftError("--model is required for the hf responder")
        kw = {"model": args.model, "device": args.device, "dtype": args.dtype, "batch_size": args.batch_size,
              "max_new_tokens": args.max_tokens, "temperature": args.temperature, "seed": args.seed}
    else:
        kw = {}
    kw.update(parse_key_values(args.option, "--option", underscores=True))
    return kw


def _peek(path: Path) -> dict[str, Any]:
    from mllmshift.io.jsonl import iter_jsonl

    for _, obj in iter_jsonl(path):
        return obj
    raise DataError("no records", path=path)


def read_dataset(path: Path, fmt: str = "auto", image_folder: Path | None = None, name: str | None = None) -> Split:
    """One dataset file as a split of questions (any responses in it are ignored by ``respond``)."""
    from mllmshift.io.readers import get_reader, read_split, sniff_format

    if fmt == "auto":
        if path.exists() and sniff_format(path) == "alpaca-eval":
            fmt = "alpaca-eval"
        elif path.is_dir() or path.suffix in _TABULAR:
            fmt = "hf"
        else:
            first = _peek(path)
            if "question_id" in first and "id" not in first:
                fmt = "llava" if "prompt" in first else "llava-questions"
            else:
                fmt = "jsonl"
    # answering needs only questions and images: a question without an image is asked as text, and
    # answers already in the file are ignored, so neither check of mllmshift.io.checks applies here
    fmt = get_reader(fmt).name
    options = {"image_folder": image_folder} if image_folder is not None and fmt == "llava-questions" else {}
    return read_split(path, fmt, name=name or (path.stem if fmt.startswith("llava") else None), allow_empty=True,
                      allow_mixed_visual=True, **options)


def dataset_files(data: Path) -> list[tuple[str, Path]]:
    """``(scenario name, file)`` of ``data``: itself; or, in a folder, each ``*.jsonl``/``*.parquet`` (named after
    the file) and each ``<scenario>/samples.jsonl`` of a shift grid (named after its folder), sorted by name."""
    if not data.exists():
        raise DataError("not found", path=data)
    if data.is_file() or (data / "dataset_info.json").exists():
        return [(data.stem, data)]
    files = [(f.stem, f) for f in sorted(data.iterdir())
             if f.suffix in (".jsonl", *_TABULAR) and not f.name.startswith(".") and f.is_file()]
    files += [(f.parent.name, f) for f in sorted(data.glob("*/samples.jsonl"))]
    if not files:
        raise DataError("folder holds no *.jsonl or *.parquet files and no <scenario>/samples.jsonl", path=data)
    names = [n for n, _ in files]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DataError(f"several files share the scenario name(s) {sorted(dup)}", path=data)
    return sorted(files)


class _LogToFile:
    """Route ``mllmshift`` log records to ``path`` (INFO) and stderr (WARNING) for one run."""

    def __init__(self, path: Path) -> None:
        self.logger = logging.getLogger("mllmshift")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = logging.FileHandler(path, encoding="utf-8")
        self.file.setLevel(logging.INFO)
        self.file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        self.err: logging.Handler | None = err

    def __enter__(self) -> _LogToFile:
        self.old_level = self.logger.level
        self.logger.setLevel(min(self.old_level or logging.INFO, logging.INFO))
        self.logger.addHandler(self.file)
        if any(getattr(h, "mllmshift_cli", False) for h in self.logger.handlers):
            self.err = None  # the CLI's handler (-v/--log-level) already writes to stderr
        else:
            self.logger.addHandler(self.err)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.logger.removeHandler(self.file)
        if self.err is not None:
            self.logger.removeHandler(self.err)
        self.logger.setLevel(self.old_level)
        self.file.close()


def run(args: argparse.Namespace) -> int:
    from mllmshift.cli._outputs import check_path
    from mllmshift.components import Component, build_component
    from mllmshift.responders.answer_file import respond_to_file

    check_path(args.out, "--out", folder=True)
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("--data", args.data), ("--image-folder", args.image_folder)], [("--out", args.out, True)])
    splits = [read_dataset(f, args.data_format, args.image_folder, name) for name, f in dataset_files(args.data)]
    responder = build_component("responder", Component(args.responder, responder_kwargs(args)),
                                allowed=args.allow_plugin)
    if args.responder == "openai-compatible":  # one GET /models first: a server that is not there fails in seconds
        from mllmshift.responders.http import api_key_from_env
        from mllmshift.responders.openai_compat import check_images
        from mllmshift.responders.preflight import check_server

        for split in splits:  # bad input is reported before the server is asked anything
            check_images(split.samples)
        check_server(args.base_url, api_key=api_key_from_env(args.api_key_env), model=args.model)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, Any] = {}
    incomplete = 0
    with _LogToFile(out / "respond.log"):
        log = logging.getLogger("mllmshift.cli.respond")
        log.info("responder %s: %s", args.responder, json.dumps(responder.config(), ensure_ascii=False))
        for split in splits:
            report = respond_to_file(responder, split, out / f"{split.name}.jsonl", model_id=args.model_id,
                                     batch_size=responder.batch_size,
                                     progress=not args.quiet)
            reports[split.name] = report.to_dict()
            msg = (f"{split.name}: {report.n_existing + report.n_answered}/{report.n_items} answered "
                   f"({report.n_answered} now)")
            if report.failed:
                incomplete += 1
                msg += f", {len(report.failed)} failed: {', '.join(report.failed_ids[:10])}" + \
                       (" ..." if len(report.failed_ids) > 10 else "")
            log.info(msg)
            print(msg)
    from mllmshift.provenance import run_record

    manifest = {"responder": args.responder, "config": responder.config(), "model_id": args.model_id,
                "data": str(args.data), "scenarios": reports, "run": run_record()}
    atomic_write_text(out / "respond.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    if incomplete:
        print(f"{incomplete} scenario(s) have failed items (listed in *.failed.json); rerun the same command to "
              f"retry them", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verb alone (``python -m mllmshift.cli.respond ...``) through the one ``mllmshift`` entry point."""
    from mllmshift.cli.main import main as mllmshift_main

    return mllmshift_main(["respond", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
