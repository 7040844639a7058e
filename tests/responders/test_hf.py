"""The ``hf`` responder on a tiny randomly initialised LLaVA built from a config (nothing downloaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
PIL_Image = pytest.importorskip("PIL.Image")

from mllmshift.records import Sample, Split  # noqa: E402
from mllmshift.responders.hf import HFResponder, resolve_device, resolve_dtype  # noqa: E402

WORDS = "USER: ASSISTANT: what is in the image ? describe this picture a cat dog red blue one two".split()
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<image>"]
TEMPLATE = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
            "{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}{% if add_generation_prompt %}ASSISTANT:"
            "{% endif %}")


@pytest.fixture(scope="module")
def tiny_llava():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (AutoModelForImageTextToText, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaProcessor, PreTrainedTokenizerFast)

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor  # transformers 5 without torchvision
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor

    torch.set_num_threads(1)
    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    processor = LlavaProcessor(
        image_processor=ImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=TEMPLATE, image_token="<image>")
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=28, patch_size=14),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                                pad_token_id=1, bos_token_id=2, eos_token_id=3),
        image_token_index=vocab["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config)
    return model, processor


@pytest.fixture
def images(tmp_path):
    paths = []
    for seed in (1, 2):
        arr = (np.random.default_rng(seed).random((40, 50, 3)) * 255).astype("uint8")
        p = tmp_path / f"im{seed}.png"
        PIL_Image.fromarray(arr).save(p)
        paths.append(str(p))
    return paths


def naive_greedy(model, processor, prompt: str, image: str, n: int) -> str:
    """Independent greedy decoding: one forward pass with the image, then token by token with the KV cache."""
    with PIL_Image.open(image) as im:
        inputs = processor(images=[im.convert("RGB")], text=[prompt], return_tensors="pt")
    mask = inputs["attention_mask"]
    out_ids: list[int] = []
    with torch.no_grad():
        out = model(**inputs, use_cache=True)
        for _ in range(n):
            nxt = int(out.logits[0, -1].argmax())
            out_ids.append(nxt)
            if nxt == model.config.text_config.eos_token_id:
                break
            mask = torch.cat([mask, torch.ones(1, 1, dtype=mask.dtype)], dim=1)
            out = model(input_ids=torch.tensor([[nxt]]), attention_mask=mask, past_key_values=out.past_key_values,
                        use_cache=True)
    return processor.batch_decode([out_ids], skip_special_tokens=True)[0].strip()


def test_batched_greedy_generation_for_two_images_matches_naive_decoding(tiny_llava, images):
    model, processor = tiny_llava
    samples = [Sample("a", "what is in the image ?", image=images[0]),
               Sample("b", "describe this picture", image=images[1])]  # different lengths: left padding matters
    r = HFResponder(model, processor, device="cpu", batch_size=2, max_new_tokens=6)
    got = r.respond(samples)
    assert len(got) == 2
    expected = [naive_greedy(model, processor, r.prompt(s), s.image, 6) for s in samples]
    assert got == expected
    assert all(got)  # the random model does say something
    one_by_one = HFResponder(model, processor, device="cpu", batch_size=1, max_new_tokens=6).respond(samples)
    assert one_by_one == got
    assert r.prompt(samples[0]) == "USER: <image> what is in the image ? ASSISTANT:"
    cfg = r.config()
    assert cfg["do_sample"] is False and cfg["max_new_tokens"] == 6 and cfg["dtype"] == "torch.float32"
    assert "device" not in cfg


def test_answer_file_from_hf_responder_and_text_only_batches(tiny_llava, images, tmp_path):
    from mllmshift.responders.answer_file import respond_to_file

    model, processor = tiny_llava
    split = Split("s", [Sample("0", "what is in the image ?", image=images[0]), Sample("1", "describe this"),
                        Sample("2", "describe this picture", image=images[1])])
    r = HFResponder(model, processor, device="cpu", batch_size=8, max_new_tokens=4)
    report = respond_to_file(r, split, tmp_path / "s.jsonl", model_id="tiny-llava")
    assert report.complete and not report.failed
    recs = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [x["question_id"] for x in recs] == [0, 1, 2]
    assert recs[0]["text"] == r.respond([split[0]])[0]
    assert recs[1]["metadata"]["config"]["model"] == r.model_name


def test_a_bad_image_fails_its_batch_not_the_run(tiny_llava, images, tmp_path):
    from mllmshift.responders.outcomes import Answer, Failure

    model, processor = tiny_llava
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    r = HFResponder(model, processor, device="cpu", batch_size=1, max_new_tokens=2)
    outs = list(r.iter_respond([Sample("x", "q", image=str(bad)), Sample("y", "what is in the image ?",
                                                                            image=images[0])]))
    assert isinstance(outs[0], Failure) and outs[0].index == 0
    assert isinstance(outs[1], Answer) and outs[1].index == 1


def test_device_and_dtype_selection():
    assert resolve_device("cpu") == "cpu"
    mps = getattr(torch.backends, "mps", None)
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps is not None and mps.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert resolve_dtype("float16", "cuda") == torch.float16
    from mllmshift.errors import MllmshiftError

    with pytest.raises(MllmshiftError, match="unknown dtype"):
        resolve_dtype("int8", "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_float32_matches_cpu_and_auto_dtype_is_half_precision(tiny_llava, images):
    import copy

    model, processor = tiny_llava
    samples = [Sample("a", "what is in the image ?", image=images[0]),
               Sample("b", "describe this picture", image=images[1])]
    cpu = HFResponder(model, processor, device="cpu", batch_size=2, max_new_tokens=6).respond(samples)
    gpu = HFResponder(copy.deepcopy(model), processor, device="cuda", dtype="float32", batch_size=2,
                      max_new_tokens=6)
    assert next(gpu.model.parameters()).device.type == "cuda"
    assert gpu.respond(samples) == cpu
    half = HFResponder(copy.deepcopy(model), processor, device="auto", dtype="auto", batch_size=2, max_new_tokens=6)
    assert half.config()["dtype"] in ("torch.bfloat16", "torch.float16")
    out = half.respond(samples)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)


def test_respond_verb_loads_a_saved_model_from_disk(tiny_llava, images, tmp_path):
    from mllmshift.cli.main import main
    from mllmshift.io.jsonl import write_canonical

    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "tiny")
    processor.save_pretrained(tmp_path / "tiny")
    split = Split("two", [Sample("a", "what is in the image ?", image=images[0]),
                          Sample("b", "describe this picture", image=images[1])])
    write_canonical(split, tmp_path / "two.jsonl")
    rc = main(["respond", "--responder", "hf", "--model", str(tmp_path / "tiny"), "--device", "cpu",
               "--dtype", "float32", "--batch-size", "2", "--max-tokens", "5", "--data", str(tmp_path / "two.jsonl"),
               "--out", str(tmp_path / "out"), "--option", "local_files_only=true", "--no-progress"])
    assert rc == 0
    recs = [json.loads(x) for x in (tmp_path / "out" / "two.jsonl").read_text().splitlines()]
    expected = HFResponder(model, processor, device="cpu", batch_size=2, max_new_tokens=5).respond(list(split))
    assert [r["text"] for r in recs] == expected
    assert recs[0]["metadata"]["config"]["model"] == str(tmp_path / "tiny")
