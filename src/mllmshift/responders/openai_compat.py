"""The ``openai-compatible`` responder: any chat-completions server (vLLM, SGLang, Ollama, llama.cpp, OpenAI).

Each sample becomes one user message: the image (when the sample has one) as a
base64 ``data:`` URL content part, then the question as a text part; a sample
without an image is sent as plain text. Requests run concurrently (at most
``concurrency`` in flight) through :class:`~mllmshift.responders.http.ChatClient`,
which retries transient failures; an item whose last retry fails becomes a
:class:`~mllmshift.responders.outcomes.Failure` and the run goes on.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.records import Sample
from mllmshift.responders.base import Responder
from mllmshift.responders.http import ChatClient, RequestFailed, RetryPolicy, api_key_from_env
from mllmshift.responders.outcomes import Answer, Failure, collect

log = logging.getLogger("mllmshift.responders")

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))


def image_mime(data: bytes) -> str:
    """The MIME type of an image from its first bytes (PNG, JPEG, GIF, WebP or BMP; else ``ValueError``)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("not a PNG, JPEG, GIF, WebP or BMP image")


def image_data_url(path: str | Path) -> str:
    """``data:<mime>;base64,<bytes>`` for the image file at ``path``."""
    data = Path(path).read_bytes()
    return f"data:{image_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def build_messages(sample: Sample, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """The chat messages for one sample (image part first, as LLaVA-style models expect)."""
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    if sample.image is not None:
        content: Any = [{"type": "image_url", "image_url": {"url": image_data_url(sample.image)}},
                        {"type": "text", "text": sample.question}]
    else:
        content = sample.question
    messages.append({"role": "user", "content": content})
    return messages


def check_images(samples: Sequence[Sample]) -> None:
    """Every named image exists and is a readable image file, before any request is paid for."""
    for s in samples:
        if s.image is None:
            continue
        p = Path(s.image)
        if not p.is_file():
            raise DataError(f"sample '{s.id}': image file not found", path=p, field="image")
        with p.open("rb") as fh:
            head = fh.read(16)
        try:
            image_mime(head)
        except ValueError as err:
            raise DataError(f"sample '{s.id}': {err}", path=p, field="image") from None


class OpenAICompatibleResponder(Responder):
    """Answers from a chat-completions endpoint.

    Args:
        model: the served model name (``--model``).
        base_url: e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:11434/v1`` (Ollama).
        api_key_env: name of the environment variable holding the key (the key is never stored elsewhere).
        temperature, max_tokens, top_p, seed: generation parameters (``seed`` where the server supports it).
        system_prompt: optional system message.
        concurrency: requests in flight at once.
        max_attempts, timeout, backoff_base, backoff_max, deadline, retry_after_max: see :class:`~mllmshift.responders.http.RetryPolicy`.
        allow_empty: accept an empty answer instead of retrying it.
        extra_body: more request fields passed through (e.g. ``{"top_k": 1}`` for vLLM).
    """

    name = "openai-compatible"

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        *,
        api_key_env: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        top_p: float | None = None,
        seed: int | None = 0,
        system_prompt: str | None = None,
        concurrency: int = 8,
        max_attempts: int = 6,
        timeout: float = 120.0,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        deadline: float = 600.0,
        retry_after_max: float = 300.0,
        allow_empty: bool = False,
        extra_body: dict[str, Any] | None = None,
        client: ChatClient | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.seed = seed
        self.system_prompt = system_prompt
        self.concurrency = concurrency
        self.allow_empty = allow_empty
        self.extra_body = dict(extra_body or {})
        self.client = client or ChatClient(
            base_url, api_key=api_key_from_env(api_key_env),
            policy=RetryPolicy(max_attempts=max_attempts, timeout=timeout, backoff_base=backoff_base,
                               backoff_max=backoff_max, deadline=deadline, retry_after_max=retry_after_max),
            seed=seed if seed is not None else 0, on_retry=self._log_retry)

    @staticmethod
    def _log_retry(kind: str, message: str, attempt: int, wait: float) -> None:
        log.info("retrying after %s (attempt %d, waiting %.2fs): %s", kind, attempt, wait, message)

    def config(self) -> dict[str, Any]:
        """The generation configuration (what changes answers); no URL, no key."""
        cfg: dict[str, Any] = {"name": self.name, "model": self.model, "temperature": self.temperature,
                               "max_tokens": self.max_tokens}
        if self.top_p is not None:
            cfg["top_p"] = self.top_p
        if self.seed is not None:
            cfg["seed"] = self.seed
        if self.system_prompt:
            cfg["system_prompt"] = self.system_prompt
        if self.extra_body:
            cfg["extra_body"] = self.extra_body
        return cfg

    def payload(self, sample: Sample) -> dict[str, Any]:
        """The request body for one sample."""
        body: dict[str, Any] = {**self.extra_body, "model": self.model,
                                "messages": build_messages(sample, self.system_prompt),
                                "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        return body

    def _one(self, index: int, sample: Sample) -> Answer | Failure:
        try:
            result = self.client.chat(self.payload(sample), allow_empty=self.allow_empty)
        except RequestFailed as err:
            log.warning("item %s failed after %d attempts: %s", sample.id, err.attempts, err)
            return Failure(index, str(err), err.attempts, err.kind)
        return Answer(index, result.text, {"finish_reason": result.finish_reason})

    def iter_respond(self, samples: Sequence[Sample]) -> Iterator[Answer | Failure]:
        """Outcomes in completion order; at most ``concurrency`` requests in flight, ``2·concurrency`` queued."""
        check_images(samples)
        pool = cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mllmshift-respond")
        pending: set[cf.Future[Answer | Failure]] = set()
        todo = iter(enumerate(samples))
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * self.concurrency:
                    nxt = next(todo, None)
                    if nxt is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(self._one, *nxt))
                if not pending:
                    return
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()  # EndpointError propagates and stops the run
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def respond(self, samples: Sequence[Sample]) -> list[str]:
        """One answer per sample; raises :class:`~mllmshift.responders.outcomes.ResponseFailures` if any failed."""
        return collect(self.iter_respond(samples), samples)
