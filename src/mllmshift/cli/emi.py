"""``mllmshift emi DATA``: effective mutual information of one split."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from mllmshift.cli._common import (
    add_pipeline_args,
    add_reader_args,
    cache_from_args,
    eval_config_from_args,
    read_args_split,
)
from mllmshift.cli._outputs import (
    check_output,
    check_output_paths,
    check_sample_logs,
    emit,
    sample_folder,
    stamp_sample_logs,
)
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emi", help="EMI = I(X;Ŷ) − I(X;Y) of one split of responses",
                       description="Effective mutual information of a split: how much the model's responses say "
                       "about the inputs, relative to the reference responses (0 = as informative as the reference).")
    p.add_argument("data", help="responses (canonical JSONL, LLaVA answer file, Parquet or saved HF dataset)")
    add_reader_args(p)
    add_pipeline_args(p, "emi")
    from mllmshift.cli._tracking import add_tracking_args

    add_tracking_args(p)
    p.set_defaults(func=run)


def run_identity(cfg: Any, splits: list[Any]) -> dict[str, Any]:
    """What makes two runs the same: the config's fingerprint and the inputs' content hashes."""
    from mllmshift.evaluation.samples import split_fingerprint

    return {"fingerprint": cfg.fingerprint(), "inputs": {s.name: split_fingerprint(s) for s in splits}}


def evaluate_args(args: argparse.Namespace, splits: list[Any], scenarios: list[Any], cfg: Any) -> Any:
    """The pipeline on the command line's splits: guards the outputs, evaluates, saves what was asked for."""
    from mllmshift.evaluation.pipeline import EvalPlan, evaluate
    from mllmshift.progress import progress_for

    warn_few_resamples(cfg)
    from mllmshift.cli._tracking import check_tracking, track

    check_tracking(args)
    identity = run_identity(cfg, splits)
    check_output(args.out, identity, args.overwrite)
    samples = sample_folder(args)
    if samples is not None:
        check_sample_logs(samples, identity, args.overwrite)
    from mllmshift.evaluation.sample_text import sample_texts

    with embedding_store(args, splits, cfg) as store, sample_texts(getattr(args, "log_samples_text", False)):
        ev = evaluate(EvalPlan(splits[0], tuple(scenarios), cfg), cache=cache_from_args(args),
                      progress=progress_for(not args.quiet), sample_log=samples, embeddings=store)
    ev = with_run_record(ev)
    track(args, ev.result)
    if samples is not None:
        stamp_sample_logs(samples, identity)
    if args.save_estimator:  # every member, with the fit's fingerprint and fitting set (evaluation/artifact.py)
        from mllmshift.evaluation.artifact import artifact_of

        artifact_of(ev.ensemble.members, ev.ensemble.info).save(args.save_estimator)
    return ev, identity


def warn_few_resamples(cfg: Any) -> None:
    """A loud warning when B resamples are too few for a percentile interval at the config's confidence
    (:func:`mllmshift.evaluation.config.min_resamples`): its ends are then the extreme resamples."""
    import warnings

    from mllmshift.errors import MllmshiftWarning
    from mllmshift.evaluation.config import min_resamples

    need = min_resamples(cfg.confidence)
    if 0 < cfg.n_resamples < need:
        warnings.warn(MllmshiftWarning(
            f"--bootstrap {cfg.n_resamples} is too few for a {confidence_label(cfg.confidence)} interval: its ends "
            f"are the extreme resamples, so it is not a {confidence_label(cfg.confidence)} interval; give at least "
            f"{need:,} (2/(1 − confidence)) or a lower --confidence"), stacklevel=2)


def confidence_label(confidence: float) -> str:
    """``0.95`` → ``95%``, ``0.999999`` → ``99.9999%`` (never rounded up to 100%)."""
    return f"{confidence * 100:.10g}%"
def with_run_record(ev: Any) -> Any:
    """The evaluation with its result's ``run`` block filled in (:func:`mllmshift.provenance.run_record`:
    created, the command line, version, git revision, inputs with SHA-256, host, estimator fingerprint)."""
    import dataclasses

    from mllmshift.provenance import run_record

    res = ev.result
    record = run_record(threads=res.threads, device=res.environment.get("device"),
                        estimator_fingerprint=res.estimator.get("fingerprint"))
    return dataclasses.replace(ev, result=res.with_(run={**res.run, **record}))


@contextlib.contextmanager
def embedding_store(args: argparse.Namespace, splits: list[Any], cfg: Any) -> Iterator[Any]:
    """The store to read embeddings from: ``--embeddings DIR``; with ``--engine ray``, the splits embedded by
    Ray into DIR (or a temporary folder, removed after); None otherwise (embed here)."""
    from mllmshift.cli._common import engine_from_args
    from mllmshift.encoders.store import EmbeddingStore

    if args.engine != "ray":
        yield None if args.embeddings is None else EmbeddingStore(args.embeddings)
        return
    from mllmshift.cli._outputs import claim_folder
    from mllmshift.engines.ray_engine import embed_with_ray
    from mllmshift.evaluation.embedding import default_cache_dir

    with contextlib.ExitStack() as stack:
        folder = args.embeddings or stack.enter_context(tempfile.TemporaryDirectory(prefix="mllmshift-ray-"))
        store = EmbeddingStore(folder)
        cache = None if args.no_cache else str(args.cache_dir or default_cache_dir())
        # the user's folder is claimed as ``embed --out`` is (checked in check_output_paths); a temporary one is ours
        with claim_folder(folder, vars(args).get("command") or "emi") if args.embeddings else contextlib.nullcontext():
            for t in embed_with_ray(splits, cfg, store, engine_from_args(args), cache_dir=cache):
                if not args.quiet:
                    print(t.line(), file=sys.stderr)
        yield store


def run(args: argparse.Namespace) -> int:
    check_output_paths(args)
    cfg = eval_config_from_args(args)
    split = read_args_split(args.data, args)
    ev, identity = evaluate_args(args, [split], [], cfg)
    res = ev.result.id
    out = {**res.to_json(), **ev.result.provenance(), "run": dict(ev.result.run), **identity}
    emi, ci = res.emi, res.ci
    assert emi is not None
    human = (f"{res.name}: EMI = {emi.value:+.4f}"
             + (f"  [{ci.low:+.4f}, {ci.high:+.4f}] ({confidence_label(ci.confidence)} CI, B={ci.n_resamples})" if ci else "")
             + f"\n  I(X;Ŷ) = {emi.shown('mi_response')}   I(X;Y) = {emi.shown('mi_reference')}   n = {emi.n}"
             + f"\n  estimator: {estimator_line(cfg, ev.result.estimator)}" + saturation_note([emi])
             + warning_lines(ev.result))
    emit(out, args, human)
    return EXIT_OK


def estimator_line(cfg: Any, estimator: Any = None) -> str:
    """Which MI estimator and divergence produced the numbers, for the human summary; with ``estimator`` (the
    result's estimator record) a second line names the fit the values are relative to (its fingerprint)."""
    if cfg.checkpoint:
        mi = f"loaded from {cfg.checkpoint}"
    else:
        k = f"{cfg.n_estimators} × " if cfg.n_estimators > 1 else ""
        held = f", cross-fitted over {cfg.folds} folds of the sample ids" if cfg.folds >= 2 else ", scored in-sample"
        mi = f"{k}{cfg.estimator.name} fitted on the pooled pairs{held}"
    line = f"MI {mi}; bound JSD {cfg.divergence.name}; seed {cfg.seed}"
    if estimator:
        from mllmshift.evaluation.artifact import fit_line

        line += f"\n  fit: {fit_line(estimator)}"
    return line


def saturation_note(emis: list[Any]) -> str:
    """A warning line when an MI estimate sits at its estimator's ceiling (e.g. InfoNCE's ln n), and one when
    an MI is above ln n, what n pairs can support (:attr:`mllmshift.metrics.EMIResult.flags`)."""
    above = [e for e in emis if e is not None and e.above_data_limit]
    note = "" if not above else (
        f"\n  FLAG: {len(above)} of {len(emis)} EMI values rest on an MI above ln n, more than n pairs can support "
        f"({above[0].flags[0]}): read them as unsupported, not as measured")
    hit = [e for e in emis if e is not None and e.saturated]
    if not hit:
        return note
    return note + (f"\n  note: {len(hit)} of {len(emis)} EMI values have an MI at the estimator's ceiling "
            f"({hit[0].ceiling:.3f} nats at n = {hit[0].n}; InfoNCE's is ln n): the MI exceeds what n samples can "
            "certify, so compare those EMIs only between splits of equal size (docs/estimators.md)")


def warning_lines(result: Any) -> str:
    """The readers' warnings (data kept on request: ``--allow-empty-answers``, ``--allow-mixed-visual``), a line each."""
    return "".join(f"\n  warning: {w}" for w in result.warnings)
