"""Run the real-data validation: prepare the data, run (or resume) every unit of work, score, write the table.

``run_real_suite(data_root, out_dir, mi=..., jsd=..., seeds=S)`` embeds AlpacaEval and LLaVA-Bench once per
encoder the configurations name (through the embedding cache; the JSD configurations of :data:`VARIANT_JSD` run
on a non-default encoder's LLaVA data), then for every MI configuration fits its member with each seed it needs (S ensembles of K
members: seeds 0 … S·K − 1) on each data set, and runs every JSD configuration on LLaVA-Bench (seeds 0 … S − 1
when seeded, at most its ``max_seeds``; else 0). Each unit is a cached JSON file under ``out_dir/runs`` (:mod:`.runs`), so an interrupted run
resumes and a rerun with more seeds or configurations computes only what is new. One progress line per unit goes
to stderr. Then :mod:`.score` and :mod:`.report` write ``real.md``, ``real.csv``, ``real.json`` and ``real.png``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.validation.real.configs import DEFAULT_ENCODER, ENCODERS, VARIANT_JSD, EncoderSpec, JSDConfig, MIConfig
from mllmshift.validation.real.runs import Dataset, cached, run_jsd, run_member, run_small_n

DATASETS = ("alpacaeval", "alpacaeval48", "llava")
#: the data set fitted on the judged set's second pool (consistency): scored with ``alpacaeval48``'s configurations
POOL_B = "-poolB"
#: the splits fitted one at a time for the small-n score (n = 90 each): the ID split, each single-factor family at
#: its two extreme levels, and the strongest joint shift
SMALL_N_SPLITS = ("llava_bench_coco", "llava_bench_coco_defocus_blur_1", "llava_bench_coco_defocus_blur_5",
                  "llava_bench_coco_frost_1", "llava_bench_coco_frost_5", "llava_bench_coco_sr_4",
                  "llava_bench_coco_sr_7", "llava_bench_coco_KeyboardAug_1", "llava_bench_coco_KeyboardAug_3",
                  "llava_bench_coco_frost_5_sr_7")
#: ensembles of small-n fits per configuration, whatever the suite's seed count (a seed sd needs two)
SMALL_N_ENSEMBLES = 2


def half_of(models: list[str], seed: int = 0) -> list[str]:
    """A seeded half of ``models`` (``derive_seed(seed, "pool-B models")``): the splits of the second call."""
    from mllmshift.provenance import derive_seed

    perm = np.random.default_rng(derive_seed(seed, "pool-B models")).permutation(len(models))
    return [models[i] for i in sorted(perm[: len(models) // 2])]


def _scored_on(dataset: str) -> str:
    """The data set whose configurations a fitted data set serves (``alpacaeval48-poolB`` → ``alpacaeval48``)."""
    return dataset.removesuffix(POOL_B)


def prepare_alpaca(root: str | Path, cache_dir: str | Path, threads: int = 1,
                   encoder: EncoderSpec = ENCODERS[DEFAULT_ENCODER]) -> tuple[Dataset, dict[str, Any]]:
    """AlpacaEval's 12 models (X = instruction, fusion text), their 5 subsets, the sanity models; and the judge."""
    from mllmshift.validation.real.data import embed_all, read_alpaca_eval_data, sanity_splits

    data = read_alpaca_eval_data(root)
    best = max(data.models, key=lambda m: data.judge[m]["length_controlled_winrate"])
    sanity = sanity_splits(next(s for s in data.splits if s.name == best))
    embedded = embed_all([*data.splits, *sanity], cache_dir, encoder.name, fusion="text", threads=threads,
                         normalize=encoder.normalize)
    real, sane = embedded[: len(data.splits)], embedded[len(data.splits) :]
    subsets = {}
    for split in data.splits:
        labels = np.array([str(s.metadata.get("dataset")) for s in split.samples])
        subsets[split.name] = {sub: np.flatnonzero(labels == sub) for sub in sorted(set(labels))}
    return Dataset("alpacaeval", tuple(real), subsets, tuple(sane)), {"judge": data.judge, "sanity_source": best}


#: the 48-model judged set: its folder under the data root, the size of each fitting pool and of the estimation set
ALPACA48_FOLDER = "alpacaeval-dev48"
ALPACA48_POOL = 96
ALPACA48_ESTIMATION = 128
#: bootstrap resamples of each model's estimation rows for the interval of the coverage score (pool A fits only)
ALPACA48_BOOTSTRAP = 100


def prepare_alpaca48(root: str | Path, cache_dir: str | Path, threads: int = 1,
                     encoder: EncoderSpec = ENCODERS[DEFAULT_ENCODER]) -> tuple[dict[str, Dataset], dict[str, Any]]:
    """AlpacaEval-48 (``alpacaeval-dev48``): two data sets sharing the estimation set E of every model (its 5 subsets,
    sanity models from the LC-best model's E rows), fitted on pool A of :mod:`.pools` (``alpacaeval48``: the
    fitting instructions × all 48 models) or on pool A's instructions × a seeded half of the models
    (``alpacaeval48-poolB``: another call that passes other splits, as issue #19 saw EMIs move with the splits
    a call is given)."""
    from mllmshift.validation.real.data import embed_all, read_alpaca_eval_data, sanity_splits
    from mllmshift.validation.real.pools import make_pools

    folder = Path(root) / ALPACA48_FOLDER if (Path(root) / ALPACA48_FOLDER).is_dir() else Path(root)
    data = read_alpaca_eval_data(folder)
    common = set.intersection(*(set(s.ids) for s in data.splits))
    pools = make_pools(sorted(common), ALPACA48_POOL, ALPACA48_ESTIMATION)
    parts = {p: [s.subset(pools.rows(s.ids, p), name=s.name) for s in data.splits] for p in ("A", "E")}
    best = max(data.models, key=lambda m: data.judge[m]["length_controlled_winrate"])
    sanity = sanity_splits(next(s for s in parts["E"] if s.name == best))
    emb = {p: embed_all(parts[p], cache_dir, encoder.name, fusion="text", threads=threads,
                        normalize=encoder.normalize) for p in ("A", "E")}
    sane = embed_all(sanity, cache_dir, encoder.name, fusion="text", threads=threads, normalize=encoder.normalize)
    # an instruction's subset (``dataset``) from the first model file that names it: some files leave it out
    label_of: dict[str, str] = {}
    for split in parts["E"]:
        for smp in split.samples:
            if smp.metadata.get("dataset") is not None:
                label_of.setdefault(smp.id, str(smp.metadata["dataset"]))
    subsets = {}
    for split in parts["E"]:
        labels = np.array([label_of.get(i, "unknown") for i in split.ids])
        subsets[split.name] = {sub: np.flatnonzero(labels == sub) for sub in sorted(set(labels))}
    half = set(half_of(data.models))
    fits = {"alpacaeval48": tuple(emb["A"]), "alpacaeval48" + POOL_B: tuple(s for s in emb["A"] if s.name in half)}
    out = {name: Dataset(name, tuple(emb["E"]), subsets, tuple(sane), fit_splits=fit,
                         bootstrap=ALPACA48_BOOTSTRAP if name == "alpacaeval48" else 0) for name, fit in fits.items()}
    return out, {"judge": data.judge, "sanity_source": best, "pools": pools.to_dict(), "pool_b_models": sorted(half)}


def prepare_llava(root: str | Path, cache_dir: str | Path, threads: int = 1,
                  encoder: EncoderSpec = ENCODERS[DEFAULT_ENCODER]) -> tuple[Dataset, dict[str, Any]]:
    """LLaVA-1.5-13B on ``llava_bench_coco`` and its 34 synthetic shifts (captions for images), and sanity models."""
    from mllmshift.validation.real.data import embed_all, read_llava_synthetic, sanity_splits

    id_split, scenarios = read_llava_synthetic(root)
    sanity = sanity_splits(id_split)
    embedded = embed_all([id_split, *(s for _, s, _ in scenarios), *sanity], cache_dir, encoder.name, fusion="mean",
                         threads=threads, normalize=encoder.normalize)
    n_real = 1 + len(scenarios)
    meta = {name: m for name, _, m in scenarios}
    return (Dataset("llava", tuple(embedded[:n_real]), {}, tuple(embedded[n_real:]), id_split.name, meta),
            {"model": "llava-v1.5-13b", "id": id_split.name})


def _say(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def run_units(out: Path, data: dict[str, Dataset], mi: Sequence[MIConfig], jsd: Sequence[JSDConfig], seeds: int,
              say: Callable[[str], None] = _say, encoder: str = DEFAULT_ENCODER,
              cached_only: bool = False) -> tuple[dict[str, dict[str, dict[int, Any]]], dict[str, dict[int, Any]]]:
    """Every (data set, member, seed) and (JSD configuration, seed) unit, from the cache or computed now; the units
    of a non-default ``encoder`` live in ``runs/<data set>@<encoder>/``."""
    tag = "" if encoder == DEFAULT_ENCODER else f"@{encoder}"
    need: dict[str, tuple[Any, set[int]]] = {}
    small_need: dict[str, tuple[Any, set[int]]] = {}
    where: dict[str, set[str]] = {}  # member label → the data sets a configuration scores it on
    for cfg in mi:
        spec, have = need.setdefault(cfg.member.label, (cfg.member, set()))
        if spec != cfg.member:
            raise ValueError(f"two configurations use member label '{spec.label}' with different settings")
        have.update(s for e in range(cfg.ensembles(seeds)) for s in cfg.member_seeds(e))
        where.setdefault(spec.label, set()).update(cfg.datasets or map(_scored_on, data))
        small_need.setdefault(spec.label, (spec, set()))[1].update(
            s for e in range(SMALL_N_ENSEMBLES) for s in cfg.member_seeds(e))
    first = {cfg.member.label: set(cfg.member_seeds(0)) for cfg in mi}  # a second fitting pool: ensemble 0 only
    units = [(d, spec, s) for d in data for spec, ss in need.values() if _scored_on(d) in where[spec.label]
             for s in (sorted(ss if not d.endswith(POOL_B) else ss & first[spec.label]) if spec.seeded else [0])]
    names = [n for n in SMALL_N_SPLITS if "llava" in data and any(s.name == n for s in data["llava"].splits)]
    small = [(spec, s) for spec, ss in small_need.values() for s in (sorted(ss) if spec.seeded else [0])] \
        if names else []
    jsd_units = [(c, s) for c in jsd for s in c.seeds(seeds)] if "llava" in data else []
    total, k = len(units) + len(jsd_units) + len(small), 0
    mi_runs: dict[str, dict[str, dict[int, Any]]] = {d: {} for d in data}
    for d, spec, seed in units:
        k += 1
        path = out / "runs" / f"{d}{tag}" / "mi" / spec.label / f"seed-{seed}.json"
        first_pool = mi_runs.get(_scored_on(d), {}).get(spec.label, {}).get(seed)
        if d.endswith(POOL_B) and spec.fit_free and first_pool is not None:  # the same estimates (MemberSpec)
            run, hit = first_pool, True
        else:
            run, hit = cached(path, spec.to_dict(), "member",
                              None if cached_only else lambda: run_member(spec, seed, data[d]))
        if run is None:
            continue
        for s in (sorted(need[spec.label][1]) if not spec.seeded else [seed]):  # a deterministic run serves every seed
            mi_runs[d].setdefault(spec.label, {})[s] = run
        say(f"[{k}/{total}] {d}{tag} {spec.label} seed {seed}: "
            f"{'cached' if hit else 'fitted'} (fit {run['fit_seconds']:.0f} s)")
    jsd_runs: dict[str, dict[int, Any]] = {}
    for c, seed in jsd_units:
        k += 1
        path = out / "runs" / f"llava{tag}" / "jsd" / c.label / f"seed-{seed}.json"
        run, hit = cached(path, c.to_dict(), "jsd", None if cached_only else lambda: run_jsd(c, seed, data["llava"]))
        if run is None:
            continue
        jsd_runs.setdefault(c.label, {})[seed] = run
        say(f"[{k}/{total}] llava{tag} bound {c.label} seed {seed}: {'cached' if hit else 'computed'} "
            f"({run['seconds']:.1f} s)")
    small_runs: dict[str, dict[int, Any]] = {}
    for spec, seed in small:
        k += 1
        path = out / "runs" / f"llava{tag}" / "small-n" / spec.label / f"seed-{seed}.json"
        run, hit = cached(path, {**spec.to_dict(), "names": names}, "small_n",
                          None if cached_only else lambda: {"small_n": {**spec.to_dict(), "names": names},
                                                            **run_small_n(spec, seed, data["llava"], names)})
        if run is None:
            continue
        for s in (sorted(small_need[spec.label][1]) if not spec.seeded else [seed]):
            small_runs.setdefault(spec.label, {})[s] = run
        say(f"[{k}/{total}] llava{tag} small-n {spec.label} seed {seed}: {'cached' if hit else 'fitted'} "
            f"({run['seconds']:.0f} s)")
    mi_runs["llava:small-n"] = small_runs
    return mi_runs, jsd_runs


def run_real_suite(data_root: str | Path, out_dir: str | Path, mi: Sequence[MIConfig], jsd: Sequence[JSDConfig],
                   seeds: int = 5, datasets: Sequence[str] = DATASETS, cache_dir: str | Path | None = None,
                   threads: int = 1, make_plot: bool = True, say: Callable[[str], None] = _say,
                   cached_only: bool = False, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Prepare, run, score and report (see the module docstring); returns the scored table (``real.json``).
    ``previous``: a former ``real.json`` of the same suite whose scores fill what the recomputed rows lack, where
    they reproduce it (:mod:`.fill`). ``cached_only``: compute nothing, score what the cache holds (a configuration missing a unit a score needs
    goes without that score: a partial table, never a partial score)."""
    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.validation.real.report import write_report
    from mllmshift.validation.real.score import score_jsd

    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown data sets {sorted(unknown)}; choose from {DATASETS}")
    out = Path(out_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    table: dict[str, Any] = {"seeds": seeds, "mi": {}, "jsd": {}, "data": {}}
    encoders = list(dict.fromkeys([DEFAULT_ENCODER, *(c.encoder for c in mi)]))
    for enc in encoders:
        configs = [c for c in mi if c.encoder == enc]
        if enc != DEFAULT_ENCODER and not configs:
            continue
        enc_jsd = list(jsd) if enc == DEFAULT_ENCODER else [c for c in jsd if c.label in VARIANT_JSD]
        wanted = set(datasets) if enc == DEFAULT_ENCODER else {
            d for c in configs for d in (c.datasets or DATASETS) if d in datasets}
        data: dict[str, Dataset] = {}
        info: dict[str, Any] = {}
        for name, prepare in (("alpacaeval", prepare_alpaca), ("llava", prepare_llava)):
            if name in wanted:
                t = time.perf_counter()
                data[name], info[name] = prepare(data_root, cache, threads, ENCODERS[enc])
                say(f"{name} ({enc}): {len(data[name].splits)} splits, {len(data[name].sanity)} sanity splits "
                    f"embedded ({time.perf_counter() - t:.0f} s)")
        if "alpacaeval48" in wanted and enc == DEFAULT_ENCODER:
            t = time.perf_counter()
            both, info["alpacaeval48"] = prepare_alpaca48(data_root, cache, threads, ENCODERS[enc])
            data.update(both)
            say(f"alpacaeval48 ({enc}): {len(both['alpacaeval48'].splits)} models embedded, pools "
                f"{info['alpacaeval48']['pools']} ({time.perf_counter() - t:.0f} s)")
        if enc == DEFAULT_ENCODER:
            table["data"] = info
        mi_runs, jsd_runs = run_units(out, data, configs, enc_jsd, seeds, say, enc, cached_only)
        for cfg in configs:
            row: dict[str, Any] = {"config": cfg.to_dict()}
            _score_row(row, cfg, data, info, mi_runs, jsd_runs, enc_jsd, seeds)
            if len(row) > 1 or not cached_only:
                table["mi"][cfg.label] = row
        if enc == DEFAULT_ENCODER:
            for c in jsd:
                if c.label in jsd_runs:
                    table["jsd"][c.label] = {"config": c.to_dict(), **score_jsd(c, jsd_runs[c.label])}
    from mllmshift.validation.real.rule import verdicts

    from mllmshift.validation.real.rule_report import write_rule_report

    from mllmshift.validation.real.configs import RULE_MI

    if previous is not None:
        from mllmshift.validation.real.fill import fill_rows

        table["filled_from_previous"] = fill_rows(table["mi"], previous.get("mi", {}))
    table["rule"] = verdicts(table["mi"], required=RULE_MI)
    write_report(table, out, make_plot=make_plot)
    write_rule_report(table, out, make_plot=make_plot)
    return table


def _score_row(row: dict[str, Any], cfg: MIConfig, data: dict[str, Dataset], info: dict[str, Any],
               mi_runs: dict[str, Any], jsd_runs: dict[str, Any], enc_jsd: Sequence[JSDConfig], seeds: int) -> None:
    """Score one MI configuration on every data set it ran on into ``row`` (in place)."""
    from mllmshift.validation.real.consistency import (above_ln_n, monotonicity, ordered_pairs, score_calls,
                                                       score_small_n)
    from mllmshift.validation.real.score import ensemble_emis, k_sweep, score_alpaca, score_jsd, score_llava

    if "alpacaeval" in data and "alpacaeval" in (cfg.datasets or DATASETS):
        try:
            row["alpacaeval"] = score_alpaca(cfg, mi_runs["alpacaeval"][cfg.member.label],
                                             info["alpacaeval"]["judge"], cfg.ensembles(seeds))
        except KeyError:  # a unit the score needs is not in the cache (cached_only)
            pass
    if "alpacaeval48" in data and "alpacaeval48" in (cfg.datasets or DATASETS):
        try:
            row["alpacaeval48"] = score_alpaca(cfg, mi_runs["alpacaeval48"][cfg.member.label],
                                               info["alpacaeval48"]["judge"], cfg.ensembles(seeds))
            ae_runs = mi_runs["alpacaeval48"][cfg.member.label]
            real0 = ensemble_emis(cfg, ae_runs, 0)
            sane0 = ensemble_emis(cfg, ae_runs, 0, "sanity")
            row["alpacaeval48"]["sanity_ensemble0"] = {c: sane0[c] < min(real0.values()) for c in sane0
                                                       if c != "sanity:reference"}
            row["alpacaeval48"]["above_ln_n"] = above_ln_n(cfg, ae_runs)
            row["alpacaeval48"]["calls"] = score_calls(cfg, mi_runs["alpacaeval48"][cfg.member.label],
                                                       mi_runs["alpacaeval48" + POOL_B][cfg.member.label],
                                                       cfg.ensembles(seeds))
        except KeyError:  # a unit the score needs is not in the cache (cached_only)
            pass
    if "llava" in data and "llava" in (cfg.datasets or DATASETS):
        try:
            bounds = {c: score_jsd(next(j for j in enc_jsd if j.label == c), r)["bound"]
                      for c, r in jsd_runs.items()}
            lv = data["llava"]
            assert lv.id_split is not None
            member_runs = mi_runs["llava"][cfg.member.label]
            row["llava"] = score_llava(cfg, member_runs, lv.id_split, lv.scenarios, bounds, cfg.ensembles(seeds))
            pairs = ordered_pairs(lv.scenarios, lv.id_split)
            mono = [monotonicity(ensemble_emis(cfg, member_runs, e), pairs) for e in range(cfg.ensembles(seeds))]
            row["llava"]["monotonicity"] = {"share": float(np.mean(mono)), "ensemble0": mono[0],
                                            "pairs": len(pairs)}
            if cfg.members > 1:
                row["llava"]["k_sweep"] = k_sweep(cfg, member_runs, lv.id_split, lv.scenarios, bounds,
                                                  cfg.ensembles(seeds))
        except KeyError:  # a unit the score needs is not in the cache (cached_only)
            pass
        # the small-n fits score apart from the pooled ones: gate g3 reads ensemble 0 alone
        small = mi_runs.get("llava:small-n", {}).get(cfg.member.label)
        part: dict[str, Any] = {}
        if small:
            try:
                part = score_small_n(cfg, small, SMALL_N_ENSEMBLES)
            except KeyError:  # the second ensemble is not in the cache (cached_only)
                try:
                    part = {"above_ln_n": above_ln_n(cfg, small)}
                except KeyError:
                    part = {}
        if part:
            row.setdefault("llava", {})["small_n"] = part
