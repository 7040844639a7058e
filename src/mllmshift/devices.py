"""Which torch device encoders, estimator training and scoring run on: ``cpu`` (the default), ``cuda`` or ``auto``.

:func:`using_device` sets the device for a block of work (``with using_device("auto"): ...``); whatever
builds a network inside it and is not told a device explicitly (estimators, encoders) uses
:func:`current_device`. The setting is a context variable, so it is scoped to the block (and the thread or
task) that set it, never process-wide. Outside any block it is the CPU, so results are those of the CPU
path unless a caller asks for a GPU. ``auto`` means CUDA when torch sees one, else the CPU; ``cuda``
without one is a :class:`~mllmshift.errors.DataError` naming the field ``device``, not a silent fallback.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from mllmshift.errors import DataError
from mllmshift.vocab import DEVICES


_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("mllmshift_device", default="cpu")


def resolve_device(name: str) -> str:
    """``cpu`` or ``cuda`` (with an index if given, ``cuda:1``) for a requested device name."""
    import torch

    base = name.split(":", 1)[0]
    if base not in DEVICES:
        raise DataError(f"unknown device {name!r}; choose from {', '.join(DEVICES)} (or cuda:N)", field="device")
    if base == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if base == "cuda" and not torch.cuda.is_available():
        raise DataError(f"{name!r} was asked for (--device, or device: in a study config), but torch sees no CUDA "
                        f"device on this machine (torch {torch.__version__}); use cpu or auto", field="device")
    return name


@contextlib.contextmanager
def using_device(name: str) -> Iterator[str]:
    """Run the block with ``name`` (resolved) as the current device; yields the resolved name."""
    token = _CURRENT.set(resolve_device(name))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def current_device() -> str:
    """The device set by the innermost :func:`using_device` block (``cpu`` outside any)."""
    return _CURRENT.get()
