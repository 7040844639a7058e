"""The readers, as a registry like the encoders' and estimators': one :class:`Reader` entry per format says its
name, how a file is recognised (``sniff``), which options it takes (and of what kind), and its purpose.

Everything that reads a split derives its flags and checks from the entries: the verbs' ``--format``
choices and reading flags (``--questions``, ``--columns``, ...; :func:`mllmshift.cli._common.add_reader_args`),
the check that a flag applies to the format, the study config's path-like option keys (resolved against the
config's folder), ``respond``'s formats. Adding a format is one :func:`register_reader` call::

    register_reader(Reader("toy", read_toy, options={"columns": COLUMNS}, sniff=lambda p, record: p.suffix == ".toy"))

Names are matched with ``-`` or ``_`` alike and through aliases (``parquet`` is ``hf``); results record the
registered name.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.jsonl import iter_jsonl
from mllmshift.records import Split

__all__ = ["Reader", "ReaderOption", "SplitSource", "register_reader", "get_reader", "reader_names", "reader_options",
           "sniff_format", "read_split", "FORMATS"]


@dataclass(frozen=True)
class ReaderOption:
    """An option a reader takes: ``kind`` is ``path`` (a file or folder; resolved against a config's folder),
    ``columns`` (a mapping field → column; ``--columns id=qid,question=prompt``) or ``text``; ``flag`` is the
    command line's (default ``--<name>``; None: no flag, config and API only)."""

    kind: str
    help: str
    flag: str | None = ""

    def flag_for(self, name: str) -> str | None:
        return ("--" + name.replace("_", "-")) if self.flag == "" else self.flag


@dataclass(frozen=True)
class Reader:
    """One format. ``read``: ``read(path, *, name, allow_empty, allow_mixed_visual, **options)`` → Split (or a
    ``"module:function"`` imported on use). ``sniff(path, record)`` says whether a file is of this format
    (``record()``: the file's first JSONL record, read on first call; None for a folder or a non-JSONL file);
    readers are tried by ``rank``, lowest first. ``purpose``: ``split`` (responses, and references where given) or ``questions`` (questions
    only, what ``respond`` answers)."""

    name: str
    read: Callable[..., Split] | str
    options: Mapping[str, ReaderOption] = field(default_factory=dict)
    sniff: Callable[[Path, Callable[[], Mapping[str, Any] | None]], bool] | None = None
    rank: int = 50
    purpose: str = "split"
    aliases: tuple[str, ...] = ()
    description: str = ""

    def function(self) -> Callable[..., Split]:
        if callable(self.read):
            return self.read
        module, attr = self.read.split(":", 1)
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SplitSource:
    """Where one split comes from: a file or folder read with :func:`mllmshift.io.read_split`."""

    path: str
    format: str = "auto"
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


_READERS: dict[str, Reader] = {}
_ALIASES: dict[str, str] = {}


def register_reader(reader: Reader) -> None:
    """Add a format (a name already registered to another reader is an error)."""
    if reader.name in _READERS and _READERS[reader.name] != reader:
        raise ValueError(f"reader '{reader.name}' is already registered")
    _READERS[reader.name] = reader
    for alias in reader.aliases:
        _ALIASES[alias] = reader.name


def _canonical(name: str) -> str:
    for probe in (name, name.replace("_", "-"), name.replace("-", "_")):
        if probe in _READERS:
            return probe
        if probe in _ALIASES:
            return _ALIASES[probe]
    return name


def get_reader(name: str) -> Reader:
    """The reader of format ``name`` (any spelling), or a :class:`DataError` listing the formats."""
    reader = _READERS.get(_canonical(name))
    if reader is None:
        raise DataError(f"unknown format '{name}'; choose from {', '.join(('auto', *reader_names()))}",
                        field="format")
    return reader


def reader_names(purpose: str | None = None) -> list[str]:
    """The registered formats (of ``purpose``), in registration order."""
    return [r.name for r in _READERS.values() if purpose is None or r.purpose == purpose]


def reader_options() -> dict[str, ReaderOption]:
    """Every option some reader takes (the first declaration of a name gives its kind, help and flag)."""
    out: dict[str, ReaderOption] = {}
    for r in _READERS.values():
        for k, opt in r.options.items():
            out.setdefault(k, opt)
    return out


def __getattr__(name: str) -> Any:
    if name == "FORMATS":  # the formats a --format flag takes; live, so a format registered later is in it
        return ("auto", *reader_names(), *_ALIASES)
    raise AttributeError(name)


def sniff_format(path: str | os.PathLike[str], purpose: str = "split") -> str:
    """The format of ``path``: the first reader (by rank) of ``purpose`` whose ``sniff`` accepts it."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", path=p)
    record = _FirstRecord(p)
    for r in sorted(_READERS.values(), key=lambda r: r.rank):
        if r.sniff is not None and r.purpose == purpose and r.sniff(p, record):
            return r.name
    if p.is_file() and record() is None:
        raise DataError("no records", path=p)
    raise DataError("cannot tell the format; give --format (or format: in a config)", path=p)


class _FirstRecord:
    """The first JSONL record of a file, read once when a sniff first asks (None: a folder or an empty file; a
    file that is not JSONL raises the reader's located error, so readers sniffed by path rank first)."""

    def __init__(self, path: Path) -> None:
        self.path, self._done, self._first = path, False, None

    def __call__(self) -> Mapping[str, Any] | None:
        if not self._done:
            self._done = True
            if self.path.is_file():
                self._first = next((obj for _, obj in iter_jsonl(self.path)), None)
        return self._first


def read_split(path: str | os.PathLike[str], format: str = "auto", *, name: str | None = None,
               allow_empty: bool = False, allow_mixed_visual: bool = False, **options: Any) -> Split:
    """Read a split with the reader of ``format`` (``auto``: sniffed).

    Args:
        path: the file or folder.
        format: ``auto`` or a registered format (:func:`reader_names`; any spelling, or an alias).
        allow_empty: keep empty or whitespace-only answers (with a warning in the split's metadata); by
            default they are a located error (:mod:`mllmshift.io.checks`).
        allow_mixed_visual: accept a split where only some samples have an image (or a caption), with a
            warning; by default a located error.
        options: the reader's options (its entry's ``options``; e.g. ``questions``, ``references``,
            ``captions``, ``image_folder`` for ``llava``; ``columns`` for tables and logs); one the reader does
            not take is a :class:`DataError` naming it and those it takes.
    """
    reader = get_reader(sniff_format(path) if format == "auto" else format)
    extra = sorted(set(options) - set(reader.options))
    if extra:
        takes = ", ".join(sorted(reader.options)) or "no options"
        raise DataError(f"format '{reader.name}' takes {takes}, not {', '.join(extra)}", path=path, field="format")
    return reader.function()(path, name=name, allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual,
                             **options)


# ---------------------------------------------------------------------------------------------- built-in readers
def _read_jsonl(path: Any, **kw: Any) -> Split:
    from mllmshift.io.jsonl import read_canonical

    return read_canonical(path, **kw)


def _read_llava_questions(path: Any, *, name: str | None = None, **kw: Any) -> Split:
    from mllmshift.io.llava import read_llava

    return read_llava(None, questions=path, name=name or Path(path).stem, **kw)


def _is_alpaca(p: Path, record: Any) -> bool:
    from mllmshift.io.alpaca_eval import FILE_NAME, looks_like_alpaca_eval

    return (p.is_dir() and (p / FILE_NAME).is_file()) or (p.suffix == ".json" and p.is_file()
                                                          and looks_like_alpaca_eval(p))


def _run_folder(p: Path) -> str | None:
    from mllmshift.io.run_folders import is_run_folder

    return is_run_folder(p)


def _is_lmms(p: Path, record: Any) -> bool:
    from mllmshift.io.lmms_eval import looks_like_lmms_eval

    if p.is_dir():
        return _run_folder(p) == "lmms-eval"
    if p.suffix == ".json":
        return True
    first = record()
    return first is not None and looks_like_lmms_eval(first)


def _is_llava(p: Path, record: Any) -> bool:
    first = record()
    return first is not None and "question_id" in first and "id" not in first


_PATH = {"questions": ReaderOption("path", "LLaVA questions JSONL (joined on question_id)"),
         "references": ReaderOption("path", "reference answers: a LLaVA answer JSONL (joined on question_id), or "
                                    "with alpaca-eval the baseline model's model_outputs.json (joined on instruction)"),
         "captions": ReaderOption("path", "captions JSONL whose captions stand in for missing images"),
         "image_folder": ReaderOption("path", "folder of the images named in the questions file")}
_COLUMNS = ReaderOption("columns", "column mapping, e.g. id=question_id,question=prompt (tables); dotted paths for "
                        "lmms-eval/lm-eval-harness records, e.g. image_text=doc.caption")
_TASK = ReaderOption("text", "the task (lmms-eval, lm-eval-harness) or dataset (VLMEvalKit) to read from a run folder "
                     "that holds several")


def _is_harness(p: Path, record: Any) -> bool:
    from mllmshift.io.run_folders import HARNESS_SAMPLES

    return _run_folder(p) == "lm-eval-harness" if p.is_dir() else bool(HARNESS_SAMPLES.match(p.name))

register_reader(Reader("jsonl", _read_jsonl, sniff=lambda p, record: record() is not None, rank=90,
                       description="canonical JSONL: id, question, response, reference, image, ..."))
register_reader(Reader("llava", "mllmshift.io.llava:read_llava", options=_PATH,
                       sniff=_is_llava, rank=40, description="a LLaVA answer file, joined with its questions and references"))
register_reader(Reader("hf", "mllmshift.io.hf:read_hf", aliases=("parquet",),
                       options={"columns": _COLUMNS,
                                "split": ReaderOption("text", "split of a saved DatasetDict", flag="--hf-split"),
                                "image_dir": ReaderOption("path", "where images stored in the table are written",
                                                          flag=None)},
                       sniff=lambda p, record: p.suffix == ".parquet" or (p.is_dir() and _run_folder(p) is None),
                       rank=20,
                       description="a Parquet file or a saved Hugging Face dataset folder"))
register_reader(Reader("lmms-eval", "mllmshift.io.lmms_eval:read_lmms_eval",
                       options={"columns": _COLUMNS, "task": _TASK}, sniff=_is_lmms, rank=30,
                       description="an lmms-eval sample log (JSONL, or the older JSON with logs), or its run folder"))
register_reader(Reader("lm-eval-harness", "mllmshift.io.lm_eval_harness:read_lm_eval_harness",
                       options={"columns": _COLUMNS, "task": _TASK}, sniff=_is_harness, rank=14,
                       description="an lm-evaluation-harness samples file, or its run folder"))
register_reader(Reader("vlmevalkit", "mllmshift.io.vlmevalkit:read_vlmevalkit",
                       options={"columns": _COLUMNS, "task": _TASK},
                       sniff=lambda p, record: p.suffix in (".xlsx", ".tsv", ".csv") or _run_folder(p) == "vlmevalkit",
                       rank=25, description="a VLMEvalKit prediction table (xlsx, tsv, csv), or its work dir"))
register_reader(Reader("alpaca-eval", "mllmshift.io.alpaca_eval:read_alpaca_eval",
                       options={"references": _PATH["references"],
                                "strict": ReaderOption("text", "refuse outputs whose instructions differ", flag=None)},
                       sniff=_is_alpaca, rank=10, description="an AlpacaEval model_outputs.json (or its folder)"))
register_reader(Reader("llava-questions", _read_llava_questions, options={"image_folder": _PATH["image_folder"]},
                       purpose="questions", description="a LLaVA questions file (what `respond` answers)"))
