"""Writing responses as a LLaVA answer file, item by item, so a run resumes after a crash.

One JSON object a line, the LLaVA answer-file format::

    {"question_id": 0, "prompt": "...", "text": "...", "answer_id": "...", "model_id": "...",
     "metadata": {"config": {...generation config...}, "finish_reason": "stop"},
     "reference": "...", "image": "/path/img.png", "image_text": "..."}

The last three keys carry the sample's reference answer, image path and image stand-in text when it has
them, so ``mllmshift emi``/``emid``/``study`` read an answer file on its own (:func:`mllmshift.io.llava.read_llava`).

How nothing is lost or duplicated:

1. On start the file is read back. A torn last line (no trailing newline: the
   process died inside a write) is cut off; any other bad line is a
   :class:`~mllmshift.errors.DataError`. Records made with another generation
   config are refused rather than mixed.
2. Only samples without a record are sent. Each answer is appended with one
   ``write`` on an ``O_APPEND`` descriptor and ``fsync``-ed before the next, so
   a kill leaves at most one torn line, which step 1 removes.
3. Items that fail after their last retry are listed in ``<stem>.failed.json``
   (never written as answers) and are retried by the next run.
4. At the end the file is rewritten atomically (temp file + rename) in dataset
   order, so an interrupted-and-resumed run ends byte-identical to an
   uninterrupted one: ``answer_id`` is a content hash, not a random id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.io.jsonl import write_jsonl_atomic
from mllmshift.records import Sample, Split
from mllmshift.responders.base import Responder
from mllmshift.responders.outcomes import Answer, Failure, iter_outcomes

log = logging.getLogger("mllmshift.responders")


def question_id_value(sample_id: str) -> int | str:
    """LLaVA files use integer ids: ``"12"`` is written as ``12``; anything else stays a string."""
    try:
        as_int = int(sample_id)
    except ValueError:
        return sample_id
    return as_int if str(as_int) == sample_id else sample_id


def answer_id(model_id: str, sample_id: str, prompt: str, text: str) -> str:
    """A 22-character content hash of (model, item, prompt, answer): same answer, same id."""
    h = hashlib.sha256(json.dumps([model_id, sample_id, prompt, text], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:22]


def answer_record(sample: Sample, text: str, model_id: str, config: Mapping[str, Any],
                  info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The answer-file record of one response (with the sample's reference and image, where it has them)."""
    rec = {
        "question_id": question_id_value(sample.id),
        "prompt": sample.question,
        "text": text,
        "answer_id": answer_id(model_id, sample.id, sample.question, text),
        "model_id": model_id,
        "metadata": {"config": dict(config), **{k: v for k, v in (info or {}).items() if v is not None}},
    }
    for key, value in (("reference", sample.reference), ("image", sample.image), ("image_text", sample.image_text)):
        if value is not None:
            rec[key] = value
    return rec


def failures_path(path: str | os.PathLike[str]) -> Path:
    """Where the failed items of answer file ``path`` are listed: ``<stem>.failed.json`` beside it."""
    p = Path(path)
    return p.with_name(p.name[: -len(p.suffix)] + ".failed.json" if p.suffix else p.name + ".failed.json")


def repair_torn_tail(path: Path) -> bool:
    """Cut a last line that has no trailing newline (a write cut short by a crash). True when it cut."""
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return False
        # find the last newline, reading backwards in blocks
        pos = size
        keep = 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("%s: removed a torn last line (%d bytes) left by an interrupted write", path, size - keep)
    return True


def read_answer_file(path: str | os.PathLike[str], *, repair: bool = True) -> dict[str, tuple[int, dict[str, Any]]]:
    """``question_id`` (as str) → (line, record) of an answer file; a torn tail is cut first when ``repair``."""
    p = Path(path)
    if not p.exists():
        return {}
    if repair:
        repair_torn_tail(p)
    from mllmshift.io.jsonl import iter_jsonl, require_field

    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for lineno, obj in iter_jsonl(p):
        qid = str(require_field(obj, "question_id", p, lineno, kinds=(str, int)))
        require_field(obj, "text", p, lineno)
        if qid in out:
            raise DataError(f"duplicate question_id '{qid}' (first on line {out[qid][0]})", path=p, line=lineno,
                            field="question_id")
        out[qid] = (lineno, obj)
    return out


@dataclass(frozen=True)
class RespondReport:
    """What one ``respond_to_file`` call did."""

    path: Path
    n_items: int
    n_existing: int
    n_answered: int
    failed: tuple[Failure, ...] = field(default_factory=tuple)
    failed_ids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return self.n_existing + self.n_answered == self.n_items

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "n_items": self.n_items, "n_existing": self.n_existing,
                "n_answered": self.n_answered, "n_failed": len(self.failed), "failed_ids": list(self.failed_ids)}


def _write_line(fd: int, record: Mapping[str, Any]) -> None:
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def respond_to_file(
    responder: Responder,
    split: Split | Sequence[Sample],
    path: str | os.PathLike[str],
    *,
    model_id: str | None = None,
    batch_size: int = 1,
    progress: bool = False,
) -> RespondReport:
    """Answer every sample of ``split`` not yet in the answer file ``path`` and append each answer as it comes.

    Returns a report; failed items are listed in :func:`failures_path` and retried on the next call.
    A previous :class:`~mllmshift.responders.http.EndpointError` or ``KeyboardInterrupt`` leaves
    every answer received so far in the file.
    """
    p = Path(path)
    samples = list(split)
    config = responder.config()
    mid = model_id or str(config.get("model", responder.name))
    by_id = {s.id: s for s in samples}
    if len(by_id) != len(samples):
        raise DataError("duplicate sample ids in the dataset", path=p)
    existing = read_answer_file(p)
    for qid, (lineno, rec) in existing.items():
        if qid not in by_id:
            raise DataError(f"answer file has question_id '{qid}', which the dataset does not have "
                            f"(wrong --out folder?)", path=p, line=lineno, field="question_id")
        rec_cfg = rec.get("metadata", {}).get("config") if isinstance(rec.get("metadata"), dict) else None
        if rec_cfg != config or rec.get("model_id") != mid:
            raise DataError(f"answer was made with another configuration ({rec.get('model_id')!r}, {rec_cfg}) "
                            f"than this run ({mid!r}, {config}); use another output folder",
                            path=p, line=lineno, field="metadata.config")
    todo = [s for s in samples if s.id not in existing]
    records: dict[str, dict[str, Any]] = {qid: rec for qid, (_, rec) in existing.items()}
    failed: list[Failure] = []
    p.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"respond {p.stem}", unit="item")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for outcome in iter_outcomes(responder, todo, batch_size=batch_size):
            sample = todo[outcome.index]
            if isinstance(outcome, Failure):
                failed.append(outcome)
            elif isinstance(outcome, Answer) and sample.id not in records:
                rec = answer_record(sample, outcome.text, mid, config, outcome.info)
                _write_line(fd, rec)
                records[sample.id] = rec
            if bar is not None:
                bar.update(1)
    finally:
        os.close(fd)
        if bar is not None:
            bar.close()
        failed_ids = tuple(todo[f.index].id for f in sorted(failed, key=lambda f: f.index))
        _write_failures(p, [(todo[f.index], f) for f in sorted(failed, key=lambda f: f.index)])
    # canonical order: an interrupted-and-resumed run ends identical to an uninterrupted one
    write_jsonl_atomic(p, (records[s.id] for s in samples if s.id in records))
    return RespondReport(p, len(samples), len(existing), len(records) - len(existing), tuple(failed), failed_ids)


def _write_failures(path: Path, failed: list[tuple[Sample, Failure]]) -> None:
    fp = failures_path(path)
    if not failed:
        if fp.exists():
            fp.unlink()
        return
    atomic_write_text(fp, json.dumps({"answer_file": path.name, "n_failed": len(failed), "items": [
        {"question_id": question_id_value(s.id), "error": f.error, "kind": f.kind, "attempts": f.attempts}
        for s, f in failed]}, ensure_ascii=False, indent=1) + "\n")
