"""The LLaVA-Bench judge protocol over a split, with caching, retries, exclusions and order swap.

For every sample the judge (any chat-completions endpoint) sees the question,
the image context (captions and boxes, the sample's ``image_text``, or the
image itself for a multimodal judge), the reference answer as Assistant 1 and
the model's answer as Assistant 2, then the category's rule; the first line of
its verdict carries the two scores (:func:`~mllmshift.judge.verdict.parse_verdict`).

- An unparsable verdict is asked again up to ``parse_retries`` times (with
  ``seed + attempt`` when a seed is set), then the item is *excluded* and
  counted, never averaged in as a sentinel.
- A request that fails after the client's retries marks the item *failed*
  (counted, listed, not cached: the next run asks again).
- With ``swap`` each item is also judged with the answers' order reversed;
  the summary then reports the swapped-order statistics, the order-averaged
  ones and the judge's position bias.
- Every verdict text is cached by content hash
  (:class:`~mllmshift.judge.cache.VerdictCache`): a rerun costs nothing.

Outputs per scenario: ``<scenario>.judge.jsonl`` (one record per item, in
dataset order) and ``<scenario>.summary.json`` (with the ``run`` block of the command, where given); :func:`load_scores` reads the
summaries back for the study.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.checked import Checked, bounded
from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.io.jsonl import write_jsonl_atomic
from mllmshift.judge.cache import VerdictCache, request_key
from mllmshift.judge.prompt import build_messages, build_prompt
from mllmshift.judge.rules import DEFAULT_RULES, JudgeRule, rule_for
from mllmshift.judge.stats import judge_stats, position_bias
from mllmshift.judge.verdict import VerdictError, parse_verdict
from mllmshift.records import Sample, Split
from mllmshift.responders.answer_file import question_id_value
from mllmshift.responders.http import ChatClient, RequestFailed
from mllmshift.io.strict_json import dumps as strict_dumps

log = logging.getLogger("mllmshift.judge")

SCORED, UNPARSABLE, FAILED = "scored", "unparsable", "failed"


@dataclass(frozen=True)
class JudgeConfig(Checked):
    """Everything that decides the judge's scores (written into every summary).

    Attributes:
        model: the judge model name on the endpoint.
        temperature, max_tokens, seed: generation parameters (LLaVA used 0.2 and 1024).
        parse_retries: extra requests for an unparsable verdict before the item is excluded.
        swap: also judge with the answers' order reversed (position bias).
        multimodal: send the image to the judge (needs ``Sample.image``).
        rule_prefix: rules are looked up as ``<prefix><category>``, then ``<category>``, then ``default``.
        question_source: ``original`` (the clean question from the questions file, when known) or
            ``prompt`` (the possibly perturbed text the model saw).
        n_resamples, bootstrap_seed, confidence: the bootstrap CIs.
        concurrency: judge requests in flight.
    """

    model: str
    temperature: float = bounded(0, 2, default=0.2)
    max_tokens: int = bounded(1, default=1024)
    seed: int | None = bounded(0, default=None)
    parse_retries: int = bounded(0, 100, default=2)
    swap: bool = False
    multimodal: bool = False
    rule_prefix: str = "llava_bench_"
    question_source: str = bounded(choices=("original", "prompt"), default="original")
    n_resamples: int = bounded(0, default=1000)
    bootstrap_seed: int = bounded(0, default=0)
    confidence: float = bounded(0, 1, lo_open=True, hi_open=True, default=0.95)
    concurrency: int = bounded(1, 1024, default=4)

    def check(self) -> None:
        if not self.model.strip():
            raise self.error("parameter 'model' must name the judge model", param="model")


class LlavaBenchJudge:
    """Judges splits of (question, reference, response) with the LLaVA-Bench protocol.

    Args:
        client: the judge endpoint.
        config: see :class:`JudgeConfig`.
        rules: category rules (default: :data:`~mllmshift.judge.rules.DEFAULT_RULES`).
        rules_source: how the rules are named in summaries (a path or ``built-in``).
        contexts: image file name → context text (from :func:`~mllmshift.judge.prompt.read_contexts`);
            used for samples whose ``metadata["image_name"]`` is in it, else ``Sample.image_text``.
        cache: the verdict cache (None: no caching).
    """

    def __init__(self, client: ChatClient, config: JudgeConfig, *, rules: Mapping[str, JudgeRule] | None = None,
                 rules_source: str = "built-in", contexts: Mapping[str, str] | None = None,
                 cache: VerdictCache | None = None) -> None:
        self.client = client
        self.config = config
        self.rules = dict(rules or DEFAULT_RULES)
        self.rules_source = rules_source
        self.contexts = dict(contexts or {})
        self.cache = cache

    # -- one item ----------------------------------------------------------------------------------
    def _question(self, s: Sample) -> str:
        if self.config.question_source == "original" and isinstance(s.metadata.get("original_question"), str):
            return s.metadata["original_question"]
        return s.question

    def _context(self, s: Sample) -> str | None:
        name = s.metadata.get("image_name")
        if isinstance(name, str) and name in self.contexts:
            return self.contexts[name]
        return s.image_text

    def check(self, split: Split) -> None:
        """Every sample has a response, a reference, a rule and (multimodal) an image; else a located error."""
        src = split.metadata.get("responses") or split.metadata.get("source") or split.name
        for s in split:
            for fld in ("response", "reference"):
                if getattr(s, fld) is None:
                    raise DataError(f"sample '{s.id}' has no {fld}", path=src, field=fld)
            try:
                rule_for(s.metadata.get("category"), self.rules, self.config.rule_prefix)
            except DataError as err:
                raise DataError(f"sample '{s.id}': {err.message}", path=src, field="category") from None
            if self.config.multimodal and (s.image is None or not Path(s.image).is_file()):
                raise DataError(f"sample '{s.id}': a multimodal judge needs the image, not found: {s.image}",
                                path=src, field="image")

    def _verdict(self, prompt: str, image_url: str | None) -> dict[str, Any]:
        cfg = self.config
        messages = build_messages(prompt, image_url)
        rejected: list[str] = []
        attempts = 0
        for attempt in range(cfg.parse_retries + 1):
            payload: dict[str, Any] = {"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                                       "max_tokens": cfg.max_tokens}
            if cfg.seed is not None:
                payload["seed"] = cfg.seed + attempt
            key = request_key({**payload, "parse_attempt": attempt})
            text = self.cache.get(key) if self.cache is not None else None
            if text is None:
                try:
                    result = self.client.chat(payload)
                except RequestFailed as err:
                    return {"status": FAILED, "error": str(err), "attempts": attempts + err.attempts,
                            "rejected": rejected}
                attempts += result.attempts
                text = result.text
                if self.cache is not None:
                    self.cache.put(key, text, {"model": cfg.model, "parse_attempt": attempt})
            try:
                first, second = parse_verdict(text)
            except VerdictError as err:
                log.info("unparsable verdict (attempt %d): %s", attempt + 1, err)
                rejected.append(text)
                continue
            return {"status": SCORED, "scores": [first, second], "verdict": text, "rejected": rejected,
                    "attempts": attempts}
        return {"status": UNPARSABLE, "error": f"no parsable verdict in {cfg.parse_retries + 1} tries",
                "rejected": rejected, "attempts": attempts}

    def judge_item(self, s: Sample) -> dict[str, Any]:
        """The per-item record (see :func:`judge_split` for the fields)."""
        from mllmshift.responders.openai_compat import image_data_url

        key, rule = rule_for(s.metadata.get("category"), self.rules, self.config.rule_prefix)
        question, context = self._question(s), self._context(s)
        image_url = image_data_url(s.image) if self.config.multimodal and s.image else None
        assert s.reference is not None and s.response is not None
        rec: dict[str, Any] = {"question_id": question_id_value(s.id), "category": s.metadata.get("category"),
                               "rule": key}
        normal = self._verdict(build_prompt(question, s.reference, s.response, rule, context), image_url)
        rec["status"] = normal["status"]
        rec["reference_score"] = normal["scores"][0] if normal["status"] == SCORED else None
        rec["model_score"] = normal["scores"][1] if normal["status"] == SCORED else None
        rec["normal"] = normal
        if self.config.swap:
            swapped = self._verdict(build_prompt(question, s.response, s.reference, rule, context), image_url)
            if swapped["status"] == SCORED:
                swapped["model_score"], swapped["reference_score"] = swapped["scores"]
            rec["swapped"] = swapped
        return rec

    # -- a split -----------------------------------------------------------------------------------
    def judge_records(self, split: Split, progress: bool = False) -> list[dict[str, Any]]:
        """Per-item records in dataset order (requests run ``concurrency`` at a time)."""
        self.check(split)
        samples = list(split)
        out: list[dict[str, Any] | None] = [None] * len(samples)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(samples), desc=f"judge {split.name}", unit="item")
        pool = cf.ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="mllmshift-judge")
        try:
            futures = {pool.submit(self.judge_item, s): i for i, s in enumerate(samples)}
            for fut in cf.as_completed(futures):
                out[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return [r for r in out if r is not None]

    def summarize(self, name: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Per-scenario summary: counts, relative score and win rate with CIs, per category, swap statistics."""
        cfg = self.config
        boot = {"n_resamples": cfg.n_resamples, "seed": cfg.bootstrap_seed, "confidence": cfg.confidence}
        scored = [r for r in records if r["status"] == SCORED]
        summary: dict[str, Any] = {
            "scenario": name, "n_items": len(records), "n_scored": len(scored),
            "n_unparsable": sum(r["status"] == UNPARSABLE for r in records),
            "n_failed": sum(r["status"] == FAILED for r in records),
            "excluded_ids": [r["question_id"] for r in records if r["status"] == UNPARSABLE],
            "failed_ids": [r["question_id"] for r in records if r["status"] == FAILED],
        }
        summary.update(_stats([r["model_score"] for r in scored], [r["reference_score"] for r in scored], boot))
        cats: dict[str, list[dict[str, Any]]] = {}
        for r in scored:
            cats.setdefault(str(r["category"]), []).append(r)
        summary["by_category"] = {c: _stats([r["model_score"] for r in rs], [r["reference_score"] for r in rs], boot)
                                  for c, rs in sorted(cats.items())}
        if cfg.swap:
            sw = [r["swapped"] for r in records if r["swapped"]["status"] == SCORED]
            both = [r for r in scored if r["swapped"]["status"] == SCORED]
            summary["swap"] = {
                "n_scored": len(sw),
                "swapped": _stats([x["model_score"] for x in sw], [x["reference_score"] for x in sw], boot),
                "averaged": _stats([(r["model_score"] + r["swapped"]["model_score"]) / 2 for r in both],
                                   [(r["reference_score"] + r["swapped"]["reference_score"]) / 2 for r in both],
                                   boot),
                "position_bias": position_bias([r["model_score"] for r in both], [r["reference_score"] for r in both],
                                               [r["swapped"]["model_score"] for r in both],
                                               [r["swapped"]["reference_score"] for r in both]) if both else None,
            }
        summary["judge"] = {**asdict(cfg), "rules": self.rules_source}
        return summary

    def judge_split(self, split: Split, out_dir: str | os.PathLike[str] | None = None,
                    progress: bool = False, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Judge a split; with ``out_dir`` write ``<name>.judge.jsonl`` and ``<name>.summary.json`` (atomically).
        ``run``: the provenance block of the command (:func:`mllmshift.provenance.run_record`), kept in the summary."""
        records = self.judge_records(split, progress=progress)
        summary = self.summarize(split.name, records)
        if run is not None:
            summary["run"] = dict(run)
        if out_dir is not None:
            out = Path(out_dir)
            write_jsonl_atomic(out / f"{split.name}.judge.jsonl", records)
            atomic_write_text(out / f"{split.name}.summary.json", strict_dumps(summary, indent=1, ensure_ascii=False) + "\n")
        return summary


def _stats(model: Sequence[float], reference: Sequence[float], boot: Mapping[str, Any]) -> dict[str, Any]:
    if not model:
        return {"n": 0, "mean_model": None, "mean_reference": None, "relative_score": None,
                "relative_score_ci": None, "win_rate": None, "win_rate_ci": None, "bootstrap": dict(boot)}
    return judge_stats(np.asarray(model), np.asarray(reference), **boot).to_dict()


def load_scores(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Scenario → judge summary (``relative_score``, ``win_rate``, their CIs, counts, ...).

    ``path`` is a judge output folder (every ``*.summary.json`` in it) or one summary file.
    """
    p = Path(path)
    files = sorted(p.glob("*.summary.json")) if p.is_dir() else [p]
    if not files or not files[0].is_file():
        raise DataError("no judge summaries (*.summary.json) found", path=p)
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"bad JSON: {err.msg}", path=f, line=err.lineno) from None
        for fld in ("scenario", "relative_score", "win_rate"):
            if fld not in obj:
                raise DataError("missing", path=f, field=fld)
        if obj["scenario"] in out:
            raise DataError(f"scenario '{obj['scenario']}' appears in two summaries", path=f, field="scenario")
        out[obj["scenario"]] = obj
    return out
