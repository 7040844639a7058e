"""The package's vocabulary: every name that several modules share is defined here, once.

- scenario **groups**: which input a shift changes: ``visual`` (the image), ``text`` (the question)
  or ``joint`` (both); a shift grid's ``combine:`` draws from the same three words;
- **fusions**: how the image and question embeddings make the input X (``auto``, ``mean``, ``concat``,
  ``text``; see :func:`mllmshift.embeddings.fuse`);
- **bound forms**: ``scale-adjusted`` (the paper code's Ĥ = 1, no factor 4) or ``theorem``;
- the **default components**: text and image encoder, MI estimator and divergence (the estimator
  defaults were chosen by the ground-truth validation, ``docs/estimators.md``), and the paper's pair;
- **exit codes** of the command line.

This module imports nothing from the package, so every layer may import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: scenario groups, in the order tables list them
GROUPS: tuple[str, ...] = ("visual", "text", "joint")
#: the scenario kinds a shift grid can combine (the same words as the groups)
COMBINATIONS: tuple[str, ...] = GROUPS
#: how X is made from the image and question embeddings
FUSIONS: tuple[str, ...] = ("auto", "mean", "concat", "text")
#: the two forms of the EMID upper bound
BOUND_FORMS: tuple[str, ...] = ("scale-adjusted", "theorem")
#: where encoders, estimator training and scoring run (``cuda:N`` names one GPU; :mod:`mllmshift.devices`)
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
#: how bootstrap weights are drawn (:mod:`mllmshift.resampling`): ``auto`` picks by B × n
BOOTSTRAP_SCHEMES: tuple[str, ...] = ("auto", "multinomial", "poisson")

#: the default text encoder (multilingual USE, offline)
DEFAULT_TEXT_ENCODER = "use-multilingual"
#: the default image encoder (EfficientNet-Lite0, offline)
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
#: the default fusion
DEFAULT_FUSION = "auto"
#: MI estimator used for EMI when none is named: CLUB with the options of its registry entry (hidden 250, at most
#: 50 epochs, patience 5), chosen at small and large n by the amended decision rule on AlpacaEval-48 and
#: LLaVA-Bench (docs/estimators.md "Defaults by evidence", issue #19 item 6)
DEFAULT_MI_ESTIMATOR = "club"
#: (its options when named bare are on its registry entry, :mod:`mllmshift.estimators.registries`)
#: estimators of the default ensemble (seeds ``derive_seed(seed, "estimator", k)``): EMI is their mean, the
#: bootstrap uses member b mod K, so intervals include the estimator's seed variance
DEFAULT_N_ESTIMATORS = 3
#: divergence estimator of the four bound terms when none is named: linear RJSD minus its mean on shuffled
#: re-splits, one estimator at every n (no size switch)
DEFAULT_DIVERGENCE = "rjsd-debiased"
#: cross-fitting folds of every fitted estimator: each pair is scored by a fit that saw no version of its item
#: (0: fitted and scored on the same pairs, the authors' in-sample scoring; docs/estimators/small_n.md)
DEFAULT_FOLDS = 3
#: the paper's estimators (Oh et al., 2025): CLUB for EMI, linear RJSD for the bound
PAPER_MI_ESTIMATOR = "club"
PAPER_DIVERGENCE = "rjsd"
#: the paper's CLUB options (hidden size 500, at most 200 epochs, patience 10: the class defaults, written out so
#: that the default CLUB's registry options do not reach them), used by ``--paper`` / ``EvalConfig.paper()``
PAPER_MI_OPTIONS: dict[str, int] = {"hidden_size": 500, "max_epochs": 200, "patience": 10}
#: the paper fits one estimator
PAPER_N_ESTIMATORS = 1

#: the fewest samples a split may have: below this no estimate is given (the estimator's held-out 20 % would
#: hold one pair or none, InfoNCE's ceiling ln n is under 2.3 nats); see docs/estimators.md
MIN_SAMPLES = 10

#: exit codes of ``mllmshift``: done, bad input (a located error), usage error, partial (rerun to finish)
EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
#: interrupted by Ctrl-C (128 + SIGINT); finished work is cached
EXIT_INTERRUPTED = 130
#: stdout's reader went away (``mllmshift shift list | head -1``): 128 + SIGPIPE, what a shell reports for a
#: writer the signal ended; nothing is printed
EXIT_BROKEN_PIPE = 141

# ---------------------------------------------------------------------------------------------- groups
_VISUAL_WORDS = ("blur", "frost", "noise", "fog", "snow", "brightness", "contrast", "jpeg", "pixel", "elastic",
                 "glass", "motion", "zoom", "spatter", "saturate", "shot", "impulse", "speckle", "in_the_wild",
                 "easy", "hard", "corrupt")
_TEXT_WORDS = ("keyboard", "typo", "synonym", "sr_", "ocr", "swap", "insert", "delete", "german", "chinese",
               "korean", "greek", "arabic", "hindi", "french", "spanish", "japanese", "russian", "language",
               "translat", "text", "char")


def group_of(scenario: str | Mapping[str, Any]) -> str:
    """``visual``, ``text`` or ``joint``: which input a scenario shifts.

    Accepts a scenario name, or a mapping with, in order of precedence, an explicit ``group``;
    ``visual``/``text`` entries (a grid scenario's shifts: non-empty means shifted); or a ``name``.
    A name is classified by the shift words it contains (``frost``, ``blur``, … are visual;
    ``keyboard``, ``sr_``, language names … are text; both → joint). Raises ``ValueError`` when
    nothing tells.
    """
    if isinstance(scenario, Mapping):
        explicit = scenario.get("group")
        if explicit:
            if explicit not in GROUPS:
                raise ValueError(f"unknown scenario group '{explicit}'; choose from {GROUPS}")
            return str(explicit)
        has_v = scenario.get("visual") not in (None, "", "none", [], ())
        has_t = scenario.get("text") not in (None, "", "none", [], ())
        if has_v or has_t:
            return "joint" if has_v and has_t else ("visual" if has_v else "text")
        name = scenario.get("name")
        if not isinstance(name, str):
            raise ValueError(f"cannot tell the group of {dict(scenario)!r}: give it a 'group'")
        scenario = name
    tokens = re.sub(r"[^a-z0-9_]+", "_", scenario.lower())
    v = any(w in tokens for w in _VISUAL_WORDS)
    t = any(w in tokens for w in _TEXT_WORDS) or bool(re.search(r"(^|_)sr_?\d", tokens))
    if v and t:
        return "joint"
    if v:
        return "visual"
    if t:
        return "text"
    raise ValueError(f"cannot tell from the name '{scenario}' whether it shifts the image, the text or both; "
                     f"give the scenario a 'group' ({', '.join(GROUPS)})")

__all__ = ["group_of", "GROUPS", "COMBINATIONS", "FUSIONS", "BOUND_FORMS", "DEVICES", "BOOTSTRAP_SCHEMES", "DEFAULT_TEXT_ENCODER", "DEFAULT_IMAGE_ENCODER",
           "DEFAULT_FUSION", "DEFAULT_MI_ESTIMATOR", "DEFAULT_N_ESTIMATORS",
           "DEFAULT_DIVERGENCE", "DEFAULT_FOLDS", "PAPER_MI_ESTIMATOR", "PAPER_DIVERGENCE", "PAPER_MI_OPTIONS", "PAPER_N_ESTIMATORS",
           "MIN_SAMPLES", "EXIT_OK", "EXIT_BAD_INPUT", "EXIT_USAGE", "EXIT_PARTIAL",
           "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE"]
