"""Checks of the splits against each other and the config, made before anything is embedded or fitted.

The readers check each file on its own (ids, empty answers, a visual input only some samples have, ...);
these checks need several splits, or the config, and run at the start of every pipeline entry point
(:func:`mllmshift.evaluation.pipeline.evaluate`, the study runner), so a bad input stops in seconds, never
after minutes of computation:

- **sample size**: every split has at least :data:`~mllmshift.vocab.MIN_SAMPLES` samples. Below that no
  estimate is given: the estimator's held-out 20 % would hold one pair or none, InfoNCE's ceiling ln n is
  under 2.3 nats, and a bootstrap interval of a handful of points says nothing;
- **what EMI needs**: the ID split has references, and every split responses (unless a responder will answer
  them);
- **modality**: a shifted split with a visual input (images, or captions standing in for them) must have
  the same kind as the ID split: against an ID split without it (or with the other kind), X is built
  differently and no term that involves X compares. The error names both files. A shifted split with no
  visual input at all against an ID split with one stays *partial* (the documented in-the-wild case);
- **checkpoint**: a saved estimator is readable and holds finite weights (:func:`check_checkpoint`);
- **ids**: a shifted split that shares no sample id with the ID split is accepted (the shifts may be new
  questions) with a warning in the results, since an EMID usually compares the same questions.
"""

from __future__ import annotations

from collections.abc import Sequence

from mllmshift.errors import DataError
from mllmshift.evaluation.config import EvalConfig
from mllmshift.records import Split
from mllmshift.vocab import MIN_SAMPLES

_KIND = {"image": "images", "image_text": "captions (image_text)", None: "no visual input"}


def source_of(split: Split) -> str:
    """The file (or folder) a split was read from, else its name."""
    return str(dict(split.metadata).get("source") or f"split '{split.name}'")


def visual_source(split: Split, cfg: EvalConfig) -> str | None:
    """What stands for the image in X: ``image`` (every sample has one and an image encoder is configured),
    ``image_text`` (every sample has a caption) or None (the question alone), as the embedding step decides."""
    if split.has_images and cfg.image_encoder is not None:
        return "image"
    return "image_text" if split.has_image_text else None


def check_checkpoint(cfg: EvalConfig) -> None:
    """Load ``cfg.checkpoint`` once, so an unreadable file or one with NaN weights stops the run before
    anything is embedded (the pipeline loads it again, after embedding, to check its dimensions)."""
    if cfg.checkpoint is not None:
        from mllmshift.evaluation.artifact import load_estimator_file

        load_estimator_file(cfg.checkpoint)


def _first_missing(split: Split, field: str) -> str:
    return next(s.id for s in split.samples if getattr(s, field) is None)


def check_splits(id_split: Split, scenarios: Sequence[Split], cfg: EvalConfig, *,
                 responder: bool = False) -> tuple[str, ...]:
    """Raise a located :class:`~mllmshift.errors.DataError` for the problems above; return the warnings
    (one per shifted split that shares no id with the ID split). ``responder``: a responder will answer
    splits without responses, so missing responses are not an error."""
    for s in (id_split, *scenarios):
        if len(s) < MIN_SAMPLES:
            raise DataError(f"split '{s.name}' has {len(s)} sample(s); an estimate needs at least {MIN_SAMPLES} "
                            "per split (below that no estimate is given: docs/estimators.md)", path=source_of(s))
    if not id_split.has_references:
        raise DataError(f"the ID split '{id_split.name}' needs a reference answer for every sample (EMI compares "
                        f"the responses with them); sample '{_first_missing(id_split, 'reference')}' has none",
                        path=source_of(id_split), field="reference")
    if not responder and not id_split.has_responses:
        raise DataError(f"the ID split '{id_split.name}' needs a response for every sample; sample "
                        f"'{_first_missing(id_split, 'response')}' has none", path=source_of(id_split),
                        field="response")
    for s in scenarios if not responder else ():
        if not s.has_responses:
            raise DataError(f"the shifted split '{s.name}' has no response for sample "
                            f"'{_first_missing(s, 'response')}'; supply responses, or give a study a 'responder' "
                            "to answer it", path=source_of(s), field="response")
    id_visual = visual_source(id_split, cfg)
    ids = set(id_split.ids)
    warnings = []
    for s in scenarios:
        v = visual_source(s, cfg)
        if v is not None and v != id_visual:
            raise DataError(f"the shifted split '{s.name}' ({source_of(s)}) has {_KIND[v]}, but the ID split "
                            f"'{id_split.name}' ({source_of(id_split)}) has {_KIND[id_visual]}: X would be built "
                            "differently and no term with X would compare; give both splits the same visual input",
                            path=source_of(s), field="image" if v == "image" else "image_text")
        if not ids.intersection(s.ids):
            warnings.append(f"{s.name}: shares no sample id with the ID split '{id_split.name}' (an EMID usually "
                            "compares the same questions under a shift)")
    return tuple(warnings)
