"""Evaluation tools' run folders: which samples file of a folder holds the task asked for.

The layouts, as the tools write them (their ``evaluation_tracker.py`` / ``run.py``):

- **lmms-eval** ``--output_path OUT --log_samples``: ``OUT/<model_name_sanitized>/<date_id>_results.json`` and
  one ``OUT/<model_name_sanitized>/<date_id>_samples_<task>.jsonl`` per task;
- **lm-evaluation-harness** ``--output_path OUT --log_samples``: ``OUT/<model_name_sanitized>/results_<date_id>.json``
  and ``OUT/<model_name_sanitized>/samples_<task>_<date_id>.jsonl`` (``date_id`` an ISO time with ``-`` for ``:``);
- **VLMEvalKit** ``--work-dir WORK``: ``WORK/<model>/<model>_<dataset>.xlsx`` (or ``.tsv``/``.csv``; newer
  versions also keep a copy under ``WORK/<model>/T<date>_G<commit>/``), beside judge files named
  ``<model>_<dataset>_<suffix>.*``.

A folder may hold several tasks (pick one with ``task=``/``--task``; without it a folder of one task reads it,
and a folder of several is a located error listing them) and several runs of a task (the latest ``date_id`` is
read). The folder given may be ``OUT`` itself or the model folder inside it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from mllmshift.errors import DataError

log = logging.getLogger(__name__)

#: ``<date_id>_samples_<task>.jsonl`` (lmms-eval)
LMMS_EVAL_SAMPLES = re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$")
#: ``samples_<task>_<date_id>.jsonl`` (lm-evaluation-harness; the date starts with four digits)
HARNESS_SAMPLES = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")
TABLE_SUFFIXES = (".xlsx", ".tsv", ".csv")

Parse = Callable[[Path], "tuple[str, str] | None"]


def _match(pattern: re.Pattern[str]) -> Parse:
    def parse(p: Path) -> tuple[str, str] | None:
        m = pattern.match(p.name)
        return None if m is None else (m["task"], m["date"])
    return parse


def _files(folder: Path, parse: Parse, depth: int = 2) -> list[tuple[str, str, Path]]:
    """``(task, date, file)`` of the samples files in ``folder`` and up to ``depth`` levels below it."""
    found = []
    level = [folder]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            for p in sorted(d.iterdir()):
                if p.name.startswith("."):
                    continue
                if p.is_dir():
                    nxt.append(p)
                elif (hit := parse(p)) is not None:
                    found.append((*hit, p))
        level = nxt
    return found


def pick_task_file(folder: Path, tool: str, task: str | None) -> tuple[Path, str]:
    """The samples file of ``task`` in ``folder`` (a run folder of ``tool``: ``lmms-eval`` or ``lm-eval-harness``),
    the latest if it ran several times, and the task's name."""
    parse = _match(LMMS_EVAL_SAMPLES if tool == "lmms-eval" else HARNESS_SAMPLES)
    files = _files(folder, parse)
    if not files:
        pattern = "<date>_samples_<task>.jsonl" if tool == "lmms-eval" else "samples_<task>_<date>.jsonl"
        raise DataError(f"no {tool} samples file ({pattern}) in this folder or the model folders below it; "
                        f"was the run made with --log_samples?", path=folder)
    return _choose(folder, files, task, "--task")


def _choose(folder: Path, files: list[tuple[str, str, Path]], task: str | None, flag: str) -> tuple[Path, str]:
    tasks = sorted({t for t, _, _ in files})
    if task is None:
        if len(tasks) > 1:
            raise DataError(f"the folder holds {len(tasks)} tasks ({', '.join(tasks)}); pick one with {flag}",
                            path=folder, field=flag)
        task = tasks[0]
    runs = sorted((d, str(p), p) for t, d, p in files if t == task)
    if not runs:
        raise DataError(f"no task '{task}' here; tasks: {', '.join(tasks)}", path=folder, field=flag)
    models = {p.parent for _, _, p in runs}
    if len({p.parent.name for p in models}) > 1:
        raise DataError(f"task '{task}' was run for several models ({', '.join(sorted(m.name for m in models))}); "
                        "give the model's folder", path=folder, field=flag)
    chosen = runs[-1][2]
    log.info("reading task '%s' from %s%s", task, chosen,
             f" (the latest of {len(runs)} runs)" if len(runs) > 1 else "")
    return chosen, task


def pick_vlmevalkit_table(folder: Path, dataset: str | None) -> tuple[Path, str]:
    """The prediction table ``<model>_<dataset>.*`` of a VLMEvalKit work dir (or of one model's folder in it)."""
    models = [folder] if _tables(folder, folder.name) else [d for d in sorted(folder.iterdir())
                                                           if d.is_dir() and _tables(d, d.name)]
    if not models:
        raise DataError("no VLMEvalKit prediction table (<model>/<model>_<dataset>.xlsx|tsv|csv) in this folder",
                        path=folder)
    if len(models) > 1:
        raise DataError(f"the work dir holds several models ({', '.join(m.name for m in models)}); give the "
                        "model's folder", path=folder)
    model = models[0]
    tables = _tables(model, model.name)
    # judge and score files are <model>_<dataset>_<suffix>.*: a name that extends another's is not a dataset
    names = sorted(tables)
    datasets = [n for n in names if not any(n != m and n.startswith(m + "_") for m in names)]
    chosen = [(n, "", tables[n]) for n in datasets]
    return _choose(model, chosen, dataset, "--task")


def _tables(folder: Path, model: str) -> dict[str, Path]:
    """``dataset -> file`` of ``folder/<model>_<dataset>.<suffix>`` (xlsx before tsv before csv)."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for suffix in TABLE_SUFFIXES:
        for p in sorted(folder.glob(f"{model}_*{suffix}")):
            out.setdefault(p.name[len(model) + 1: -len(suffix)], p)
    return out


def is_run_folder(folder: Path) -> str | None:
    """``lmms-eval``, ``lm-eval-harness`` or ``vlmevalkit`` when ``folder`` is such a run folder, else None."""
    if not folder.is_dir():
        return None
    if _files(folder, _match(LMMS_EVAL_SAMPLES)):
        return "lmms-eval"
    if _files(folder, _match(HARNESS_SAMPLES)):
        return "lm-eval-harness"
    if _tables(folder, folder.name) or any(d.is_dir() and _tables(d, d.name) for d in folder.iterdir()):
        return "vlmevalkit"
    return None
