"""What the verbs write: output paths checked before any work, results that belong to one run, and printing.

A pipeline verb checks every path it will write (:func:`check_output_paths`) before it reads or computes
anything, refuses to replace another run's result or per-sample rows unless ``--overwrite``
(:func:`check_output`, :func:`check_sample_logs`; a run is identified by its config and inputs), and ends
with :func:`emit`: the human summary or JSON on stdout and ``--out`` written atomically.

Inputs are never written over (:func:`check_disjoint`, used by every verb that writes): every output path is
resolved (symbolic links followed, hard links compared by inode) and compared with every input path and with
the other outputs; an output that is an input, a folder that holds an input, an output inside an input folder,
or two outputs on one path are refused, ``--overwrite`` or not. A folder the tool writes many files into
(``monitor --out``, ``embed --out``, ...) must be empty, missing, or one this tool claimed before
(:func:`check_folder_ours`, :func:`claim_folder`: the marker file :data:`MARKER`), so a user's own
``config.json`` or ``index.html`` there is never replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MllmshiftError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.io.strict_json import dumps


def check_path(path: Path | None, flag: str, *, folder: bool) -> None:
    """Raise a :class:`DataError` naming ``flag`` when ``path`` cannot be written: a file expected and a folder
    there (or the reverse), or a file where one of its parent folders should be."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        want = "a folder" if folder else "a file name (e.g. result.json)"
        raise DataError(f"{path} is a {'file' if folder else 'folder'}; give {want}", field=flag)
    for p in path.parents:
        if p.exists() and not p.is_dir():
            raise DataError(f"{path} lies under {p}, which is a file, not a folder", field=flag)
    _check_writable(path, flag)


def _check_writable(path: Path, flag: str) -> None:
    """Refuse ``path`` when its nearest existing folder cannot take a new file (``/proc``, read-only mounts, no
    permission): found now by creating and removing a probe file, not after the compute has finished."""
    base = path if path.is_dir() else path.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    try:
        with tempfile.NamedTemporaryFile(dir=base, prefix=".mllmshift-probe-"):
            pass
    except OSError as err:
        raise DataError(f"cannot write under {base}: {err.strerror or err}", field=flag) from None


def _key(path: Path) -> tuple[Path, tuple[int, int] | None]:
    """A path resolved for comparison: absolute with symbolic links followed, and its (device, inode) when it
    exists (two hard links to one file are one file)."""
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
        return real, (st.st_dev, st.st_ino)
    except OSError:
        return real, None


def _under(child: Path, folder: Path) -> bool:
    return child != folder and child.is_relative_to(folder)


def check_disjoint(inputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
                   outputs: Iterable[tuple[str, str | os.PathLike[str] | None, bool]], *,
                   inside_ok: bool = False) -> None:
    """Refuse (a :class:`DataError` naming the output's flag) any output that would write over an input.

    ``inputs``: ``(flag, path)`` of everything read (a file or a folder); ``outputs``: ``(flag, path, folder)``
    of everything written, ``folder`` True for a folder the tool writes files into. Refused: an output that is
    an input; an output folder that holds an input (its files are named by the tool, e.g. ``samples/<split>.jsonl``,
    and could be the input's name); an output inside an input folder; two outputs on one path, or a file output
    inside another output's folder. Checked whatever ``--overwrite`` says: it lets a run replace an earlier
    result, never an input. ``inside_ok``: inputs may lie inside an output folder (a verb whose folder holds
    only names it owns, e.g. a study's, whose demo keeps its config and data there)."""
    ins = [(flag, Path(p), *_key(Path(p))) for flag, p in inputs if p is not None and str(p) != ""]
    outs = [(flag, Path(p), folder, *_key(Path(p))) for flag, p, folder in outputs if p is not None and str(p) != ""]
    for oflag, opath, ofolder, oreal, onode in outs:
        for iflag, ipath, ireal, inode in ins:
            kind = "folder" if ipath.is_dir() else "file"
            if oreal == ireal or (onode is not None and onode == inode):
                raise DataError(f"{opath} is the input {kind} {ipath} (given as {iflag}); an input is never written "
                                "over, --overwrite or not: choose another path", field=oflag)
            if ofolder and not inside_ok and _under(ireal, oreal):
                raise DataError(f"the output folder {opath} holds the input {kind} {ipath} (given as {iflag}), which "
                                "a file written there could replace: choose a folder without inputs", field=oflag)
            if ipath.is_dir() and _under(oreal, ireal):
                raise DataError(f"{opath} lies inside the input folder {ipath} (given as {iflag}): choose a path "
                                "outside it", field=oflag)
        for oflag2, opath2, ofolder2, oreal2, onode2 in outs:
            if oflag2 == oflag:
                continue
            if oreal == oreal2 or (onode is not None and onode == onode2):
                raise DataError(f"{opath} is also the path of {oflag2}; two outputs cannot share a path", field=oflag)
            if ofolder2 and not ofolder and _under(oreal, oreal2):
                raise DataError(f"{opath} lies inside the output folder of {oflag2} ({opath2}); choose a path "
                                "outside it", field=oflag)


#: the file that marks a folder as written by this tool (``monitor --out``, ``embed --out``, ...)
MARKER = ".mllmshift-output"


def check_folder_ours(path: str | os.PathLike[str] | None, flag: str, *, owned_if: Iterable[str] = ()) -> None:
    """Refuse an output folder that holds files this tool did not write: it must be missing, empty, or carry
    :data:`MARKER` (or one of ``owned_if``, names that only this tool writes there, for folders written before
    the marker existed). A user's own ``config.json`` in ``monitor --out`` is thereby never replaced."""
    if path is None:
        return
    folder = Path(path)
    if not folder.is_dir() or (folder / MARKER).is_file() or any((folder / n).exists() for n in owned_if):
        return
    foreign = sorted(p.name for p in folder.iterdir())
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise DataError(f"{folder} holds files mllmshift did not write ({shown}); it writes only into an empty "
                        "or new folder, or one it wrote before: choose another folder", field=flag)


@contextlib.contextmanager
def claim_folder(path: str | os.PathLike[str], verb: str) -> Iterator[None]:
    """Create the output folder (when missing) and mark it as this tool's (:data:`MARKER`) for the block that
    writes into it; call after every check has passed. When the block fails before writing anything else, the
    claim is undone (a marker it added is removed, and a folder it created, if left empty), so a refused run
    leaves nothing behind."""
    folder = Path(path)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    marked = (folder / MARKER).exists()
    folder.mkdir(parents=True, exist_ok=True)
    if not marked:
        atomic_write_text(folder / MARKER, json.dumps({"written_by": f"mllmshift {verb}"}) + "\n")
    try:
        yield
    except BaseException:
        if not marked and [p.name for p in folder.iterdir()] == [MARKER]:
            (folder / MARKER).unlink()
            for p in missing:  # innermost first
                with contextlib.suppress(OSError):
                    p.rmdir()
        raise


#: the reading flags whose values are input paths (besides a verb's own positional data)
READ_FLAGS = ("questions", "references", "captions", "image_folder")


def reader_inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """``(flag, path)`` of the reading flags a verb was given (``--questions``, ``--references``, ...)."""
    given = {k: vars(args).get(k) or vars(args).get(f"reader_{k}") for k in READ_FLAGS}  # reader options' dests
    return [(f"--{k.replace('_', '-')}", v) for k, v in given.items() if v]


def pipeline_paths(args: argparse.Namespace) -> tuple[list[tuple[str, Any]], list[tuple[str, Any, bool]]]:
    """The inputs and outputs of an ``emi``/``emid`` command line, for :func:`check_disjoint`."""
    inputs: list[tuple[str, Any]] = []
    data = vars(args).get("data")
    inputs += [("DATA", d) for d in (data if isinstance(data, list) else [data] if data else [])]
    if vars(args).get("id_data"):
        inputs.append(("--id", args.id_data))
    inputs += [("--ood", p) for p in vars(args).get("ood_data") or ()]
    inputs += reader_inputs(args)
    inputs.append(("--estimator-file", vars(args).get("checkpoint")))
    ray = args.engine == "ray"
    if not ray:
        inputs.append(("--embeddings", args.embeddings))
    outputs: list[tuple[str, Any, bool]] = [("--out", args.out, False),
                                            ("--save-estimator", args.save_estimator, False)]
    if args.log_samples is not None:
        outputs.append(("--log-samples", args.log_samples, True))
    elif args.out is not None:
        outputs.append(("--out (its samples/ folder)", Path(args.out).parent / "samples", True))
    if ray:
        outputs.append(("--embeddings", args.embeddings, True))
    if not args.no_cache:
        outputs.append(("--cache-dir", args.cache_dir, True))
    return inputs, outputs


def check_output_paths(args: argparse.Namespace) -> None:
    """Every path a pipeline verb writes, checked before anything is read or computed."""
    check_path(args.out, "--out", folder=False)
    if args.log_samples is not None:
        check_path(args.log_samples, "--log-samples", folder=True)
    elif args.out is not None:
        check_path(Path(args.out).parent / "samples", "--out (its samples/ folder)", folder=True)
    check_path(args.save_estimator, "--save-estimator", folder=False)
    check_path(args.cache_dir, "--cache-dir", folder=True)
    check_disjoint(*pipeline_paths(args))
    if args.engine == "ray" and args.embeddings is not None:  # Ray writes the store there (as ``embed --out``)
        from mllmshift.encoders.store import MANIFEST, EmbeddingStore

        check_path(args.embeddings, "--embeddings", folder=True)
        check_folder_ours(args.embeddings, "--embeddings", owned_if=(MANIFEST,))
        EmbeddingStore(args.embeddings).manifest  # a foreign manifest.json is refused before any work


def check_output(path: Path | None, identity: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse to replace ``path`` when it holds the result of another run (another config or other inputs)
    unless ``overwrite``; a rerun of the same config on the same inputs may replace its own result."""
    if path is None or overwrite or not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        same = isinstance(old, dict) and all(old.get(k) == v for k, v in identity.items())
    except (UnicodeDecodeError, json.JSONDecodeError):
        same = False
    if not same:
        raise MllmshiftError(f"{path} holds the result of another run (another config or other data); choose "
                             "another --out, or pass --overwrite to replace it")


def check_sample_logs(folder: Path, identity: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse to write per-sample rows into ``folder`` when it holds those of another run (its ``.run.json``
    differs, or it has rows and no ``.run.json``) unless ``overwrite``."""
    if overwrite or not folder.is_dir():
        return
    stamp = folder / ".run.json"
    if stamp.exists():
        check_output(stamp, identity, overwrite)
    elif any(folder.glob("*.jsonl")):
        raise MllmshiftError(f"{folder} already holds per-sample rows of another run; choose another --log-samples "
                             "folder, or pass --overwrite to replace them")


def stamp_sample_logs(folder: Path, identity: Mapping[str, Any]) -> None:
    """Record which run the rows in ``folder`` belong to."""
    atomic_write_text(folder / ".run.json", json.dumps(dict(identity), indent=1) + "\n")


def sample_folder(args: argparse.Namespace) -> Path | None:
    """``--log-samples DIR``, else ``samples/`` beside ``--out``, else None."""
    if args.log_samples is not None:
        return Path(args.log_samples)
    return None if args.out is None else Path(args.out).parent / "samples"


def emit(result: Mapping[str, Any], args: argparse.Namespace, human: str) -> None:
    """Print the human summary (or JSON) and write ``--out``."""
    text = dumps(result, indent=2, sort_keys=False)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(human + "\n")
        if args.out:
            sys.stdout.write(f"wrote {args.out}\n")
