"""The ``hf`` responder: a local Hugging Face vision-language model.

Loads ``AutoProcessor`` and ``AutoModelForImageTextToText`` (LLaVA-1.5,
LLaVA-NeXT, Qwen2-VL, Idefics, ... anything the installed transformers maps
there), formats each sample with the model's own chat template (an ``image``
content part, then the question), and generates in batches with left padding.
Greedy decoding by default (``temperature=0``); with ``temperature > 0`` it
samples after ``torch.manual_seed(seed)`` per batch.

Samples with and without an image are batched separately (a processor cannot
mix them in one call). A batch that raises (out of memory, a corrupt image)
fails its items, which the answer file lists and a rerun retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from mllmshift.errors import MissingDependencyError, MllmshiftError
from mllmshift.records import Sample
from mllmshift.responders.base import Responder
from mllmshift.responders.outcomes import Answer, Failure, collect

log = logging.getLogger("mllmshift.responders")

DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``mps``, else ``cpu``; anything else as given."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` → bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on CPU."""
    import torch

    if dtype not in DTYPES:
        raise MllmshiftError(f"unknown dtype '{dtype}'; choose from {DTYPES}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


class HFResponder(Responder):
    """Answers from a local ``transformers`` image-text-to-text model.

    Args:
        model: a model id or local path, or an already built model (then ``processor`` is required).
        processor: the matching processor (loaded with ``AutoProcessor`` when ``model`` is a path).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        dtype: ``auto``, ``float32``, ``float16``, ``bfloat16``.
        batch_size: samples per ``generate`` call.
        max_new_tokens, temperature, top_p, seed: generation (greedy when ``temperature == 0``).
        system_prompt: optional system message (only for chat templates that accept one).
        revision, local_files_only, trust_remote_code: passed to ``from_pretrained``.
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        processor: Any = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int = 0,
        system_prompt: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        try:
            import torch
            import transformers
        except ModuleNotFoundError as err:
            raise MissingDependencyError("the hf responder", err.name or "transformers", "hf") from err
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.dtype_name = dtype
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.system_prompt = system_prompt
        if isinstance(model, str):
            self.model_name = model
            kw: dict[str, Any] = {"revision": revision, "local_files_only": local_files_only,
                                  "trust_remote_code": trust_remote_code}
            self.processor = processor or transformers.AutoProcessor.from_pretrained(model, **kw)
            torch_dtype = resolve_dtype(dtype, self.device)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(model, dtype=torch_dtype, **kw)
        else:
            if processor is None:
                raise MllmshiftError("an HFResponder built from a model object needs its processor")
            self.model, self.processor = model, processor
            self.model_name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
            if dtype != "auto":
                self.model = self.model.to(resolve_dtype(dtype, self.device))
        self.model = self.model.to(self.device).eval()
        self._torch = torch
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"name": self.name, "model": self.model_name, "dtype": str(self.model.dtype),
                               "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                               "do_sample": self.temperature > 0, "seed": self.seed}
        if self.top_p is not None:
            cfg["top_p"] = self.top_p
        if self.system_prompt:
            cfg["system_prompt"] = self.system_prompt
        return cfg

    def prompt(self, sample: Sample) -> str:
        """The sample formatted with the model's chat template (generation prompt appended)."""
        content: list[dict[str, Any]] = [{"type": "image"}] if sample.image is not None else []
        content.append({"type": "text", "text": sample.question})
        conv: list[dict[str, Any]] = []
        if self.system_prompt:
            conv.append({"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        conv.append({"role": "user", "content": content})
        return self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)

    def _generate(self, samples: Sequence[Sample]) -> list[str]:
        from mllmshift.io.images import load_image

        torch = self._torch
        prompts = [self.prompt(s) for s in samples]
        images = [load_image(s.image, field="image") for s in samples if s.image is not None]
        kwargs: dict[str, Any] = {"text": prompts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        inputs = self.processor(**kwargs).to(self.device)
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        gen: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.temperature > 0}
        if self.temperature > 0:
            gen["temperature"] = self.temperature
            if self.top_p is not None:
                gen["top_p"] = self.top_p
            torch.manual_seed(self.seed)
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None and tokenizer.pad_token_id is not None:
            gen["pad_token_id"] = tokenizer.pad_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def iter_respond(self, samples: Sequence[Sample]) -> Iterator[Answer | Failure]:
        """Outcomes batch by batch (image and text-only samples in separate batches)."""
        for group in ([i for i, s in enumerate(samples) if s.image is not None],
                      [i for i, s in enumerate(samples) if s.image is None]):
            for start in range(0, len(group), self.batch_size):
                idx = group[start:start + self.batch_size]
                try:
                    texts = self._generate([samples[i] for i in idx])
                except (RuntimeError, ValueError, OSError) as err:  # OOM, bad image, processor mismatch
                    log.warning("batch of %d items failed: %s", len(idx), err)
                    for i in idx:
                        yield Failure(i, f"{type(err).__name__}: {err}")
                    continue
                for i, text in zip(idx, texts):
                    yield Answer(i, text)

    def respond(self, samples: Sequence[Sample]) -> list[str]:
        return collect(self.iter_respond(samples), samples)
