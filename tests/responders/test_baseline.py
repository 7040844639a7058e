"""The baseline responder: exact template outputs, intent detection, one classification per distinct image."""

from __future__ import annotations

import pytest

from mllmshift.errors import DataError
from mllmshift.records import Sample
from mllmshift.responders import responders
from mllmshift.responders.baseline import BaselineResponder, article, compose, intent_of

SURE = [("espresso", 0.9), ("cup", 0.05), ("coffee mug", 0.01)]
UNSURE = [("tripod", 0.2), ("harmonica", 0.1), ("binoculars", 0.05)]


@pytest.mark.parametrize("question, intent", [
    ("Describe this photo.", "describe"),
    ("What is shown here?", "describe"),
    ("What drink is in the cup?", "identify"),
    ("Is there a spoon on the saucer?", "yesno"),
    ("How many cats are in the image?", "count"),
    ("Where was this photo taken?", "where"),
    ("Dezcribe this photo.", None),          # a typo hides the key word
    ("Depict this picture.", None),          # so does a synonym
])
def test_intent_of(question, intent):
    assert intent_of(question) == intent


def test_templates_exact():
    assert compose("Describe this photo.", SURE) == \
        "The photo shows an espresso, with something like a cup or a coffee mug nearby."
    assert compose("What drink is this?", SURE) == "It is an espresso."
    assert compose("What is on the lawn?", UNSURE) == "It is probably a tripod, or maybe a harmonica."
    assert compose("Is there a flag?", SURE) == "Yes, I can see an espresso."
    assert compose("Is there a flag?", UNSURE) == "I am not sure; I see a tripod or a harmonica."
    assert compose("How many cups?", SURE) == "I can see one espresso."
    assert compose("Where is it?", UNSURE) == "It looks like a place with a tripod and a harmonica."
    assert compose("Dezcribe it", SURE) == "Espresso."
    assert compose("Describe it", [("owl", 0.5)]) == "The photo shows an owl, with something like an owl or an owl nearby."
    assert article("umbrella") == "an umbrella" and article("tabby") == "a tabby"


def test_respond_classifies_each_distinct_image_once(tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0)]):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), colour).save(p)
        paths.append(str(p))
    dup = tmp_path / "copy.png"
    dup.write_bytes((tmp_path / "0.png").read_bytes())  # same content, other path
    calls = []

    def fake(images, k):
        calls.append(list(images))
        return [SURE if "0.png" in str(im) or "copy" in str(im) else UNSURE for im in images]

    r = BaselineResponder(classifier=fake)
    samples = [Sample("a", "What is it?", image=paths[0]), Sample("b", "Describe it.", image=paths[1]),
               Sample("c", "Where is it?", image=str(dup)), Sample("d", "What is it?", image=paths[1])]
    assert r.respond(samples) == ["It is an espresso.",
                                  "The photo shows a tripod, with something like a harmonica or a binoculars nearby.",
                                  "It looks like a place with an espresso and a cup.",
                                  "It is probably a tripod, or maybe a harmonica."]
    assert sum(len(c) for c in calls) == 2  # two distinct images
    r.respond(samples[:2])
    assert sum(len(c) for c in calls) == 2  # remembered across calls
    assert r.config()["classifier"] == "custom"


def test_respond_needs_images():
    with pytest.raises(DataError, match="needs images"):
        BaselineResponder(classifier=lambda im, k: []).respond([Sample("x", "What?")])


def test_registered():
    assert responders.get("baseline") is BaselineResponder


def test_real_classifier_answers_and_degrades_under_blur(tmp_path):
    """EfficientNet-Lite0 (offline weights) names the espresso; a heavy blur makes it name something else."""
    pytest.importorskip("efficientnet_lite_pytorch")
    import skimage.data
    import torch
    from PIL import Image, ImageFilter

    torch.set_num_threads(1)
    clean = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(clean)
    noisy = tmp_path / "blurred.png"
    Image.fromarray(skimage.data.coffee()).filter(ImageFilter.GaussianBlur(20)).save(noisy)
    r = BaselineResponder()
    a, b = r.respond([Sample("1", "What drink is in the cup?", image=str(clean)),
                      Sample("2", "What drink is in the cup?", image=str(noisy))])
    assert a == "It is an espresso."
    assert b != a and b.startswith("It is probably")  # another class, and unsure
