"""A tiny synthetic study: text-only samples whose answers degrade by a known amount per scenario."""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

ANIMALS = ["cat", "dog", "horse", "cow", "sheep", "goat", "duck", "owl", "fox", "bear"]
PLACES = ["grass", "beach", "road", "snow", "sofa", "table"]


def write_split(path: Path, p_wrong: float, typo: float = 0.0, n: int = 30, seed: int = 0,
                references: bool = True, captions: bool = True) -> Path:
    """n samples; a fraction ``p_wrong`` of answers name a random animal; ``typo`` corrupts question letters."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, pl = ANIMALS[i % len(ANIMALS)], PLACES[(i * 7) % len(PLACES)]
        q = "What animal is in the picture and where is it?"
        if typo:
            q = "".join(c if rng.random() > typo else "x" for c in q)
        if rng.random() < p_wrong:
            resp = f"It is a {rng.choice(ANIMALS)} somewhere {rng.choice(PLACES)}."
        else:
            resp = f"A {a} is standing on the {pl}."
        rows.append({"id": str(i), "question": q, "response": resp,
                     "reference": f"The picture shows a {a} standing on the {pl}." if references else None,
                     "image_text": f"a photo of a {a} on the {pl}" if captions else None})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SCENARIOS = {"frost_1": (0.2, 0.0), "frost_3": (0.6, 0.0), "keyboard_1": (0.1, 0.1), "keyboard_3": (0.3, 0.3),
             "frost_3_keyboard_3": (0.7, 0.3)}


def make_study(root: Path, *, n: int = 30, extra: dict | None = None) -> Path:
    """Data files and a study.yaml under ``root``; returns the config path."""
    write_split(root / "data" / "id.jsonl", 0.0, n=n)
    for k, (name, (p, typo)) in enumerate(SCENARIOS.items()):
        write_split(root / "data" / "shifted" / f"{name}.jsonl", p, typo, n=n, seed=k + 1)
    cfg = {
        "title": "Tiny study",
        "seed": 0,
        "threads": 1,
        "id": "data/id.jsonl",
        "scenarios": [{"folder": "data/shifted"}],
        "encoders": {"text": {"name": "hashing-bow", "options": {"dim": 32}}, "image": None},
        # one small CLUB, as the paper fits (not the default ensemble): the tests read its single checkpoint
        # scored in-sample (folds 0): on 30 items a 16-unit CLUB fitted on two thirds of them learns too little
        # for the per-scenario degradation these tests read (held-out scoring is tested in tests/estimators and
        # tests/evaluation)
        "estimator": {"name": "club", "options": {"hidden_size": 16, "max_epochs": 15, "patience": 5},
                      "n_estimators": 1, "folds": 0},
        "bootstrap": {"n_resamples": 40},
        "correlation": {"n_resamples": 40},
    }
    cfg.update(extra or {})
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path
