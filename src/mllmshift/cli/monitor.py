"""``mllmshift monitor --reference ID_DATA --stream PATH --out DIR``: drift of a live stream against the reference.

Also ``mllmshift monitor --replay synthetic|llava-bench|llava-bench-visual [--data ../shared/data] --out DIR``:
the replay demos of :mod:`mllmshift.monitor.replay`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mllmshift.cli._common import add_reader_args, add_run_args, cache_from_args, read_args_split
from mllmshift.cli._outputs import check_disjoint, check_folder_ours, check_path, claim_folder, reader_inputs
from mllmshift.errors import DataError
from mllmshift.monitor.config import MONITOR_EVAL_DEFAULTS
from mllmshift.monitor.replay import REPLAYS
from mllmshift.cli._flags import add_eval_args, flag_values, parse_key_values
from mllmshift.settings import FLAGS, resolve
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "monitor", help="watch a stream of queries and answers for drift against the reference window",
        description="Reads a stream (a growing JSONL file, a folder of dropped JSONL batches or Parquet shards; "
        "each record with a timestamp) in windows of records or time, and writes per window the JSD of "
        "images, questions and answers against the reference window, the bound's answer term and EMI/EMID "
        "where records have reference answers, each with a bootstrap CI, to series.csv/series.jsonl, plots "
        "and index.html in --out. A window is over when a term's permutation p-value against the reference's "
        "own no-shift spread at the same window size is at most its level; an alert fires after k consecutive "
        "over windows, calibrated to --ert windows between false alarms. "
        "Resumes where it stopped. See docs/monitor.md.")
    p.add_argument("--config", type=Path, default=None,
                   help="monitor config (YAML: reference, stream, windows, alerts, and the evaluation keys of a study "
                        "config); flags override it; see docs/monitor.md")
    p.add_argument("--reference", help="the reference (in-distribution) window: queries and answers, any reader")
    p.add_argument("--stream", help="a JSONL file that grows, a folder of JSONL/Parquet files, or a Parquet file")
    p.add_argument("--out", type=Path, required=True, help="output folder (series, alerts, plots, state)")
    g = p.add_argument_group("windows and alerts")
    g.add_argument("--window", default=None, help="records (1000) or a duration (90s, 15m, 1h, 2d); default 1000")
    g.add_argument("--step", default=None, help="slide by this much (same kind as --window; default: tumbling)")
    g.add_argument("--terms", default=None, help="terms to compute, comma-separated (default: all of visual, text, "
                   "answer, output, output_shift, emi, emid, bound)")
    g.add_argument("--alert-terms", default=None,
                   help="terms alert rules watch (default: visual, text, answer, output_shift, emid)")
    g.add_argument("--alpha", type=float, default=None,
                   help="false-alarm level per window, shared by the watched terms (default: 0.05)")
    g.add_argument("--ert", type=float, default=None, metavar="N",
                   help="expected run time between false alarms, in windows, over all watched terms and the "
                        "k-consecutive rule together (sets the per-window level instead of --alpha)")
    g.add_argument("--consecutive", "-k", type=int, default=None,
                   help="windows in a row over the threshold before an alert (default: 2; replays: 1)")
    g.add_argument("--threshold", action="append", default=[], metavar="TERM=VALUE",
                   help="a given threshold for a term instead of the reference's null (repeatable)")
    g.add_argument("--null-draws", type=int, default=None, help="draws of each null distribution (default: 200)")
    g.add_argument("--min-records", type=int, default=None, help="fewest records for the drift terms (default: 10)")
    g.add_argument("--min-references", type=int, default=None,
                   help="fewest records with a reference answer for output, EMI and EMID (default: 20)")
    g.add_argument("--top-k", type=int, default=None, help="records named per alert (default: 5)")
    add_eval_args(p, "monitor", defaults=MONITOR_EVAL_DEFAULTS,
                  note="over the config file's; defaults: the file's, else those shown")
    g = p.add_argument_group("stream, running and sinks")
    g.add_argument("--stream-columns", default=None, help="stream field names, e.g. timestamp=ts,response=text")
    g.add_argument("--follow", action="store_true", help="keep polling for new data (default: read what is there "
                   "and exit; run again later to continue)")
    g.add_argument("--poll", type=float, default=5.0, help="seconds between polls with --follow")
    g.add_argument("--max-idle", type=float, default=None, help="with --follow: stop after this many idle seconds")
    g.add_argument("--webhook", default=None, metavar="URL", help="also POST each alert as JSON here")
    g.add_argument("--webhook-timeout", type=float, default=None, help="seconds per attempt (default: 5)")
    g.add_argument("--webhook-retries", type=int, default=None, help="retries after a failed attempt (default: 3)")
    g.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="also serve the latest window's metrics (Prometheus text) at http://127.0.0.1:PORT/metrics; "
                        "OUT/metrics.prom is written either way")
    add_run_args(g, overwrite="discard the saved state and outputs in --out")
    g = p.add_argument_group("replay demos")
    g.add_argument("--replay", choices=list(REPLAYS), default=None, type=lambda v: v.replace("_", "-"),
                   help="generate a reference and a shifting stream in OUT/replay and monitor it")
    g.add_argument("--data", type=Path, default=None, help="the shared data folder (llava-bench replays)")
    g.add_argument("--id-repeats", type=int, default=3, help="llava-bench replays: times the ID split is replayed")
    add_reader_args(p)
    p.set_defaults(func=run)


#: MonitorConfig / EvalConfig field → the flag that sets it
MONITOR_FLAGS = {**FLAGS, "window": "--window", "step": "--step", "terms": "--terms", "alert_terms": "--alert-terms",
                 "alpha": "--alpha", "ert": "--ert", "consecutive": "--consecutive", "thresholds": "--threshold",
                 "n_null": "--null-draws", "min_records": "--min-records", "min_references": "--min-references",
                 "top_k": "--top-k", "stream_columns": "--stream-columns"}


def _names(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise DataError("names no terms", field=flag)
    return names


def flag_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The MonitorConfig fields the command line gives (only those given)."""
    thresholds = parse_key_values(args.threshold, "--threshold")
    bad = [k for k, v in thresholds.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise DataError(f"{bad[0]}={thresholds[bad[0]]!r}: a threshold must be a number", field="--threshold")
    columns = parse_key_values(args.stream_columns.split(","), "--stream-columns") if args.stream_columns else None
    given = {"window": args.window, "step": args.step, "terms": _names(args.terms, "--terms"),
             "alert_terms": _names(args.alert_terms, "--alert-terms"), "alpha": args.alpha, "ert": args.ert,
             "consecutive": args.consecutive, "thresholds": {k: float(v) for k, v in thresholds.items()} or None,
             "n_null": args.null_draws, "min_records": args.min_records, "min_references": args.min_references,
             "top_k": args.top_k,
             "stream_columns": None if columns is None else {k: str(v) for k, v in columns.items()}}
    return {k: v for k, v in given.items() if v is not None}


def build_config(args: argparse.Namespace, file: Any, window: str, consecutive: int) -> Any:
    """The MonitorConfig of the flags over the config file (if any) over the monitor's defaults
    (:func:`mllmshift.settings.resolve` for the evaluation settings, :data:`MONITOR_EVAL_DEFAULTS`);
    ``window`` and ``consecutive`` are the defaults when neither gives them. A refused value names its flag,
    or its YAML field and line."""
    from mllmshift.monitor.config import ALERT_TERMS, MonitorConfig, WindowSpec
    from mllmshift.monitor.config_file import located

    flags = flag_fields(args)
    fields = {**(file.fields if file is not None else {}), **flags}
    if "terms" in fields and "alert_terms" not in fields:
        fields["alert_terms"] = tuple(t for t in ALERT_TERMS if t in fields["terms"])
    settings = flag_values(args)
    doc = None if file is None else file.doc
    ev = resolve(settings, None if file is None else file.settings, MONITOR_EVAL_DEFAULTS, doc=doc, runnable=True)
    window, step = fields.pop("window", window), fields.pop("step", None)
    fields.setdefault("consecutive", consecutive)
    with located(set(flags) | set(settings), MONITOR_FLAGS, doc):
        return MonitorConfig(WindowSpec.parse(window, step), ev, **fields)


def check_run_numbers(args: argparse.Namespace) -> None:
    """--poll, --max-idle, --webhook-timeout (finite, > 0) and --webhook-retries (>= 0), located by flag."""
    import math

    for flag, value, floor in (("--poll", args.poll, 0.0), ("--max-idle", args.max_idle, 0.0),
                               ("--webhook-timeout", args.webhook_timeout, 0.0)):
        if value is not None and not (math.isfinite(value) and value > floor):
            raise DataError(f"must be a finite number of seconds > 0, got {value}", field=flag)
    if args.webhook_retries is not None and args.webhook_retries < 0:
        raise DataError(f"must be an integer >= 0, got {args.webhook_retries}", field="--webhook-retries")


def run(args: argparse.Namespace) -> int:
    from mllmshift.io import read_split
    from mllmshift.monitor.alerts import WebhookSink
    from mllmshift.monitor.config_file import WebhookSpec, read_monitor_file
    from mllmshift.monitor.runner import Monitor

    check_run_numbers(args)
    check_path(args.out, "--out", folder=True)
    check_path(args.cache_dir, "--cache-dir", folder=True)
    check_folder_ours(args.out, "--out", owned_if=(".state",))
    file = read_monitor_file(args.config) if args.config is not None else None
    outputs = [("--out", args.out, True), ("--cache-dir", None if args.no_cache else args.cache_dir, True)]
    inputs = [("--config", args.config), ("--estimator-file", vars(args).get("checkpoint")), ("--data", args.data), *reader_inputs(args)]
    plan = None
    if args.replay:
        from mllmshift.monitor import replay

        if args.reference or args.stream or (file is not None and (file.reference or file.stream)):
            raise DataError("--replay makes its own reference and stream; leave out --reference and --stream")
        if args.replay == "synthetic":
            plan = replay.synthetic_plan(args.seed or 0)
        else:
            if args.data is None:
                raise DataError(f"--replay {args.replay} needs --data (the shared data folder)")
            plan = replay.llava_plan(args.data, args.replay, seed=args.seed or 0, id_repeats=args.id_repeats)
        cfg = build_config(args, file, str(plan.window), 1)  # checked before anything is written
        check_disjoint(inputs, outputs)
        with claim_folder(args.out, "monitor"):
            ref_path, stream = plan.write(args.out / "replay")
        reference = read_split(ref_path)
    else:
        if args.reference:
            reference = read_args_split(args.reference, args)
        elif file is not None and file.reference is not None:
            src = file.reference
            reference = read_split(src.path, format=src.format, name=src.name, **dict(src.options))
        else:
            raise DataError("give --reference and --stream (or a --config that names them, or --replay)")
        if args.stream:
            stream = Path(args.stream)
        elif file is not None and file.stream is not None:
            stream = Path(file.stream)
        else:
            raise DataError("give --stream (or a --config that names it)")
        cfg = build_config(args, file, "1000", 2)
        src_ref = args.reference or (file.reference.path if file is not None and file.reference else None)
        check_disjoint([*inputs, ("--reference", src_ref), ("--stream", stream)], outputs)
    import warnings

    from mllmshift.errors import MllmshiftWarning

    for caveat in (cfg.unreachable(), cfg.short_reference(len(reference))):
        if caveat:
            warnings.warn(MllmshiftWarning(caveat), stacklevel=1)
    cache = cache_from_args(args)
    hook = file.webhook if file is not None else None
    if args.webhook and not args.webhook.startswith(("http://", "https://")):
        from mllmshift.secrets import redact_url

        raise DataError(f"expected an http(s) URL, got {redact_url(args.webhook)!r}", field="--webhook")
    webhook = None
    if args.webhook or hook is not None:
        spec = hook or WebhookSpec(args.webhook)
        webhook = WebhookSink(args.webhook or spec.url,
                              spec.timeout if args.webhook_timeout is None else args.webhook_timeout,
                              spec.retries if args.webhook_retries is None else args.webhook_retries)
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise DataError(f"expected a TCP port in 1..65535, got {args.metrics_port}", field="--metrics-port")
    if plan is None and not args.follow and not stream.exists():
        from mllmshift.monitor.embed import check_reference

        check_reference(reference)  # the reference's own problems first, as the monitor would report them
        raise DataError(f"{stream} does not exist (without --follow the stream is read once, so a missing one "
                        "is a mistyped path; with --follow the monitor waits for it)", field="--stream")
    with claim_folder(args.out, "monitor"):
        monitor = Monitor(cfg, reference, stream, args.out, cache=cache, webhook=webhook,
                          log=None if args.quiet else sys.stderr, restart=args.overwrite or plan is not None,
                          page_refresh_s=int(max(args.poll, 5)) if args.follow else None,
                          metrics_port=args.metrics_port)
    try:
        summary = monitor.follow(args.poll, args.max_idle) if args.follow else monitor.run_once()
        page = monitor.refresh()
    finally:
        monitor.close()
    sys.stdout.write(f"read {summary.records} records, closed {summary.windows} windows, skipped "
                     f"{summary.skipped} malformed and {summary.late} late records, {len(summary.alerts)} alerts; "
                     f"view: {page}\n")
    if plan is not None:
        from mllmshift.monitor.replay import replay_summary
        from mllmshift.monitor.series import read_series

        rep = replay_summary(plan, read_series(args.out / "series.jsonl"), int(cfg.window.step))
        (args.out / "replay" / "summary.json").write_text(json.dumps(rep, indent=2) + "\n", encoding="utf-8")
        sys.stdout.write(
            f"replay {plan.name}: {plan.description}\n  first shifted window {rep['first_shifted_window']}, first "
            f"window over a threshold {rep['first_over_window']}, first alert {rep['first_alert_window']}, alerts "
            f"before the change: {rep['alerts_before_change'] or 'none'}; fired at the first shifted window: "
            f"{'yes' if rep['fired_at_first_shifted_window'] else 'no'}\n")
    return EXIT_OK
