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

from mllmshift.cli._common import add_reader_args, default_cache_dir, parse_key_values, read_args_split
from mllmshift.errors import DataError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "monitor", help="watch a stream of queries and answers for drift against the reference window",
        description="Reads a stream (a growing JSONL file, a folder of dropped JSONL batches or Parquet shards; "
        "each record with a timestamp) in windows of records or time, and writes per window the JSD of "
        "images, questions and answers against the reference window, the bound's answer term and EMI/EMID "
        "where records have reference answers, each with a bootstrap CI, to series.csv/series.jsonl, plots "
        "and index.html in --out. An alert fires when a term's lower confidence bound is over its threshold "
        "(from the reference's own no-shift spread at the same window size) for k consecutive windows. "
        "Resumes where it stopped. See docs/monitor.md.")
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
    g.add_argument("--alpha", type=float, default=0.05,
                   help="false-alarm level per window, shared by the watched terms (default: %(default)s)")
    g.add_argument("--consecutive", "-k", type=int, default=None,
                   help="windows in a row over the threshold before an alert (default: 2; replays: 1)")
    g.add_argument("--threshold", action="append", default=[], metavar="TERM=VALUE",
                   help="a given threshold for a term instead of the reference's null (repeatable)")
    g.add_argument("--null-draws", type=int, default=200, help="draws of each null distribution (default: 200)")
    g.add_argument("--bootstrap", type=int, default=50, metavar="B",
                   help="bootstrap resamples for each term's standard error (default: 50)")
    g.add_argument("--confidence", type=float, default=0.95)
    g.add_argument("--min-records", type=int, default=10, help="fewest records for the drift terms")
    g.add_argument("--min-references", type=int, default=20,
                   help="fewest records with a reference answer for output, EMI and EMID (default: 20)")
    g.add_argument("--top-k", type=int, default=5, help="records named per alert (default: 5)")
    g = p.add_argument_group("embedding and estimation")
    g.add_argument("--text-encoder", default="use-multilingual")
    g.add_argument("--text-encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="text encoder option, e.g. dim=64 for hashing-bow (repeatable)")
    g.add_argument("--image-encoder", default="efficientnet-lite0")
    g.add_argument("--image-encoder-option", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--fusion", default="auto", choices=["auto", "mean", "concat", "text"])
    g.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    g.add_argument("--mi-estimator", default=None, metavar="NAME", help="MI estimator of EMI (default: infonce)")
    g.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--divergence", default=None, metavar="NAME", help="JSD estimator (default: auto)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=None,
                   help="torch and BLAS threads (default: the libraries' choice; 1 is fastest on busy cores)")
    g = p.add_argument_group("stream, running and sinks")
    g.add_argument("--stream-columns", default=None, help="stream field names, e.g. timestamp=ts,response=text")
    g.add_argument("--follow", action="store_true", help="keep polling for new data (default: read what is there "
                   "and exit; run again later to continue)")
    g.add_argument("--poll", type=float, default=5.0, help="seconds between polls with --follow")
    g.add_argument("--max-idle", type=float, default=None, help="with --follow: stop after this many idle seconds")
    g.add_argument("--webhook", default=None, metavar="URL", help="also POST each alert as JSON here")
    g.add_argument("--webhook-timeout", type=float, default=5.0)
    g.add_argument("--webhook-retries", type=int, default=3)
    g.add_argument("--restart", action="store_true", help="discard the saved state and outputs in --out")
    g.add_argument("--quiet", action="store_true", help="no per-window lines on stderr")
    g = p.add_argument_group("replay demos")
    g.add_argument("--replay", choices=["synthetic", "llava-bench", "llava-bench-visual"], default=None,
                   help="generate a reference and a shifting stream in OUT/replay and monitor it")
    g.add_argument("--data", type=Path, default=None, help="the shared data folder (llava-bench replays)")
    g.add_argument("--id-repeats", type=int, default=3, help="llava-bench replays: times the ID split is replayed")
    add_reader_args(p)
    p.set_defaults(func=run)


def _names(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise DataError(f"{flag} names no terms")
    return names


def build_config(args: argparse.Namespace, window: str, consecutive: int) -> Any:
    from mllmshift.monitor.config import ALERT_TERMS, TERMS, MonitorConfig, WindowSpec

    thresholds = {k: float(v) for k, v in parse_key_values(args.threshold, "--threshold").items()}
    stream_columns = parse_key_values(args.stream_columns.split(","), "--stream-columns") if args.stream_columns \
        else {}
    terms = _names(args.terms, "--terms") or TERMS
    alert_terms = _names(args.alert_terms, "--alert-terms") or tuple(t for t in ALERT_TERMS if t in terms)
    return MonitorConfig(
        window=WindowSpec.parse(window, args.step), terms=terms, alert_terms=alert_terms, alpha=args.alpha,
        consecutive=consecutive, thresholds=thresholds, n_null=args.null_draws, n_bootstrap=args.bootstrap,
        confidence=args.confidence, min_records=args.min_records, min_references=args.min_references,
        text_encoder=args.text_encoder,
        text_encoder_options=parse_key_values(args.text_encoder_option, "--text-encoder-option"),
        image_encoder=args.image_encoder, fusion=args.fusion,
        image_encoder_options=parse_key_values(args.image_encoder_option, "--image-encoder-option"),
        mi_estimator=args.mi_estimator, estimator_options=parse_key_values(args.estimator_option,
                                                                          "--estimator-option"),
        divergence=args.divergence, seed=args.seed, top_k=args.top_k,
        stream_columns={k: str(v) for k, v in stream_columns.items()})


def run(args: argparse.Namespace) -> int:
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.io import read_split
    from mllmshift.monitor.alerts import WebhookSink
    from mllmshift.monitor.runner import Monitor

    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # numpy's BLAS too: its small products slow down with threads on busy cores
    plan = None
    if args.replay:
        from mllmshift.monitor import replay

        if args.reference or args.stream:
            raise DataError("--replay makes its own reference and stream; leave out --reference and --stream")
        if args.replay == "synthetic":
            plan = replay.synthetic_plan(args.seed)
        else:
            if args.data is None:
                raise DataError(f"--replay {args.replay} needs --data (the shared data folder)")
            plan = replay.llava_plan(args.data, args.replay, seed=args.seed, id_repeats=args.id_repeats)
        ref_path, stream_path = plan.write(args.out / "replay")
        reference, stream = read_split(ref_path), stream_path
        window, consecutive = args.window or str(plan.window), args.consecutive or 1
    else:
        if not args.reference or not args.stream:
            raise DataError("give --reference and --stream (or --replay)")
        reference, stream = read_args_split(args.reference, args), Path(args.stream)
        window, consecutive = args.window or "1000", args.consecutive or 2
    cfg = build_config(args, window, consecutive)
    cache = None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir())
    webhook = WebhookSink(args.webhook, args.webhook_timeout, args.webhook_retries) if args.webhook else None
    monitor = Monitor(cfg, reference, stream, args.out, cache=cache, webhook=webhook,
                      log=None if args.quiet else sys.stderr, restart=args.restart or plan is not None,
                      page_refresh_s=int(max(args.poll, 5)) if args.follow else None)
    summary = monitor.follow(args.poll, args.max_idle) if args.follow else monitor.run_once()
    page = monitor.refresh()
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
    return 0
