"""The candidate estimator configurations of the real-data validation suite.

A **member** is one MI estimator with its options and how its pooled pairs are grouped (for cross-fitting);
fitting a member with a seed is the unit of work that is cached. An **MI configuration** is a member and an
ensemble size K: its EMI is the mean of K members' EMIs, members ``s·K … s·K + K − 1`` making ensemble ``s``
(so an ensemble reuses the single-member runs, and seeds 0…S·K − 1 serve S ensembles). A **JSD configuration** is
a divergence estimator for the four bound terms. An **encoder** (:class:`EncoderSpec`: text encoder and text
normalisation) embeds the data a configuration is scored on; ``use`` (multilingual USE, raw text) unless the
configuration names another (issue #9 items 8/9: the encoder and normalisation are part of the choice).
Configurations are few and principled on purpose; their options are the package defaults unless stated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GROUPINGS = ("rows", "items")


@dataclass(frozen=True)
class MemberSpec:
    """One MI estimator fitted on the pooled pairs of a data set.

    Attributes:
        label: unique name in tables and in the cache folder.
        name: registered MI estimator.
        options: constructor options (besides dims and seed).
        groups: ``rows`` (cross-fitting groups = identical inputs, what ``fit(x, y)`` does by itself) or
            ``items`` (the sample ids are passed as ``groups``); only cross-fitted estimators use it.
        seeded: False for a deterministic estimator: one run serves every seed.
        fit_free: True when the fit stores nothing the estimates use (the Gaussian: ``fit`` records the
            dimensions only, ``mi`` estimates on the sample it is given), so a fit on another pool gives the same
            estimates on the same estimation set: the second pool's unit is the first pool's (not in
            :meth:`to_dict`: it changes no number, only what is recomputed).
    """

    label: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    groups: str = "rows"
    seeded: bool = True
    fit_free: bool = False

    def __post_init__(self) -> None:
        if self.groups not in GROUPINGS:
            raise ValueError(f"groups must be one of {GROUPINGS}, got {self.groups!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {"label": self.label, "name": self.name, "options": dict(self.options), "groups": self.groups}
        if not self.seeded:  # only when set, so runs cached before the field existed still match
            out["seeded"] = False
        return out


@dataclass(frozen=True)
class EncoderSpec:
    """A text encoder and its text normalisation (``None``: raw text) that embed a data set."""

    label: str
    name: str
    normalize: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "name": self.name, "normalize": self.normalize}


#: the encoder the suite's data are embedded with unless a configuration names another
DEFAULT_ENCODER = "use"
ENCODERS: dict[str, EncoderSpec] = {e.label: e for e in (
    EncoderSpec("use", "use-multilingual"),
    EncoderSpec("use-md", "use-multilingual", "markdown"),
    EncoderSpec("e5", "multilingual-e5-small"),
)}
#: the JSD configurations run on the data of a non-default encoder (the bound of its EMID–bound rows)
VARIANT_JSD = ("rjsd", "rjsd-debiased")


@dataclass(frozen=True)
class MIConfig:
    """A member and an ensemble size: EMI = the mean of ``members`` members' EMIs, on data embedded with
    ``encoder`` (a key of :data:`ENCODERS`)."""

    label: str
    member: MemberSpec
    members: int = 1
    note: str = ""
    encoder: str = DEFAULT_ENCODER
    #: at most this many ensembles, whatever the suite's seed count (None: all; for slow encoder variants)
    max_ensembles: int | None = None
    #: the data sets it is scored on (None: every one the suite runs)
    datasets: tuple[str, ...] | None = None

    def ensembles(self, seeds: int) -> int:
        """The ensembles scored for a suite of ``seeds``."""
        return seeds if self.max_ensembles is None else min(seeds, self.max_ensembles)

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError("an ensemble has at least one member")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder '{self.encoder}'; choose from {', '.join(ENCODERS)}")

    def member_seeds(self, ensemble: int) -> list[int]:
        """The member seeds of ensemble ``ensemble``: ``ensemble·K … ensemble·K + K − 1``."""
        return list(range(ensemble * self.members, (ensemble + 1) * self.members))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "member": self.member.to_dict(), "members": self.members, "note": self.note,
                "encoder": ENCODERS[self.encoder].to_dict(), "max_ensembles": self.max_ensembles,
                "datasets": None if self.datasets is None else list(self.datasets)}


@dataclass(frozen=True)
class JSDConfig:
    """A divergence estimator for the four terms of the EMID bound; ``seeded`` ones run at seeds 0 … S − 1
    (at most ``max_seeds`` of them: enough to measure their spread where a run is slow)."""

    label: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    seeded: bool = False
    note: str = ""
    max_seeds: int | None = None

    def seeds(self, s: int) -> list[int]:
        """The seeds run for a suite of ``s`` seeds."""
        if not self.seeded:
            return [0]
        return list(range(s if self.max_seeds is None else min(s, self.max_seeds)))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "name": self.name, "options": dict(self.options), "seeded": self.seeded,
                "note": self.note}


#: the paper's CLUB settings (hidden size 500, at most 200 epochs), as ``--paper`` uses them
PAPER_CLUB = {"hidden_size": 500, "max_epochs": 200, "patience": 10}
#: a cheaper CLUB: the hidden size of the authors' released checkpoint (250), at most 50 epochs, patience 5
CHEAP_CLUB = {"hidden_size": 250, "max_epochs": 50, "patience": 5}

MEMBERS: dict[str, MemberSpec] = {m.label: m for m in (
    MemberSpec("club", "club", PAPER_CLUB),
    MemberSpec("club-fast", "club", CHEAP_CLUB),
    MemberSpec("infonce", "infonce"),
    MemberSpec("infonce-pooled", "infonce-pooled"),
    MemberSpec("crossfit", "crossfit", {"folds": 5}),
    MemberSpec("crossfit-items", "crossfit", {"folds": 5}, groups="items"),
    MemberSpec("smile", "smile"),
    MemberSpec("smile-fast", "smile", {"max_steps": 300, "patience": 3}),
    MemberSpec("crossfit-smile", "crossfit", {"folds": 5, "base": "smile", "max_steps": 300, "patience": 3}),
    MemberSpec("gaussian", "gaussian", seeded=False, fit_free=True),
)}

MI_CONFIGS: dict[str, MIConfig] = {c.label: c for c in (
    MIConfig("club", MEMBERS["club"], note="the paper's (--paper)"),
    MIConfig("infonce", MEMBERS["infonce"], note="the default before this suite; in-split negatives, ceiling ln n"),
    MIConfig("infonce-x5", MEMBERS["infonce"], 5, note="seed ensemble of 5"),
    MIConfig("infonce-pooled", MEMBERS["infonce-pooled"], note="negatives from the pooled answers"),
    MIConfig("crossfit", MEMBERS["crossfit"], note="5-fold cross-fitted InfoNCE, folds by input"),
    MIConfig("crossfit-items", MEMBERS["crossfit-items"], note="5-fold cross-fitted InfoNCE, folds by sample id "
             "(the study's items: LLaVA-Bench only)", datasets=("llava",)),
    MIConfig("club-fast", MEMBERS["club-fast"], note="CLUB, hidden 250, at most 50 epochs, patience 5"),
    MIConfig("club-fast-x3", MEMBERS["club-fast"], 3, note="seed ensemble of 3 club-fast"),
    MIConfig("infonce-x3", MEMBERS["infonce"], 3, note="seed ensemble of 3"),
    MIConfig("crossfit-smile", MEMBERS["crossfit-smile"], note="5-fold cross-fitted smile-fast, folds by input"),
    MIConfig("smile", MEMBERS["smile"], note="clipped DV, tau = 5"),
    MIConfig("smile-x3", MEMBERS["smile"], 3, note="seed ensemble of 3 SMILEs"),
    MIConfig("smile-x5", MEMBERS["smile"], 5, note="seed ensemble of 5 SMILEs"),
    MIConfig("smile-fast", MEMBERS["smile-fast"], note="SMILE, at most 300 steps, patience 3 evaluations"),
    MIConfig("smile-fast-x3", MEMBERS["smile-fast"], 3, note="seed ensemble of 3 smile-fast"),
    MIConfig("smile-fast-x5", MEMBERS["smile-fast"], 5, note="seed ensemble of 5 smile-fast"),
    MIConfig("smile-fast-x3@e5", MEMBERS["smile-fast"], 3, note="smile-fast-x3 on multilingual-e5-small "
             "(embedding AlpacaEval's 11,206 texts took 6,171 s on 2 shared cores)",
             encoder="e5", max_ensembles=2),
    MIConfig("smile-fast-x3@use-md", MEMBERS["smile-fast"], 3,
             note="smile-fast-x3 on USE with normalize: markdown", encoder="use-md", max_ensembles=2),
    MIConfig("gaussian", MEMBERS["gaussian"], note="closed-form CCA MI, Ledoit-Wolf, on each split"),
)}

JSD_CONFIGS: dict[str, JSDConfig] = {c.label: c for c in (
    JSDConfig("rjsd", "rjsd", note="the paper's"),
    JSDConfig("auto", "auto", seeded=True, note="the default before this suite: rjsd < 1,000 points, classifier above"),
    JSDConfig("rjsd-debiased", "rjsd-debiased", seeded=True, note="shuffle-corrected RJSD (20 re-splits)"),
    JSDConfig("classifier-jsd", "classifier-jsd", seeded=True, note="2-fold cross-fitted classifier, every n",
              max_seeds=2),
)}

#: the candidates of the decision rule (docs/estimators.md, issue #19 item 6): K = 1 and 3 of every member
RULE_MI = ("club", "club-fast", "club-fast-x3", "smile", "smile-x3", "smile-fast", "smile-fast-x3", "infonce",
           "infonce-x3", "crossfit", "crossfit-smile", "gaussian")
RULE_JSD = ("rjsd", "rjsd-debiased")
#: what ``mllmshift estimators validate --real`` runs without ``--configs``
DEFAULT_MI = tuple(MI_CONFIGS)
DEFAULT_JSD = tuple(JSD_CONFIGS)
#: the small grid of the ``shared``-marked test: fast members, two seeds
QUICK_MI = ("infonce", "gaussian")
QUICK_JSD = ("rjsd",)


def select(labels: list[str] | None, known: Mapping[str, Any], what: str) -> list[Any]:
    """The configurations named in ``labels`` (all when None), with a clear error for unknown names."""
    if labels is None:
        return list(known.values())
    unknown = [lab for lab in labels if lab not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(known)}")
    return [known[lab] for lab in labels]
