"""Distribution shifts: image corruptions, text perturbations and scenario grids.

Two registries, used as::

    image_corruptions.create("defocus_blur", severity=3).apply(img, seed=0)   # -> PIL image
    text_perturbations.create("keyboard", level=1).apply("text", seed=0)      # -> PerturbationResult

and :mod:`mllmshift.shifts.grid` to expand a declarative grid of visual ×
text shifts into named scenarios (the paper's naming) and write each as a
dataset.
"""

from mllmshift.registry import Registry
from mllmshift.shifts.base import (
    DEFAULT_MAX_PIXELS,
    Change,
    ImageCorruption,
    ImageTooLargeError,
    PerturbationResult,
    TextPerturbation,
    load_image,
    stable_seed,
)
from mllmshift.shifts.image import CORRUPTIONS
from mllmshift.shifts.text import PERTURBATIONS

image_corruptions: Registry[type[ImageCorruption]] = Registry(
    "image corruption", plugin_kind="image_corruptions", base=ImageCorruption)
for _name, _target in CORRUPTIONS.items():
    image_corruptions.register(_name, _target, extra="shifts")

text_perturbations: Registry[type[TextPerturbation]] = Registry(
    "text perturbation", plugin_kind="text_perturbations", base=TextPerturbation)
for _name, (_target, _desc) in PERTURBATIONS.items():
    text_perturbations.register(_name, _target, extra="shifts", description=_desc)
del _name, _target, _desc

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Change",
    "ImageCorruption",
    "ImageTooLargeError",
    "PerturbationResult",
    "TextPerturbation",
    "image_corruptions",
    "load_image",
    "stable_seed",
    "text_perturbations",
]
