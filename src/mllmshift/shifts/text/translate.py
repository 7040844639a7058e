"""Translation shift: the question translated by a pluggable translator, plus an instruction.

The paper's natural text shifts translate the English question (German,
Chinese, Korean, Greek, Arabic, Hindi) and append "Please answer in English.".
There is no offline translator: pass any object with
``translate(text, target, *, source, seed) -> str``, or configure
:class:`OpenAICompatibleTranslator` (any ``/chat/completions`` endpoint).
Placeholders such as ``<image>`` are cut out before translating and put back
in place, so they are never damaged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mllmshift.errors import MllmshiftError
from mllmshift.shifts.base import Change, PerturbationResult, TextPerturbation
from mllmshift.shifts.params import ShiftParamError, ShiftParams
from mllmshift.shifts.text.tokens import PLACEHOLDER_RE


class TranslationError(MllmshiftError):
    """The translator failed or answered something unusable."""


@runtime_checkable
class Translator(Protocol):
    def translate(self, text: str, target: str, *, source: str = "English", seed: int | None = None) -> str: ...


DEFAULT_PROMPT = ("Translate the user's text from {source} to {target}. Reply with the translation only, "
                  "no quotes, notes or explanations.")


class OpenAICompatibleTranslator:
    """A translator calling an OpenAI-compatible chat-completions endpoint (temperature 0, seeded).

    Requests go through the responders' hardened client (:class:`mllmshift.responders.http.ChatClient`):
    retries with backoff on 408/409/425/429/5xx, timeouts and dropped connections; 401/403/404 and
    other 4xx fail at once. The API key is read from ``api_key`` or the environment variable
    ``api_key_env``, is redacted from every error message (:mod:`mllmshift.secrets`) and is never
    written to manifests (:meth:`config` leaves it out).
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.0, timeout: float = 60.0,
                 max_retries: int = 3, prompt: str = DEFAULT_PROMPT) -> None:
        from mllmshift.responders.http import ChatClient, RetryPolicy

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.prompt = prompt
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        self._client = ChatClient(self.base_url, api_key=key,
                                  policy=RetryPolicy(max_attempts=max_retries + 1, timeout=timeout, backoff_max=10.0))

    def config(self) -> dict[str, Any]:
        from mllmshift.secrets import redact_url

        return {"base_url": redact_url(self.base_url), "model": self.model, "temperature": self.temperature,
                "api_key_env": self.api_key_env, "prompt": self.prompt}

    def translate(self, text: str, target: str, *, source: str = "English", seed: int | None = None) -> str:
        from mllmshift.responders.http import EndpointError, RequestFailed

        body: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [{"role": "system", "content": self.prompt.format(source=source, target=target)},
                         {"role": "user", "content": text}],
        }
        if seed is not None:
            body["seed"] = int(seed) % (2**31)
        try:
            content = self._client.chat(body).text
        except EndpointError as err:  # already located and redacted
            raise TranslationError(str(err)) from None
        except RequestFailed as err:
            raise TranslationError(f"{self._client.url}: {err}") from None
        return content.strip()


@dataclass(frozen=True)
class TranslationParams(ShiftParams):
    #: the target language (required; None only in :meth:`Translation.params_for`'s template)
    language: str | None
    append: str = "Please answer in English."
    source: str = "English"

    def check(self) -> None:
        if self.language is not None and not self.language.strip():
            raise ShiftParamError("parameter 'language' must name a language, e.g. 'German'", param="language")


class Translation(TextPerturbation):
    """Translate to ``language`` (placeholders kept) and append ``append``."""

    name = "translate"
    Params = TranslationParams
    levelled = False

    def __init__(self, level: int | None = None, *, translator: Translator | Mapping[str, Any] | None = None,
                 **overrides: Any) -> None:
        if "language" not in overrides:
            raise ShiftParamError("translate: the target language is required (language='German')", param="language")
        super().__init__(level, **overrides)
        if isinstance(translator, Mapping):
            translator = OpenAICompatibleTranslator(**translator)
        self.translator = translator

    @classmethod
    def params_for(cls, level: int | None) -> TranslationParams:
        return TranslationParams(language=None)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        conf = getattr(self.translator, "config", None)
        cfg["translator"] = conf() if callable(conf) else type(self.translator).__name__
        return cfg

    def check_ready(self) -> None:
        if self.translator is None:
            raise MllmshiftError("translate: no translator configured; pass translator=OpenAICompatibleTranslator("
                                 "base_url=..., model=...), params {translator: {base_url, model}} in a grid, or "
                                 "--translator-url/--translator-model")

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        self.check_ready()
        p = self.params
        seed = int(rng.integers(2**31))
        holders = [m.group(0) for m in PLACEHOLDER_RE.finditer(text)]
        if not holders:
            translated = self._call(text.strip(), seed)
        else:
            # mask placeholders with markers the translator should copy; fall back to piecewise translation
            masked = PLACEHOLDER_RE.sub(lambda m, c=iter(range(len(holders))): f"[[{next(c)}]]", text)
            out = self._call(masked.strip(), seed)
            if all(out.count(f"[[{i}]]") == 1 for i in range(len(holders))):
                for i, h in enumerate(holders):
                    out = out.replace(f"[[{i}]]", h)
                translated = out
            else:
                translated = self._piecewise(text, seed)
        if p.append:
            translated = f"{translated.rstrip()} {p.append}"
        return PerturbationResult(translated, (Change(0, len(text), text, translated, "translate"),))

    def _call(self, text: str, seed: int) -> str:
        assert self.translator is not None
        out = self.translator.translate(text, self.params.language, source=self.params.source, seed=seed)
        if not isinstance(out, str):
            raise TranslationError(f"translator returned {type(out).__name__}, not str")
        return out.strip()

    def _piecewise(self, text: str, seed: int) -> str:
        pieces: list[str] = []
        pos = 0
        for m in [*PLACEHOLDER_RE.finditer(text), None]:
            end = m.start() if m else len(text)
            chunk = text[pos:end]
            if chunk.strip():
                lead = chunk[: len(chunk) - len(chunk.lstrip())]
                trail = chunk[len(chunk.rstrip()):]
                pieces.append(lead + self._call(chunk.strip(), seed) + trail)
            else:
                pieces.append(chunk)
            if m:
                pieces.append(m.group(0))
                pos = m.end()
        return "".join(pieces)
