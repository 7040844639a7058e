"""The real-data suite: sanity models, the scores from hand-made runs (closed forms), caching and resuming of
units on small synthetic data, and one run on the real data in ../shared."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.records import Sample, Split
from mllmshift.validation.real.configs import JSD_CONFIGS, MI_CONFIGS, JSDConfig, MemberSpec, MIConfig, select
from mllmshift.validation.real.data import CONSTANT_ANSWER, sanity_splits
from mllmshift.estimators.fitting import pooled_groups
from mllmshift.validation.real.runs import Dataset
from mllmshift.validation.real.score import (
    bound_values,
    ensemble_emis,
    k_sweep,
    saturation,
    score_alpaca,
    score_llava,
)
from mllmshift.validation.real.suite import run_units


def test_sanity_splits_from_a_split():
    split = Split("m", tuple(Sample(str(i), f"q{i}", response=f"a{i}", reference=f"r{i}") for i in range(9)))
    cases = {s.name: s for s in sanity_splits(split, seed=3)}
    assert set(cases) == {"sanity:constant", "sanity:empty", "sanity:shuffled", "sanity:reference"}
    assert set(cases["sanity:constant"].responses) == {CONSTANT_ANSWER}
    assert set(cases["sanity:empty"].responses) == {""}
    shuffled = cases["sanity:shuffled"].responses
    assert sorted(shuffled) == sorted(split.responses)  # a permutation of the answers…
    assert all(r != f"a{i}" for i, r in enumerate(shuffled))  # …that moves every one
    assert cases["sanity:reference"].responses == split.references
    assert all(c.questions == split.questions and c.references == split.references for c in cases.values())


def _run(emis: dict[str, float], ceiling: float | None = None, mi_ref: float = 1.0, sanity=None, subsets=None):
    def entry(e: float) -> dict:
        return {"mi_response": mi_ref + e, "mi_reference": mi_ref, "n": 10, "ceiling": ceiling}

    return {"splits": {k: entry(v) for k, v in emis.items()},
            "sanity": {k: entry(v) for k, v in (sanity or {}).items()},
            "subsets": {k: {s: entry(v) for s, v in parts.items()} for k, parts in (subsets or {}).items()},
            "fit_seconds": 2.0, "eval_real_seconds": 1.0}


def test_ensembles_average_their_members_and_saturation_counts_splits():
    cfg = MIConfig("x2", MemberSpec("m", "infonce"), members=2)
    runs = {0: _run({"a": 1.0, "b": 0.0}), 1: _run({"a": 3.0, "b": 2.0}),
            2: _run({"a": -1.0, "b": 0.5}), 3: _run({"a": 0.0, "b": 0.5})}
    assert cfg.member_seeds(1) == [2, 3]
    assert ensemble_emis(cfg, runs, 0) == {"a": 2.0, "b": 1.0}
    assert ensemble_emis(cfg, runs, 1) == {"a": -0.5, "b": 0.5}
    near = _run({"a": 0.0, "b": -1.5}, ceiling=2.0, mi_ref=1.995)  # a's MIs sit within 1 % of the cap…
    near["splits"]["b"]["mi_reference"] = 0.5  # …b's (0.495, 0.5) are far below it
    assert saturation({0: near}, [0]) == 0.5


def test_alpaca_scores_from_runs_that_agree_with_the_judge():
    judge = {f"m{i}": {"length_controlled_winrate": 10.0 * i, "win_rate": 5.0 * i + (i % 2)} for i in range(6)}
    subsets = {m: {"s1": i * 0.1, "s2": i * 0.2} for i, m in enumerate(judge)}
    sanity = {"sanity:constant": -5.0, "sanity:empty": -4.0, "sanity:shuffled": 0.05, "sanity:reference": 0.0}
    runs = {0: _run({m: i * 0.1 for i, m in enumerate(judge)}, sanity=sanity, subsets=subsets)}
    out = score_alpaca(MI_CONFIGS["infonce"], runs, judge, ensembles=1)
    assert out["models"]["spearman_lc"]["r"] == pytest.approx(1.0)
    assert out["models"]["kendall_lc"]["r"] == pytest.approx(1.0)
    assert out["subsets"]["within_subset_spearman_lc"]["ensemble0"] == pytest.approx(1.0)
    assert out["sanity"]["sanity:constant"]["below_all_real"] == 1.0
    assert out["sanity"]["sanity:shuffled"]["below_all_real"] == 0.0  # 0.05 is above m0's EMI of 0
    assert out["sanity"]["sanity:reference"]["max_abs_emi"] == 0.0
    assert out["seconds"] == pytest.approx(3.0)


def test_llava_scores_flag_unstable_signs_and_read_the_bound():
    scen = {"s1": {"severity": 1}, "s3": {"severity": 3}, "s5": {"severity": 5}}
    sanity = {"sanity:constant": -5.0, "sanity:empty": -5.0, "sanity:shuffled": -5.0, "sanity:reference": 0.0}
    runs = {0: _run({"id": 1.0, "s1": 0.5, "s3": 0.2, "s5": -1.0}, sanity=sanity),
            1: _run({"id": 1.0, "s1": 1.5, "s3": 0.1, "s5": -0.5}, sanity=sanity)}  # s1's EMID flips sign
    bound = {"rjsd": {"s1": 1.0, "s3": 2.0, "s5": 3.0}}
    out = score_llava(MI_CONFIGS["infonce"], runs, "id", scen, bound, ensembles=2)
    assert out["sign_stable_share"] == pytest.approx(2 / 3) and out["sign_unstable"] == ["s1"]
    assert out["emid"] == {"s1": 0.5, "s3": 0.8, "s5": 2.0}
    assert out["bound"]["rjsd"]["spearman"]["r"] == pytest.approx(1.0)
    assert out["emi_by_severity"] == {"1": 1.0, "3": pytest.approx(0.15), "5": -0.75}
    assert out["severity_falls"] is True and out["sanity"]["sanity:empty"]["below_all_real"] == 1.0
    # K' = 2 averages seeds (0, 1) and (2, 3): s1's EMID is +0.0 and +0.3, s3's +0.85 and +0.85, s5's +1.75 twice
    more = {**runs, 2: _run({"id": 1.0, "s1": 0.8, "s3": 0.15, "s5": -0.75}, sanity=sanity),
            3: _run({"id": 1.0, "s1": 0.6, "s3": 0.15, "s5": -0.75}, sanity=sanity)}
    sweep = k_sweep(MIConfig("x2", MI_CONFIGS["infonce"].member, members=2), more, "id", scen, bound, ensembles=2)
    assert set(sweep) == {"1", "2"}
    assert sweep["1"]["sign_stable_share"] == pytest.approx(2 / 3)  # the single members 0 and 1, as above
    assert sweep["2"]["sign_stable_share"] == pytest.approx(2 / 3)  # s1's first ensemble has EMID 0: no sign
    terms = {"terms": {"a": {"visual": 0.04, "text": 0.09, "id_output": 0.0016, "ood_output": 0.0081},
                       "b": {"visual": None, "text": 0.25, "id_output": None, "ood_output": 0.1}}}
    assert bound_values(terms) == {"a": pytest.approx(0.2 + 0.3 + 0.2 + 0.3), "b": None}


def test_configs_are_known_and_selected_by_label():
    assert [c.label for c in select(["club", "infonce"], MI_CONFIGS, "MI")] == ["club", "infonce"]
    with pytest.raises(ValueError, match="unknown MI"):
        select(["nope"], MI_CONFIGS, "MI")
    assert JSD_CONFIGS["rjsd"].seeded is False and MI_CONFIGS["infonce-x5"].members == 5
    assert JSD_CONFIGS["rjsd"].seeds(5) == [0] and JSD_CONFIGS["classifier-jsd"].seeds(5) == [0, 1]
    with pytest.raises(ValueError, match="groups"):
        MemberSpec("bad", "infonce", groups="clusters")


def _synthetic(rng: np.random.Generator) -> Dataset:
    def split(name: str, rho: float) -> EmbeddedSplit:
        x = rng.normal(size=(30, 3)).astype(np.float32)
        noise = rng.normal(size=(30, 3)).astype(np.float32)
        return EmbeddedSplit.from_arrays(name, x_text=x, response=rho * x + noise, reference=0.8 * x + noise,
                                         ids=[str(i) for i in range(30)])

    real = (split("id", 0.9), split("s1", 0.5), split("s3", 0.3))
    return Dataset("llava", real, {}, (split("sanity:constant", 0.0),), "id", {"s1": {"severity": 1},
                                                                              "s3": {"severity": 3}})


def test_units_are_cached_and_resumed(tmp_path, rng):
    data = {"llava": _synthetic(rng)}
    assert pooled_groups(data["llava"].splits)[:2] == ["0", "1"] and len(pooled_groups(data["llava"].splits)) == 180
    tiny = MemberSpec("tiny", "infonce", {"hidden_size": 8, "max_steps": 20, "eval_every": 10})
    mi = [MIConfig("tiny", tiny), MIConfig("tiny-x2", tiny, 2), MIConfig("g", MemberSpec("g", "gaussian", seeded=False))]
    jsd = [JSDConfig("rjsd", "rjsd")]
    said: list[str] = []
    runs, jsd_runs = run_units(tmp_path, data, mi, jsd, seeds=2, say=said.append)
    assert sorted(runs["llava"]["tiny"]) == [0, 1, 2, 3] and sorted(runs["llava"]["g"]) == [0, 1]
    assert runs["llava"]["g"][0] is runs["llava"]["g"][1]  # one run of a deterministic member serves every seed
    assert len(said) == 4 + 1 + 1 and all("fitted" in s for s in said[:5])
    again: list[str] = []
    runs2, _ = run_units(tmp_path, data, mi, jsd, seeds=2, say=again.append)
    assert all("cached" in s for s in again[:5]) and runs2["llava"]["tiny"][3] == runs["llava"]["tiny"][3]
    changed = MemberSpec("tiny", "infonce", {"hidden_size": 8, "max_steps": 10, "eval_every": 10})
    third: list[str] = []
    run_units(tmp_path, data, [MIConfig("tiny", changed)], [], seeds=1, say=third.append)
    assert "fitted" in third[0]  # another spec under the same label is recomputed, not read
    assert math.isfinite(jsd_runs["rjsd"][0]["terms"]["s1"]["text"])


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # 35 splits' Gaussian MIs (1024 × 1024 log-determinants) on one BLAS thread
def test_real_suite_on_llava_bench(shared_data, tmp_path):
    from mllmshift.validation.real.suite import run_real_suite

    table = run_real_suite(shared_data, tmp_path, [MI_CONFIGS["gaussian"]], [JSD_CONFIGS["rjsd"]], seeds=1,
                           datasets=["llava"], say=lambda _: None, make_plot=False)
    row = table["mi"]["gaussian"]["llava"]
    assert len(row["emid"]) == 34 and row["saturated"] == 0.0  # the closed-form estimator has no ceiling
    assert row["sanity"]["sanity:reference"]["max_abs_emi"] == 0.0
    for case in ("sanity:constant", "sanity:empty", "sanity:shuffled"):
        assert row["sanity"][case]["below_all_real"] == 1.0
    assert (tmp_path / "real.md").is_file() and (tmp_path / "runs" / "llava" / "mi" / "gaussian").is_dir()
