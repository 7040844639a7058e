"""mllmshift: how much a multimodal LLM degrades under distribution shift, and why.

Implements effective mutual information (EMI), its difference across an
in-distribution and a shifted split (EMID) and the EMID upper bound of
Oh et al., "Understanding Multimodal LLMs Under Distribution Shifts: An
Information-Theoretic Approach" (ICML 2025, arXiv 2502.00577).

The package is organised as the pipeline it runs::

    records -> shifts -> responders -> encoders -> estimators -> metrics -> study -> report
"""

from mllmshift.records import Sample, Split

__version__ = "0.1.0"
__all__ = ["Sample", "Split", "__version__"]
