"""Small helpers shared by the Hugging Face encoders: device, dtype and model identity."""

from __future__ import annotations

import hashlib
from typing import Any

from mllmshift.errors import DataError, MissingDependencyError

DTYPES = ("float32", "float16", "bfloat16")


def require_transformers(what: str) -> Any:
    try:
        import transformers
    except ImportError as err:
        raise MissingDependencyError(what, "transformers", "hf") from err
    return transformers


def resolve_device(device: str | None) -> str:
    """``device``, or the current device of :func:`mllmshift.devices.using_device` (the CPU by default)."""
    from mllmshift.devices import current_device, resolve_device as resolve

    return resolve(device) if device else current_device()


def resolve_dtype(dtype: Any) -> Any:
    """A torch dtype from None (float32), a name in :data:`DTYPES` or a ``torch.dtype``."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise DataError(f"unknown dtype '{dtype}'; choose from {DTYPES}", field="dtype")
    return getattr(torch, dtype)


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def weights_digest(module: Any) -> str:
    """SHA-256 (16 hex) of a module's parameters and buffers (names, shapes, dtypes, values).

    Identifies an in-memory model that has no name on disk, so the cache never
    confuses two differently initialised models.
    """
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}:".encode())
        if t.numel():
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def model_identity(model_name_or_path: str | None, model: Any) -> str:
    """``model_name_or_path`` when the model was loaded by name, else a digest of its weights."""
    if model_name_or_path:
        return str(model_name_or_path)
    return f"weights:{weights_digest(model)}"
