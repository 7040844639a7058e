"""``mllmshift judge``: LLaVA-Bench LLM-judge scores (relative score, win rate) per scenario.

The judge (any OpenAI-compatible endpoint) compares the reference answer
(Assistant 1) with the model's answer (Assistant 2) for every item. Writes
``<out>/<scenario>.judge.jsonl`` (per item), ``<out>/<scenario>.summary.json``
(relative score, win rate, bootstrap CIs, exclusions) and caches every verdict
under ``<out>/cache`` (or ``--cache``), so a rerun costs nothing.
Exit status 0 when every item got a verdict, 3 when some requests failed (rerun to retry).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.cli._common import add_run_args
from mllmshift.errors import DataError
from mllmshift.cli._flags import deprecated_alias
from mllmshift.records import Split
from mllmshift.vocab import EXIT_OK, EXIT_PARTIAL



def register(subparsers: Any) -> None:
    p = subparsers.add_parser("judge", help="LLaVA-Bench LLM-judge scores (relative score, win rate) per scenario",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--responses", required=True, type=Path,
                   help="an answer file (LLaVA format or canonical JSONL with references) or a folder of them")
    p.add_argument("--questions", type=Path, help="LLaVA questions file (question text, category, image)")
    p.add_argument("--references", type=Path, help="reference answers (LLaVA answer-file format)")
    p.add_argument("--captions", type=Path,
                   help="image context for the judge: JSONL of image, captions (or caption), instances (boxes)")
    p.add_argument("--image-folder", type=Path, help="images named in the questions file (for --multimodal)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    p.add_argument("--model", required=True, help="judge model name on the endpoint")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable that holds the API key")
    p.add_argument("--rules", type=Path, help="rules JSON in LLaVA's rule.json format (default: built-in rules)")
    p.add_argument("--rule-prefix", default="llava_bench_",
                   help="rule key = PREFIX+category, then category, then 'default' (\"\" for LLaVA's COCO rules)")
    p.add_argument("--question-source", default="original", choices=("original", "prompt"),
                   help="judge the clean question from --questions (original) or the text the model saw (prompt)")
    p.add_argument("--swap", action="store_true", help="also judge with the answers swapped (position bias)")
    p.add_argument("--multimodal", action="store_true", help="send the image to the judge")
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--seed", "--bootstrap-seed", dest="seed", type=int, default=None,
                   action=deprecated_alias(argparse._StoreAction, {"--bootstrap-seed": "--seed"}),
                   help="the run's seed: of the bootstrap CIs (default: 0) and, when given, of the judge's requests "
                        "(seed + attempt); --bootstrap-seed is its old spelling")
    p.add_argument("--parse-retries", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-attempts", type=int, default=6)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--backoff-base", type=float, default=1.0)
    p.add_argument("--backoff-max", type=float, default=60.0)
    p.add_argument("--deadline", type=float, default=600.0, help="seconds for one whole attempt (default: 600)")
    p.add_argument("--retry-after-max", type=float, default=300.0,
                   help="longest wait a server's Retry-After may ask for (default: 300)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--cache", type=Path, help="verdict cache folder (default: OUT/cache)")
    add_run_args(p, overwrite="", cache=False)


def read_responses(path: Path, questions: Path | None, references: Path | None,
                   image_folder: Path | None) -> Split:
    """One scenario: a LLaVA answer file joined with questions and references, an AlpacaEval model_outputs.json
    joined with the baseline's (``references``) on instruction, or any other :func:`read_split` format."""
    from mllmshift.io.llava import read_llava
    from mllmshift.io.readers import read_split, sniff_format

    fmt = sniff_format(path)
    if path.suffix == ".jsonl" and fmt == "llava":
        return read_llava(path, questions=questions, references=references, image_folder=image_folder,
                          name=path.stem)
    if fmt == "alpaca-eval":
        return read_split(path, "alpaca-eval", references=references)
    return read_split(path)


def response_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError("not found", path=path)
    if path.is_file():
        return [path]
    files = sorted(f for f in path.glob("*.jsonl") if not f.name.startswith(".") and not f.name.endswith(".judge.jsonl"))
    if not files:
        raise DataError("folder holds no *.jsonl answer files", path=path)
    return files


def run(args: argparse.Namespace) -> int:
    from mllmshift.judge.cache import VerdictCache
    from mllmshift.judge.llava_bench import JudgeConfig, LlavaBenchJudge
    from mllmshift.judge.prompt import read_contexts
    from mllmshift.judge.rules import load_rules
    from mllmshift.responders.http import ChatClient, RetryPolicy, api_key_from_env

    from mllmshift.cli._outputs import check_path

    check_path(args.out, "--out", folder=True)
    check_path(args.cache, "--cache", folder=True)
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("--responses", args.responses), ("--questions", args.questions), ("--references", args.references),
                    ("--captions", args.captions), ("--rules", args.rules), ("--image-folder", args.image_folder)],
                   [("--out", args.out, True), ("--cache", args.cache, True)])
    splits = [read_responses(f, args.questions, args.references, args.image_folder)
              for f in response_files(args.responses)]
    config = JudgeConfig(model=args.model, temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
                         parse_retries=args.parse_retries, swap=args.swap, multimodal=args.multimodal,
                         rule_prefix=args.rule_prefix, question_source=args.question_source,
                         n_resamples=args.bootstrap, bootstrap_seed=0 if args.seed is None else args.seed,
                         confidence=args.confidence, concurrency=args.concurrency)
    client = ChatClient(args.base_url, api_key=api_key_from_env(args.api_key_env),
                        policy=RetryPolicy(max_attempts=args.max_attempts, timeout=args.timeout,
                                           backoff_base=args.backoff_base, backoff_max=args.backoff_max,
                                           deadline=args.deadline, retry_after_max=args.retry_after_max))
    from mllmshift.responders.preflight import check_server

    # one GET /models (after the flags are checked): a judge server that is not there fails in seconds, not after
    # every item's retries
    check_server(args.base_url, api_key=api_key_from_env(args.api_key_env), model=args.model)
    judge = LlavaBenchJudge(client, config,
                            rules=load_rules(args.rules) if args.rules else None,
                            rules_source=str(args.rules) if args.rules else "built-in",
                            contexts=read_contexts(args.captions) if args.captions else None,
                            cache=VerdictCache(args.cache or args.out / "cache"))
    args.out.mkdir(parents=True, exist_ok=True)
    from mllmshift.provenance import run_record

    run = run_record()
    incomplete = 0
    print(f"{'scenario':40s} {'n':>4s} {'excl':>4s} {'fail':>4s}  {'relative score [CI]':24s} win rate [CI]")
    for split in splits:
        s = judge.judge_split(split, args.out, progress=not args.quiet, run=run)
        incomplete += s["n_failed"] > 0
        print(f"{split.name:40s} {s['n_scored']:4d} {s['n_unparsable']:4d} {s['n_failed']:4d}  "
              f"{_fmt(s['relative_score'], s['relative_score_ci'], '.1f'):24s} "
              f"{_fmt(s['win_rate'], s['win_rate_ci'], '.3f')}")
    if incomplete:
        print(f"{incomplete} scenario(s) have items whose judge request failed; rerun the same command to retry "
              f"them (cached verdicts are not asked again)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _fmt(value: float | None, ci: list[float] | None, spec: str) -> str:
    if value is None:
        return "-"
    if not ci:
        return format(value, spec)
    return f"{value:{spec}} [{ci[0]:{spec}}, {ci[1]:{spec}}]"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verb alone (``python -m mllmshift.cli.judge ...``) through the one ``mllmshift`` entry point."""
    from mllmshift.cli.main import main as mllmshift_main

    return mllmshift_main(["judge", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
