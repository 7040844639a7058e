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

#: scenario groups, in the order tables list them
GROUPS: tuple[str, ...] = ("visual", "text", "joint")
#: the scenario kinds a shift grid can combine (the same words as the groups)
COMBINATIONS: tuple[str, ...] = GROUPS
#: how X is made from the image and question embeddings
FUSIONS: tuple[str, ...] = ("auto", "mean", "concat", "text")
#: the two forms of the EMID upper bound
BOUND_FORMS: tuple[str, ...] = ("scale-adjusted", "theorem")

#: the default text encoder (multilingual USE, offline)
DEFAULT_TEXT_ENCODER = "use-multilingual"
#: the default image encoder (EfficientNet-Lite0, offline)
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
#: the default fusion
DEFAULT_FUSION = "auto"
#: MI estimator used for EMI when none is named (smallest worst-case error on the ground-truth tasks)
DEFAULT_MI_ESTIMATOR = "infonce"
#: divergence estimator of the four bound terms when none is named (size-dependent, see ``AutoJSD``)
DEFAULT_DIVERGENCE = "auto"
#: the paper's estimators (Oh et al., 2025): CLUB for EMI, linear RJSD for the bound
PAPER_MI_ESTIMATOR = "club"
PAPER_DIVERGENCE = "rjsd"
#: the paper's CLUB options (hidden size 500, at most 200 epochs), used by ``--paper`` / ``EvalConfig.paper()``
PAPER_MI_OPTIONS: dict[str, int] = {"hidden_size": 500, "max_epochs": 200}

#: exit codes of ``mllmshift``: done, bad input (a located error), usage error, partial (rerun to finish)
EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
#: interrupted by Ctrl-C (128 + SIGINT); finished work is cached
EXIT_INTERRUPTED = 130

__all__ = ["GROUPS", "COMBINATIONS", "FUSIONS", "BOUND_FORMS", "DEFAULT_TEXT_ENCODER", "DEFAULT_IMAGE_ENCODER",
           "DEFAULT_FUSION", "DEFAULT_MI_ESTIMATOR", "DEFAULT_DIVERGENCE", "PAPER_MI_ESTIMATOR", "PAPER_DIVERGENCE",
           "PAPER_MI_OPTIONS", "EXIT_OK", "EXIT_BAD_INPUT", "EXIT_USAGE", "EXIT_PARTIAL", "EXIT_INTERRUPTED"]
