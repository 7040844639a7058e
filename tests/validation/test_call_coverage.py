"""Intervals that cover what users see (real data, ../shared): the 95 % interval of one call covers the values
that other reasonable calls give for the same split, in at least 90 % of cases.

A *call* is what a user runs: a pool of splits the estimator is fitted on (``emi`` on the ID split alone; ``emid``
with frost_5 and sr_7 as in the README; a study with more scenarios) and a seed. Each call fits the default
ensemble shape (K = 3 members, each cross-fitted over 3 folds of the sample ids; CLUB with small settings so the
test stays within seconds) with the pipeline's own fitting code, and reports the ID split's EMI and the EMID of
sr_7 with the pipeline's bootstrap (replicate b uses member b mod K, so the interval carries the members' spread:
their seeds and, through their different fold partitions, which items each fit saw). Coverage is counted over
every ordered pair of calls (interval of one, value of another).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mllmshift.estimators.fitting import fit_members
from mllmshift.estimators.mi.club import CLUB
from mllmshift.metrics import bootstrap_emi, bootstrap_emid, emi_of

#: torch on one thread: the 54 small CLUB fits (6 calls × 3 members × 3 folds) took 10× the CPU time on two
#: threads of a shared 2-core machine (threads waiting on each other), with the same values
pytestmark = [pytest.mark.shared, pytest.mark.usefixtures("one_torch_thread")]

SMALL = {"hidden_size": 32, "max_epochs": 20, "patience": 3}
N_RESAMPLES = 200


@pytest.fixture(scope="module")
def llava(shared_data, tmp_path_factory):
    import os

    from mllmshift.validation.real.data import embed_all, read_llava_synthetic

    id_split, scen = read_llava_synthetic(shared_data)
    by_name = {n.removeprefix("llava_bench_coco_"): s for n, s, _ in scen}
    cache = os.environ.get("MLLMSHIFT_CACHE", os.path.expanduser("~/.cache/mllmshift"))
    names = ["frost_5", "sr_7", "defocus_blur_3", "KeyboardAug_3"]
    embedded = embed_all([id_split, *(by_name[n] for n in names)], cache)
    return dict(zip(["id", *names], embedded))


def _calls(llava):
    e = llava
    pools = {"emi": [e["id"]], "emid-readme": [e["id"], e["frost_5"], e["sr_7"]],
             "study": [e["id"], *(e[k] for k in e if k != "id")]}
    out = []
    for (label, pool), seed in itertools.product(pools.items(), (0, 1)):
        members = fit_members(CLUB, pool, 3, seed, crossfit_folds=3, **SMALL)
        ident = emi_of(e["id"], members)
        ci = bootstrap_emi(e["id"].x, e["id"].response, e["id"].reference, members, N_RESAMPLES, seed)
        row = {"call": f"{label}/seed{seed}", "emi": ident.value, "emi_ci": (ci.low, ci.high), "emid": None}
        if any(s is e["sr_7"] for s in pool):
            d = ident.value - emi_of(e["sr_7"], members).value
            dci = bootstrap_emid(e["id"], e["sr_7"], members, N_RESAMPLES, seed)
            row.update(emid=d, emid_ci=(dci.low, dci.high))
        out.append(row)
        print(row, flush=True)  # with -s: each call as it finishes
    return out


def _coverage(rows, key):
    hits = [lo <= other[key] <= hi for a, other in itertools.permutations(rows, 2)
            if other[key] is not None and a[key] is not None for lo, hi in [a[f"{key}_ci"]]]
    return float(np.mean(hits)), len(hits)


def test_one_calls_interval_covers_other_calls_values(llava):
    rows = _calls(llava)
    emi_cov, n_emi = _coverage(rows, "emi")
    emid_cov, n_emid = _coverage(rows, "emid")
    report = "\n".join(f"{r['call']}: EMI {r['emi']:+.4f} [{r['emi_ci'][0]:+.4f}, {r['emi_ci'][1]:+.4f}]"
                       + ("" if r["emid"] is None else
                          f"  EMID(sr_7) {r['emid']:+.4f} [{r['emid_ci'][0]:+.4f}, {r['emid_ci'][1]:+.4f}]")
                       for r in rows)
    print(f"\n{report}\nID EMI coverage {emi_cov:.0%} of {n_emi}; EMID coverage {emid_cov:.0%} of {n_emid}")
    assert emi_cov >= 0.9, report
    assert emid_cov >= 0.9, report
    # a sign called stable (interval off 0) is the sign every other call gives
    for a in rows:
        if a["emid"] is not None and (a["emid_ci"][0] > 0 or a["emid_ci"][1] < 0):
            others = [b["emid"] for b in rows if b is not a and b["emid"] is not None]
            assert np.mean([np.sign(v) == np.sign(a["emid"]) for v in others]) >= 0.9, report
