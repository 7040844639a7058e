r"""The study runner: one command from a config to ``results.json``, ``scenarios.csv`` and a report.

It orchestrates, and computes nothing itself:

1. **plan** (:mod:`mllmshift.study.plan`): the ID split and the scenarios (shift grids applied once);
2. the cached stages of :mod:`mllmshift.study.stages`: **respond**, **embed**, **estimator**, **scenarios**
   (each a layer over :mod:`mllmshift.evaluation.pipeline`, state in ``OUT/.state/``);
3. **aggregate**: correlations of EMID with the bound across scenarios (all, per group, per kind) and of
   EMI with judge scores where given, then the typed
   :class:`~mllmshift.evaluation.results.StudyResult` and its views: ``results.json``, ``scenarios.csv``,
   ``samples/<split>.jsonl`` and the report.

A killed run resumes where it stopped, and a rerun of the same config recomputes nothing. ``OUT`` belongs
to one config: a run with another config is refused unless ``overwrite`` is given (then the stages
that still apply are reused and the results replaced). Bootstrap seeds are
``derive_seed(seed, "emi", split)`` and ``derive_seed(seed, "emid", id, scenario)``, as for
``mllmshift emid``: the same data, config and seed give the same numbers through either.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.evaluation.checks import check_checkpoint, check_splits
from mllmshift.evaluation.embedding import Encoders, default_cache_dir, open_cache
from mllmshift.evaluation.pipeline import (
    ScenarioContext,
    compute_settings,
    embedding_record,
    environment_record,
    run_thread_record,
    seed_record,
    split_warnings,
    write_sample_logs,
)
from mllmshift.evaluation.results import StudyResult
from mllmshift.progress import Progress, progress_for
from mllmshift.provenance import environment, run_record, stable_hash
from mllmshift.study import stages
from mllmshift.study.config import StudyConfig
from mllmshift.study.plan import StudyPlan, plan_from_config
from mllmshift.study.state import StageLog, StudyState
from mllmshift.study.stats import correlation_tables
from mllmshift.threads import ThreadChoice, stage
from mllmshift.vocab import GROUPS

_DEFAULT_CACHE = object()


@dataclass(frozen=True)
class StudyRun:
    """What :func:`run_study` returns: the typed result and where its files are."""

    result: StudyResult
    out: Path
    files: dict[str, Path]

    @property
    def results(self) -> dict[str, Any]:
        """The JSON view of the result (what ``results.json`` holds)."""
        return self.result.to_json()

    @property
    def report_html(self) -> Path:
        return self.files["report.html"]


class StudyRunner:
    """Runs a study for one config into one output folder (see the module docstring).

    ``cache_dir``: the shared embedding content cache (default ``~/.cache/mllmshift``; None for none).
    ``embeddings``: an embedding store (``mllmshift embed --out DIR``) to read the splits' embeddings from.
    """

    def __init__(self, config: StudyConfig, out: str | os.PathLike[str], *, progress: bool = True,
                 plan: StudyPlan | None = None, log: Callable[[str], None] | None = None, overwrite: bool = False,
                 cache_dir: Any = _DEFAULT_CACHE, embeddings: str | os.PathLike[str] | None = None) -> None:
        self.cfg = config
        self.embeddings = embeddings
        self.out = Path(out)
        check_out_folder(self.out)
        self._created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = StudyState(self.out)
        self.progress = progress
        self.overwrite = overwrite
        self.cache_dir = default_cache_dir() if cache_dir is _DEFAULT_CACHE else cache_dir
        self._plan = plan
        self.log = StageLog()
        self.say = log or (lambda msg: print(msg, file=sys.stderr) if progress else None)

    def plan(self) -> StudyPlan:
        if self._plan is None:
            t = time.perf_counter()
            self._plan = plan_from_config(self.cfg, self.state.root)
            self.log.seconds["plan"] = time.perf_counter() - t
        return self._plan

    def run(self) -> StudyRun:
        """Every stage on the CPU threads and device of :func:`~mllmshift.evaluation.pipeline.compute_settings`
        (an automatic thread choice is re-read per stage and between a fit's epochs: :mod:`mllmshift.threads`).

        The plan and the splits are checked (:func:`~mllmshift.evaluation.checks.check_splits`) before any
        stage computes; when they fail, an output folder this run created is removed again."""
        fingerprint = self.cfg.fingerprint()
        try:
            self.state.claim(fingerprint, self.cfg.to_dict(), overwrite=self.overwrite, write=False)
            plan = self.plan()
            notes = check_splits(plan.id_split, [s.split for s in plan.scenarios], self.cfg.eval,
                                 responder=self.cfg.responder is not None)
            check_checkpoint(self.cfg.eval)
            if self.cfg.judge:  # read now, so a malformed score file stops the run before anything is computed
                from mllmshift.judge.scores import load_judge_scores

                load_judge_scores(self.cfg.judge)
        except MllmshiftError:
            if self._created:
                shutil.rmtree(self.out, ignore_errors=True)
            raise
        self.state.claim(fingerprint, self.cfg.to_dict(), overwrite=self.overwrite)
        with compute_settings(self.cfg.eval) as (threads, device):
            self.say(f"threads: {threads.describe()}")
            return self._run(progress_for(self.progress), threads, device, notes)

    def _run(self, progress: Progress | None, threads: ThreadChoice, device: str,
             notes: tuple[str, ...] = ()) -> StudyRun:
        t0 = time.perf_counter()
        cfg = self.cfg
        store = None if self.embeddings is None else EmbeddingStore(self.embeddings)
        st = stages.Stages(cfg, self.state, self.log, progress, self.say, store)
        plan = self.plan()
        splits = stages.respond(st, [plan.id_split, *(s.split for s in plan.scenarios)])
        encoders = Encoders(cfg.eval)
        with stage("embed"):
            embedded, keys = stages.embed(st, splits, encoders, open_cache(self.cache_dir))
        id_e = embedded[0]
        with stage("fit"):
            ensemble = stages.estimators(st, embedded, keys)
        ens_key = str(ensemble.info["key"])
        with stage("scenarios"):
            id_res = stages.id_result(st, id_e, ensemble, stable_hash([ens_key, keys[id_e.name]]))
            ctx = ScenarioContext(id_e, id_res, ensemble.members, cfg.eval)
            scen = stages.scenarios(st, plan.scenarios, embedded[1:], keys, ctx, ens_key)
        judge: dict[str, Any] = {}
        if cfg.judge:
            from mllmshift.judge.scores import load_judge_scores

            judge = load_judge_scores(cfg.judge)
        result = StudyResult(
            title=cfg.title, config=cfg.eval, id=id_res, scenarios=tuple(scen), study=cfg.study_part(), judge=judge,
            seeds=seed_record(cfg.eval, plan.id_split.name, [s.name for s in plan.scenarios]),
            environment=environment_record(device), encoders=encoders.info(), estimator=dict(ensemble.info),
            data=self._data(plan, embedded), threads=run_thread_record(threads), warnings=split_warnings(splits) + notes)
        columns = sorted({k for scores in judge.values() for k in scores})
        result = result.with_(correlations=correlation_tables(result.rows(), columns, cfg.correlation_resamples,
                                                              cfg.eval.seed, cfg.eval.confidence))
        samples = write_sample_logs(self.out / "samples", splits, embedded, ensemble.members)
        files = {"results.json": self.out / "results.json", "scenarios.csv": self.out / "scenarios.csv",
                 **{f"samples/{p.name}": p for p in samples}}
        run = {"wall_s": round(time.perf_counter() - t0, 3), "stages": self.log.to_dict(),
               "created": environment()["created"], "out": str(self.out.resolve())}
        run.update(run_record(threads=threads.to_dict(), device=device,  # command, inputs, git, host (provenance)
                              estimator_fingerprint=ensemble.info.get("fingerprint")))
        result = result.with_(run=run)
        result.write_csv(files["scenarios.csv"])
        from mllmshift.report import write_report

        files.update(write_report(result, self.out))
        result = result.with_(run={**run, "files": sorted(files)})
        result.write_json(files["results.json"])
        return StudyRun(result, self.out, files)

    def _data(self, plan: StudyPlan, embedded: Any) -> dict[str, Any]:
        cfg = self.cfg
        responder = None
        if cfg.responder is not None:
            from mllmshift.components import component_class

            cls = component_class("responder", cfg.responder.name, allowed=cfg.eval.plugins)
            responder = {"label": plan.responder_label or cls.label or cfg.responder.name,
                         "baseline": cfg.responder.name == "baseline",
                         "config": cfg.responder.to_dict()}
        return {"id": {"name": plan.id_split.name, "n": len(plan.id_split),
                       "source": dict(plan.id_split.metadata).get("source")},
                "n_scenarios": len(plan.scenarios),
                "groups": {g: sum(s.group == g for s in plan.scenarios) for g in GROUPS},
                "notes": list(plan.notes), "responder": responder, "embeddings": embedding_record(embedded)}


def check_out_folder(out: Path) -> None:
    """Raise a :class:`DataError` when ``out`` cannot be the study's output folder: it, or a folder above it,
    is a file."""
    for p in (out, *out.parents):
        if p.exists() and not p.is_dir():
            what = "is a file" if p == out else f"lies under {p}, which is a file"
            raise DataError(f"the output folder {what}; give a folder", path=out, field="--out")


def run_study(config: StudyConfig, out: str | os.PathLike[str], *, progress: bool = True,
              plan: StudyPlan | None = None, overwrite: bool = False, cache_dir: Any = _DEFAULT_CACHE,
              embeddings: str | os.PathLike[str] | None = None) -> StudyRun:
    """Run (or resume) a study; see :class:`StudyRunner`."""
    return StudyRunner(config, out, progress=progress, plan=plan, overwrite=overwrite, cache_dir=cache_dir,
                       embeddings=embeddings).run()
