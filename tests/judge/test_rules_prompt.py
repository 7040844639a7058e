"""Judge rules and the LLaVA-Bench request text, including against the real judge_rules.json."""

from __future__ import annotations

import json

import pytest

from mllmshift.errors import DataError
from mllmshift.judge.prompt import SYSTEM_PROMPT, build_messages, build_prompt, format_context, read_contexts
from mllmshift.judge.rules import DEFAULT_RULES, JudgeRule, load_rules, rule_for


def test_built_in_rules_cover_llava_bench_categories_and_state_the_score_line():
    for cat in ("conv", "detail", "complex"):
        key, rule = rule_for(cat, DEFAULT_RULES)
        assert key == f"llava_bench_{cat}" and rule.role == "Assistant"
        assert "first line" in rule.prompt and "1 to 10" in rule.prompt
    assert rule_for("ocr", DEFAULT_RULES)[0] == "default"
    assert rule_for(None, DEFAULT_RULES)[0] == "default"


def test_rule_lookup_order_and_missing_rule():
    rules = {"conv": JudgeRule("A", "c"), "llava_bench_detail": JudgeRule("A", "d")}
    assert rule_for("conv", rules)[0] == "conv"
    assert rule_for("detail", rules)[0] == "llava_bench_detail"
    assert rule_for("conv", rules, prefix="")[0] == "conv"
    with pytest.raises(DataError, match="no judge rule for category 'complex'"):
        rule_for("complex", rules)


def test_load_rules_errors_name_the_field(tmp_path):
    p = tmp_path / "rules.json"
    p.write_text(json.dumps({"conv": {"role": "Assistant"}}))
    with pytest.raises(DataError, match=r"field 'conv.prompt'"):
        load_rules(p)
    p.write_text("{bad")
    with pytest.raises(DataError, match="bad JSON"):
        load_rules(p)
    with pytest.raises(DataError, match="not found"):
        load_rules(tmp_path / "none.json")


def test_prompt_layout_exact():
    rule = JudgeRule("Assistant", "Rate them.")
    ctx = format_context(["A cat.", "A cat on a mat."], [("cat", [0.1, 0.2, 0.5, 0.9])])
    assert ctx == "A cat.\nA cat on a mat.\n\ncat: [0.1, 0.2, 0.5, 0.9]"
    text = build_prompt("What is it?", "ref answer", "model answer", rule, ctx)
    assert text == ("[Context]\nA cat.\nA cat on a mat.\n\ncat: [0.1, 0.2, 0.5, 0.9]\n\n"
                    "[Question]\nWhat is it?\n\n"
                    "[Assistant 1]\nref answer\n\n[End of Assistant 1]\n\n"
                    "[Assistant 2]\nmodel answer\n\n[End of Assistant 2]\n\n"
                    "[System]\nRate them.\n\n")
    assert build_prompt("q", "a", "b", rule).startswith("[Question]\nq\n\n")
    msgs = build_messages(text, "data:image/png;base64,AAAA")
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert msgs[1]["content"][0]["image_url"]["url"] == "data:image/png;base64,AAAA"
    assert msgs[1]["content"][1] == {"type": "text", "text": text}


def test_read_contexts_errors(tmp_path):
    p = tmp_path / "caps.jsonl"
    p.write_text('{"image": "a.jpg", "captions": ["x"], "instances": [{"category": "cat", "bbox": [1, 2]}]}\n')
    with pytest.raises(DataError, match=r"caps.jsonl:1: field 'instances\[0\]'"):
        read_contexts(p)
    p.write_text('{"image": "a.jpg", "caption": "one paragraph"}\n')
    assert read_contexts(p) == {"a.jpg": "one paragraph"}


@pytest.mark.shared
def test_llava_prompt_with_real_rules_and_captions(shared_data):
    root = shared_data / "llava-bench-coco"
    rules = load_rules(root / "judge_rules.json")
    for cat in ("conv", "detail", "complex"):
        key, rule = rule_for(cat, rules)
        assert key == f"llava_bench_{cat}"
        assert "two values indicating the scores for Assistant 1 and 2" in rule.prompt
    # the COCO rules (with boxes) are reached with an empty prefix
    assert rule_for("conv", rules, prefix="")[0] == "conv"
    contexts = read_contexts(root / "captions_boxes.jsonl")
    q0 = json.loads((root / "questions.jsonl").read_text().splitlines()[0])
    ref0 = json.loads((root / "gpt4_answers.jsonl").read_text().splitlines()[0])
    cap = next(json.loads(x) for x in (root / "captions_boxes.jsonl").read_text().splitlines()
               if json.loads(x)["image"] == q0["image"])
    raw_rules = json.loads((root / "judge_rules.json").read_text())
    # independent re-statement of LLaVA's eval_gpt_review_visual.py content string
    cap_str = "\n".join(cap["captions"])
    box_str = "\n".join(f'{i["category"]}: {i["bbox"]}' for i in cap["instances"])
    expected = (f"[Context]\n{cap_str}\n\n{box_str}\n\n[Question]\n{q0['text']}\n\n"
                f"[Assistant 1]\n{ref0['text']}\n\n[End of Assistant 1]\n\n"
                f"[Assistant 2]\nMODEL\n\n[End of Assistant 2]\n\n"
                f"[System]\n{raw_rules['conv']['prompt']}\n\n")
    got = build_prompt(q0["text"], ref0["text"], "MODEL", rule_for("conv", rules, prefix="")[1],
                       contexts[q0["image"]])
    assert got == expected
