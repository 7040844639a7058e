"""The monitor's reference estimator is the pipeline's: the same estimator step (same config, same code, same
fingerprint) through the monitor's WindowStore, which only keeps the fitted members for a restart."""

from __future__ import annotations

from monitor_helpers import config, fast_eval, monitor, reference, stream_records, write_jsonl

from mllmshift.evaluation.embedding import Encoders, embed_split
from mllmshift.evaluation.estimation import estimator_step
from mllmshift.evaluation.stores import NullStore
from mllmshift.monitor.state import WindowStore
from mllmshift.provenance import stable_hash


def test_the_monitor_s_reference_estimator_is_the_pipeline_s_estimator_step(tmp_path):
    ref = reference(200)
    cfg = config("50", eval=fast_eval(n_estimators=2), terms=("text", "emi"), alert_terms=("text",),
                 min_references=15)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 50)]))
    m = monitor(cfg, ref, stream, tmp_path / "out")
    m.run_once()
    # the pipeline's step on the same fit half, with no store: the same fit (fingerprint) and the same members
    encoders = Encoders(cfg.eval)
    fit_half = embed_split(ref, encoders, None).subset(m.calc.ref.fit, name=f"{ref.name}-fit-half")
    key = stable_hash([m.identity["reference"], list(fit_half.ids)])
    core = estimator_step([fit_half], cfg.eval, NullStore(), keys={fit_half.name: key}, encoders=encoders.info(),
                          fit_set_name=f"{fit_half.name} (the reference's fit half)", declared=True)
    assert m.ensemble.fingerprint == core.fingerprint
    assert m.ensemble.info["fit_set"] == core.info["fit_set"] and m.ensemble.info["fit_set"]["declared"]
    held = embed_split(ref, encoders, None).subset(m.calc.ref.calibration)
    for ours, theirs in zip(m.ensemble.members, core.members, strict=True):
        assert ours.mi(held.x, held.response) == theirs.mi(held.x, held.response)  # bit-identical fits
    # the window store kept them under the fingerprint: a restart reads them back instead of refitting
    store = WindowStore(m.store.folder)
    again = estimator_step([fit_half], cfg.eval, store, keys={fit_half.name: key}, encoders=encoders.info(),
                           fit_set_name=f"{fit_half.name} (the reference's fit half)", declared=True)
    assert store.log.cached == {"estimator": 1} and not store.log.computed
    assert again.fingerprint == core.fingerprint
    for ours, theirs in zip(again.members, core.members, strict=True):
        assert ours.mi(held.x, held.response) == theirs.mi(held.x, held.response)
