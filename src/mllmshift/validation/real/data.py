"""The real data of the real-data validation suite, read from a ``../shared/data``-like folder and embedded.

- **AlpacaEval** (``alpacaeval/``): the 12 models of ``leaderboard.csv``, each joined with the baseline
  ``gpt4_1106_preview`` on ``instruction`` (:func:`~mllmshift.io.alpaca_eval.read_alpaca_eval`); X = the
  instruction's embedding (text-only, fusion ``text``), Ŷ = the model's output, Y = the baseline's output.
  Judge scores per model: ``length_controlled_winrate`` and ``win_rate``.
- **LLaVA-Bench** (``llavabench-shift/``, ``llava-bench-coco/``): LLaVA-1.5-13B on ``llava_bench_coco`` (ID)
  and its 34 synthetic shifts, built by the ``llava_bench`` study preset (COCO captions stand in for the images,
  mean fusion).

Embeddings go through the content-addressed :class:`~mllmshift.encoders.cache.EmbeddingCache`, so each text is
encoded once for every configuration and seed of the suite.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import DataError
from mllmshift.records import Split

ALPACA_REFERENCE = "gpt4_1106_preview"
ALPACA_SUBSETS = ("helpful_base", "koala", "oasst", "selfinstruct", "vicuna")
JUDGE_SCORES = ("length_controlled_winrate", "win_rate")


@dataclass(frozen=True)
class AlpacaEvalData:
    """The 12 models' splits (in leaderboard order) and their judge scores."""

    splits: tuple[Split, ...]
    judge: dict[str, dict[str, float]]

    @property
    def models(self) -> list[str]:
        return [s.name for s in self.splits]


def alpaca_eval_folder(root: str | Path) -> Path:
    r = Path(root)
    for cand in (r, r / "alpacaeval", r / "data" / "alpacaeval"):
        if (cand / "leaderboard.csv").is_file() and (cand / "results").is_dir():
            return cand
    raise DataError("not an AlpacaEval folder: expected leaderboard.csv and results/ (or alpacaeval/ holding them)",
                    path=r)


def read_leaderboard(path: str | Path) -> dict[str, dict[str, float]]:
    """model → {length_controlled_winrate, win_rate} (percent) from AlpacaEval's ``leaderboard.csv``."""
    p = Path(path)
    out: dict[str, dict[str, float]] = {}
    with p.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            model = row.get("model")
            if not model:
                raise DataError("missing", path=p, line=line, field="model")
            scores: dict[str, float] = {}
            for key in JUDGE_SCORES:
                try:
                    scores[key] = float(row[key])
                except (KeyError, TypeError, ValueError):
                    raise DataError("missing or not a number", path=p, line=line, field=key) from None
            out[model] = scores
    if not out:
        raise DataError("no models", path=p)
    return out


def read_alpaca_eval_data(root: str | Path) -> AlpacaEvalData:
    """Every leaderboard model joined with the baseline's outputs (see the module docstring).

    Empty outputs are kept (``allow_empty``): they are what the model answered and what the judge scored
    (gemma-2b-it leaves 22 of 805 empty in ``alpacaeval-dev48``), so dropping them would flatter the model."""
    from mllmshift.io.alpaca_eval import read_alpaca_eval

    folder = alpaca_eval_folder(root)
    judge = read_leaderboard(folder / "leaderboard.csv")
    ref = folder / "results" / ALPACA_REFERENCE
    splits = tuple(read_alpaca_eval(folder / "results" / m, references=ref, name=m, allow_empty=True) for m in judge)
    return AlpacaEvalData(splits, judge)


def read_llava_synthetic(root: str | Path, model: str = "llava-v1.5-13b") -> tuple[Split, list[tuple[str, Split,
                                                                                                       dict[str, Any]]]]:
    """The ID split and the 34 synthetic scenarios ``(name, split, meta)`` of the ``llava_bench`` preset."""
    from mllmshift.study.presets.llava_bench import build

    plan = build(root, model=model, sets=("synthetic",))
    scen = [(s.name, s.split, {"group": s.group, **dict(s.metadata)}) for s in plan.scenarios]
    return plan.id_split, scen


def embed_all(splits: list[Split] | tuple[Split, ...], cache_dir: str | Path, text_encoder: str = "use-multilingual",
              fusion: str = "auto", threads: int = 1, progress: bool = False,
              normalize: str | None = None) -> list[EmbeddedSplit]:
    """Embed ``splits`` with one text encoder (``normalize``: its text normalisation; captions as the visual
    stand-in when present), through the cache."""
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.encoders.pipeline import build_encoder, embed_split

    enc = build_encoder(text_encoder, normalize=normalize, threads=threads)
    cache = EmbeddingCache(cache_dir)
    return [embed_split(s, enc, None, fusion=fusion, cache=cache, progress=progress) for s in splits]


#: the answer of the constant sanity model
CONSTANT_ANSWER = "I'm sorry, but I can't help with that."
SANITY_CASES = ("constant", "empty", "shuffled", "reference")


def sanity_splits(split: Split, seed: int = 0) -> list[Split]:
    """Sanity models built from ``split`` (its questions and references kept), named ``sanity:<case>``:

    - ``constant``: every answer is :data:`CONSTANT_ANSWER`;
    - ``empty``: every answer is the empty string;
    - ``shuffled``: the split's own answers, permuted across questions (seeded; a derangement, no answer stays);
    - ``reference``: the answers equal the references (EMI must be exactly 0).

    An estimator that ranks models must put the first three below every real model.
    """
    import numpy as np

    n = len(split)
    if n < 2:
        raise ValueError("sanity splits need at least two samples")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    perm = np.roll(perm, 1)[np.argsort(perm)]  # i → the answer of the next index in a random cycle: no fixed point
    answers = split.responses
    cases = {
        "constant": [CONSTANT_ANSWER] * n,
        "empty": [""] * n,
        "shuffled": [answers[j] for j in perm],
        "reference": split.references,
    }
    return [Split(f"sanity:{case}", tuple(s.with_(response=r) for s, r in zip(split.samples, texts)),
                  {"sanity": case, "source": split.name}) for case, texts in cases.items()]
