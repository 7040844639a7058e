"""Replay demos: a reference window and a stream that starts in distribution and then shifts, harder and harder.

- ``synthetic`` (offline, no data needed, what tests and CI run): text-only visual-question records drawn
  from templates (objects, colours, places, counts) with a model answer and a reference answer. The
  reference and the stream's in-distribution part are independent draws of the same generator. Shift
  level L ∈ {1, 2, 3}: a share 0.3·L of the questions ask about objects the reference never mentions,
  every question gets keyboard typos (:mod:`mllmshift.shifts.text.keyboard`, level 2L), and a share
  0.3·L of the answers become evasive or wrong.
- ``llava-bench`` (needs ``../shared/data``): LLaVA-1.5-13B on LLaVA-Bench COCO (90 records; captions stand
  in for the images). Reference = the ID split; stream = the ID split replayed ``id_repeats`` times, then
  joint shifts of growing strength: frost at severities 1, 3, 5 with keyboard typos (levels 1, 1, 3).
  Each scenario is replayed in a seeded random order (deployment traffic is not sorted by image), so a
  window of 45 records is a random half of a scenario. A stream record keeps the question id, so a
  window is compared with the reference records of *other* questions (see
  :mod:`mllmshift.monitor.terms`): the ID part of the stream is then exactly a draw of the null.
- ``llava-bench-visual``: the same with frost 1, 3, 5 then defocus blur 1, 3, 5 alone. Here the visual
  input is a caption of the clean image, and the question is unchanged, so only the answers carry the shift.

:func:`replay_summary` says where the alert fired relative to the change point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.io.atomic import atomic_write_text
from mllmshift.records import Sample, Split

START = 1735689600.0  # 2025-01-01T00:00:00Z: replayed timestamps start here
REPLAYS = ("synthetic", "llava-bench", "llava-bench-visual")

OBJECTS = ("cat", "dog", "car", "bicycle", "tree", "house", "boat", "bird", "horse", "chair", "table", "lamp",
           "bus", "train", "umbrella", "kite", "bench", "clock", "vase", "cup")
NEW_OBJECTS = ("microscope", "tractor", "satellite", "violin", "anchor", "glacier", "helmet", "lantern",
               "compass", "volcano")
COLOURS = ("red", "blue", "green", "white", "black", "yellow", "brown", "grey")
PLACES = ("on the street", "in the park", "near the window", "by the river", "in the kitchen", "on the beach",
          "at the station", "in the garden")
EVASIVE = ("I am not sure what the image shows.", "It is hard to tell from this picture.",
           "The image does not contain enough detail to answer.", "There might be something there, unclear.")


@dataclass(frozen=True)
class ReplayPlan:
    """A reference split, the stream records (in order, with timestamps) and where the shift starts."""

    name: str
    reference: Split
    stream: list[dict[str, Any]]
    change_record: int
    window: int
    description: str

    def write(self, folder: Path) -> tuple[Path, Path]:
        """``reference.jsonl`` (canonical) and ``stream.jsonl`` in ``folder``."""
        from mllmshift.io import write_canonical

        folder.mkdir(parents=True, exist_ok=True)
        ref, stream = folder / "reference.jsonl", folder / "stream.jsonl"
        write_canonical(self.reference, ref)
        atomic_write_text(stream, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.stream))
        return ref, stream


def _synthetic_item(rng: np.random.Generator, level: int, i: int) -> dict[str, Any]:
    objects = NEW_OBJECTS if level and rng.random() < 0.3 * level else OBJECTS
    obj, colour, place = objects[rng.integers(len(objects))], COLOURS[rng.integers(8)], PLACES[rng.integers(8)]
    count = int(rng.integers(1, 6))
    kind = int(rng.integers(4))
    question, reference = [
        (f"What color is the {obj} {place}?", f"The {obj} {place} is {colour}."),
        (f"How many {obj}s are there {place}?", f"There are {count} {obj}s {place}."),
        (f"Is there a {obj} {place}?", f"Yes, there is a {colour} {obj} {place}."),
        (f"Describe the {obj} {place}.", f"A {colour} {obj} stands {place}, seen from the side."),
    ][kind]
    wrong = COLOURS[rng.integers(8)]
    response = [f"It is {colour}.", f"I can see {count} {obj}s.", f"Yes, a {colour} {obj}.",
                f"A {colour} {obj} {place}."][kind]
    if rng.random() < 0.1:  # the model is not perfect in distribution either
        response = f"It looks {wrong}."
    if level and rng.random() < 0.3 * level:
        response = EVASIVE[rng.integers(len(EVASIVE))] if rng.random() < 0.5 else f"The {wrong} {obj} is gone."
    if level:
        from mllmshift.shifts import text_perturbations

        question = text_perturbations.create("keyboard", level=2 * level).apply(question, seed=i).text
    return {"question": question, "response": response, "reference": reference}


def synthetic_records(n: int, level: int, seed: int, *, start_index: int = 0,
                      prefix: str = "s") -> list[dict[str, Any]]:
    """``n`` generated records at shift ``level`` (0 = in distribution); ids ``<prefix><index>``."""
    rng = np.random.default_rng([seed, level, start_index])
    return [{"id": f"{prefix}{start_index + i}", **_synthetic_item(rng, level, seed * 1_000_003 + start_index + i)}
            for i in range(n)]


def stamp(records: Sequence[Mapping[str, Any]], start: float = START, every_s: float = 60.0,
          first: int = 0) -> list[dict[str, Any]]:
    """Copies of ``records`` with ``timestamp`` = start + (first + i)·every_s (ISO 8601 UTC)."""
    from mllmshift.monitor.stream import format_time

    return [{**r, "timestamp": format_time(start + (first + i) * every_s)} for i, r in enumerate(records)]


def synthetic_plan(seed: int = 0, *, n_reference: int = 400, n_id: int = 600, n_per_level: int = 200,
                   window: int = 100) -> ReplayPlan:
    """The offline replay (see the module docstring)."""
    ref = synthetic_records(n_reference, 0, seed, prefix="r")
    reference = Split("synthetic-reference", tuple(Sample(**r) for r in ref))
    parts = synthetic_records(n_id, 0, seed + 1, prefix="s")
    for level in (1, 2, 3):
        parts += [{**r, "scenario": f"level-{level}"} for r in
                  synthetic_records(n_per_level, level, seed + 1, start_index=len(parts), prefix="s")]
    return ReplayPlan("synthetic", reference, stamp(parts, every_s=10.0), n_id, window,
                      f"{n_reference} reference records; stream: {n_id} in distribution, then {n_per_level} at each "
                      f"shift level 1, 2, 3 (generated, text only)")


LLAVA_SCENARIOS = {
    "llava-bench": ("frost_1_KeyboardAug_1", "frost_3_KeyboardAug_1", "frost_5_KeyboardAug_3"),
    "llava-bench-visual": ("frost_1", "frost_3", "frost_5", "defocus_blur_1", "defocus_blur_3", "defocus_blur_5"),
}


def llava_plan(data: str | Path, preset: str = "llava-bench", seed: int = 0, id_repeats: int = 3) -> ReplayPlan:
    """The LLaVA-Bench replay from ``data`` (``../shared/data``; see the module docstring)."""
    from mllmshift.errors import DataError
    from mllmshift.io.llava import read_llava

    data = Path(data)
    responses = data / "llavabench-shift" / "responses" / "llava-v1.5-13b"
    coco = data / "llava-bench-coco"
    if not responses.is_dir():
        raise DataError("LLaVA-Bench responses not found (give --data the shared data folder)", path=responses)

    def read(name: str) -> Split:
        return read_llava(responses / f"{name}.jsonl", questions=coco / "questions.jsonl",
                          references=coco / "gpt4_answers.jsonl", captions=coco / "captions_boxes.jsonl")

    reference = read("llava_bench_coco")
    rng = np.random.default_rng(seed)
    stream: list[dict[str, Any]] = []

    def add(split: Split, scenario: str) -> None:
        for i in rng.permutation(len(split)):
            s = split.samples[int(i)]
            stream.append({"id": s.id, "question": s.question, "response": s.response, "reference": s.reference,
                           "image_text": s.image_text, "scenario": scenario})

    for _ in range(id_repeats):
        add(reference, "llava_bench_coco")
    change = len(stream)
    names = LLAVA_SCENARIOS[preset]
    for name in names:
        add(read(f"llava_bench_coco_{name}"), name)
    return ReplayPlan(preset, reference, stamp(stream), change, len(reference) // 2,
                      f"reference: LLaVA-Bench COCO ID split ({len(reference)} records, LLaVA-1.5-13B); stream: the ID "
                      f"split {id_repeats}× then {', '.join(names)} (each shuffled)")


def first_window_with(record: int, window: int, step: int) -> int:
    """The index of the first count window that holds record number ``record`` (0-based)."""
    return 0 if record < window else (record - window) // step + 1


def replay_summary(plan: ReplayPlan, rows: Sequence[Mapping[str, Any]], step: int) -> dict[str, Any]:
    """Where the rule fired relative to the change: first shifted window, first over / alert windows,
    and the alerts before the change (false alarms)."""
    change = first_window_with(plan.change_record, plan.window, step)
    over = [int(r["window"]) for r in rows if any(v is True for k, v in r.items() if k.endswith("_over"))]
    fired = [int(r["window"]) for r in rows if r.get("alerts")]
    first_alert = next((w for w in fired if w >= change), None)
    return {"replay": plan.name, "windows": len(rows), "first_shifted_window": change,
            "first_over_window": next((w for w in over if w >= change), None), "first_alert_window": first_alert,
            "alerts_before_change": [w for w in fired if w < change],
            "fired_at_first_shifted_window": first_alert == change and not any(w < change for w in fired),
            "delay_windows": None if first_alert is None else first_alert - change,
            "description": plan.description}
