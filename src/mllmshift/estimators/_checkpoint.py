"""Saving and loading estimators, shared by every kind.

Trained estimators are one dict saved with ``torch.save`` and read back with ``weights_only=True``::

    {"format": <format tag>, "name": <registry name>, "config": {...constructor values...},
     "state_dict": {...tensors...}, "moments": {"x": [mean, std], "y": [mean, std]} (when inputs are
     standardised), "history": {...scalar facts about the fit...}}

(``mllmshift-club/1`` for CLUB and sampled CLUB, ``mllmshift-variational-mi/1`` for the critic-based
bounds.) Estimators without weights (KSG, Gaussian) are their config as JSON
(``mllmshift-stateless-mi/1``). Every write is atomic; every read failure is a
:class:`~mllmshift.errors.DataError` naming the file.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text

STATELESS_FORMAT = "mllmshift-stateless-mi/1"


def torch_checkpoint(*, format: str, name: str, config: Mapping[str, Any], state_dict: Mapping[str, Any],
                     history: Mapping[str, Any], moments: Mapping[str, Any] | None = None,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict of a trained estimator (see the module docstring); list-valued history entries are left
    out; ``extra`` holds fitted state besides the weights (tensors or scalars), when a class has some."""
    obj: dict[str, Any] = {"format": format, "name": name, "config": dict(config),
                           "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}
    if moments is not None:
        obj["moments"] = dict(moments)
    obj["history"] = {k: v for k, v in history.items() if not isinstance(v, list)}
    if extra:
        obj["extra"] = dict(extra)
    return obj


def write_torch_file(path: str | os.PathLike[str], obj: Mapping[str, Any]) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(dict(obj), buf)
    atomic_write_bytes(path, buf.getvalue())


def save_torch_checkpoint(path: str | os.PathLike[str], **fields: Any) -> None:
    """Write a trained estimator: :func:`torch_checkpoint` of ``fields``, atomically."""
    write_torch_file(path, torch_checkpoint(**fields))


def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """The object in a torch file (tensors and plain containers only), or a located DataError."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DataError("estimator checkpoint not found", path=p)
    try:
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as err:  # pickle / zip errors come in many types
        raise DataError(f"not a readable torch checkpoint: {err}", path=p) from None
    bad = _non_finite(obj)
    if bad is not None:
        raise DataError("holds NaN or infinite weights (a diverged or damaged fit); its estimates would be NaN",
                        path=p, field=bad)
    return obj


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The key path of the first floating-point tensor with a NaN or infinite entry in ``obj``, else None."""
    import torch

    if isinstance(obj, torch.Tensor):
        return where or "tensor" if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else None
    if isinstance(obj, Mapping):
        items: Any = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        hit = _non_finite(v, f"{where}.{k}" if where else str(k))
        if hit is not None:
            return hit
    return None


def read_torch_checkpoint(path: str | os.PathLike[str], format: str, name: str) -> dict[str, Any]:
    """A checkpoint dict of ``format`` holding the estimator ``name``, or a DataError saying what it holds."""
    obj = load_torch_file(path)
    if not isinstance(obj, dict) or obj.get("format") != format:
        raise DataError(f"not a {format} checkpoint", path=path)
    if obj.get("name") != name:
        raise DataError(f"checkpoint holds a '{obj.get('name')}' estimator, not '{name}'", path=path, field="name")
    return obj


def save_stateless(config: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a stateless estimator's config (its whole state, ``name`` included) as JSON."""
    atomic_write_text(path, json.dumps({"format": STATELESS_FORMAT, **config}, indent=2) + "\n")


def load_stateless(name: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The constructor values saved by :func:`save_stateless`, checked against ``name``."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("estimator file not found", path=p) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"not a JSON estimator file: {err}", path=p) from None
    if not isinstance(obj, dict) or obj.get("format") != STATELESS_FORMAT:
        raise DataError(f"not a {STATELESS_FORMAT} file", path=p, field="format")
    if obj.get("name") != name:
        raise DataError(f"file holds a '{obj.get('name')}' estimator, not '{name}'", path=p, field="name")
    return {k: v for k, v in obj.items() if k not in ("format", "name")}
