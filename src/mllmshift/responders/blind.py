"""A **blind responder**: it ignores its input, so an honest EMI must rank it below any responder that looks.

Answer ``i`` of a call is ``answers[k_i]`` with ``k_1, …, k_n`` drawn uniformly from
``range(len(answers))`` by ``numpy.random.default_rng(seed)``: a function of the seed and the position
alone, never of the sample's image, question or id. The answers Ŷ are therefore independent of the
input X, I(X; Ŷ) = 0, and EMI = I(X; Ŷ) − I(X; Y) = −I(X; Y), the lowest value any responder can have
against the same references. With a single answer it is a constant responder (every MI estimator then
gives exactly 0 for I(X; Ŷ)); the default pool of generic answers makes the estimator tell independence
from a varying answer.

It exists as a negative control: the demo runs it beside the baseline responder and reports where EMI
ranks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mllmshift.records import Sample
from mllmshift.responders.base import Responder

#: generic answers that fit any photo question and say nothing about a particular one
DEFAULT_ANSWERS: tuple[str, ...] = (
    "I can see a few objects in the picture.",
    "It looks like an ordinary photo taken during the day.",
    "There is something in the middle of the image.",
    "The picture shows a scene with several things in it.",
    "I am not sure what this is.",
    "It seems to be a common everyday object.",
)


class BlindResponder(Responder):
    """Answers drawn from a fixed pool, independently of the input (see the module docstring).

    Args:
        answers: the pool (non-empty strings); default :data:`DEFAULT_ANSWERS`.
        seed: seed of the draws.
    """

    name = "blind"
    label = "a blind responder (ignores the image and the question; answers drawn from a fixed pool of generic texts)"

    def __init__(self, answers: Sequence[str] | None = None, seed: int = 0) -> None:
        pool = tuple(DEFAULT_ANSWERS if answers is None else answers)
        if not pool or not all(isinstance(a, str) and a.strip() for a in pool):
            raise ValueError("answers must be a non-empty list of non-empty strings")
        self.answers = pool
        self.seed = int(seed)

    def respond(self, samples: Sequence[Sample]) -> list[str]:
        import numpy as np

        picks = np.random.default_rng(self.seed).integers(len(self.answers), size=len(samples))
        return [self.answers[k] for k in picks]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "answers": list(self.answers), "seed": self.seed}
