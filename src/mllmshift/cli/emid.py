"""``mllmshift emid --id DATA --ood DATA [--ood DATA ...]``: EMID and its upper bound."""

from __future__ import annotations

import argparse

from mllmshift.cli._common import add_pipeline_args, add_reader_args, chosen_threads, emit, read_args_split
from mllmshift.cli.emi import cache_from_args, config_from_args, estimator_line, saturation_note


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emid", help="EMID = EMI(ID) − EMI(shifted) and its upper bound",
                       description="EMI difference between an in-distribution split and one or more shifted "
                       "splits (positive = worse under shift), with the EMID upper bound and its four JSD terms.")
    p.add_argument("--id", required=True, dest="id_data", help="in-distribution responses")
    p.add_argument("--ood", required=True, action="append", dest="ood_data",
                   help="shifted responses (repeat for several scenarios)")
    p.add_argument("--entropy-scale", type=float, default=None,
                   help="Ĥ of the theorem's bound Ĥ(√·+√·)+4(·^¼+·^¼); default: the scale-adjusted form")
    add_reader_args(p)
    add_pipeline_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluate import embed_splits, emid_reports, get_estimator, run_metadata
    from mllmshift.threads import thread_limits

    cfg = config_from_args(args)
    splits = [read_args_split(args.id_data, args)] + [read_args_split(p, args) for p in args.ood_data]
    names = [s.name for s in splits]
    if len(set(names)) != len(names):
        splits = [s.renamed(f"{i}:{s.name}") for i, s in enumerate(splits)]
    threads = chosen_threads(args)
    with thread_limits(threads):
        embedded = embed_splits(splits, cfg, cache_from_args(args), progress=not args.quiet)
        est = get_estimator(embedded, cfg, progress=not args.quiet)
        if args.save_estimator and hasattr(est, "save"):
            est.save(args.save_estimator)
        results = emid_reports(embedded[0], embedded[1:], est, cfg)
    out = {"id": splits[0].name, "scenarios": results, **run_metadata(cfg, est, embedded),
           "threads": threads.to_dict()}
    lines = [f"ID {splits[0].name}: EMI = {results[0]['emi_id']['value']:+.4f}",
             f"{'scenario':<40} {'EMI':>8} {'EMID':>8} {'CI':>19} {'bound':>7}  JSD v / t / out_id / out_ood"]
    fmt = lambda v: "   n/a" if v is None else f"{v:.4f}"  # noqa: E731
    for r in results:
        ci = r.get("emid_ci")
        ci_s = f"[{ci['low']:+.3f},{ci['high']:+.3f}]" if ci else ""
        b = r["bound"]
        lines.append(f"{r['scenario']:<40} {r['emi_ood']['value']:>+8.4f} {r['emid']:>+8.4f} {ci_s:>19} "
                     f"{fmt(b['value']):>7}  {fmt(b['jsd_visual'])} / {fmt(b['jsd_text'])} / "
                     f"{fmt(b['jsd_id_output'])} / {fmt(b['jsd_ood_output'])}")
    lines.append(f"bound form: {results[0]['bound']['form']}; {estimator_line(cfg)}"
                 + saturation_note([results[0]["emi_id"]] + [r["emi_ood"] for r in results]))
    emit(out, args, "\n".join(lines))
    return 0
