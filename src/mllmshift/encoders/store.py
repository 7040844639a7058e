"""A folder of embedded splits as memory-mappable ``.npy`` files, with a manifest of fingerprints.

Layout (``mllmshift embed --out DIR`` writes it; ``emi``/``emid``/``study --embeddings DIR`` and the Ray
engine read it)::

    DIR/manifest.json            {"format": "mllmshift-embeddings/1", "splits": {name: entry, ...}}
    DIR/<split>/<field>.npy      float32 n × d, field ∈ x_visual, x_text, response, reference
    DIR/<split>/ids.json         the sample ids, in row order

An entry records the split's ``key`` (a hash of its content, the encoders and the fusion:
:meth:`mllmshift.evaluation.embedding.Encoders.key`), n, each field's file, dim and SHA-256 of its rows, the
SHA-256 of ``ids.json``, the embedding metadata (encoders, visual source, requested fusion) and, when
``mllmshift embed`` wrote it, the ``run`` block of that command (:func:`mllmshift.provenance.run_record`).

Derived data are verified before they are scored (:meth:`EmbeddingStore.load`): the key must match the
split being scored (same content, encoders, fusion), and every field's rows and the ids are re-hashed against
the manifest, so files swapped between fields, rows reordered, a truncated ``.npy`` or a short ``ids.json``
are a located :class:`DataError`, never another EMI. The re-hash reads each file once more (sequentially,
a chunk at a time), a small price beside the scoring's own passes over the rows. A split is written a chunk of rows at a
time (:class:`SplitWriter`), so no split is ever held whole, and read back as
:class:`~mllmshift.sources.NpySource` objects (:meth:`EmbeddingStore.load`), so scoring streams it. Files
are written under temporary names and renamed when complete; the manifest is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.sources import NpySource

FORMAT = "mllmshift-embeddings/1"
MANIFEST = "manifest.json"
FIELDS = ("x_visual", "x_text", "response", "reference")


class SplitWriter:
    """Appends row chunks of one split's fields to ``.npy`` files (see the module docstring)."""

    def __init__(self, store: EmbeddingStore, name: str) -> None:
        self.store, self.name = store, name
        self.folder = store.root / _safe(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.ids: list[str] = []
        self._files: dict[str, Any] = {}
        self._dims: dict[str, int] = {}
        self._sha: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}

    def append(self, embedded: EmbeddedSplit) -> None:
        """Write the rows of a chunk (its fields must be those of the first chunk)."""
        present = {f for f in FIELDS if getattr(embedded, f) is not None}
        if self._files and present != set(self._files):
            raise DataError(f"split '{self.name}': rows {self.n}+ have the fields {sorted(present)}, earlier rows "
                            f"{sorted(self._files)}; give each field for every sample or for none")
        for f in sorted(present):
            block = np.ascontiguousarray(getattr(embedded, f), dtype="<f4")
            if f not in self._files:
                self._dims[f] = block.shape[1]
                self._files[f] = open(self.folder / f"{f}.rows.tmp", "wb")
                self._sha[f] = hashlib.sha256()
            self._files[f].write(block.tobytes())
            self._sha[f].update(block.tobytes())
        self.n += len(embedded)
        self.ids.extend(embedded.ids)
        if not self.metadata:
            self.metadata = {k: embedded.metadata.get(k) for k in ("text_encoder", "image_encoder", "visual_source",
                                                                    "fusion_requested")}

    def close(self, key: str) -> dict[str, Any]:
        """Finish the files (a ``.npy`` header in front of the rows) and record the split in the manifest."""
        fields: dict[str, Any] = {}
        for f, fh in self._files.items():
            fh.close()
            path = self.folder / f"{f}.npy"
            _finish_npy(self.folder / f"{f}.rows.tmp", path, (self.n, self._dims[f]))
            fields[f] = {"file": str(path.relative_to(self.store.root)), "dim": self._dims[f],
                         "sha256_rows": self._sha[f].hexdigest()}
        ids_text = json.dumps(self.ids) + "\n"
        atomic_write_text(self.folder / "ids.json", ids_text)
        entry = {"key": key, "n": self.n, "fields": fields, "ids": str((self.folder / "ids.json").relative_to(
            self.store.root)), "sha256_ids": hashlib.sha256(ids_text.encode("utf-8")).hexdigest(),
                 "metadata": self.metadata}
        self.store._record(self.name, entry)
        return entry


def _finish_npy(rows: Path, path: Path, shape: tuple[int, int]) -> None:
    """``path`` = a float32 .npy header for ``shape`` followed by the raw rows of ``rows`` (then removed)."""
    tmp = path.with_suffix(".npy.tmp")
    with open(tmp, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": shape})
        with open(rows, "rb") as src:
            while block := src.read(64 * 2**20):
                out.write(block)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    rows.unlink()


def _safe(name: str) -> str:
    from mllmshift.io.atomic import safe_name

    return safe_name(name)


class EmbeddingStore:
    """The folder ``root`` of embedded splits (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            return {"format": FORMAT, "splits": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"unreadable manifest: {err}", path=path) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"not an embedding store (format {FORMAT} expected)", path=path, field="format")
        return data

    def names(self) -> list[str]:
        return sorted(self.manifest["splits"])

    def entry(self, name: str) -> Mapping[str, Any]:
        """The manifest's entry of split ``name``, its shape checked (a :class:`DataError` when the folder is no
        store, the split is missing, or the entry lacks a field)."""
        if not (self.root / MANIFEST).is_file():
            raise DataError(f"not an embedding store: no {MANIFEST} (write one with `mllmshift embed DATA --out "
                            "DIR`)", path=self.root)
        splits = self.manifest["splits"]
        if not isinstance(splits, dict):
            raise DataError("expected a mapping of split names to entries", path=self.root / MANIFEST,
                            field="splits")
        if name not in splits:
            raise DataError(f"no split '{name}' in the embedding store; it holds {', '.join(sorted(splits)) or 'none'}"
                            " (write it with `mllmshift embed ... --out DIR`)", path=self.root / MANIFEST)
        e = splits[name]
        fields = e.get("fields") if isinstance(e, dict) else None
        ok = (isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("n"), int)
              and isinstance(e.get("ids"), str) and isinstance(fields, dict)
              and all(isinstance(f, dict) and isinstance(f.get("file"), str) and isinstance(f.get("dim"), int)
                      and isinstance(f.get("sha256_rows"), str) for f in fields.values()))
        if not ok:
            raise DataError("a malformed entry (it needs key, n, ids and fields with file, dim, sha256_rows; write "
                            "the store again with `mllmshift embed`)", path=self.root / MANIFEST,
                            field=f"splits.{name}")
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise DataError(f"unknown fields {unknown}; fields are {', '.join(FIELDS)}", path=self.root / MANIFEST,
                            field=f"splits.{name}.fields")
        return e

    def writer(self, name: str) -> SplitWriter:
        self.check_names([name])
        return SplitWriter(self, name)

    def check_names(self, names: list[str]) -> None:
        """Refuse split names that share one folder (``a/b`` and ``a_b`` are both ``a_b/``), among ``names`` or
        with another split already in the store: the second would overwrite the first's files."""
        folders: dict[str, str] = {_safe(n): n for n in self.manifest["splits"]}
        given: dict[str, str] = {}
        for n in names:
            other = given.get(_safe(n), folders.get(_safe(n)))
            if other is not None and other != n:
                raise DataError(f"splits '{other}' and '{n}' would share the folder {_safe(n)}/ of the store; "
                                "rename one", path=self.root)
            given[_safe(n)] = n

    def stamp_run(self, names: Sequence[str], run: Mapping[str, Any]) -> None:
        """Record ``run`` (the provenance block of the command that wrote them) in the entries of ``names``."""
        data = self.manifest
        for name in names:
            data["splits"][name]["run"] = dict(run)
        atomic_write_text(self.root / MANIFEST, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def _record(self, name: str, entry: Mapping[str, Any]) -> None:
        data = self.manifest
        data["splits"][name] = dict(entry)
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / MANIFEST, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def load(self, name: str, fusion: str, key: str | None = None) -> EmbeddedSplit:
        """The split ``name`` as sources on its files, X fused with ``fusion``; with ``key``, a
        :class:`DataError` unless the stored split was embedded from the same content, encoders and fusion."""
        e = self.entry(name)
        if key is not None and e["key"] != key:
            raise DataError(f"split '{name}' in the store was embedded from other data, encoders or fusion "
                            f"(key {e['key']}, this run {key}); embed it again", path=self.root / MANIFEST,
                            field=name)
        src = {}
        for f, info in e["fields"].items():
            s = NpySource(self.root / info["file"])
            if s.shape != (e["n"], info["dim"]):
                raise DataError(f"shape {s.shape}, the manifest says ({e['n']}, {info['dim']})", path=s.path)
            src[f] = s
        if "x_text" not in src:
            raise DataError(f"split '{name}' has no x_text field", path=self.root / MANIFEST, field=name)
        self.verify(name)
        ids = self._ids(e)
        meta = {**dict(e.get("metadata") or {}), "split": name, "n": e["n"], "store": str(self.root)}
        return EmbeddedSplit.from_arrays(name, x_text=src["x_text"], response=src.get("response"),
                                         reference=src.get("reference"), x_visual=src.get("x_visual"), fusion=fusion,
                                         ids=ids, metadata=meta)

    def _ids(self, e: Mapping[str, Any]) -> list[str]:
        """The sample ids of entry ``e``: a JSON list of n strings whose SHA-256 is the manifest's (when it has one)."""
        path = self.root / e["ids"]
        try:
            raw = path.read_bytes()
            ids = json.loads(raw.decode("utf-8"))
        except OSError as err:
            raise DataError(f"cannot read the sample ids: {err.strerror or err}", path=path) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"not a JSON list of sample ids: {err}", path=path) from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) != e["n"]:
            got = f"{len(ids)} ids" if isinstance(ids, list) else type(ids).__name__
            raise DataError(f"expected a list of {e['n']} sample ids (strings), as the manifest says; got {got}",
                            path=path)
        want = e.get("sha256_ids")
        if want is not None and hashlib.sha256(raw).hexdigest() != want:
            raise DataError("the sample ids differ from the manifest's checksum (reordered or edited since "
                            "`mllmshift embed` wrote them); embed the split again", path=path)
        return ids

    def verify(self, name: str) -> None:
        """Re-hash every file of ``name`` against the manifest (a :class:`DataError` at the first mismatch):
        a field's rows swapped with another field's, reordered, edited or cut short."""
        e = self.entry(name)
        for f, info in e["fields"].items():
            h = hashlib.sha256()
            for _, block in NpySource(self.root / info["file"]).chunks():
                h.update(np.ascontiguousarray(block, dtype="<f4").tobytes())
            if h.hexdigest() != info["sha256_rows"]:
                raise DataError("rows differ from the manifest's checksum (files swapped between fields, rows "
                                "reordered or edited since `mllmshift embed` wrote them); embed the split again",
                                path=self.root / info["file"], field=f)
