"""The responder interface: samples in, the evaluated model's answers out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mllmshift.records import Sample


class Responder(ABC):
    """Produces the model response ``Ŷ`` for each sample (its image and question)."""

    #: registry name (stable; written into answer files as ``model_id`` unless overridden)
    name: str = "responder"
    #: how reports describe the responder (empty: its name)
    label: str = ""
    #: samples handed to :meth:`respond` at a time when answers are written item by item
    batch_size: int = 1

    @abstractmethod
    def respond(self, samples: Sequence[Sample]) -> list[str]:
        """One answer per sample, in order."""

    def config(self) -> dict[str, Any]:
        """Everything that changes the answers (model, generation parameters), never secrets."""
        return {"name": self.name}
