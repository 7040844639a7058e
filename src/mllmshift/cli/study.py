"""``mllmshift study CONFIG --out DIR``: run (or resume) a whole shift study and write its report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mllmshift.cli._common import add_run_args, add_scale_args
from mllmshift.cli._flags import add_eval_args
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "study", help="run a shift study from a YAML config: EMI/EMID per scenario, bound correlations, report",
        description="Embed every split once, fit (or load) the MI estimator, and compute per scenario EMI and EMID "
        "with bootstrap CIs and the EMID bound with its four JSD terms; then the correlations of EMID with the "
        "bound across scenarios. Writes results.json, scenarios.csv, samples/, report.html, report.md and plots/ to "
        "--out. A killed run resumes where it stopped; a rerun reads everything from OUT/.state. OUT belongs to "
        "one config: another config is refused unless --overwrite is given.")
    p.add_argument("config", nargs="?", type=Path, help="study config (YAML); see docs/study.md")
    p.add_argument("--out", type=Path, required=True, help="output folder (also holds the resumable state)")
    p.add_argument("--preset", help="build the study from a preset instead of a config (e.g. llava-bench or "
                   "llava_bench: '-' and '_' are the same)")
    p.add_argument("--data", type=Path, help="data folder of the preset (e.g. ../shared/data)")
    p.add_argument("--model", help="preset option: the model whose responses to read (llava_bench: llava-v1.5-13b)")
    p.add_argument("--judge", type=Path, help="override the config's judge scores (a `mllmshift judge` folder, "
                   "or a CSV/JSON with scenario,win_rate,...)")
    add_run_args(p, overwrite="replace the results of another config in --out (cached stages that still apply "
                               "are reused)")
    add_eval_args(p, "study", note="over the config's; defaults: the config's, else those shown")
    add_scale_args(p, engine_default=None)
    p.add_argument("--log-samples-text", action="store_true",
                   help="rows of samples/ also carry each sample's question, response and reference (off by default: "
                        "they may be private)")
    from mllmshift.cli._tracking import add_tracking_args

    add_tracking_args(p)
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace) -> Any:
    from mllmshift.components import Component
    from mllmshift.errors import UsageError
    from mllmshift.io.yaml_strict import YamlDocument, load_yaml
    from mllmshift.cli._flags import flag_values
    from mllmshift.settings import resolve
    from mllmshift.study.config import StudyConfig

    if args.config is not None and args.preset:
        raise UsageError(f"give a CONFIG file or --preset {args.preset}, not both (a config may name its preset: "
                         "'preset: {name: ..., options: {...}}')")
    if (args.data is not None or args.model) and not args.preset:
        raise UsageError("--data and --model are options of --preset; give --preset NAME (a config names its data "
                         "itself)")
    if args.config is not None:
        cfg = StudyConfig.from_yaml(args.config)
    elif args.preset:
        opts: dict[str, Any] = {}
        if args.data is not None:
            opts["root"] = str(args.data.resolve())
        if args.model:
            opts["model"] = args.model
        from mllmshift.study.presets import default_config, presets

        cfg = default_config(args.preset, **opts)
        cfg = cfg.with_(preset=Component(presets.canonical(args.preset),  # the registered spelling is recorded
                                         {**dict(cfg.preset.options), **opts}))  # type: ignore[union-attr]
    else:
        raise UsageError("give a CONFIG file or --preset NAME")
    # flags over the config's settings (already over the defaults); refused values name the flag, or the
    # config's field
    doc = load_yaml(args.config, "config file") if args.config is not None else YamlDocument(None, {}, cfg.source)
    changes: dict[str, Any] = {"eval": resolve(flag_values(args), base=cfg.eval, doc=doc, runnable=True)}
    if args.judge is not None:
        changes["judge"] = str(args.judge.resolve())
    if args.engine is not None:
        from mllmshift.engines import EngineConfig

        changes["engine"] = EngineConfig(args.engine, args.ray_address or cfg.engine.address, cfg.engine.concurrency,
                                         cfg.engine.batch_size)
    return cfg.with_(**changes)


def headline(result: Any, out: Path) -> str:
    """The lines printed at the end of a run: where the report is and the headline numbers."""
    s = result.summary
    f = lambda v, d=3: "n/a" if v is None else f"{v:+.{d}f}"  # noqa: E731
    p = s["emid_bound_pearson_p"]
    lines = [f"report: {(out / 'report.html').resolve()}",
             f"  ID EMI {f(s['id_emi'])} on '{result.data['id']['name']}'; {s['n_scenarios']} scenarios "
             f"({s['n_complete']} complete, {s['n_partial']} partial)",
             f"  mean EMI under shift {f(s['mean_emi'])}, mean EMID {f(s['mean_emid'])}",
             f"  EMID vs bound: Pearson r {f(s['emid_bound_pearson'], 2)} (p {'n/a' if p is None else format(p, '.2g')}), "
             f"Spearman {f(s['emid_bound_spearman'], 2)}, Kendall {f(s['emid_bound_kendall'], 2)}"]
    for g, v in s.get("per_group", {}).items():
        lines.append(f"  {g:<6} n={v['n']:<3} mean EMI {f(v['mean_emi'])}  mean EMID {f(v['mean_emid'])}")
    if s.get("mean_emi_by_visual_severity"):
        lines.append("  mean EMI by visual severity: " + ", ".join(
            f"{k}: {v:+.3f}" for k, v in s["mean_emi_by_visual_severity"].items()))
    if s.get("n_sign_unstable"):
        lines.append(f"  EMID sign not stable in {s['n_sign_unstable']} scenario(s): "
                     + ", ".join(s["sign_unstable"][:6]) + (" …" if s["n_sign_unstable"] > 6 else ""))
    lines.extend(f"  FLAG: ID EMI: {fl}" for fl in s.get("id_flags", ()))
    if s.get("n_mi_above_limit"):
        lines.append(f"  FLAG: {s['n_mi_above_limit']} EMI value(s) rest on an MI above ln n (more than n pairs can "
                     "support): " + ", ".join(s["mi_above_limit"][:6]))
    if s.get("n_bound_violated") or s.get("n_bound_theorem_violated"):
        lines.append(f"  FLAG: EMID above its bound in {s['n_bound_violated']} of {s['n_bound_checked']} scenario(s) "
                     f"(scale-adjusted), {s['n_bound_theorem_violated']} (theorem's form): "
                     + ", ".join((s["bound_violated"] or s["bound_theorem_violated"])[:6]))
    lines.extend(f"  warning: {w}" for w in result.warnings)
    lines.append(f"  wall time {result.run.get('wall_s', '?')} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.study.runner import check_out_folder, run_study

    from mllmshift.cli._tracking import check_tracking, track

    check_out_folder(args.out)
    check_tracking(args)
    cfg = load_config(args)
    from mllmshift.cli._outputs import check_disjoint

    sources: list[tuple[str, Any]] = [("id", cfg.id.path if cfg.id is not None else None)]
    for i, s in enumerate(cfg.scenarios):
        sources += [(f"scenarios[{i}]", s.path), (f"scenarios[{i}]", s.folder),
                    (f"scenarios[{i}].grid", s.grid if isinstance(s.grid, (str, os.PathLike)) else None)]
    check_disjoint([("CONFIG", args.config), ("--embeddings", args.embeddings), ("judge", cfg.judge), *sources],
                   [("--out", args.out, True)], inside_ok=True)
    from mllmshift.evaluation.sample_text import sample_texts

    with sample_texts(args.log_samples_text):
        done = run_study(cfg, args.out, progress=not args.quiet, overwrite=args.overwrite,
                         cache_dir=args.cache_dir or default_cache_dir(), embeddings=args.embeddings)
    sys.stdout.write(headline(done.result, args.out) + "\n")
    track(args, done.result, sorted(p for p in (Path(f) for f in done.files.values()) if p.suffix in (".png", ".html")))
    return EXIT_OK
