"""Ready-made studies: a preset builds the ID split and the scenario set from a known data layout.

A preset is a callable ``build(**options) -> StudyPlan`` registered in :data:`presets`; its
``default_config(**options)`` gives the encoders and estimator it is meant to run with. Use one from a
config (``preset: {name: llava_bench, options: {root: ../shared/data}}``) or the command line
(``mllmshift study --preset llava_bench --data ../shared/data --out DIR``).
"""

from __future__ import annotations

import importlib
from typing import Any

from mllmshift.registry import Registry

presets: Registry[Any] = Registry("study preset")
presets.register("llava_bench", "mllmshift.study.presets.llava_bench:build",
                 description="LLaVA-Bench shift (Oh et al. 2025): llava_bench_coco as ID, 34 synthetic + 27 natural "
                 "scenarios, from a folder laid out like ../shared/data")


def default_config(name: str, **options: Any) -> Any:
    """The :class:`~mllmshift.study.config.StudyConfig` a preset is meant to run with."""
    build = presets.get(name)  # a clear error for an unknown name
    return importlib.import_module(build.__module__).default_config(**options)


__all__ = ["presets", "default_config"]
