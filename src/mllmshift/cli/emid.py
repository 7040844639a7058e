"""``mllmshift emid --id DATA --ood DATA [--ood DATA ...]``: EMID and its upper bound."""

from __future__ import annotations

import argparse

from mllmshift.cli._common import (
    add_pipeline_args,
    add_reader_args,
    eval_config_from_args,
    read_args_split,
)
from mllmshift.cli._outputs import (
    check_output_paths,
    emit,
)
from mllmshift.cli.emi import estimator_line, evaluate_args, saturation_note, warning_lines
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emid", help="EMID = EMI(ID) − EMI(shifted) and its upper bound",
                       description="EMI difference between an in-distribution split and one or more shifted "
                       "splits (positive = worse under shift), with the EMID upper bound and its four JSD terms.")
    p.add_argument("--id", required=True, dest="id_data", help="in-distribution responses")
    p.add_argument("--ood", required=True, action="append", dest="ood_data",
                   help="shifted responses (repeat for several scenarios)")
    add_reader_args(p)
    add_pipeline_args(p, "emid")
    from mllmshift.cli._tracking import add_tracking_args

    add_tracking_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluation.scenarios import scenario_of

    check_output_paths(args)
    cfg = eval_config_from_args(args)
    splits = [read_args_split(args.id_data, args)] + [read_args_split(p, args) for p in args.ood_data]
    names = [s.name for s in splits]
    if len(set(names)) != len(names):
        splits = [s.renamed(f"{i}:{s.name}") for i, s in enumerate(splits)]
    ev, identity = evaluate_args(args, splits, [scenario_of(s) for s in splits[1:]], cfg)
    result = ev.result
    emi_id = result.id.emi
    assert emi_id is not None
    fmt = lambda v: "   n/a" if v is None else f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"  # noqa: E731
    sfmt = lambda v: "    n/a" if v is None else f"{v:+8.4f}"  # noqa: E731
    lines = [f"ID {result.id.name}: EMI = {emi_id.value:+.4f}",
             f"{'scenario':<40} {'EMI':>8} {'EMID':>8} {'CI':>19} {'bound':>7}  JSD v / t / out_id / out_ood"]
    for r in result.scenarios:
        ci = r.emid_ci
        ci_s = f"[{ci.low:+.3f},{ci.high:+.3f}]" if ci else ""
        b = r.bound
        flag = "  (sign not stable)" if r.sign_stable is False else ""
        flag += "  (EMID > bound)" if r.bound_holds() is False else ""
        lines.append(f"{r.name:<40} {sfmt(r.emi):>8} {sfmt(r.emid):>8} {ci_s:>19} {fmt(b.value):>7}  "
                     + " / ".join(b.shown(k) for k in ("visual", "text", "id_output", "ood_output"))
                     + flag)
        lines += [f"  FLAG: {f}" for f in r.flags if not f.startswith("JSD term")]
        if r.partial:
            lines.append(f"  partial: {'; '.join(r.notes)}")
    lines.append(f"bound form: {cfg.bound_form}; {estimator_line(cfg, result.estimator)}"
                 + saturation_note([emi_id] + [r.shifted.emi for r in result.scenarios]) + warning_lines(result))
    emit({**result.to_json(), **identity}, args, "\n".join(lines))
    return EXIT_OK
