"""The tools' run folders, written as the tools write them (lmms-eval and lm-evaluation-harness
``evaluation_tracker.py``; VLMEvalKit ``run.py``): several tasks, several runs, judge files beside predictions;
``--task`` picks one; ``doc.*`` fields map with ``--columns``; the same answers read through lmms-eval (captions in
``doc``) and through a VLMEvalKit table (a ``caption`` column) give the same split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.errors import DataError
from mllmshift.io import read_split
from mllmshift.io.readers import sniff_format

N = 12
QUESTIONS = [f"What is shown in picture {i}? Describe the colours." for i in range(N)]
ANSWERS = [f"Picture {i} shows {'a red' if i % 2 else 'a blue'} object." for i in range(N)]
REFERENCES = [f"It shows object {i}." for i in range(N)]
CAPTIONS = [[f"a photo of object {i}", f"object {i} on a table"] for i in range(N)]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def lmms_eval_folder(root: Path, keep_doc: bool = True) -> Path:
    """OUT/<model_name_sanitized>/<date_id>_results.json + <date_id>_samples_<task>.jsonl for two tasks, and an
    earlier run of one of them. Current lmms-eval pops doc and arguments and writes the prompt as input; the
    older versions kept doc (which is what carries a caption)."""
    model = root / "out" / "llava-hf__llava-1.5-7b-hf"
    def rec(i: int, answer: str) -> dict:
        r = {"doc_id": i, "target": REFERENCES[i], "doc_hash": _h(f"doc{i}"), "prompt_hash": _h(QUESTIONS[i]),
             "target_hash": _h(REFERENCES[i]), "llava_in_the_wild_gpt_eval_score": {"question_id": 100 + i,
             "review": "8 7", "scores": [8, 7]}, "input": QUESTIONS[i], "filtered_resps": [answer]}
        if keep_doc:
            r["doc"] = {"question_id": 100 + i, "question": QUESTIONS[i], "caption": CAPTIONS[i],
                        "gpt_answer": REFERENCES[i], "category": "conv"}
        return r
    _jsonl(model / "20240401_101010_samples_llava_in_the_wild.jsonl", [rec(i, "old answer") for i in range(N)])
    _jsonl(model / "20240501_123456_samples_llava_in_the_wild.jsonl", [rec(i, ANSWERS[i]) for i in range(N)])
    _jsonl(model / "20240501_123456_samples_mme.jsonl",
           [{"doc_id": i, "target": "Yes", "input": f"Is there a cat? {i}", "filtered_resps": ["Yes"],
             "mme_percetion_score": {"question_id": f"q{i}", "score": 1.0}} for i in range(N)])
    (model / "20240501_123456_results.json").write_text(json.dumps({
        "results": {"llava_in_the_wild": {"alias": "llava_in_the_wild", "gpt_eval_llava_all,none": 61.2},
                    "mme": {"alias": "mme", "mme_percetion_score,none": 1500.0}},
        "configs": {}, "versions": {"llava_in_the_wild": 0.0, "mme": "Yaml"}, "n-shot": {},
        "config": {"model": "llava_hf", "model_args": "pretrained=llava-hf/llava-1.5-7b-hf", "batch_size": "1"},
        "git_hash": "a1b2c3d", "date": "20240501_123456", "task_hashes": {}, "model_name": "llava-hf/llava-1.5-7b-hf",
        "model_name_sanitized": "llava-hf__llava-1.5-7b-hf"}, indent=2))
    return root / "out"


def harness_folder(root: Path) -> Path:
    """OUT/<model_name_sanitized>/results_<date_id>.json + samples_<task>_<date_id>.jsonl (doc kept, the
    arguments keyed gen_args_i/arg_j, resps nested, target a string)."""
    model = root / "hout" / "EleutherAI__pythia-160m"
    date = "2024-05-01T12-34-56.123456"
    rows = [{"doc_id": i, "doc": {"id": f"d{i}", "question": f"Q: {QUESTIONS[i]}", "answer": REFERENCES[i]},
             "target": REFERENCES[i],
             "arguments": {"gen_args_0": {"arg_0": f"Question: {QUESTIONS[i]}\nAnswer:",
                                          "arg_1": {"until": ["\n\n"], "do_sample": False}}},
             "resps": [[ANSWERS[i]]], "filtered_resps": [ANSWERS[i]], "filter": "none", "metrics": ["exact_match"],
             "doc_hash": _h(f"d{i}"), "prompt_hash": _h(QUESTIONS[i]), "target_hash": _h(REFERENCES[i]),
             "exact_match": 0.0} for i in range(N)]
    _jsonl(model / f"samples_nq_open_{date}.jsonl", rows)
    _jsonl(model / f"samples_triviaqa_{date}.jsonl", rows)
    (model / f"results_{date}.json").write_text(json.dumps({"results": {"nq_open": {}, "triviaqa": {}},
                                                            "git_hash": "abc1234", "date": 1714566896.0}))
    return root / "hout"


def vlmevalkit_workdir(root: Path) -> Path:
    """WORK/<model>/<model>_<dataset>.xlsx for two datasets, a judge file <model>_<dataset>_acc.csv beside one,
    and the run's own copy under T<date>_G<commit>/."""
    import pandas as pd

    model = root / "work" / "llava_v1.5_7b"
    model.mkdir(parents=True)
    table = pd.DataFrame({"index": list(range(N)), "question": QUESTIONS, "answer": REFERENCES,
                          "caption": [" ".join(c) for c in CAPTIONS], "category": ["conv"] * N,
                          "prediction": ANSWERS})
    table.to_excel(model / "llava_v1.5_7b_LLaVABench.xlsx", index=False)
    table.to_excel(model / "llava_v1.5_7b_OtherBench.xlsx", index=False)
    pd.DataFrame({"split": ["none"], "Overall": [0.61]}).to_csv(model / "llava_v1.5_7b_LLaVABench_acc.csv",
                                                                 index=False)
    (model / "T20240501_Gabc1234").mkdir()
    table.to_excel(model / "T20240501_Gabc1234" / "llava_v1.5_7b_LLaVABench.xlsx", index=False)
    return root / "work"


def test_lmms_eval_folder_needs_a_task_when_it_holds_several(tmp_path):
    out = lmms_eval_folder(tmp_path)
    assert sniff_format(out) == "lmms-eval" and sniff_format(next(out.iterdir())) == "lmms-eval"
    with pytest.raises(DataError) as err:
        read_split(out)
    assert "2 tasks (llava_in_the_wild, mme); pick one with --task" in str(err.value)
    split = read_split(out, task="llava_in_the_wild")
    assert split.name == "llava_in_the_wild"
    assert split.responses == ANSWERS            # the latest run, not the April one
    assert split.questions == QUESTIONS and split.references == REFERENCES  # input and target
    with pytest.raises(DataError, match="no task 'mmbench' here; tasks: llava_in_the_wild, mme"):
        read_split(out, task="mmbench")


def test_doc_fields_map_with_columns(tmp_path):
    out = lmms_eval_folder(tmp_path)
    split = read_split(out, task="llava_in_the_wild", columns={"image_text": "doc.caption", "id": "doc.question_id"})
    assert [s.image_text for s in split] == [" ".join(c) for c in CAPTIONS]
    assert split.ids == [str(100 + i) for i in range(N)]
    with pytest.raises(DataError) as err:  # current lmms-eval drops doc: the missing path is named, located
        read_split(lmms_eval_folder(tmp_path / "new", keep_doc=False), task="llava_in_the_wild",
                   columns={"image_text": "doc.caption"})
    assert "doc.caption" in str(err.value) and ":1:" in str(err.value)
    with pytest.raises(DataError, match="unknown field"):
        read_split(out, task="mme", columns={"caption": "doc.caption"})


def test_the_same_answers_give_the_same_split_through_lmms_eval_and_vlmevalkit(tmp_path):
    """The issue's 3.45 vs 4.42: the VLMEvalKit table carried the captions and the lmms-eval log could not.
    With image_text=doc.caption both readers give the same samples, so every number computed from them agrees."""
    via_lmms = read_split(lmms_eval_folder(tmp_path), task="llava_in_the_wild",
                          columns={"image_text": "doc.caption"})
    via_vlm = read_split(vlmevalkit_workdir(tmp_path), task="LLaVABench")
    fields = lambda split: [(s.id, s.question, s.response, s.reference, s.image_text) for s in split]  # noqa: E731
    assert fields(via_lmms) == fields(via_vlm)


def test_vlmevalkit_work_dir_picks_a_dataset_and_ignores_judge_files(tmp_path):
    work = vlmevalkit_workdir(tmp_path)
    assert sniff_format(work) == "vlmevalkit"
    with pytest.raises(DataError, match=r"2 tasks \(LLaVABench, OtherBench\); pick one with --task"):
        read_split(work)
    split = read_split(work / "llava_v1.5_7b", task="LLaVABench")
    assert split.name == "LLaVABench" and split.responses == ANSWERS


def test_lm_eval_harness_folder(tmp_path):
    out = harness_folder(tmp_path)
    assert sniff_format(out) == "lm-eval-harness"
    split = read_split(out, task="nq_open")
    assert split.questions == [f"Question: {q}\nAnswer:" for q in QUESTIONS]  # the prompt the model saw
    assert split.responses == ANSWERS and split.references == REFERENCES and split.ids == [str(i) for i in range(N)]
    mapped = read_split(out, format="lm-eval-harness", task="triviaqa",
                        columns={"question": "doc.question", "id": "doc.id"})
    assert mapped.questions == [f"Q: {q}" for q in QUESTIONS] and mapped.ids == [f"d{i}" for i in range(N)]


def test_the_cli_reads_a_run_folder_with_task_and_columns(tmp_path, capsys):
    out = lmms_eval_folder(tmp_path)
    base = ["emi", str(out), "--text-encoder", "hashing-bow", "--no-cache", "--mi-estimator", "infonce",
            "--estimator-option", "max_steps=30", "--n-estimators", "1", "--bootstrap", "0", "--threads", "1",
            "--quiet", "--json"]
    assert main(base) == 1
    assert "pick one with --task" in capsys.readouterr().err
    assert main([*base, "--task", "llava_in_the_wild", "--columns", "image_text=doc.caption"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["name"] == "llava_in_the_wild" and result["n"] == N
    assert result["run"]["command"].endswith("--columns image_text=doc.caption")
    assert result["data"]["embeddings"]["llava_in_the_wild"]["visual_source"] == "image_text"
