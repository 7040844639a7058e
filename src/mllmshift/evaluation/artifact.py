"""A fitted MI estimator as an artifact: the members, what they were fitted on, and a fingerprint results cite.

EMI values are relative to the estimator that computed them: Î(X;Ŷ) − Î(X;Y) from estimators fitted on other
pairs is another number (issue #19: the same split's EMI was +0.05, −0.34 and −0.15 from three calls that pooled
different splits). So the estimator is fitted once on a **declared fitting set** (``mllmshift fit``, as the
paper's authors fitted one ``CLUB_global.pt`` on a benchmark's pooled pairs), saved, and loaded by every later
call; a split's EMI is then the same whatever else a call is given.

The **fingerprint** of a fit hashes everything its weights depend on (:func:`fit_fingerprint`):

    sha256(json([estimator name, options, K, seed], text encoder fingerprint, image encoder fingerprint
                 (when the fitting pairs have images), sorted content keys of the fitting splits)))[:16]

where a split's content key (:meth:`~mllmshift.evaluation.embedding.Encoders.key`) hashes its samples, the
encoders that embed it and its fusion. A call that fits its own estimator computes the same fingerprint over the
splits it pooled, so two calls agree on it exactly when their estimators are the same fit, and every result
(``results.json``'s ``estimator`` block, the summary, the report) carries it with the fitting set's name.

File format (one file, a zip archive; written atomically): ``mllmshift-estimator.json`` (``format``
:data:`FORMAT`, ``fingerprint``, ``fit_set``, ``encoders``, ``estimator``, ``members``: their file names) and one
file per member in the member's own saved format (any kind: torch checkpoints, stateless JSON).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import DataError
from mllmshift.estimators.base import MIEstimator
from mllmshift.io.atomic import atomic_write_bytes
from mllmshift.provenance import file_sha256, stable_hash

FORMAT = "mllmshift-estimator/1"
MANIFEST = "mllmshift-estimator.json"


def fit_fingerprint(spec: Mapping[str, Any], encoders: Mapping[str, Any], pool_keys: Sequence[str]) -> str:
    """The fingerprint of a fit (see the module docstring): ``spec`` is :func:`estimator_spec`, ``encoders``
    :func:`encoder_prints`, ``pool_keys`` the content keys of the fitting splits."""
    return stable_hash([dict(spec), dict(encoders), sorted(pool_keys)])


def estimator_spec(name: str, options: Mapping[str, Any], n_estimators: int, seed: int,
                   folds: int = 0) -> dict[str, Any]:
    """What of the config a fit depends on: the estimator's name and options, K, the seed and the cross-fitting
    folds (left out at 0, in-sample, so in-sample fingerprints stay as they were)."""
    spec = {"name": name, "options": dict(options), "n_estimators": int(n_estimators), "seed": int(seed)}
    if folds:
        spec["folds"] = int(folds)
    return spec


def encoder_prints(info: Mapping[str, Any], pool: Sequence[EmbeddedSplit]) -> dict[str, Any]:
    """The encoders' fingerprints and the fusion from :meth:`Encoders.info`; the image encoder's only when a
    fitting split's X holds images (so a text-only fit does not depend on an image encoder it never used)."""
    image = info.get("image") if any(e.metadata.get("visual_source") == "image" for e in pool) else None
    return {"text": (info.get("text") or {}).get("fingerprint"),
            "image": None if image is None else image.get("fingerprint"),
            "fusion": sorted({str(e.metadata.get("fusion")) for e in pool})}


@dataclass(frozen=True)
class FitSet:
    """The pairs an estimator was fitted on: a name and, per split, its name, size and content key.

    ``declared``: named by the user (``mllmshift fit``, a study's ``fit`` key); False when a call pooled
    the splits it was given (then the values are relative to that call's fit)."""

    name: str
    splits: tuple[Mapping[str, Any], ...]
    declared: bool

    @classmethod
    def of(cls, pool: Sequence[EmbeddedSplit], keys: Mapping[str, str], *, name: str | None = None,
           declared: bool = False) -> FitSet:
        splits = tuple({"name": e.name, "n": len(e), "key": keys[e.name]} for e in pool)
        return cls(name or " + ".join(e.name for e in pool), splits, declared)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "declared": self.declared, "splits": [dict(s) for s in self.splits]}

    def describe(self) -> str:
        """One line for summaries: which splits, how many pairs' worth of samples, declared or this call's."""
        n = sum(int(s["n"]) for s in self.splits)
        names = ", ".join(str(s["name"]) for s in self.splits)
        if self.declared:
            return f"fitting set '{self.name}' ({len(self.splits)} split(s), {n} samples: {names})"
        return f"this call's fit on the pooled pairs of {names} ({n} samples)"


@dataclass(frozen=True)
class EstimatorArtifact:
    """Fitted members with their fingerprint, fitting set, encoders and estimator spec (see the module docstring)."""

    members: tuple[MIEstimator, ...]
    fingerprint: str
    fit_set: Mapping[str, Any]
    encoders: Mapping[str, Any]
    estimator: Mapping[str, Any]
    path: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def manifest(self, names: Sequence[str]) -> dict[str, Any]:
        return {"format": FORMAT, "fingerprint": self.fingerprint, "fit_set": dict(self.fit_set),
                "encoders": dict(self.encoders), "estimator": dict(self.estimator), "members": list(names),
                **dict(self.extra)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the archive atomically (members saved in their own formats inside it)."""
        buf = io.BytesIO()
        names = [f"member-{k}" for k in range(len(self.members))]
        with tempfile.TemporaryDirectory(prefix="mllmshift-artifact-") as tmp, \
                zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, json.dumps(self.manifest(names), indent=2, sort_keys=True))
            for m, name in zip(self.members, names):
                p = Path(tmp) / name
                m.save(p)
                z.write(p, name)
        atomic_write_bytes(path, buf.getvalue())
        return Path(path)

    def info(self) -> dict[str, Any]:
        """What results record about the estimators (``StudyResult.estimator``)."""
        first = self.members[0]
        return {"source": "checkpoint", "path": self.path, "key": self.fingerprint, "fingerprint": self.fingerprint,
                "fit_set": dict(self.fit_set), "fitted_with": dict(self.estimator), "encoders": dict(self.encoders),
                "config": first.config(), "members": [m.config() for m in self.members],
                "history": first.fit_summary()}


def is_artifact(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an estimator archive (a zip holding :data:`MANIFEST`; torch files are zips too)."""
    try:
        with zipfile.ZipFile(path) as z:
            return MANIFEST in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_artifact(path: str | os.PathLike[str]) -> EstimatorArtifact:
    """Read an archive written by :meth:`EstimatorArtifact.save`; a damaged one is a located DataError."""
    from mllmshift.estimators.defaults import load_mi_estimator

    try:
        with zipfile.ZipFile(path) as z, tempfile.TemporaryDirectory(prefix="mllmshift-artifact-") as tmp:
            doc = json.loads(z.read(MANIFEST).decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise DataError(f"not a {FORMAT} estimator file", path=path, field="format")
            for key in ("fingerprint", "fit_set", "encoders", "estimator", "members"):
                if key not in doc:
                    raise DataError("missing from the estimator file's manifest", path=path, field=key)
            members = []
            for name in doc["members"]:
                p = Path(tmp) / Path(str(name)).name
                p.write_bytes(z.read(str(name)))
                try:
                    members.append(load_mi_estimator(p))
                except DataError as err:
                    raise DataError(f"member {name}: {err.message}", path=path, field=err.field) from None
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"not a readable estimator file: {err}", path=path) from None
    if not members:
        raise DataError("holds no estimator", path=path, field="members")
    extra = {k: v for k, v in doc.items() if k not in ("format", "fingerprint", "fit_set", "encoders", "estimator",
                                                        "members")}
    return EstimatorArtifact(tuple(members), str(doc["fingerprint"]), doc["fit_set"], doc["encoders"],
                             doc["estimator"], str(path), extra)


def load_estimator_file(path: str | os.PathLike[str]) -> EstimatorArtifact:
    """Any saved estimator as an artifact: an archive as it is; a single estimator file (any kind, or the
    authors' CLUB state dict) with the fingerprint of its bytes and an unrecorded fitting set."""
    if is_artifact(path):
        return load_artifact(path)
    from mllmshift.estimators.defaults import load_mi_estimator

    est = load_mi_estimator(path)
    fit_set = {"name": f"not recorded (a single estimator file, {Path(path).name})", "declared": True, "splits": []}
    return EstimatorArtifact((est,), stable_hash(["file", file_sha256(path)]), fit_set, {}, {}, str(path))


def check_encoders(artifact: EstimatorArtifact, run: Mapping[str, Any], uses_images: bool) -> None:
    """Refuse an estimator fitted on other encoders than the run's: a located DataError naming the encoder.

    ``run``: the run's :func:`encoder_prints`-shaped fingerprints; ``uses_images``: whether the run's ID
    split's X holds images. A single estimator file records no encoders (its dims are checked instead)."""
    have = artifact.encoders
    if not have:
        return
    if have.get("text") != run.get("text"):
        raise DataError(f"the estimator was fitted on embeddings of another text encoder (fingerprint "
                        f"{have.get('text')}, this run's {run.get('text')}); use the encoders it was fitted with "
                        "(see `mllmshift fit`) or fit one on this run's encoders", path=artifact.path,
                        field="encoders.text")
    if uses_images and have.get("image") != run.get("image"):
        raise DataError(f"the estimator was fitted on embeddings of another image encoder (fingerprint "
                        f"{have.get('image')}, this run's {run.get('image')}); use the encoders it was fitted "
                        "with or fit one on this run's encoders", path=artifact.path, field="encoders.image")
    if have.get("fusion") and run.get("fusion") and have["fusion"] != run["fusion"]:
        raise DataError(f"the estimator was fitted on inputs X fused as {', '.join(have['fusion'])}, this run's "
                        f"are {', '.join(run['fusion'])}; use the --fusion it was fitted with", path=artifact.path,
                        field="encoders.fusion")


def artifact_of(members: Sequence[MIEstimator], info: Mapping[str, Any]) -> EstimatorArtifact:
    """The artifact of an evaluation's estimators (``Ensemble.members`` and ``.info``), e.g. to save the fit of
    an ``emi``/``emid`` call with ``--save-estimator``: every member, its fingerprint and fitting set."""
    return EstimatorArtifact(tuple(members), str(info.get("fingerprint") or info.get("key")),
                             dict(info.get("fit_set") or {}), dict(info.get("encoders") or {}),
                             dict(info.get("fitted_with") or {}))


def fit_line(info: Mapping[str, Any]) -> str:
    """One line for summaries saying which fit the values are relative to (``info``: ``StudyResult.estimator``).

    Without a saved estimator or declared fitting set it says that the values are relative to this call's fit
    and which splits were pooled, so ``emi a.jsonl`` and ``emid --id a.jsonl --ood b.jsonl`` read as different
    fits."""
    fp = info.get("fingerprint") or info.get("key") or "?"
    fs = info.get("fit_set") or {}
    names = ", ".join(str(s.get("name")) for s in fs.get("splits", ())) or "?"
    if info.get("source") == "checkpoint":
        return f"estimator {fp} loaded from {info.get('path')}, fitted on '{fs.get('name', '?')}'"
    if fs.get("declared"):
        return f"estimator {fp} fitted on the declared fitting set '{fs.get('name')}' ({names})"
    return (f"estimator {fp}: values are relative to this call's fit on the pooled pairs of {names}; to compare "
            "them across calls, fit once (`mllmshift fit`) and pass the saved estimator")


def fingerprints_differ(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct estimator fingerprints of several results (``StudyResult.estimator`` blocks or whole
    ``results.json`` documents), in order; more than one means their EMIs come from different fits and are not
    comparable."""
    seen: list[str] = []
    for r in results:
        block = r.get("estimator", r) if isinstance(r.get("estimator"), Mapping) else r
        fp = str(block.get("fingerprint") or block.get("key"))
        if fp not in seen:
            seen.append(fp)
    return seen


def check_same_fit(results: Sequence[Mapping[str, Any]], what: str = "results") -> str:
    """Refuse to compare ``results`` computed with different estimators: a MllmshiftError naming the
    fingerprints and fitting sets; returns the one fingerprint otherwise."""
    from mllmshift.errors import MllmshiftError

    fps = fingerprints_differ(results)
    if len(fps) > 1:
        sets = []
        for r in results:
            block = r.get("estimator", r) if isinstance(r.get("estimator"), Mapping) else r
            sets.append(f"{block.get('fingerprint') or block.get('key')} ({(block.get('fit_set') or {}).get('name')})")
        raise MllmshiftError(f"these {what} come from {len(fps)} different estimator fits ({'; '.join(sets)}); "
                             "EMIs of different fits do not compare. Evaluate them with one saved estimator "
                             "(`mllmshift fit`, then --estimator-file)")
    return fps[0]
