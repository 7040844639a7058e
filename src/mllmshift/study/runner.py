r"""The study runner: one command from a config to ``results.json``, ``scenarios.csv`` and a report.

It orchestrates, and computes nothing itself:

1. **plan** (:mod:`mllmshift.study.plan`): the ID split and the scenarios (shift grids applied once);
2. **respond** (:func:`respond`): the config's responder answers the splits that have no responses;
3. **evaluate**: :func:`mllmshift.evaluation.pipeline.evaluate` (embed, estimator, scenarios) with the sealed
   store of :class:`~mllmshift.study.state.SealedStore`, which keeps every stage's output in ``OUT/.state/``;
4. **aggregate**: correlations of EMID with the bound across scenarios (all, per group, per kind) and of
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.evaluation.embedding import Encoders, default_cache_dir, open_cache
from mllmshift.evaluation.pipeline import EvalPlan, check_plan, compute_settings, evaluate
from mllmshift.evaluation.results import StudyResult
from mllmshift.progress import Progress, progress_for, tracked
from mllmshift.provenance import environment, run_record, stable_hash
from mllmshift.records import Split
from mllmshift.study.config import StudyConfig
from mllmshift.study.plan import StudyPlan, plan_from_config
from mllmshift.study.state import SealedStore, StageLog, StudyState
from mllmshift.study.stats import correlation_tables
from mllmshift.threads import ThreadChoice

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

        The plan and the splits are checked (:func:`~mllmshift.evaluation.pipeline.check_plan`) before any
        stage computes; when they fail, an output folder this run created is removed again."""
        fingerprint = self.cfg.fingerprint()
        try:
            self.state.claim(fingerprint, self.cfg.to_dict(), overwrite=self.overwrite, write=False)
            plan = self.plan()
            notes = check_plan(EvalPlan(plan.id_split, plan.scenarios, self.cfg.eval),
                               responder=self.cfg.responder is not None)
            if self.cfg.fit is not None:
                from mllmshift.evaluation.fit import check_fit_set

                check_fit_set(self._fit_splits(), self.cfg.eval)
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
        """plan → respond → evaluate (the pipeline, through the sealed store) → correlations → report."""
        t0 = time.perf_counter()
        cfg = self.cfg
        store = SealedStore(self.state)
        store.log = self.log
        plan = self.plan()
        with store.timed("respond"):
            splits = respond(cfg, self.state, self.log, progress, [plan.id_split, *(s.split for s in plan.scenarios)])
        fitted = None
        if cfg.fit is not None:  # the declared fitting set: fitted once (kept in the sealed store), then saved
            from mllmshift.evaluation.artifact import artifact_of
            from mllmshift.evaluation.fit import fit_set_ensemble

            fitted = fit_set_ensemble(self._fit_splits(), cfg.eval, name=cfg.fit.name, cache=open_cache(self.cache_dir),
                                      progress=progress, store=store)
            artifact_of(fitted.members, fitted.info).save(self.out / "estimator.mllmshift")
        eplan = EvalPlan(splits[0], tuple(replace(spec, split=s) for spec, s in zip(plan.scenarios, splits[1:])),
                         cfg.eval, cfg.title, tuple(plan.notes), self._responder(plan), fitted)
        embeddings = self._embeddings(eplan, store)
        ev = evaluate(eplan, store, cache=open_cache(self.cache_dir), progress=progress, embeddings=embeddings,
                      sample_log=self.out / "samples", checked=notes, compute=(threads, device))
        judge: dict[str, Any] = {}
        if cfg.judge:
            from mllmshift.judge.scores import load_judge_scores

            judge = load_judge_scores(cfg.judge)
        result = ev.result.with_(study=cfg.study_part(), judge=judge)
        columns = sorted({k for scores in judge.values() for k in scores})
        result = result.with_(correlations=correlation_tables(result.rows(), columns, cfg.correlation_resamples,
                                                              cfg.eval.seed, cfg.eval.confidence))
        files = {"results.json": self.out / "results.json", "scenarios.csv": self.out / "scenarios.csv",
                 **{f"samples/{p.name}": p for p in ev.sample_logs}}
        if fitted is not None:
            files["estimator.mllmshift"] = self.out / "estimator.mllmshift"
        run = {"wall_s": round(time.perf_counter() - t0, 3), "stages": self.log.to_dict(),
               "created": environment()["created"], "out": str(self.out.resolve())}
        run.update(run_record(threads=threads.to_dict(), device=device,  # command, inputs, git, host (provenance)
                              estimator_fingerprint=ev.ensemble.info.get("fingerprint")))
        result = result.with_(run=run)
        result.write_csv(files["scenarios.csv"])
        from mllmshift.report import write_report

        files.update(write_report(result, self.out))
        result = result.with_(run={**run, "files": sorted(files)})
        result.write_json(files["results.json"])
        return StudyRun(result, self.out, files)

    def _fit_splits(self) -> list[Split]:
        """The splits of the config's declared fitting set (``fit.splits``), read as the config says."""
        from mllmshift.io import read_split

        assert self.cfg.fit is not None
        return [read_split(src.path, format=src.format, name=src.name, **dict(src.options))
                for src in self.cfg.fit.splits]

    def _embeddings(self, plan: EvalPlan, store: SealedStore) -> EmbeddingStore | None:
        """The embedding store to read the splits from: the user's (``--embeddings DIR``) or, on the Ray engine,
        ``.state/embeddings``, into which Ray Data first embeds the splits it lacks (by content key; those count
        as computed). None: embed here, through the sealed store's per-split snapshots."""
        if self.embeddings is None and self.cfg.engine.name != "ray":
            return None
        folder = self.embeddings if self.embeddings is not None else self.state.path("embeddings", "x").parent
        emb = EmbeddingStore(folder)
        if self.cfg.engine.name != "ray":
            return emb
        encoders = Encoders(self.cfg.eval)
        have = emb.manifest["splits"]
        todo = [s for s in plan.splits if have.get(s.name, {}).get("key") != encoders.key(s)]
        if todo:
            from mllmshift.engines.ray_engine import embed_with_ray

            cache_dir = None if self.cache_dir is None else str(self.cache_dir)
            with store.timed("embed"):
                for line in embed_with_ray(todo, self.cfg.eval, emb, self.cfg.engine, cache_dir=cache_dir):
                    self.say(line.line())
        store.fresh = {s.name for s in todo}
        return emb

    def _responder(self, plan: StudyPlan) -> dict[str, Any] | None:
        """What results record about the responder (None without one)."""
        cfg = self.cfg
        if cfg.responder is None:
            return None
        from mllmshift.components import component_class

        cls = component_class("responder", cfg.responder.name, allowed=cfg.eval.plugins)
        return {"label": plan.responder_label or cls.label or cfg.responder.name,
                "baseline": cfg.responder.name == "baseline", "config": cfg.responder.to_dict()}


def respond(cfg: StudyConfig, state: StudyState, log: StageLog, progress: Progress | None,
            splits: Sequence[Split]) -> list[Split]:
    """Fill in the responses of every split that has none, with the config's responder; each answered split is
    kept in the sealed state (``responses/<split>.<key>.jsonl``) and read back by a rerun."""
    todo = [s for s in splits if not s.has_responses]
    if not todo:
        return list(splits)
    comp = cfg.responder
    if comp is None:
        names = ", ".join(s.name for s in todo[:5])
        raise MllmshiftError(f"{len(todo)} split(s) have no (or incomplete) responses ({names}…); give the "
                             "config a 'responder' to answer them, or supply responses")
    from mllmshift.components import build_component
    from mllmshift.evaluation.samples import safe_name, split_fingerprint
    from mllmshift.io import read_canonical, write_canonical

    responder = None
    done: dict[str, Split] = {}
    for s in tracked(todo, progress, "respond", len(todo), "split"):
        key = stable_hash([comp.to_dict(), split_fingerprint(s)])
        path = state.path("responses", f"{safe_name(s.name)}.{key}.jsonl")
        if state.verified(path):
            cached = read_canonical(path, name=s.name)
            done[s.name] = Split(s.name, tuple(a.with_(response=b.response) for a, b in zip(s, cached)), s.metadata)
            log.hit("respond", True)
            continue
        if responder is None:
            responder = build_component("responder", comp, allowed=cfg.eval.plugins)
        answers = responder.respond(list(s.samples))
        if len(answers) != len(s):
            raise MllmshiftError(f"responder returned {len(answers)} answers for {len(s)} samples")
        filled = Split(s.name, tuple(a.with_(response=str(r)) for a, r in zip(s, answers)), s.metadata)
        write_canonical(filled, path)
        state.seal(path)
        done[s.name] = filled
        log.hit("respond", False)
    return [done.get(s.name, s) for s in splits]


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
