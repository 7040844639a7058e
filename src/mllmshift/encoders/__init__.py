"""Encoders: texts and images → L2-normalised embedding rows, with a content-addressed cache.

Registered names (stable, used in configs):

- ``use-multilingual``: multilingual Universal Sentence Encoder v3 (512-d), offline, the default text encoder.
- ``multilingual-e5-small``: multilingual-e5-small (384-d, ~100 languages incl. Greek and Hindi), 4-bit,
  offline; slower than USE.
- ``efficientnet-lite0``: EfficientNet-Lite0 ImageNet features (1280-d), offline, the default image encoder.
- ``clip-vision``: a Hugging Face CLIP vision tower, mean of last-layer patch tokens (the paper's image encoder).
- ``hf-embedding-layer``: a Hugging Face text model's ``hidden_states[0]``, masked mean without the first token
  (the paper's XLM-R text encoder).
- ``hashing-bow``: hashed bag of words, no model; for tests and smoke runs only.
- ``content-hash``: a random unit vector per distinct text or image (seeded by its content hash), no meaning;
  for tests and dry runs with images.

:func:`mllmshift.encoders.pipeline.embed_split` turns a split into an
:class:`~mllmshift.embeddings.EmbeddedSplit`; :class:`mllmshift.encoders.cache.EmbeddingCache`
keeps every computed row on disk.
"""

from mllmshift.encoders.base import Encoder, l2_normalise
from mllmshift.registry import Registry

encoders: Registry[type[Encoder]] = Registry("encoder", plugin_kind="encoders", base=Encoder)
encoders.register("use-multilingual", "mllmshift.encoders.use_multilingual:USEMultilingual", extra="encoders",
                  description="multilingual Universal Sentence Encoder v3, 512-d, offline (default text)")
encoders.register("multilingual-e5-small", "mllmshift.encoders.e5:MultilingualE5Small", extra="encoders",
                  description="multilingual-e5-small, 384-d, ~100 languages, 4-bit, offline (slower than USE)")
encoders.register("efficientnet-lite0", "mllmshift.encoders.efficientnet:EfficientNetLite0", extra="encoders",
                  description="EfficientNet-Lite0 ImageNet pooled features, 1280-d, offline (default image)")
encoders.register("clip-vision", "mllmshift.encoders.hf_clip:CLIPVision", extra="hf",
                  description="HF CLIP vision tower, mean of last-layer patch tokens (paper's image encoder)")
encoders.register("hf-embedding-layer", "mllmshift.encoders.hf_text:HFEmbeddingLayer", extra="hf",
                  description="HF text model hidden_states[0], masked mean without first token (paper's text encoder)")

encoders.register("hashing-bow", "mllmshift.encoders.hashing:HashingBOW",
                  description="hashed bag-of-words text encoder, no model (tests and smoke runs only)")
encoders.register("content-hash", "mllmshift.encoders.content_hash:HashEncoder",
                  description="random vector per distinct text/image content, no meaning (tests and dry runs)")

__all__ = ["Encoder", "encoders", "l2_normalise"]
