"""One-shot EMI / EMID evaluation of splits: embed, fit or load the estimator, measure.

This is what ``mllmshift emi`` and ``mllmshift emid`` run; the study runner
(:mod:`mllmshift.study`) adds scenario grids, caching of every stage and reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.estimators.defaults import (
    DEFAULT_DIVERGENCE,
    DEFAULT_MI_ESTIMATOR,
    PAPER_DIVERGENCE,
    PAPER_MI_ESTIMATOR,
)
from mllmshift.provenance import derive_seed, environment
from mllmshift.records import Split


@dataclass(frozen=True)
class EvalConfig:
    """Everything that, with the data, determines the numbers of an evaluation.

    ``estimator`` names the registered MI estimator fitted on the pooled pairs (default: SMILE,
    chosen by the ground-truth and real-data validation; ``"club"`` is the paper's), ``estimator_options`` its
    constructor options; ``estimator_path`` loads a saved one of any kind instead. ``divergence``
    names the JSD estimator of the four bound terms (default ``"rjsd-debiased"``; ``"rjsd"`` is the paper's).
    :meth:`paper` gives the paper's choices.
    """

    text_encoder: str = "use-multilingual"
    image_encoder: str | None = "efficientnet-lite0"
    fusion: str = "auto"
    estimator: str = DEFAULT_MI_ESTIMATOR
    estimator_options: dict[str, Any] = field(default_factory=dict)
    estimator_path: str | None = None
    divergence: str = DEFAULT_DIVERGENCE
    seed: int = 0
    bootstrap: int = 1000
    confidence: float = 0.95
    entropy_scale: float | None = None

    @classmethod
    def paper(cls, **overrides: Any) -> EvalConfig:
        """The paper's estimators: CLUB (hidden size 500, ≤ 200 epochs) and linear RJSD."""
        kw: dict[str, Any] = {"estimator": PAPER_MI_ESTIMATOR, "divergence": PAPER_DIVERGENCE,
                              "estimator_options": {"hidden_size": 500, "max_epochs": 200}}
        kw.update(overrides)
        return cls(**kw)


def embed_splits(splits: Sequence[Split], cfg: EvalConfig, cache_dir: Path | None,
                 progress: bool = False) -> list[EmbeddedSplit]:
    """Embed each split with the configured encoders (through the cache when given)."""
    from mllmshift.encoders.pipeline import build_encoder, embed_split

    text = build_encoder(cfg.text_encoder)
    needs_image = any(s.has_images for s in splits)
    image = build_encoder(cfg.image_encoder) if (needs_image and cfg.image_encoder) else None
    cache = None
    if cache_dir is not None:
        from mllmshift.encoders.cache import EmbeddingCache

        cache = EmbeddingCache(cache_dir)
    return [embed_split(s, text, image, fusion=cfg.fusion, cache=cache, progress=progress) for s in splits]


def get_estimator(embedded: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: bool = False) -> MIEstimator:
    """Load ``cfg.estimator_path`` (any saved MI estimator), or fit ``cfg.estimator`` on the pooled pairs."""
    from mllmshift.estimators.defaults import load_mi_estimator
    from mllmshift.estimators.fitting import check_fits, fit_estimator

    if cfg.estimator_path:
        est = load_mi_estimator(cfg.estimator_path)
        check_fits(est, embedded[0], f"at {cfg.estimator_path}", "use the encoders it was trained on")
        return est
    return fit_estimator(embedded, cfg.estimator, seed=cfg.seed, progress=progress, **cfg.estimator_options)


def emi_report(split: EmbeddedSplit, est: MIEstimator, cfg: EvalConfig) -> dict[str, Any]:
    from mllmshift.metrics import bootstrap_emi, emi_of

    res = emi_of(split, est).to_dict()
    if cfg.bootstrap > 0:
        res["ci"] = bootstrap_emi(split.x, split.response, split.reference, est, cfg.bootstrap,  # type: ignore
                                  derive_seed(cfg.seed, "emi", split.name), cfg.confidence).to_dict()
    return res


def emid_reports(id_split: EmbeddedSplit, oods: Sequence[EmbeddedSplit], est: MIEstimator,
                 cfg: EvalConfig) -> list[dict[str, Any]]:
    """EMID, its bootstrap CI and the bound of each shifted split against ``id_split``.

    The ID split's EMI and its output term JSD(P_Ŷ‖P_Y) do not depend on the shifted split: both
    are computed once and shared by every scenario.
    """
    from mllmshift.estimators.defaults import build_divergence
    from mllmshift.metrics import bootstrap_emid, emi_of, emid_upper_bound, id_output_term

    divergence = build_divergence(cfg.divergence, seed=cfg.seed)
    emi_id = emi_of(id_split, est)
    id_output: tuple[float, str] | None = None
    results = []
    for ood in oods:
        emi_ood = emi_of(ood, est)
        res: dict[str, Any] = {"scenario": ood.name, "emid": emi_id.value - emi_ood.value,
                               "emi_id": emi_id.to_dict(), "emi_ood": emi_ood.to_dict()}
        if cfg.bootstrap > 0:
            res["emid_ci"] = bootstrap_emid(id_split, ood, est, cfg.bootstrap,
                                            derive_seed(cfg.seed, "emid", id_split.name, ood.name),
                                            cfg.confidence).to_dict()
        bound = emid_upper_bound(id_split, ood, cfg.entropy_scale, divergence=divergence, id_output=id_output)
        id_output = id_output or id_output_term(bound)
        res["bound"] = bound.to_dict()
        results.append(res)
    return results


def run_metadata(cfg: EvalConfig, est: MIEstimator, embedded: Sequence[EmbeddedSplit]) -> dict[str, Any]:
    return {"config": asdict(cfg), "estimator": est.config(),
            "estimator_history": {k: v for k, v in getattr(est, "history", {}).items() if not isinstance(v, list)},
            "embeddings": {s.name: dict(s.metadata) for s in embedded}, **environment()}
