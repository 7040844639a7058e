"""The decision rule's parts: fitting pools, ordered severity pairs, monotonicity, coverage and consistency from
hand-made runs, small-n noise, and the rule itself on hand-made tables (closed forms and constructed cases)."""

from __future__ import annotations

import math

import pytest

from mllmshift.validation.real.configs import MemberSpec, MIConfig
from mllmshift.validation.real.consistency import (
    above_ln_n,
    ensemble_interval,
    monotonicity,
    ordered_pairs,
    score_calls,
    score_small_n,
)
from mllmshift.validation.real.pools import make_pools
from mllmshift.validation.real.rule import decide, decide_both, gates, verdicts


def test_pools_are_disjoint_seeded_and_sized():
    ids = [f"i{k:03d}" for k in range(50)]
    p = make_pools(ids[::-1], pool_size=10, estimation_size=20, seed=3)
    assert (len(p.A), len(p.B), len(p.E)) == (10, 10, 20)
    assert not (set(p.A) & set(p.B)) and not (set(p.A) & set(p.E)) and not (set(p.B) & set(p.E))
    assert p == make_pools(ids, pool_size=10, estimation_size=20, seed=3)  # order of the input does not matter
    assert p.A != make_pools(ids, pool_size=10, estimation_size=20, seed=4).A
    split_ids = ["i049", "i000", *p.E[:3]]
    assert list(p.rows(split_ids, "E")) == [2, 3, 4]
    smaller = make_pools(ids, pool_size=10, estimation_size=5, seed=3)
    assert smaller.A == p.A and set(smaller.E) <= set(p.E)  # a smaller estimation set is a subset of the larger
    with pytest.raises(ValueError):
        make_pools(ids, pool_size=20, estimation_size=20)


def _scenarios():
    out = {}
    for v in ("blur", "frost"):
        for s in (1, 3, 5):
            out[f"{v}_{s}"] = {"visual": v, "severity": s}
    for t, levels in (("sr", (4, 7)), ("kb", (1, 3))):
        for lvl in levels:
            out[f"{t}_{lvl}"] = {"text": t, "level": lvl}
            for v in ("blur", "frost"):
                for s in (1, 3, 5):
                    out[f"{v}_{s}_{t}_{lvl}"] = {"visual": v, "severity": s, "text": t, "level": lvl}
    return out


def test_ordered_pairs_of_the_llava_bench_design():
    pairs = ordered_pairs(_scenarios(), "id")
    # visual chains 0<1<3<5 (ID shared by 2 families: 6 + 2·3 = 12 pairs) under 5 text states, text chains
    # 0<l1<l2 (4 + 2 = 6 pairs) under 7 visual states
    assert len(pairs) == 5 * 12 + 7 * 6 == 102
    assert ("id", "blur_1") in pairs and ("blur_1", "blur_5") in pairs and ("blur_1_sr_4", "blur_5_sr_4") in pairs
    assert ("sr_4", "blur_1_sr_4") in pairs  # the visual factor absent in the milder one
    assert ("blur_1", "frost_5") not in pairs  # two families of one factor are not ordered
    assert ("blur_1", "frost_1_sr_4") not in pairs and ("blur_1", "sr_4") not in pairs  # two factors differ


def test_monotonicity_counts_pairs_in_order():
    scen = _scenarios()
    pairs = ordered_pairs(scen, "id")
    severity = {name: meta.get("severity", 0) + 2 * meta.get("level", 0) for name, meta in scen.items()}
    falling = {"id": 0.0, **{n: -float(v) for n, v in severity.items()}}
    assert monotonicity(falling, pairs) == 1.0
    assert monotonicity({n: -v for n, v in falling.items()}, pairs) == 0.0
    assert monotonicity(dict.fromkeys(falling, 1.0), pairs) == 0.0  # ties are not a fall


def _run(emis, boot=None, seconds=1.0):
    entry = {k: {"mi_response": 1.0 + v, "mi_reference": 1.0, "n": 90, "ceiling": None} for k, v in emis.items()}
    out = {"splits": entry, "sanity": {}, "subsets": {}, "fit_seconds": 1.0, "eval_real_seconds": 0.0,
           "seconds": seconds}
    if boot is not None:
        out["bootstrap_emi"] = boot
    return out


def test_interval_takes_replicate_b_from_member_b_mod_k_and_coverage_counts_other_calls():
    cfg = MIConfig("x2", MemberSpec("m", "smile"), members=2)
    # member 0's replicates are all 0, member 1's all 10: the ensemble's replicates alternate 0, 10
    runs_a = {0: _run({"a": 0.0, "b": 1.0}, {"a": [0.0] * 40, "b": [1.0] * 40}),
              1: _run({"a": 10.0, "b": 1.0}, {"a": [10.0] * 40, "b": [1.0] * 40}),
              2: _run({"a": 5.0, "b": 3.0}), 3: _run({"a": 5.0, "b": 3.0})}
    lo, hi = ensemble_interval(cfg, runs_a, 0, "a")
    assert (lo, hi) == (0.0, 10.0)
    assert ensemble_interval(cfg, runs_a, 1, "a") is None  # no replicates in ensemble 1's runs
    runs_b = {0: _run({"a": 4.0, "b": 1.0}), 1: _run({"a": 4.0, "b": 0.0})}
    out = score_calls(cfg, runs_a, runs_b, ensembles=2)
    # other calls: pool B (a = 4 in [0, 10], b = 0.5 outside [1, 1]) and ensemble 1 (a = 5 in, b = 3 out)
    assert out["coverage"]["share"] == 0.5
    assert out["coverage"]["by_call"] == {"pool B": 0.5, "ensemble 1": 0.5}
    assert out["coverage"]["mean_width"] == 5.0
    # pool A ensemble 0: a = 5, b = 1; pool B: a = 4, b = 0.5 → the same order, mean |Δ| = 0.75, sd over splits 2.83
    assert out["consistency"]["spearman"] == pytest.approx(1.0)
    assert out["consistency"]["mean_abs_diff"] == pytest.approx(0.75)
    assert out["consistency"]["relative_diff"] == pytest.approx(0.75 / math.sqrt(8))


def test_small_n_noise_is_seed_sd_over_between_split_sd():
    cfg = MIConfig("one", MemberSpec("m", "smile"))
    runs = {0: _run({"s1": 0.0, "s2": 2.0}, seconds=4.0), 1: _run({"s1": 1.0, "s2": 3.0}, seconds=4.0)}
    out = score_small_n(cfg, runs, ensembles=2)
    # per split sd over seeds = 0.707; means 0.5 and 2.5 → between-split sd 1.414; ratio 0.5
    assert out["noise_to_signal"] == pytest.approx(0.5)
    assert out["seconds_per_split"] == pytest.approx(2.0)
    assert out["mi_response_id"] == pytest.approx(1.5)  # mean of 1 + 0 and 1 + 1 on the first split


def _row(rho, lo, hi, mono, noise, cons, members=1, seconds=10.0, saturated=0.0, sanity_ok=True):
    return {"config": {"members": members, "member": {"name": "x"}},
            "alpacaeval48": {"models": {"spearman_lc": {"r": rho, "ci_low": lo, "ci_high": hi}},
                             "saturated": {"models": saturated}, "seconds": seconds,
                             "sanity_ensemble0": {"sanity:constant": sanity_ok, "sanity:empty": True,
                                                  "sanity:shuffled": True},
                             "calls": {"consistency": {"spearman": cons}}},
            "llava": {"monotonicity": {"share": mono}, "small_n": {"noise_to_signal": noise}}}


def test_rule_gates_eliminates_ranks_and_breaks_ties_to_the_paper():
    rows = {
        "club": _row(0.60, 0.40, 0.75, mono=0.70, noise=0.20, cons=0.90),
        "smile": _row(0.70, 0.50, 0.85, mono=0.80, noise=0.30, cons=0.95),
        "bad": _row(0.20, 0.00, 0.45, mono=1.00, noise=0.01, cons=1.00),  # CI upper 0.45 < ρ* 0.70: out at step 1
        "capped": _row(0.90, 0.80, 0.95, mono=1.0, noise=0.0, cons=1.0, saturated=0.5),  # gated out
        "silly": _row(0.90, 0.80, 0.95, mono=1.0, noise=0.0, cons=1.0, sanity_ok=False),  # gated out
    }
    assert gates(rows["capped"]) and gates(rows["silly"]) and not gates(rows["club"])
    d = decide(rows)
    assert set(d["gated_out"]) == {"capped", "silly"}
    assert d["rho_star"] == {"config": "smile", "r": 0.70}
    assert d["eliminated_step1"] == ["bad"] and set(d["survivors"]) == {"club", "smile"}
    # ranks: monotonicity smile 1, club 2; noise club 1, smile 2; consistency smile 1, club 2 → smile 4, club 5
    assert d["rank_sum"] == {"smile": 4.0, "club": 5.0}
    assert d["choice"] == "club" and "paper" in d["why"]  # club is within 1 of the lowest: the paper's wins
    # counting small n twice: smile 6, club 6
    assert decide(rows, small_n_weight=2.0)["rank_sum"] == {"smile": 6.0, "club": 6.0}


def test_rule_without_the_paper_prefers_time_and_refuses_partial_evidence():
    rows = {"a": _row(0.6, 0.4, 0.8, 0.8, 0.2, 0.9, seconds=50.0),
            "b": _row(0.6, 0.4, 0.8, 0.8, 0.2, 0.9, seconds=5.0, members=3)}
    d = decide(rows)
    assert d["rank_sum"] == {"a": 4.5, "b": 4.5} and d["choice"] == "b" and "time" in d["why"]
    rows["a"]["llava"]["small_n"] = {}
    partial = decide_both(rows)
    assert partial["large_n"]["status"] == "incomplete" and partial["large_n"]["choice"] is None
    assert partial["large_n"]["missing"] == {"a": ["small_n_noise"]} and not partial["agree"]


def test_rule_refuses_to_choose_while_a_required_candidate_has_not_run():
    rows = {"a": _row(0.6, 0.4, 0.8, 0.8, 0.2, 0.9)}
    d = decide(rows, required=("a", "b"))
    assert d["status"] == "incomplete" and d["choice"] is None and d["not_run"] == ["b"]
    assert d["provisional"] == "a"
    assert decide(rows, required=("a",))["choice"] == "a"


def test_above_ln_n_is_the_share_of_splits_whose_ensemble0_mi_exceeds_ln_n():
    cfg = MIConfig("x2", MemberSpec("m", "smile"), members=2)
    ln90 = math.log(90)

    def run(a, b):  # Î(X;Ŷ) of splits "a" and "b" (n = 90 each), Î(X;Y) = 1
        return {"splits": {k: {"mi_response": v, "mi_reference": 1.0, "n": 90} for k, v in (("a", a), ("b", b))}}

    # ensemble 0 = members 0, 1: a's mean is ln 90 + 0.5 (above), b's ln 90 − 0.5 (below, though member 1 is above)
    runs = {0: run(ln90, ln90 - 1.5), 1: run(ln90 + 1.0, ln90 + 0.5), 2: run(99.0, 99.0), 3: run(99.0, 99.0)}
    out = above_ln_n(cfg, runs)
    assert out["share"] == 0.5 and out["units"] == 2 and out["max_excess"] == pytest.approx(0.5)
    assert above_ln_n(cfg, runs, ensemble=1)["share"] == 1.0


def _with_g3(row, judged, small):
    row["alpacaeval48"]["above_ln_n"] = {"share": judged}
    row["llava"]["small_n"]["above_ln_n"] = {"share": small}
    return row


def test_g3_is_out_above_ln_n_on_2_of_10_units_and_stays_on_1_of_10():
    rows = {"leader": _with_g3(_row(0.9, 0.8, 0.95, 0.5, 0.0, 1.0), 0.2, 0.0),  # 2 of 10 models above ln n
            "one": _with_g3(_row(0.5, 0.3, 0.85, 0.9, 0.2, 0.9), 0.1, 0.1),  # 1 of 10: stays
            "small": _with_g3(_row(0.6, 0.4, 0.8, 0.8, 0.3, 0.8), 0.0, 0.2)}  # 2 of 10 n = 90 fits: small n only
    assert gates(rows["leader"]) == [] and gates(rows["leader"], amended=True) == ["g3: 20% of the judged set above ln n"]
    assert not gates(rows["one"], amended=True, small_n=True)
    assert not gates(rows["small"], amended=True) and gates(rows["small"], amended=True, small_n=True)
    original = decide(rows)
    assert original["rho_star"]["config"] == "leader" and original["survivors"] == ["leader"]
    large = decide(rows, amended=True)
    assert set(large["gated_out"]) == {"leader"} and large["rho_star"]["config"] == "small"
    small = decide(rows, small_n_weight=2.0, amended=True)
    assert set(small["gated_out"]) == {"leader", "small"} and small["choice"] == "one"
    both = verdicts(rows)
    assert both["original"]["large_n"]["choice"] == "leader" and both["followed"] == "amended"
    assert both["amended"]["small_n"]["choice"] == "one"


def test_g3_not_measured_on_a_survivor_leaves_the_amended_decision_incomplete():
    rows = {"a": _row(0.6, 0.4, 0.8, 0.8, 0.2, 0.9), "b": _with_g3(_row(0.1, 0.0, 0.3, 0.8, 0.2, 0.9), 0.0, 0.0)}
    d = decide(rows, amended=True)
    assert d["status"] == "incomplete" and d["missing"] == {"a": ["g3 (judged set)"]}
    assert decide(rows)["choice"] == "a"  # the original rule reads no g3
    rows["a"] = _with_g3(rows["a"], 0.0, None)
    assert decide(rows, amended=True)["choice"] == "a"
    assert decide(rows, small_n_weight=2.0, amended=True)["missing"] == {"a": ["g3 (n = 90 fits)"]}


def test_fill_takes_missing_scores_only_from_a_previous_table_that_the_recomputed_units_reproduce():
    from mllmshift.validation.real.fill import fill_rows

    old = {"a": {"alpacaeval48": {"emi": {"m1": 0.5, "m2": 0.25}, "calls": {"consistency": {"spearman": 0.9}}},
                 "llava": {"monotonicity": {"share": 0.8}}},
           "b": {"alpacaeval48": {"emi": {"m1": 0.5, "m2": 0.25}, "calls": {"consistency": {"spearman": 0.9}}}},
           "c": {"llava": {"monotonicity": {"share": 0.7}}}}
    rows = {"a": {"alpacaeval48": {"emi": {"m1": 0.5, "m2": 0.25}, "calls": {}}},  # reproduces: filled
            "b": {"alpacaeval48": {"emi": {"m1": 0.5, "m2": 0.26}}},  # differs: left as it is
            "c": {"config": {}}}  # nothing recomputed to compare: left as it is
    report = fill_rows(rows, old)
    assert rows["a"]["alpacaeval48"]["calls"]["consistency"]["spearman"] == 0.9
    assert rows["a"]["llava"]["monotonicity"]["share"] == 0.8
    assert sorted(report["a"]["filled"]) == ["alpacaeval48/calls/consistency", "llava"]
    assert "calls" not in rows["b"]["alpacaeval48"] and "llava" not in rows["c"]
    assert report["b"]["checks"]["alpacaeval48/emi"] == pytest.approx(0.01) and not report["c"]["filled"]
