"""The judge over splits against a scripted judge endpoint: scores, exclusions, failures, cache, swap, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from chat_server import ChatServer, last_text, ok, status

from mllmshift.cli import judge as judge_cli
from mllmshift.judge import JudgeConfig, LlavaBenchJudge, load_scores
from mllmshift.judge.cache import VerdictCache
from mllmshift.records import Sample, Split
from mllmshift.responders.http import ChatClient, RetryPolicy

FAST = RetryPolicy(max_attempts=3, timeout=2, backoff_base=0.001, backoff_max=0.002)
KEY = "sk-judge-SECRET-42"


def true_score(answer: str) -> int:
    """The scripted judge's opinion of an answer: a function of its text alone."""
    return 1 + sum(map(ord, answer)) % 10


def answers(prompt: str) -> tuple[str, str]:
    a1 = re.search(r"\[Assistant 1\]\n(.*?)\n\n\[End of Assistant 1\]", prompt, re.S).group(1)
    a2 = re.search(r"\[Assistant 2\]\n(.*?)\n\n\[End of Assistant 2\]", prompt, re.S).group(1)
    return a1, a2


def judge_script(prose_first=(), always_prose=(), always_fail=(), second_bonus=0):
    """Verdicts from :func:`true_score`; some answers get prose first or always, or a 500."""

    def script(req, attempt):
        a1, a2 = answers(last_text(req))
        if any(x in a1 + a2 for x in always_fail):
            return status(500)
        if any(x in a1 + a2 for x in always_prose):
            return ok("Both answers are fine, but I prefer the first.")
        if any(x in a1 + a2 for x in prose_first) and req.get("seed", 0) == 0:
            return ok("Here are my scores: eight and seven.")
        s1, s2 = true_score(a1), min(10, true_score(a2) + second_bonus)
        return ok(f"{s1} {s2}\nAssistant {1 if s1 >= s2 else 2} is better.")

    return script


def make_split(n=12, name="scen") -> Split:
    cats = ["conv", "detail", "complex"]
    return Split(name, [Sample(str(i), f"q{i}?", response=f"model answer {i}", reference=f"reference answer {i}",
                               image_text=f"caption {i}", metadata={"category": cats[i % 3]}) for i in range(n)])


def judge(url, tmp_path, **kw) -> LlavaBenchJudge:
    cfg = JudgeConfig(model="judge-m", seed=0, n_resamples=200, **kw)
    return LlavaBenchJudge(ChatClient(url, policy=FAST, sleep=lambda s: None), cfg,
                           cache=VerdictCache(tmp_path / "cache"))


def expected_stats(split, skip=()):
    m = np.array([true_score(s.response) for s in split if s.response not in skip], float)
    r = np.array([true_score(s.reference) for s in split if s.response not in skip], float)
    return 100 * m.mean() / r.mean(), float(np.mean((m > r) + 0.5 * (m == r))), len(m)


def test_scores_exclusions_and_cache(tmp_path):
    split = make_split()
    prose_first, always_prose = "model answer 4", "model answer 7"
    with ChatServer(judge_script(prose_first=[prose_first], always_prose=[always_prose])) as srv:
        summary = judge(srv.base_url, tmp_path).judge_split(split, tmp_path / "out")
        n_first = len(srv.requests)
        # the caption stands in for the image; the sample's question is judged
        assert any(last_text(r["body"]).startswith("[Context]\ncaption 3\n\n[Question]\nq3?\n\n")
                   for r in srv.requests)
    rs, wr, n = expected_stats(split, skip=[always_prose])
    assert summary["n_items"] == 12 and summary["n_scored"] == n == 11
    assert summary["n_unparsable"] == 1 and summary["excluded_ids"] == [7] and summary["n_failed"] == 0
    assert summary["relative_score"] == pytest.approx(rs)
    assert summary["win_rate"] == pytest.approx(wr)
    lo, hi = summary["relative_score_ci"]
    assert lo <= rs <= hi
    # 12 items + 1 retry for the prose-first item + 2 retries for the always-prose item
    assert n_first == 12 + 1 + 2
    recs = [json.loads(x) for x in (tmp_path / "out" / "scen.judge.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in recs] == list(range(12))
    assert recs[4]["status"] == "scored" and len(recs[4]["normal"]["rejected"]) == 1
    assert recs[7]["status"] == "unparsable" and recs[7]["model_score"] is None
    assert recs[0]["rule"] == "llava_bench_conv" and recs[1]["rule"] == "llava_bench_detail"
    by_cat = summary["by_category"]
    assert sum(v["n"] for v in by_cat.values()) == 11
    # rerun: every verdict comes from the cache, the summary is identical
    with ChatServer(judge_script()) as srv:
        again = judge(srv.base_url, tmp_path).judge_split(split, tmp_path / "out2")
        assert len(srv.requests) == 0
    assert again == summary
    assert load_scores(tmp_path / "out")["scen"]["relative_score"] == summary["relative_score"]


def test_failed_requests_are_counted_and_retried_on_rerun(tmp_path):
    split = make_split(6)
    with ChatServer(judge_script(always_fail=["model answer 2"])) as srv:
        s1 = judge(srv.base_url, tmp_path).judge_split(split)
    assert s1["n_failed"] == 1 and s1["failed_ids"] == [2] and s1["n_scored"] == 5
    with ChatServer(judge_script()) as srv:
        s2 = judge(srv.base_url, tmp_path).judge_split(split)
        assert [answers(last_text(r["body"]))[1] for r in srv.requests] == ["model answer 2"]
    assert s2["n_failed"] == 0 and s2["n_scored"] == 6
    assert s2["relative_score"] == pytest.approx(expected_stats(split)[0])


def test_swap_measures_a_planted_position_bias(tmp_path):
    split = make_split(9)
    with ChatServer(judge_script(second_bonus=1)) as srv:
        s = judge(srv.base_url, tmp_path, swap=True).judge_split(split)
        assert len(srv.requests) == 18
    m = np.array([true_score(x.response) for x in split], float)
    r = np.array([true_score(x.reference) for x in split], float)
    # the judge adds 1 to the second answer (capped at 10): bias is the mean realised bonus of both orders
    bonus = (np.minimum(10, m + 1) - m + np.minimum(10, r + 1) - r) / 2
    assert s["swap"]["position_bias"]["bias"] == pytest.approx(bonus.mean())
    assert s["swap"]["swapped"]["relative_score"] == pytest.approx(100 * m.mean() / np.minimum(10, r + 1).mean())
    assert s["swap"]["averaged"]["n"] == 9


def test_missing_reference_is_a_located_error(tmp_path):
    from mllmshift.errors import DataError

    split = Split("s", [Sample("a", "q", response="x", reference=None)])
    with pytest.raises(DataError, match="no reference"):
        LlavaBenchJudge(ChatClient("http://127.0.0.1:9"), JudgeConfig(model="m")).judge_split(split)


def _write_llava(tmp_path, n=6):
    d = tmp_path / "in"
    (d / "responses").mkdir(parents=True)
    cats = ["conv", "detail", "complex"]
    with open(d / "questions.jsonl", "w") as fq, open(d / "refs.jsonl", "w") as fr, \
            open(d / "caps.jsonl", "w") as fc:
        for i in range(n):
            fq.write(json.dumps({"question_id": i, "image": f"im{i}.jpg", "text": f"Original question {i}?",
                                 "category": cats[i % 3]}) + "\n")
            fr.write(json.dumps({"question_id": i, "text": f"reference answer {i}"}) + "\n")
            fc.write(json.dumps({"image": f"im{i}.jpg", "captions": [f"cap {i} a", f"cap {i} b"],
                                 "instances": [{"category": "dog", "bbox": [0.1, 0.2, 0.3, 0.4]}]}) + "\n")
    for scen in ("clean", "shifted"):
        with open(d / "responses" / f"{scen}.jsonl", "w") as fa:
            for i in range(n):
                fa.write(json.dumps({"question_id": i, "prompt": f"perturbed question {i}?",
                                     "text": f"{scen} model answer {i}", "answer_id": "x", "model_id": "m",
                                     "metadata": {}}) + "\n")
    return d


def test_cli_on_llava_files_with_captions_and_boxes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGE_KEY", KEY)
    d = _write_llava(tmp_path)
    out = tmp_path / "out"
    argv = lambda url: ["--responses", str(d / "responses"), "--questions", str(d / "questions.jsonl"),
                        "--references", str(d / "refs.jsonl"), "--captions", str(d / "caps.jsonl"),
                        "--out", str(out), "--base-url", url, "--model", "judge-m", "--api-key-env", "JUDGE_KEY",
                        "--bootstrap", "100", "--max-attempts", "2", "--backoff-base", "0.001", "--no-progress"]
    with ChatServer(judge_script()) as srv:
        assert judge_cli.main(argv(srv.base_url)) == 0
        prompts = [last_text(r["body"]) for r in srv.requests]
        assert all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in srv.requests)
        assert all(r["body"]["temperature"] == 0.2 and r["body"]["max_tokens"] == 1024 for r in srv.requests)
    assert len(prompts) == 12
    p0 = next(p for p in prompts if "clean model answer 0" in p)
    assert p0.startswith("[Context]\ncap 0 a\ncap 0 b\n\ndog: [0.1, 0.2, 0.3, 0.4]\n\n[Question]\n"
                         "Original question 0?\n\n[Assistant 1]\nreference answer 0\n\n")
    scores = load_scores(out)
    assert set(scores) == {"clean", "shifted"}
    assert scores["clean"]["judge"]["question_source"] == "original"
    printed = capsys.readouterr()
    assert "clean" in printed.out and "shifted" in printed.out
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in printed.out + printed.err
    # a rerun is answered from the cache alone
    with ChatServer(judge_script()) as srv:
        assert judge_cli.main(argv(srv.base_url)) == 0
        assert srv.requests == []


def test_load_scores_errors(tmp_path):
    from mllmshift.errors import DataError

    with pytest.raises(DataError, match="no judge summaries"):
        load_scores(tmp_path)
    (tmp_path / "a.summary.json").write_text(json.dumps({"scenario": "a", "win_rate": 0.5}))
    with pytest.raises(DataError, match="field 'relative_score'"):
        load_scores(tmp_path)


@pytest.mark.shared
def test_real_llava_bench_coco_files_with_real_rules(shared_data, tmp_path):
    from mllmshift.io.llava import read_llava
    from mllmshift.judge.prompt import read_contexts
    from mllmshift.judge.rules import load_rules

    root = shared_data / "llava-bench-coco"
    split = read_llava(shared_data / "llavabench-shift" / "responses" / "llava-v1.5-13b" / "llava_bench_coco_German.jsonl",
                       questions=root / "questions.jsonl", references=root / "gpt4_answers.jsonl")
    with ChatServer(judge_script()) as srv:
        j = LlavaBenchJudge(ChatClient(srv.base_url, policy=FAST), JudgeConfig(model="judge-m", n_resamples=100),
                            rules=load_rules(root / "judge_rules.json"), rules_source="judge_rules.json",
                            contexts=read_contexts(root / "captions_boxes.jsonl"), cache=None)
        s = j.judge_split(split)
        prompts = [last_text(r["body"]) for r in srv.requests]
    assert s["n_items"] == s["n_scored"] == 90
    assert s["relative_score"] == pytest.approx(expected_stats(split)[0])
    assert set(s["by_category"]) == {"conv", "detail", "complex"}
    # the judge saw the English question, not the German prompt the model saw
    first = json.loads((root / "questions.jsonl").read_text().splitlines()[0])["text"]
    assert any(f"[Question]\n{first}\n\n" in p for p in prompts)
    assert all("Please first output a single line containing only two values" in p for p in prompts)


def test_multimodal_judge_sends_the_image_and_needs_it(tmp_path):
    import base64

    from mllmshift.errors import DataError

    png = b"\x89PNG\r\n\x1a\n" + b"\x07" * 16
    (tmp_path / "a.png").write_bytes(png)
    split = Split("mm", [Sample("0", "q?", response="model answer 0", reference="reference answer 0",
                                image=str(tmp_path / "a.png"), metadata={"category": "conv"})])
    with ChatServer(judge_script()) as srv:
        s = judge(srv.base_url, tmp_path, multimodal=True).judge_split(split)
        content = srv.requests[0]["body"]["messages"][1]["content"]
    assert s["n_scored"] == 1
    assert base64.b64decode(content[0]["image_url"]["url"].split(",", 1)[1]) == png
    assert content[1]["text"].startswith("[Question]\nq?\n\n")
    no_image = Split("mm", [split[0].with_(image=None)])
    with pytest.raises(DataError, match="multimodal judge needs the image"):
        judge("http://127.0.0.1:9/v1", tmp_path, multimodal=True).judge_split(no_image)
