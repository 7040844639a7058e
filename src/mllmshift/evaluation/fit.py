"""The ``fit`` step: one estimator (or ensemble) fitted on a declared fitting set and saved as an artifact.

``mllmshift fit DATA [DATA ...] --save-estimator FILE``, ``mllmshift.fit(...)`` and a study's ``fit`` key run
:func:`fit_to_file`: the splits are embedded with the configured encoders, their (X, Ŷ) and (X, Y) pairs pooled,
``cfg.n_estimators`` members fitted with the config's estimator and seed (the pipeline's
:func:`~mllmshift.evaluation.estimation.estimator_step`, so the members are those ``mllmshift emid`` would fit on
the same splits), and the archive of :mod:`mllmshift.evaluation.artifact` written with its fingerprint. Later calls
load it (``--estimator-file FILE``, ``checkpoint=FILE``) and then a split's EMI no longer depends on what else a
call is given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.evaluation.artifact import EstimatorArtifact
from mllmshift.evaluation.checks import check_splits, source_of
from mllmshift.evaluation.config import ConfigError, EvalConfig
from mllmshift.evaluation.embedding import Encoders, comparable, embed_split
from mllmshift.evaluation.estimation import Ensemble, estimator_step
from mllmshift.evaluation.stores import NullStore, Store
from mllmshift.progress import Progress, tracked
from mllmshift.records import Split


def check_fit_set(splits: Sequence[Split], cfg: EvalConfig) -> None:
    """A fitting set is at least one split, uniquely named, each with responses (and the first with references,
    as an ID split), fitted here rather than loaded; a located error otherwise."""
    if not splits:
        raise MllmshiftError("a fitting set needs at least one split")
    if cfg.checkpoint is not None:
        raise ConfigError("fit fits an estimator; it does not load one (leave out the saved estimator)",
                          field="checkpoint")
    names = [s.name for s in splits]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MllmshiftError(f"split names of a fitting set must be unique; repeated: {', '.join(dup)}")
    check_splits(splits[0], splits[1:], cfg)


def fit_set_ensemble(splits: Sequence[Split], cfg: EvalConfig, *, name: str | None = None,
                     cache: EmbeddingCache | None = None, progress: Progress | None = None,
                     embeddings: EmbeddingStore | None = None, store: Store | None = None) -> Ensemble:
    """Embed ``splits`` and fit ``cfg.n_estimators`` members on all their pairs through ``store`` (default: keep
    nothing; a study passes its sealed store, so a rerun reads the members back).

    ``name``: the fitting set's name (default: the split names joined by ``+``). Every split's X must be built
    alike (same visual input and fusion), else a located DataError names the split. The caller computes inside
    :func:`~mllmshift.evaluation.pipeline.compute_settings`."""
    check_fit_set(splits, cfg)
    encoders = Encoders(cfg)
    keys = {s.name: encoders.key(s) for s in splits}
    embedded: list[EmbeddedSplit] = [embed_split(s, encoders, cache, progress, embeddings)
                                     for s in tracked(list(splits), progress, "embed", len(splits), "split")]
    for s, e in zip(splits, embedded):
        if not comparable(embedded[0], e):
            raise DataError(f"split '{s.name}' has its X built unlike the first split's ('{splits[0].name}': fusion "
                            f"{embedded[0].metadata.get('fusion')}, this one {e.metadata.get('fusion')}); a fitting "
                            "set pools pairs of one kind of input", path=source_of(s))
    return estimator_step(embedded, cfg, store or NullStore(), progress, keys=keys, encoders=encoders.info(),
                          fit_set_name=name, declared=True, all_comparable=True)


def fit_set_estimator(splits: Sequence[Split], cfg: EvalConfig, *, name: str | None = None,
                      cache: EmbeddingCache | None = None, progress: Progress | None = None,
                      embeddings: EmbeddingStore | None = None) -> EstimatorArtifact:
    """:func:`fit_set_ensemble` as an artifact (not saved)."""
    ens = fit_set_ensemble(splits, cfg, name=name, cache=cache, progress=progress, embeddings=embeddings)
    info = ens.info
    return EstimatorArtifact(ens.members, ens.fingerprint, info["fit_set"], info["encoders"], info["fitted_with"],
                             extra={"n_pairs": info["n_pairs"], "histories": info["member_histories"]})


def fit_to_file(splits: Sequence[Split], cfg: EvalConfig, path: str | os.PathLike[str], *, name: str | None = None,
                cache: EmbeddingCache | None = None, progress: Progress | None = None,
                embeddings: EmbeddingStore | None = None) -> EstimatorArtifact:
    """:func:`fit_set_estimator` on the config's threads and device, saved to ``path`` (atomically)."""
    from dataclasses import replace

    from mllmshift.evaluation.pipeline import compute_settings

    with compute_settings(cfg, progress):
        art = fit_set_estimator(splits, cfg, name=name, cache=cache, progress=progress, embeddings=embeddings)
    art.save(path)
    return replace(art, path=str(path))
