"""Responders: produce the evaluated model's answers (``Ŷ``) for a split."""

from mllmshift.registry import Registry
from mllmshift.responders.base import Responder

responders: Registry[type[Responder]] = Registry("responder")

__all__ = ["Responder", "responders"]
