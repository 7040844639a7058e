"""Shared names are defined once (mllmshift.vocab) and every other module uses those objects."""

from __future__ import annotations

from mllmshift import vocab


def test_every_module_uses_the_vocabulary_objects():
    from mllmshift import embeddings
    from mllmshift.estimators import defaults
    from mllmshift.shifts import grid
    from mllmshift.study import stats

    assert grid.COMBINATIONS is vocab.COMBINATIONS and set(vocab.COMBINATIONS) == set(vocab.GROUPS)
    assert stats.GROUPS is vocab.GROUPS and embeddings.FUSIONS is vocab.FUSIONS
    assert defaults.DEFAULT_MI_ESTIMATOR is vocab.DEFAULT_MI_ESTIMATOR
    assert defaults.PAPER_DIVERGENCE is vocab.PAPER_DIVERGENCE


def test_default_components_are_registered():
    from mllmshift.encoders import encoders
    from mllmshift.estimators import divergence_estimators, mi_estimators

    assert {vocab.DEFAULT_TEXT_ENCODER, vocab.DEFAULT_IMAGE_ENCODER} <= set(encoders.names())
    assert {vocab.DEFAULT_MI_ESTIMATOR, vocab.PAPER_MI_ESTIMATOR} <= set(mi_estimators.names())
    assert {vocab.DEFAULT_DIVERGENCE, vocab.PAPER_DIVERGENCE} <= set(divergence_estimators.names())


def test_exit_codes_are_distinct():
    codes = [vocab.EXIT_OK, vocab.EXIT_BAD_INPUT, vocab.EXIT_USAGE, vocab.EXIT_PARTIAL, vocab.EXIT_INTERRUPTED]
    assert codes == [0, 1, 2, 3, 130]
