"""The offline demo study: real photographs, a synthetic shift grid and the built-in baseline responder.

``mllmshift demo --out DIR`` runs a complete study on a fresh machine with no network:

- **data**: 12 real photographs that ship inside scikit-image (``skimage.data``) and scikit-learn
  (``load_sample_images``), resized so the shorter side is 256 px, with 3 questions each and reference
  answers written for this project (``mllmshift/data/demo/questions.jsonl``): 36 samples;
- **shifts**: a grid from :mod:`mllmshift.shifts.grid`: defocus blur, frost and Gaussian noise at
  severities 1, 3, 5 (9 visual scenarios), keyboard typos and synonym replacement at two levels
  (4 text scenarios), and 4 joint scenarios (blur or noise at severity 3 × typos or synonyms);
- **responses**: :class:`~mllmshift.responders.baseline.BaselineResponder`, an EfficientNet-Lite0
  ImageNet classifier answering from its top classes through templates: *not* an LLM, and labelled
  as such in the report;
- **encoders**: multilingual USE for texts, EfficientNet-Lite0 features for images (concatenated);
  CLUB trained on the pooled pairs of all 18 splits.

It writes ``DIR/demo_config.yaml`` (the study config it ran, rerunnable with ``mllmshift study``) and
everything a study writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.errors import MissingDependencyError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.records import Sample, Split

SHORT_SIDE = 256
ID_NAME = "demo"

#: the demo's shift grids (``mllmshift.shifts.grid`` format): single shifts, then a few joints
GRIDS: tuple[dict[str, Any], ...] = (
    {"dataset": ID_NAME, "seed": 0, "combine": ["visual", "text"],
     "visual": [{"corruption": "defocus_blur", "severities": [1, 3, 5]},
                {"corruption": "frost", "severities": [1, 3, 5]},
                {"corruption": "gaussian_noise", "severities": [1, 3, 5]}],
     "text": [{"perturbation": "keyboard", "levels": [4, 8]},
              {"perturbation": "synonym", "levels": [4, 8]}]},
    {"dataset": ID_NAME, "seed": 0, "combine": ["joint"],
     "visual": [{"corruption": "defocus_blur", "severities": [3]},
                {"corruption": "gaussian_noise", "severities": [3]}],
     "text": [{"perturbation": "keyboard", "levels": [4]},
              {"perturbation": "synonym", "levels": [4]}]},
)


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            import skimage.data as data
        except ModuleNotFoundError as err:
            raise MissingDependencyError("the demo photos", "scikit-image", "shifts") from err
        img = getattr(data, name)()
        return img[0] if isinstance(img, tuple) else img  # stereo_motorcycle → (left, right, disparity)
    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            from sklearn.datasets import load_sample_image
        except ModuleNotFoundError as err:
            raise MissingDependencyError("the demo photos", "scikit-learn", "dev") from err
        return load_sample_image(filename)
    return load


def photo_loader(source: str) -> Callable[[], np.ndarray]:
    """``skimage:<function>`` or ``sklearn:<file>`` → a loader of that photo as a uint8 array."""
    kind, _, name = source.partition(":")
    if kind == "skimage":
        return _skimage(name)
    if kind == "sklearn":
        return _sklearn(name)
    raise ValueError(f"unknown photo source {source!r}")


def demo_questions() -> list[dict[str, Any]]:
    """The demo's questions and reference answers (36 records)."""
    import json

    text = resources.files("mllmshift").joinpath("data/demo/questions.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def materialise_photos(folder: Path, sources: dict[str, str]) -> dict[str, Path]:
    """Write each photo once as RGB PNG, shorter side :data:`SHORT_SIDE` px; returns name → path."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, src in sorted(sources.items()):
        path = folder / f"{name}.png"
        if not path.is_file():
            img = Image.fromarray(np.asarray(photo_loader(src)(), dtype=np.uint8)).convert("RGB")
            s = SHORT_SIDE / min(img.size)
            img = img.resize((round(img.size[0] * s), round(img.size[1] * s)), Image.BICUBIC)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
            img.save(tmp, format="PNG")
            os.replace(tmp, path)
        out[name] = path
    return out


def demo_split(folder: Path) -> Split:
    """The demo's in-distribution split (no responses yet), its photos written under ``folder``."""
    qs = demo_questions()
    photos = materialise_photos(folder / "photos", {q["photo"]: q["source"] for q in qs})
    samples = [Sample(id=q["id"], question=q["question"], reference=q["reference"], image=str(photos[q["photo"]]),
                      metadata={"photo": q["photo"], "source": q["source"], "category": q["category"]}) for q in qs]
    return Split(ID_NAME, tuple(samples), {"source": "mllmshift/data/demo/questions.jsonl"})


def demo_config(out: Path, *, n_resamples: int = 200, seed: int = 0) -> Any:
    """Materialise the demo's ID split under ``out/.state/demo`` and return the study config that runs it."""
    from mllmshift.io import write_canonical
    from mllmshift.study.config import StudyConfig

    out = Path(out).resolve()
    state = out / ".state" / "demo"
    split = demo_split(state)
    id_file = state / "demo.jsonl"
    write_canonical(split, id_file)
    return StudyConfig.from_dict({
        "title": "mllmshift demo: an ImageNet-classifier baseline under image and question shifts",
        "seed": seed,
        "threads": 1,
        "id": {"path": str(id_file), "name": ID_NAME},
        "scenarios": [{"grid": g} for g in GRIDS],
        "responder": {"name": "baseline"},
        "encoders": {"text": "use-multilingual", "image": "efficientnet-lite0", "fusion": "concat"},
        # the paper's estimators (CLUB, linear RJSD), as in its code; the package default is SMILE + rjsd-debiased
        "estimator": {"name": "club", "options": {"hidden_size": 256, "max_epochs": 100, "patience": 10}},
        "bound": {"divergence": "rjsd"},
        "bootstrap": {"n_resamples": n_resamples},
        "correlation": {"n_resamples": 1000},
    }, base_dir=out)


def write_config_yaml(cfg: Any, path: Path) -> None:
    """The config as YAML (what ``mllmshift study`` would read) next to the results."""
    import yaml

    d = cfg.to_dict()
    text = {
        "title": d["title"], "seed": d["seed"], "threads": d["threads"], "id": d["id"],
        "scenarios": [{"grid": s["grid"]} for s in d["scenarios"]],
        "responder": d["responder"],
        "encoders": {"text": d["text_encoder"], "image": d["image_encoder"], "fusion": d["fusion"]},
        "estimator": d["estimator"], "bound": {"form": d["bound_form"], "divergence": d["divergence"]},
        "bootstrap": {"n_resamples": d["n_resamples"], "confidence": d["confidence"]},
        "correlation": {"n_resamples": d["correlation_resamples"]},
    }
    atomic_write_text(path, "# written by `mllmshift demo`; rerun with: mllmshift study THIS_FILE --out "
                       f"{path.parent}\n" + yaml.safe_dump(text, sort_keys=False, allow_unicode=True))


def run_demo(out: str | os.PathLike[str], *, progress: bool = True, n_resamples: int = 200, seed: int = 0) -> Any:
    """Run the demo study into ``out``; returns the :class:`~mllmshift.study.runner.StudyResult`."""
    from mllmshift.study.runner import run_study

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(out, n_resamples=n_resamples, seed=seed)
    write_config_yaml(cfg, out / "demo_config.yaml")
    return run_study(cfg, out, progress=progress)
