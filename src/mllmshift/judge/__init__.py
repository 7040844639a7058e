"""LLM-judge scores the paper correlates EMI with: LLaVA-Bench relative score and win rate.

- :mod:`~mllmshift.judge.rules`: per-category judge rules (LLaVA ``rule.json`` format) and built-in defaults.
- :mod:`~mllmshift.judge.prompt`: the judge request (context, question, two answers, rule).
- :mod:`~mllmshift.judge.verdict`: strict parsing of the two scores on the verdict's first line.
- :mod:`~mllmshift.judge.stats`: relative score, win rate, paired bootstrap CIs, position bias.
- :mod:`~mllmshift.judge.cache`: verdicts cached by content hash.
- :mod:`~mllmshift.judge.llava_bench`: the protocol over a split, outputs, and :func:`load_scores`.
"""

from mllmshift.judge.llava_bench import JudgeConfig, LlavaBenchJudge, load_scores
from mllmshift.judge.rules import DEFAULT_RULES, JudgeRule, load_rules
from mllmshift.judge.stats import judge_stats, relative_score, win_rate
from mllmshift.judge.verdict import VerdictError, parse_verdict

__all__ = ["DEFAULT_RULES", "JudgeConfig", "JudgeRule", "LlavaBenchJudge", "VerdictError", "judge_stats",
           "load_rules", "load_scores", "parse_verdict", "relative_score", "win_rate"]
