"""Responders: produce the evaluated model's answers (``Ŷ``) for a split."""

from mllmshift.registry import Registry
from mllmshift.responders.base import Responder

responders: Registry[type[Responder]] = Registry("responder", plugin_kind="responders", base=Responder)
responders.register("baseline", "mllmshift.responders.baseline:BaselineResponder",
                    description="built-in baseline (not an LLM): EfficientNet-Lite0 ImageNet classes + answer templates")
responders.register("blind", "mllmshift.responders.blind:BlindResponder",
                    description="negative control: ignores its input, answers drawn from a fixed pool of generic texts")

__all__ = ["Responder", "responders"]
responders.register("openai-compatible", "mllmshift.responders.openai_compat:OpenAICompatibleResponder",
                    description="any chat-completions server (vLLM, SGLang, Ollama, llama.cpp, OpenAI)")
responders.register("hf", "mllmshift.responders.hf:HFResponder", extra="hf",
                    description="local Hugging Face vision-language model (AutoModelForImageTextToText)")
