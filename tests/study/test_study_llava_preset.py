"""The LLaVA-Bench shift preset on the real data in ../shared: the paper's 34 + 27 scenarios, right sizes."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mllmshift.errors import DataError
from mllmshift.study.presets import default_config, presets


@pytest.fixture(scope="module")
def plan(request):
    data = request.getfixturevalue("shared_data")
    return data, presets.create("llava_bench", root=data)


@pytest.mark.shared
def test_scenario_sets_and_groups(plan):
    _, p = plan
    assert p.id_split.name == "llava_bench_coco" and len(p.id_split) == 90
    kinds = Counter((s.kind, s.group) for s in p.scenarios)
    assert sum(v for (k, _), v in kinds.items() if k == "synthetic") == 34
    assert sum(v for (k, _), v in kinds.items() if k == "natural") == 27
    assert kinds == {("synthetic", "visual"): 6, ("synthetic", "text"): 4, ("synthetic", "joint"): 24,
                     ("natural", "text"): 6, ("natural", "visual"): 3, ("natural", "joint"): 18}
    names = {s.name for s in p.scenarios}
    assert "llava_bench_coco_frost_5_KeyboardAug_3" in names and "llava_bench_coco_English" not in names
    assert "llava_bench_in_the_wild_Hindi_hard" in names


@pytest.mark.shared
def test_sizes_subsets_references_and_captions(plan):
    data, p = plan
    index = json.loads((data / "llavabench-shift" / "in_the_wild_splits.json").read_text())
    by = {s.name: s for s in p.scenarios}
    for s in p.scenarios:
        if s.name.startswith("llava_bench_coco"):
            assert len(s.split) == 90 and s.split.has_references and s.split.has_image_text, s.name
            assert s.split.ids == p.id_split.ids
        else:
            sub = s.metadata["subset"]
            assert len(s.split) == {"easy": 30, "normal": 60, "hard": 30}[sub], s.name
            assert not s.split.has_references and not s.split.has_image_text
            if sub != "normal":  # positions into the 60 lines, in the file's order (question_id == position)
                assert s.split.ids == [str(i) for i in index[sub]]
    # the references are the clean English GPT-4 answers in every COCO scenario; prompts are the perturbed ones
    de = by["llava_bench_coco_German"].split
    assert de.references == p.id_split.references
    assert de[0].question.endswith("Please answer in English.") and de[0].question != p.id_split[0].question
    assert by["llava_bench_coco_frost_5"].metadata == {"visual": "frost", "severity": 5}
    assert by["llava_bench_coco_sr_7"].metadata == {"text": "synonym_replacement", "level": 7}


@pytest.mark.shared
def test_default_config(shared_data):
    c = default_config("llava_bench", root=shared_data)
    assert (c.eval.text_encoder.name, c.eval.image_encoder, c.eval.fusion) == ("use-multilingual", None, "mean")
    assert c.preset.options["root"] == str(shared_data) and c.preset.options["model"] == "llava-v1.5-13b"
    assert c.eval.checkpoint is None  # the authors' CLUB only fits CLIP/XLM-R features: train one
    assert (c.eval.estimator.name, c.eval.divergence.name) == ("club", "rjsd")  # the paper's pair


@pytest.mark.shared
def test_errors(shared_data, tmp_path):
    with pytest.raises(DataError, match="not a LLaVA-Bench shift data folder"):
        presets.create("llava_bench", root=tmp_path)
    with pytest.raises(DataError, match="llava-v1.5-13b"):
        presets.create("llava_bench", root=shared_data, model="gpt-9")
