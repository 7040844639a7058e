r"""False-alarm run length of the monitor's decision against the stated expected run time (ERT), on no-shift
streams of real data.

Usage (one command writes the table, the JSON and the plot)::

    nice -n 10 python benchmarks/monitor_ert.py --data ../shared/data --out ert/ \
        --encoders hashing-bow,use-multilingual --windows 50,100,500

**Population.** AlpacaEval-48 (``alpacaeval-dev48``, read by the validation suite's reader): the 224
instructions of its pools A and E (:func:`mllmshift.validation.real.pools.make_pools`, 96 + 128, seeded) ×
the 48 models = 10,752 records (question = the instruction, response = the model's answer, reference = the
GPT-4-turbo baseline's answer). Records are drawn uniformly from this finite population, so a stream and its
reference come from one distribution: **no shift**.

**A stream.** Per (encoder, window n) and per reference r = 1 … ``--references``: R = a seeded sample of
``--reference-size`` records (1,000: n_R ≥ 2n for n = 500); each window a seeded n-sample of the records not
in R, drawn independently per window (tumbling windows of a stationary stream; R is fixed over the run, as a
deployed reference is, and each reference draws its own nulls, so the between-reference spread of the
false-alarm rate is part of what is measured).

**The decision is the monitor's own**: the estimates of :meth:`TermCalculator.window` (A = n_R − n reference
records without the window's ids, B = m labelled ones, the calculator's ``jsd`` and ``output``;
:func:`estimates` leaves out the bootstrap intervals, which the decision does not use), :class:`NullCache` (N
same-size splits of R per term, N = :attr:`MonitorConfig.null_draws`), :attr:`MonitorConfig.term_alpha` (the per-window level q solving
ERT(q, k) = ``--ert``, split over the watched terms by Šidák), :meth:`NullDistribution.p_value` and
:class:`AlertRule` (k consecutive over windows). Watched terms: ``text``, ``answer``, ``output_shift``
(``visual``: the data are text only; ``emid`` is left out, as it needs an MI estimator fitted per reference).

**Run lengths by renewal**: after an alarm the rule restarts (its streak reset), and the next run counts from
the following window. Over W windows with A alarms the mean run length is W / A (the renewal estimator: the
censored last run included), with a 95 % interval W / [Poisson interval of A] (A ~ Poisson(W / ERT)).
Beside it: q̂, the share of windows over, against the stated q. p-values are computed once per window and
every (ERT, k) rule is applied to the same windows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _checkout import use_checkout  # noqa: E402

TERMS = ("text", "answer", "output_shift")
RULES = ((20.0, 1), (20.0, 2), (50.0, 1), (50.0, 2))


# ----------------------------------------------------------------------------- run lengths
def renewal_alarms(over: Sequence[bool], k: int) -> list[int]:
    """Windows (0-based) at which the k-consecutive rule (:class:`~mllmshift.monitor.alerts.AlertRule`) fires
    when it restarts after each alarm: the alarm times of a renewal process whose run lengths are the gaps."""
    from mllmshift.monitor.alerts import AlertRule

    rule, fired = AlertRule(("window",), k), []
    for i, o in enumerate(over):
        if rule.update({"window": bool(o)}):
            fired.append(i)
            rule.restore({"window": 0})
    return fired


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson mean from one count: χ² quantiles / 2."""
    from scipy.stats import chi2

    a = (1.0 - confidence) / 2.0
    lo = 0.0 if count == 0 else float(chi2.ppf(a, 2 * count)) / 2.0
    return lo, float(chi2.ppf(1.0 - a, 2 * count + 2)) / 2.0


def run_length_summary(w: int, a: int, ert: float) -> dict[str, float]:
    """A alarms in W windows: the mean run length W / A and its interval W / (Poisson interval of A), beside
    the stated ERT."""
    lo, hi = poisson_interval(a)
    return {"windows": w, "alarms": a, "ert": ert, "mean_run_length": w / a if a else math.inf,
            "ci_low": w / hi, "ci_high": w / lo if lo > 0 else math.inf,
            "expected_alarms": w / ert}


# ----------------------------------------------------------------------------- data
def population(data: Path, encoder_name: str, dim: int | None):
    """The AlpacaEval-48 population as monitor rows (see the module docstring), its models and instructions."""
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.encoders.pipeline import build_encoder
    from mllmshift.monitor.embed import Rows
    from mllmshift.validation.real.data import read_alpaca_eval_data
    from mllmshift.validation.real.pools import make_pools

    folder = data / "alpacaeval-dev48"
    ae = read_alpaca_eval_data(folder)
    common = sorted(set.intersection(*(set(s.ids) for s in ae.splits)))
    pools = make_pools(common, 96, 128)
    keep = set(pools.ids("A")) | set(pools.ids("E"))
    named = [(s.name, smp) for s in ae.splits for smp in s.samples if smp.id in keep]
    samples = [smp for _, smp in named]
    encoder = build_encoder(encoder_name, **({"dim": dim} if dim and encoder_name == "hashing-bow" else {}))
    cache = EmbeddingCache(Path.home() / ".cache" / "mllmshift")

    def emb(texts: list[str]) -> np.ndarray:
        uniq = sorted(set(texts))
        rows = cache.encode(encoder, uniq)
        at = {t: i for i, t in enumerate(uniq)}
        return np.asarray(rows[[at[t] for t in texts]], dtype=np.float32)

    x = emb([s.question for s in samples])
    y_hat = emb([s.response or " " for s in samples])
    y = emb([s.reference or " " for s in samples])
    ids = tuple(f"{smp.id}@{model}" for model, smp in named)
    rows = Rows(ids, x, y_hat, y, np.ones(len(samples), bool), None, "text")
    return rows, len(ae.splits), len(keep), encoder.name + (f" ({encoder.dim}-d)" if hasattr(encoder, "dim") else "")


# ----------------------------------------------------------------------------- one cell
def estimates(calc, w, rng: np.random.Generator) -> dict[str, float]:
    """The watched terms' estimates of window ``w`` as :meth:`TermCalculator.window` defines them (A = n_R − n
    reference records without w's ids, B = m labelled ones; the calculator's own ``jsd`` and ``output``), without
    the bootstrap intervals, which do not enter the decision and cost 3–20 estimates more per term."""
    ref, own = calc.ref.rows, set(w.ids)
    free = np.array([i for i in range(len(ref)) if ref.ids[i] not in own])
    a = ref.take(np.sort(rng.choice(free, size=len(ref) - len(w), replace=False)))
    lab = np.array([i for i in calc.ref.labelled if ref.ids[i] not in own])
    wl = w.take(np.flatnonzero(w.labelled))
    b = ref.take(np.sort(rng.choice(lab, size=len(wl), replace=False)))
    return {"text": calc.jsd("text", a, w), "answer": calc.jsd("answer", a, w),
            "output_shift": calc.output(wl) - calc.output(b)}


def window_p_values(pop, n: int, n_ref: int, references: int, windows: int, n_null: int, seed: int
                    ) -> list[list[dict[str, float]]]:
    """Per reference, per window: each watched term's permutation p-value, through the monitor's code."""
    from mllmshift.estimators.defaults import build_divergence
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.monitor.config import MonitorConfig, WindowSpec
    from mllmshift.monitor.null import NullCache
    from mllmshift.monitor.terms import JSD_FIELDS, Reference, TermCalculator, split_reference
    from mllmshift.provenance import derive_seed

    out = []
    for r in range(references):
        rng = np.random.default_rng(derive_seed(seed, "ert", n, r))
        perm = rng.permutation(len(pop))
        ref, rest = pop.take(np.sort(perm[:n_ref])), perm[n_ref:]
        cfg = MonitorConfig(WindowSpec.parse(str(n)), EvalConfig(divergence="rjsd", seed=seed + r),
                            terms=TERMS, alert_terms=TERMS, n_null=n_null)
        labelled, fit, cal = split_reference(ref, seed + r)
        calc = TermCalculator(Reference(ref, labelled, fit, cal), cfg, build_divergence("rjsd"))
        nulls = NullCache(calc, n_null, seed + r)
        ps = []
        for j in range(windows):
            w = pop.take(np.sort(rng.choice(rest, size=n, replace=False)))
            est = estimates(calc, w, np.random.default_rng(derive_seed(seed + r, "window", j)))
            ps.append({t: nulls.get(t, n if t in JSD_FIELDS else int(w.labelled.sum())).p_value(v)  # type: ignore
                       for t, v in est.items()})
        out.append(ps)
    return out


def decide(ps: list[list[dict[str, float]]], ert: float, k: int) -> tuple[dict[str, float], list[int], float]:
    """Apply the monitor's level for (ERT, k) to the p-values: the run-length summary, alarms per reference, q."""
    from mllmshift.monitor.config import MonitorConfig, WindowSpec

    cfg = MonitorConfig(WindowSpec.parse("10"), terms=TERMS, alert_terms=TERMS, ert=ert, consecutive=k)
    a = cfg.term_alpha
    per_ref = [[any(p[t] <= a for t in TERMS) for p in run] for run in ps]
    alarms = [len(renewal_alarms(o, k)) for o in per_ref]  # each reference's stream is its own renewal process
    summ = run_length_summary(sum(map(len, per_ref)), sum(alarms), ert)
    summ.update(q_hat=float(np.mean([o for run in per_ref for o in run])), q=cfg.window_alpha, term_level=a)
    return summ, alarms, cfg.window_alpha


# ----------------------------------------------------------------------------- report
def report(res: dict) -> str:
    head = (f"`{res['command']}`: {res['population']}; reference {res['reference_size']} records, "
            f"{res['references']} references × {res['windows_per_reference']} windows per cell, {res['null_draws']} "
            f"null draws, watched terms {', '.join(TERMS)}, alarms counted by renewal.")
    lines = [head, "", "| encoder | window | ERT stated | k | q (per window) | q̂ (windows over) | alarms "
             "(expected) | alarms per reference | mean run length [95 % CI] |", "|---|---|---|---|---|---|---|---|---|"]
    for c in res["cells"]:
        for rule in c["rules"]:
            s = rule["summary"]
            hi = "∞" if math.isinf(s["ci_high"]) else f"{s['ci_high']:.0f}"
            mrl = "∞" if math.isinf(s["mean_run_length"]) else f"{s['mean_run_length']:.1f}"
            lines.append(f"| {c['encoder']} | {c['window']} | {s['ert']:.0f} | {rule['k']} | {s['q']:.4f} | "
                         f"{s['q_hat']:.4f} | {s['alarms']} ({s['expected_alarms']:.1f}) | "
                         f"{' / '.join(map(str, rule['per_reference']))} | **{mrl}** [{s['ci_low']:.1f}, {hi}] |")
    cpu = ", ".join(f"{c['encoder']} n={c['window']}: {c['cpu_s']:.0f}" for c in res["cells"])
    lines += ["", f"CPU seconds per cell (nulls + windows; embeddings cached): {cpu}."]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    xs, centres, names = 0.0, [], []
    for c in res["cells"]:
        first = xs
        for rule in c["rules"]:
            s = rule["summary"]
            hi = s["ci_high"] if math.isfinite(s["ci_high"]) else 4 * s["ert"]
            y = s["mean_run_length"] if math.isfinite(s["mean_run_length"]) else hi
            colour = "C0" if s["ert"] == RULES[0][0] else "C1"
            ax.errorbar(xs, y / s["ert"], yerr=[[(y - s["ci_low"]) / s["ert"]], [(hi - y) / s["ert"]]], fmt="o",
                        color=colour, ms=4, capsize=2, mfc="white" if rule["k"] == 2 else colour)
            xs += 1
        centres.append((first + xs - 1) / 2)
        names.append(f"{c['encoder'].split(' ')[0]}\nn = {c['window']}")
        xs += 0.8
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("mean run length / stated ERT")
    ax.set_xticks(centres, names, fontsize=7)
    for ert, colour in ((RULES[0][0], "C0"), (RULES[2][0], "C1")):
        for k, face in ((1, colour), (2, "white")):
            ax.plot([], [], "o", color=colour, mfc=face, label=f"ERT {ert:.0f}, k = {k}")
    ax.legend(fontsize=6, ncol=4, loc="upper center")
    ax.set_title("False alarms on no-shift AlpacaEval streams: empirical run length vs the stated ERT (95 % CI)",
                 fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("ert"))
    p.add_argument("--encoders", default="hashing-bow,use-multilingual")
    p.add_argument("--dim", type=int, default=None, help="hashing-bow dimensions (default: the encoder's)")
    p.add_argument("--windows", default="50,100,500", help="window sizes")
    p.add_argument("--reference-size", type=int, default=1000)
    p.add_argument("--references", type=int, default=3)
    p.add_argument("--windows-per-reference", type=int, default=100)
    p.add_argument("--null-draws", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--from-json", type=Path, default=None, help="redraw the table and plot of a saved ert.json")
    args = p.parse_args()
    if args.from_json is not None:
        res = json.loads(args.from_json.read_text())
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ert.md").write_text(report(res))
        plot(res, args.out / "ert.png")
        return
    use_checkout(args.threads)  # numpy is already imported: its BLAS is limited by thread_limits below
    from mllmshift.threads import thread_limits

    with thread_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    res: dict = {"command": "python benchmarks/monitor_ert.py " + " ".join(sys.argv[1:]),
                 "reference_size": args.reference_size, "references": args.references,
                 "windows_per_reference": args.windows_per_reference, "null_draws": args.null_draws, "cells": []}
    t0, c0 = time.perf_counter(), time.process_time()
    for enc in args.encoders.split(","):
        pop, n_models, n_instr, name = population(args.data, enc, args.dim)
        res["population"] = f"AlpacaEval-48, {n_instr} instructions × {n_models} models = {len(pop)} records"
        for n in (int(v) for v in args.windows.split(",")):
            c1 = time.process_time()
            ps = window_p_values(pop, n, args.reference_size, args.references, args.windows_per_reference,
                                 args.null_draws, args.seed)
            cell = {"encoder": name, "window": n, "p_values": ps, "rules": [], "cpu_s": time.process_time() - c1}
            for ert, k in RULES:
                summ, per_ref, _ = decide(ps, ert, k)
                cell["rules"].append({"k": k, "summary": summ, "per_reference": per_ref})
            res["cells"].append(cell)
            print(f"{name} n={n}: " + "; ".join(f"ERT {r['summary']['ert']:.0f} k{r['k']}: {r['summary']['alarms']} "
                                                 f"alarms" for r in cell["rules"]) + f" ({cell['cpu_s']:.0f} CPU s)",
                  flush=True)
    res["wall_s"], res["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ert.json").write_text(json.dumps(res, indent=1) + "\n")
    table = report(res)
    (args.out / "ert.md").write_text(table)
    plot(res, args.out / "ert.png")
    print(table)
    print(f"wall {res['wall_s']:.0f} s, CPU {res['cpu_s']:.0f} s")


if __name__ == "__main__":
    main()
