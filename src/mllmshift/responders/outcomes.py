"""What a responder yields per item: an answer or a failure, never an empty stand-in.

Responders that talk to remote or slow models implement
``iter_respond(samples) -> Iterator[Answer | Failure]`` and yield each outcome
as soon as it exists (in any order, ``index`` says which sample), so the
answer file can be appended item by item. :func:`iter_outcomes` gives that
interface to any :class:`~mllmshift.responders.base.Responder`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mllmshift.errors import MllmshiftError
from mllmshift.records import Sample
from mllmshift.responders.base import Responder


@dataclass(frozen=True)
class Answer:
    """The response to ``samples[index]`` and facts about how it was made (finish reason, attempts)."""

    index: int
    text: str
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """``samples[index]`` got no answer: ``error`` says why (secrets redacted), after ``attempts`` tries."""

    index: int
    error: str
    attempts: int = 1
    kind: str = "error"


class ResponseFailures(MllmshiftError):
    """Some items got no answer (raised by ``respond``, which must return one answer per sample)."""

    def __init__(self, failures: Sequence[Failure], samples: Sequence[Sample]) -> None:
        self.failures = list(failures)
        head = "; ".join(f"{samples[f.index].id}: {f.error}" for f in self.failures[:3])
        more = f" (and {len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        super().__init__(f"{len(self.failures)} of {len(samples)} items got no answer: {head}{more}")


def collect(outcomes: Iterator[Answer | Failure], samples: Sequence[Sample]) -> list[str]:
    """Answers in sample order, or :class:`ResponseFailures` naming every failed item."""
    texts: list[str | None] = [None] * len(samples)
    failures: list[Failure] = []
    for outcome in outcomes:
        if isinstance(outcome, Failure):
            failures.append(outcome)
        else:
            texts[outcome.index] = outcome.text
    if failures:
        raise ResponseFailures(sorted(failures, key=lambda f: f.index), samples)
    missing = [samples[i].id for i, t in enumerate(texts) if t is None]
    if missing:  # a responder bug, never a silent gap
        raise MllmshiftError(f"responder yielded no outcome for {len(missing)} items, e.g. {missing[0]}")
    return [t for t in texts if t is not None]


def iter_outcomes(responder: Responder, samples: Sequence[Sample], batch_size: int = 1) -> Iterator[Answer | Failure]:
    """Outcomes of ``responder`` on ``samples``: its own ``iter_respond`` when it has one, else batches of
    ``respond`` (an exception fails that batch's items; the run goes on)."""
    native = getattr(responder, "iter_respond", None)
    if callable(native):
        yield from native(samples)
        return
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        try:
            texts = responder.respond(chunk)
        except MllmshiftError as err:
            for i in range(len(chunk)):
                yield Failure(start + i, str(err))
            continue
        if len(texts) != len(chunk):
            raise MllmshiftError(f"responder '{responder.name}' returned {len(texts)} answers for {len(chunk)} samples")
        for i, text in enumerate(texts):
            yield Answer(start + i, text)
