"""Estimator ablation on the LLaVA-Bench shift study: EMID–bound correlations and scenario rankings per estimator.

    python benchmarks/estimator_ablation.py --data ../shared/data [--out docs/estimators/ablation]
        [--state /tmp/mllmshift-ablation] [--mi club,infonce,...] [--jsd rjsd,rjsd-rff,...]

As in the paper's appendix, the study is run once per estimator choice with
everything else fixed: the ``llava_bench`` preset (LLaVA-1.5-13B responses,
``llava_bench_coco`` as ID, the scenarios with reference answers), the preset's
encoders (multilingual USE; COCO captions stand in for the images) and seed 0.

- For each **MI estimator**: fitted once on the pooled (X, Ŷ) and (X, Y) pairs of
  every split whose X is built like the ID's (as the study does), then EMI per
  split and EMID = EMI(ID) − EMI(scenario).
- For each **JSD estimator**: the scale-adjusted bound √J_v + √J_t + J_P^¼ + J_Q^¼
  with that estimator for all four terms.
- Pearson, Spearman and Kendall correlations of EMID (each MI choice) with the
  bound (each JSD choice) over the complete scenarios, and how far each MI
  choice's scenario ranking (by EMID) agrees with CLUB's (Kendall τ).

Embeddings come from the study's cache (``--state``: a study output folder; the
first run embeds every split, later runs reuse it). Writes ``ablation.csv``
(one row per scenario: EMID per MI choice, bound per JSD choice),
``ablation_correlations.csv``, ``ablation.md`` and ``ablation.json`` (config,
estimator configs and training histories, versions).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from _checkout import use_checkout  # benchmarks/_checkout.py

#: (label, registry name, options); the MI choices of the ablation
MI_CHOICES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("club", "club", {"hidden_size": 500, "max_epochs": 200, "patience": 10}),
    ("club-sampled", "club-sampled", {"hidden_size": 500, "max_epochs": 200, "patience": 10}),
    ("infonce", "infonce", {}),
    ("nwj", "nwj", {}),
    ("mine", "mine", {}),
    ("smile", "smile", {}),
    ("gaussian", "gaussian", {}),
    ("gaussian-copula", "gaussian", {"copula": True}),
    ("ksg", "ksg", {}),
)
#: (label, registry name, options); the JSD choices (all four bound terms)
JSD_CHOICES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("rjsd", "rjsd", {}),
    ("rjsd-rff", "rjsd-rff", {}),
    ("classifier-jsd", "classifier-jsd", {}),
)


def _select(choices: tuple[tuple[str, str, dict[str, Any]], ...], wanted: str | None) -> list[Any]:
    if not wanted:
        return list(choices)
    keep = [w.strip() for w in wanted.split(",") if w.strip()]
    known = {c[0] for c in choices}
    if set(keep) - known:
        raise SystemExit(f"unknown choices {sorted(set(keep) - known)}; known: {sorted(known)}")
    return [c for c in choices if c[0] in keep]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("MLLMSHIFT_SHARED", root.parent / "shared"))
    p.add_argument("--data", type=Path, default=shared / "data",
                   help="the shared data folder (default: $MLLMSHIFT_SHARED/data or ../shared/data)")
    p.add_argument("--out", type=Path, default=root / "docs" / "estimators" / "ablation")
    p.add_argument("--state", type=Path, default=Path("/tmp/mllmshift-ablation"),
                   help="study folder whose .state/ caches the embeddings (default: %(default)s)")
    p.add_argument("--mi", help="comma-separated MI choices (default: all)")
    p.add_argument("--jsd", help="comma-separated JSD choices (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--correlation-resamples", type=int, default=1000)
    args = p.parse_args(argv)
    use_checkout(args.threads)

    from mllmshift.estimators import divergence_estimators
    from mllmshift.estimators.fitting import fit_estimator
    from mllmshift.evaluation.embedding import Encoders, comparable, default_cache_dir, open_cache
    from mllmshift.metrics import emi_of, emid_upper_bound
    from mllmshift.progress import progress_for
    from mllmshift.provenance import environment
    from mllmshift.study.plan import plan_from_config
    from mllmshift.study.presets import default_config
    from mllmshift.evaluation.embedding import embed_split
    from mllmshift.study.runner import respond
    from mllmshift.study.state import SealedStore, StudyState
    from mllmshift.study.stats import correlate_all

    mi_choices, jsd_choices = _select(MI_CHOICES, args.mi), _select(JSD_CHOICES, args.jsd)
    cfg = default_config("llava_bench", root=str(args.data.resolve()))
    state = StudyState(args.state)
    store = SealedStore(state)  # the study's sealed stage storage: a rerun reads the responses and embeddings back
    plan = plan_from_config(cfg, state.root)
    t0 = time.perf_counter()
    splits = respond(cfg, state, store.log, progress_for(True), [plan.id_split, *(s.split for s in plan.scenarios)])
    encoders, cache = Encoders(cfg.eval), open_cache(default_cache_dir())
    embedded = [store.embedded(s.name, encoders.key(s), lambda s=s: embed_split(s, encoders, cache, progress_for(True)))
                for s in splits]
    t_embed = time.perf_counter() - t0
    id_e = embedded[0]
    pool = [e for e in embedded if comparable(id_e, e)]
    complete = [(spec, e) for spec, e in zip(plan.scenarios, embedded[1:])
                if comparable(id_e, e) and e.reference is not None and e.response is not None]
    print(f"{len(plan.scenarios)} scenarios, {len(complete)} complete; estimators fitted on {len(pool)} splits "
          f"(embedding took {t_embed:.0f} s)", file=sys.stderr)

    rows: dict[str, dict[str, Any]] = {spec.name: {"scenario": spec.name, "group": spec.group, "kind": spec.kind}
                                       for spec, _ in complete}
    meta: dict[str, Any] = {"mi": {}, "jsd": {}, "seed": args.seed, "data": str(args.data),
                            "study_config": {"encoders": "use-multilingual (text and captions), mean fusion",
                                             "preset": "llava_bench", "model": "llava-v1.5-13b"},
                            "n_complete_scenarios": len(complete), "pooled_splits": len(pool), **environment()}
    for label, name, options in mi_choices:
        t = time.perf_counter()
        est = fit_estimator(pool, name, seed=args.seed, **options)
        emi_id = emi_of(id_e, est).value
        for spec, e in complete:
            rows[spec.name][f"emid[{label}]"] = emi_id - emi_of(e, est).value
        meta["mi"][label] = {"config": est.config(), "history": est.fit_summary(), "emi_id": emi_id,
                             "seconds": time.perf_counter() - t}
        print(f"MI {label}: EMI(ID) = {emi_id:+.4f} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    for label, name, options in jsd_choices:
        t = time.perf_counter()
        div = divergence_estimators.create(name, **options)
        for spec, e in complete:
            b = emid_upper_bound(id_e, e, None, div)
            rows[spec.name][f"bound[{label}]"] = b.value
            terms = b.to_dict()
            for term in ("jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output"):
                rows[spec.name][f"{term}[{label}]"] = terms[term]
        meta["jsd"][label] = {"config": div.config(), "seconds": time.perf_counter() - t}
        print(f"JSD {label}: {time.perf_counter() - t:.0f} s", file=sys.stderr)

    table = list(rows.values())
    cors = []
    for ml, _, _ in mi_choices:
        for jl, _, _ in jsd_choices:
            c = correlate_all([r[f"emid[{ml}]"] for r in table], [r[f"bound[{jl}]"] for r in table],
                              n_resamples=args.correlation_resamples, seed=args.seed)
            cors.append({"mi": ml, "jsd": jl, **{f"{m}_{k}": getattr(v, k) for m, v in c.items()
                                                 for k in ("r", "p_value", "ci_low", "ci_high")}, "n": c["pearson"].n})
    from scipy.stats import kendalltau

    ref = mi_choices[0][0]
    rank_agreement = {}
    for ml, _, _ in mi_choices:
        tau = kendalltau([r[f"emid[{ref}]"] for r in table], [r[f"emid[{ml}]"] for r in table])
        top = sorted(table, key=lambda r: -r[f"emid[{ml}]"])[:5]
        rank_agreement[ml] = {"kendall_tau_vs_" + ref: float(tau.statistic), "p_value": float(tau.pvalue),
                              "top5": [r["scenario"] for r in top]}
    write_outputs(args.out, table, cors, rank_agreement, meta, ref)
    return 0


def _fmt(v: Any, d: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{d}f}"


def write_outputs(out: Path, table: list[dict[str, Any]], cors: list[dict[str, Any]],
                  ranks: dict[str, dict[str, Any]], meta: dict[str, Any], ref: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "ablation.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    with (out / "ablation_correlations.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cors[0]))
        w.writeheader()
        w.writerows(cors)
    (out / "ablation.json").write_text(json.dumps({**meta, "rank_agreement": ranks}, indent=2, default=str) + "\n",
                                       encoding="utf-8")
    jsds = list(dict.fromkeys(c["jsd"] for c in cors))
    lines = [f"# Estimator ablation on the LLaVA-Bench shift study ({meta['n_complete_scenarios']} complete "
             "scenarios, LLaVA-1.5-13B)", "",
             "EMID (per MI estimator) against the scale-adjusted bound (per JSD estimator, used for all four "
             "terms): Pearson r (p) / Spearman ρ / Kendall τ over scenarios. Config and versions: `ablation.json`.",
             "", "| MI \\ JSD | " + " | ".join(jsds) + " |", "|---|" + "---|" * len(jsds)]
    for ml in dict.fromkeys(c["mi"] for c in cors):
        cells = []
        for jl in jsds:
            c = next(c for c in cors if c["mi"] == ml and c["jsd"] == jl)
            cells.append(f"{_fmt(c['pearson_r'], 2)} ({_fmt(c['pearson_p_value'], 3)}) / "
                         f"{_fmt(c['spearman_r'], 2)} / {_fmt(c['kendall_r'], 2)}")
        lines.append(f"| {ml} | " + " | ".join(cells) + " |")
    lines += ["", f"Scenario ranking by EMID: agreement with {ref} (Kendall τ) and the five most harmful scenarios.",
              "", f"| MI estimator | EMI(ID) | τ vs {ref} | top 5 by EMID |", "|---|---:|---:|---|"]
    for ml, r in ranks.items():
        lines.append(f"| {ml} | {_fmt(meta['mi'][ml]['emi_id'])} | {_fmt(r['kendall_tau_vs_' + ref], 2)} | "
                     f"{', '.join(r['top5'])} |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
