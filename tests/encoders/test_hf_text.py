"""HF embedding-layer text encoder on a tiny random XLM-R with a tokenizer trained in the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
import torch  # noqa: E402

from mllmshift.encoders import encoders  # noqa: E402
from mllmshift.encoders.hf_text import HFEmbeddingLayer, masked_mean_without_first  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402

CORPUS = ["the cat sat on the mat", "a dog barked at the mailman", "what colour is the car in the picture",
          "der Hund bellt laut", "how many people are standing near the red bus"]


def tiny_tokenizer() -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    assert (tok.token_to_id("<s>"), tok.token_to_id("<pad>"), tok.token_to_id("</s>")) == (0, 1, 2)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>", unk_token="<unk>", padding_side="right")


@pytest.fixture(scope="module")
def tiny() -> tuple[object, object]:
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    cfg = transformers.XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                                        pad_token_id=1, bos_token_id=0, eos_token_id=2)
    return transformers.XLMRobertaModel(cfg).eval(), tokenizer


def naive(model: object, tokenizer: object, text: str) -> np.ndarray:
    """One text, no padding: mean of embedding-layer outputs over tokens 1..L-1."""
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        e = model(**ids, output_hidden_states=True).hidden_states[0][0]
    v = e[1:].mean(0).numpy()
    return v / np.linalg.norm(v)


def test_equals_naive_per_text_computation(tiny) -> None:
    model, tokenizer = tiny
    enc = HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu", batch_size=3)
    e = enc.encode(CORPUS)
    assert e.shape == (5, 16) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(e, np.stack([naive(model, tokenizer, t) for t in CORPUS]), atol=1e-5)


def test_padding_invariance(tiny) -> None:
    model, tokenizer = tiny
    enc = HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu")
    short, long_ = "the cat", "how many people are standing near the red bus in the picture"
    alone = enc.encode([short])[0]
    padded = enc.encode([short, long_])[0]
    ids = tokenizer([short, long_], padding=True)["attention_mask"]
    assert sum(ids[0]) < sum(ids[1])  # the short text really was padded
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_first_token_is_excluded_closed_form() -> None:
    hidden = torch.tensor([[[100.0, 100.0], [1.0, 2.0], [3.0, 4.0], [50.0, 50.0]]])
    mask = torch.tensor([[1, 1, 1, 0]])
    np.testing.assert_allclose(masked_mean_without_first(hidden, mask).numpy(), [[2.0, 3.0]])


def test_is_the_embedding_module_output(tiny) -> None:
    """Oracle without hidden_states: call the model's embeddings module directly."""
    model, tokenizer = tiny
    ids = tokenizer([CORPUS[2]], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        emb = model.embeddings(input_ids=ids)[0, 1:].mean(0).numpy()
    e = HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu").encode(CORPUS[2:3])[0]
    np.testing.assert_allclose(e, emb / np.linalg.norm(emb), atol=1e-5)


def test_truncation_to_max_length(tiny) -> None:
    model, tokenizer = tiny
    enc = HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu", max_length=4)
    # max_length 4 keeps <s> + 3 tokens: "the cat sat" (the "</s>" is cut by plain truncation of the template)
    ids = tokenizer([CORPUS[0]], truncation=True, max_length=4, return_tensors="pt")
    with torch.no_grad():
        e = model(**ids, output_hidden_states=True).hidden_states[0][0, 1:].mean(0).numpy()
    np.testing.assert_allclose(enc.encode(CORPUS[:1])[0], e / np.linalg.norm(e), atol=1e-5)
    assert enc.fingerprint() != HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu").fingerprint()


def test_saved_folder_through_registry(tiny, tmp_path: Path) -> None:
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    enc = encoders.create("hf-embedding-layer", model_name_or_path=str(tmp_path), device="cpu",
                          local_files_only=True)
    assert enc.dim == 16 and enc._model is None
    np.testing.assert_allclose(enc.encode(CORPUS[:2]), np.stack([naive(model, tokenizer, t) for t in CORPUS[:2]]),
                               atol=1e-5)


def test_non_text_item_is_a_data_error(tiny) -> None:
    model, tokenizer = tiny
    with pytest.raises(DataError, match="item 0 is NoneType"):
        HFEmbeddingLayer(model=model, tokenizer=tokenizer, device="cpu").encode([None, "x"])
