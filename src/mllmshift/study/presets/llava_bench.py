"""The LLaVA-Bench distribution-shift study of Oh et al. (ICML 2025), from the released responses.

Reads a folder laid out like ``../shared/data``::

    llavabench-shift/responses/<model>/<scenario>.jsonl   one LLaVA answer file per scenario
    llavabench-shift/in_the_wild_splits.json              easy / hard index lists into the 60 in-the-wild items
    llava-bench-coco/questions.jsonl                      the 90 COCO questions (image names)
    llava-bench-coco/gpt4_answers.jsonl                   GPT-4 reference answers (Y of every COCO scenario)
    llava-bench-coco/captions_boxes.jsonl                 5 human captions per COCO image

and builds, with ``llava_bench_coco`` as the in-distribution split:

- **synthetic** (34): visual ``defocus_blur``/``frost`` at severity 1, 3, 5 (6); text ``sr_4``, ``sr_7``
  (EDA synonym replacement, α = 0.05·k) and ``KeyboardAug_1``/``_3`` (typos, word p = 0.05·level) (4);
  every visual × text pair (24);
- **natural** (27): text: the question translated to German, Chinese, Korean, Greek, Arabic or Hindi (6);
  visual: LLaVA-Bench in-the-wild English, its easy (30), normal (60) and hard (30) subsets (3);
  joint: in-the-wild in each language × easy/normal/hard (18).

The images are not in the data. The COCO captions, embedded with the text encoder, stand in for the
image (``Sample.image_text``), which the report says. Two consequences follow: a synthetic image
corruption leaves the captions unchanged, so its visual JSD term is 0 and the visual shift reaches the
numbers only through the answers; and in-the-wild scenarios have neither captions nor reference answers,
so they get only the terms that need neither (question JSD, the ID output term, the answer shift
JSD(P_Ŷ‖Q_Ŷ)) and are marked partial.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.records import Split
from mllmshift.evaluation.scenarios import ScenarioSpec
from mllmshift.study.plan import StudyPlan

ID = "llava_bench_coco"
VISUAL = tuple(f"{c}_{s}" for c in ("defocus_blur", "frost") for s in (1, 3, 5))
TEXT = ("sr_4", "sr_7", "KeyboardAug_1", "KeyboardAug_3")
LANGUAGES = ("German", "Chinese", "Korean", "Greek", "Arabic", "Hindi")
SUBSETS = ("easy", "normal", "hard")
SETS = ("synthetic", "natural")

NOTES = (
    "The LLaVA-Bench images are not available: the five human COCO captions of each image, embedded with the "
    "text encoder, stand in for the image as the visual input X_v.",
    "A synthetic image corruption (defocus blur, frost) leaves the captions unchanged, so its visual JSD term is 0: "
    "such a shift reaches EMI and the bound only through the model's answers.",
    "In-the-wild scenarios have no reference answers and no captions: EMI, EMID, the bound and JSD(Q_Ŷ‖Q_Y) cannot "
    "be computed there; the question JSD, the ID output term and the answer shift JSD(P_Ŷ‖Q_Ŷ) are given, and they "
    "are marked partial.",
    "Encoders differ from the paper's (CLIP ViT-B/32 + XLM-R): numbers are not expected to equal the paper's.",
)


def _layout(root: str | os.PathLike[str]) -> tuple[Path, Path]:
    r = Path(root)
    for cand in (r, r / "data", r / "shared" / "data"):
        if (cand / "llavabench-shift").is_dir() and (cand / "llava-bench-coco").is_dir():
            return cand / "llavabench-shift", cand / "llava-bench-coco"
    raise DataError("not a LLaVA-Bench shift data folder: expected llavabench-shift/ and llava-bench-coco/ inside",
                    path=r)


def _visual_meta(v: str) -> dict[str, Any]:
    name, sev = v.rsplit("_", 1)
    return {"visual": name, "severity": int(sev)}


def _text_meta(t: str) -> dict[str, Any]:
    name, lvl = t.rsplit("_", 1)
    return {"text": {"sr": "synonym_replacement", "KeyboardAug": "keyboard"}[name], "level": int(lvl)}


def build(root: str | os.PathLike[str], model: str = "llava-v1.5-13b",
          sets: tuple[str, ...] | list[str] = SETS) -> StudyPlan:
    """The plan of the LLaVA-Bench shift study (see the module docstring)."""
    from mllmshift.io.llava import read_llava

    shift, coco = _layout(root)
    unknown = set(sets) - set(SETS)
    if unknown:
        raise ValueError(f"unknown scenario sets {sorted(unknown)}; choose from {SETS}")
    responses = shift / "responses" / model
    if not responses.is_dir():
        have = sorted(p.name for p in (shift / "responses").iterdir()) if (shift / "responses").is_dir() else []
        raise DataError(f"no responses of model '{model}' (have: {', '.join(have) or 'none'})", path=responses)
    q, ref, caps = coco / "questions.jsonl", coco / "gpt4_answers.jsonl", coco / "captions_boxes.jsonl"

    def coco_split(name: str) -> Split:
        return read_llava(responses / f"{name}.jsonl", questions=q, references=ref, captions=caps, name=name)

    scenarios: list[ScenarioSpec] = []
    if "synthetic" in sets:
        for v in VISUAL:
            scenarios.append(ScenarioSpec(f"{ID}_{v}", coco_split(f"{ID}_{v}"), "visual", "synthetic",
                                          _visual_meta(v)))
        for t in TEXT:
            scenarios.append(ScenarioSpec(f"{ID}_{t}", coco_split(f"{ID}_{t}"), "text", "synthetic", _text_meta(t)))
        for v in VISUAL:
            for t in TEXT:
                name = f"{ID}_{v}_{t}"
                meta = {**_visual_meta(v), **_text_meta(t)}
                scenarios.append(ScenarioSpec(name, coco_split(name), "joint", "synthetic", meta))
    if "natural" in sets:
        for lang in LANGUAGES:
            scenarios.append(ScenarioSpec(f"{ID}_{lang}", coco_split(f"{ID}_{lang}"), "text", "natural",
                                          {"language": lang}))
        split_file = shift / "in_the_wild_splits.json"
        try:
            index = json.loads(split_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read the easy/hard index lists: {err}", path=split_file) from None
        for lang in ("English", *LANGUAGES):
            wild = read_llava(responses / f"llava_bench_in_the_wild_{lang}.jsonl",
                              name=f"llava_bench_in_the_wild_{lang}")
            for sub in SUBSETS:
                if sub == "normal":
                    part = wild
                else:
                    idx = index.get(sub)
                    if not isinstance(idx, list) or not all(isinstance(i, int) and 0 <= i < len(wild) for i in idx):
                        raise DataError(f"expected a list of positions into the {len(wild)} in-the-wild items",
                                        path=split_file, field=sub)
                    part = wild.subset(idx)
                name = f"llava_bench_in_the_wild_{lang}_{sub}"
                group = "visual" if lang == "English" else "joint"
                meta = {"language": lang, "subset": sub}
                scenarios.append(ScenarioSpec(name, part.renamed(name), group, "natural", meta,
                                              ("no reference answers and no captions: partial",)))
    return StudyPlan(coco_split(ID), tuple(scenarios), NOTES)


def default_config(root: str | os.PathLike[str] | None = None, model: str = "llava-v1.5-13b", **options: Any) -> Any:
    """Multilingual USE for every text, captions as the visual input (mean fusion), and the paper's estimators:
    one CLUB trained on the pooled pairs and linear RJSD (the package defaults, an ensemble of 3 small CLUBs and
    ``rjsd-debiased``, are one ``estimator:`` / ``bound.divergence`` override away; docs/estimators.md compares
    them on this study)."""
    from mllmshift.components import Component
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.study.config import StudyConfig
    from mllmshift.vocab import (
        DEFAULT_TEXT_ENCODER,
        PAPER_DIVERGENCE,
        PAPER_MI_ESTIMATOR,
        PAPER_MI_OPTIONS,
        PAPER_N_ESTIMATORS,
    )

    opts: dict[str, Any] = {"model": model, **options}
    if root is not None:
        opts["root"] = str(root)
    ev = EvalConfig(text_encoder=Component(DEFAULT_TEXT_ENCODER), image_encoder=None, fusion="mean",
                    estimator=Component(PAPER_MI_ESTIMATOR, {**PAPER_MI_OPTIONS, "patience": 10}),
                    n_estimators=PAPER_N_ESTIMATORS, divergence=Component(PAPER_DIVERGENCE), n_resamples=1000, seed=0)
    return StudyConfig(id=None, scenarios=(), eval=ev, correlation_resamples=1000, preset=Component("llava_bench", opts),
                       title=f"{model} under distribution shift (LLaVA-Bench, Oh et al. 2025 scenarios)")
