"""Stream sources that read only what is new: a growing JSONL file, a drop folder, Parquet shards.

A stream record is one JSON object (or Parquet row) with the canonical fields of a sample plus a
timestamp: ``timestamp`` (epoch seconds, or an ISO 8601 string; without a zone it is UTC),
``question`` and ``response`` (required), ``id``, ``reference``, ``image`` (a path, relative to the
file's folder), ``image_text`` (optional). ``columns`` renames fields (``{"timestamp": "ts"}``). A
record without an id gets its location (``file:line``) as id.

Each source keeps a *position* per file (bytes and lines read for JSONL, rows for Parquet) and yields
:class:`Event` s from the committed positions on; the caller commits an event once it has used it, so
a restart from the committed positions neither recounts nor skips a record. Only newline-terminated
JSONL lines are read: a line still being written is left for the next poll. Files in a drop folder
(``*.jsonl``, ``*.parquet``; names starting with ``.`` are ignored, so writers can drop files by
renaming) are read in name order. A Parquet shard that cannot be read yet (a writer has not finished
it) is left for the next poll, with a warning.
"""

from __future__ import annotations

import json
import math
import zlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.strict_json import JsonProblem
from mllmshift.io.strict_json import loads as strict_loads

STREAM_FIELDS = ("id", "timestamp", "question", "response", "reference", "image", "image_text")
SUFFIXES = (".jsonl", ".parquet")
#: bytes of a JSONL stream file's start, and of its end at the position read, that seal the position: a file
#: replaced by another (even a longer one) no longer matches its seal and is refused instead of being read
#: from the old byte offset
SEAL_BYTES = 1024


def _seal(head: bytes, offset: int, tail: bytes) -> int:
    """CRC-32 of the file's first ``min(offset, SEAL_BYTES)`` bytes and the last bytes before ``offset``."""
    return zlib.crc32(tail[-SEAL_BYTES:], zlib.crc32(head[:min(offset, SEAL_BYTES)]))


@dataclass(frozen=True)
class StreamRecord:
    """One record of the stream, read from line (or Parquet row) ``line`` of ``path``."""

    id: str
    timestamp: float
    question: str
    response: str
    reference: str | None = None
    image: str | None = None
    image_text: str | None = None
    path: str = ""
    line: int = 0

    @property
    def source(self) -> str:
        """``file:line``."""
        return f"{self.path}:{self.line}"

    def error(self, message: str, field: str | None = None) -> DataError:
        """A :class:`DataError` located at this record."""
        return DataError(message, path=self.path, line=self.line, field=field)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StreamRecord:
        return cls(**d)


@dataclass(frozen=True)
class Event:
    """A record or a located error, and the position of its file right after it."""

    key: str
    position: tuple[int, int]
    record: StreamRecord | None = None
    error: DataError | None = None


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from a number or an ISO 8601 string (a ``Z`` suffix and naive times mean UTC)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, (int, float)):
        t = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time or epoch seconds: {value!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        t = dt.timestamp()
    else:
        raise ValueError(f"expected epoch seconds or an ISO 8601 string, got {type(value).__name__}")
    if not math.isfinite(t):
        raise ValueError("timestamp is not finite")
    return t


def format_time(t: float) -> str:
    """Epoch seconds → ISO 8601 UTC (``2025-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_record(obj: Mapping[str, Any], path: Path, line: int, columns: Mapping[str, str] | None = None
                 ) -> StreamRecord:
    """A :class:`StreamRecord` from one decoded record, or a :class:`DataError` naming file, line and field."""
    cols = dict(columns or {})

    def get(name: str, required: bool) -> Any:
        key = cols.get(name, name)
        value = obj.get(key)
        if value is None or (isinstance(value, float) and value != value):  # a Parquet null / NaN
            if required:
                raise DataError("missing", path=path, line=line, field=key)
            return None
        if name not in ("timestamp", "id") and not isinstance(value, str):
            raise DataError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=key)
        return value

    raw_ts = get("timestamp", True)
    try:
        ts = parse_timestamp(raw_ts)
    except ValueError as err:
        raise DataError(str(err), path=path, line=line, field=cols.get("timestamp", "timestamp")) from None
    rid = get("id", False)
    if rid is not None and not isinstance(rid, (str, int)):
        raise DataError(f"expected a string or an integer, got {type(rid).__name__}", path=path, line=line,
                        field=cols.get("id", "id"))
    image = get("image", False)
    if image is not None and not os.path.isabs(image):
        image = str(path.parent / image)
    return StreamRecord(id=str(rid) if rid is not None else f"{path.name}:{line}", timestamp=ts,
                        question=get("question", True), response=get("response", True),
                        reference=get("reference", False), image=image, image_text=get("image_text", False),
                        path=str(path), line=line)


class Source(ABC):
    """Yields events from the committed positions on (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], columns: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.columns = dict(columns or {})
        #: per file: (bytes or rows read, lines read[, seal of a JSONL file: :func:`_seal`])
        self.positions: dict[str, tuple[int, ...]] = {}
        self.warnings: list[str] = []
        self.noted: set[str] = set()  # warnings already given once (a skipped file is named once per run)

    @abstractmethod
    def events(self) -> Iterator[Event]:
        """New events in order, from the committed positions (nothing is committed here)."""

    def commit(self, event: Event) -> None:
        self.positions[event.key] = event.position

    def state(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in sorted(self.positions.items())}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.positions = {k: tuple(int(x) for x in v) for k, v in state.items()}  # type: ignore[misc]

    # ------------------------------------------------------------------ readers
    def _jsonl(self, path: Path, key: str) -> Iterator[Event]:
        offset, line, *seal = self.positions.get(key, (0, 0))
        size = path.stat().st_size
        if size < offset:
            raise DataError(f"the stream file shrank to {size} bytes below the {offset} already read; streams "
                            f"must only grow (start a new --out to read a new file)", path=path)
        with path.open("rb") as fh:
            head = fh.read(SEAL_BYTES)
            fh.seek(max(0, offset - SEAL_BYTES))
            recent = fh.read(min(offset, SEAL_BYTES))  # the last bytes before the position
            if seal and offset:
                if _seal(head, offset, recent) != seal[0]:
                    raise DataError(f"the stream file is not the one read so far: its bytes before the {offset} "
                                    "already read have changed (the file was replaced or rewritten); streams must "
                                    "only grow (start a new --out to read a new file)", path=path)
            fh.seek(offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    return  # a line still being written: read it on the next poll
                offset += len(raw)
                line += 1
                recent = (recent + raw)[-SEAL_BYTES:]
                if not raw.strip():
                    continue
                yield self._decode(raw, path, key, (offset, line, _seal(head, offset, recent)))

    def _decode(self, raw: bytes, path: Path, key: str, pos: tuple[int, int]) -> Event:
        line = pos[1]
        try:
            obj = strict_loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            return Event(key, pos, error=DataError(f"not valid UTF-8 ({err.reason})", path=path, line=line))
        except json.JSONDecodeError as err:
            return Event(key, pos, error=DataError(f"bad JSON: {err.msg} (column {err.colno})", path=path,
                                                   line=line))
        except JsonProblem as err:
            return Event(key, pos, error=DataError(err.message, path=path, line=line, field=err.field))
        if not isinstance(obj, dict):
            return Event(key, pos, error=DataError(f"expected a JSON object, got {type(obj).__name__}",
                                                   path=path, line=line))
        return self._parsed(obj, path, key, pos)

    def _parsed(self, obj: Mapping[str, Any], path: Path, key: str, pos: tuple[int, int]) -> Event:
        try:
            return Event(key, pos, record=parse_record(obj, path, pos[1], self.columns))
        except DataError as err:
            return Event(key, pos, error=err)

    def _parquet(self, path: Path, key: str) -> Iterator[Event]:
        try:
            import pyarrow.parquet as pq
        except ModuleNotFoundError as err:
            from mllmshift.errors import MissingDependencyError

            raise MissingDependencyError("reading Parquet shards", "pyarrow", "data") from err
        done, _ = self.positions.get(key, (0, 0))
        try:
            shard = pq.ParquetFile(path)
            total = shard.metadata.num_rows
        except Exception as err:  # a shard still being written has no footer yet
            note = f"{path}: cannot read this Parquet shard yet ({err}); retrying on the next poll"
            if note not in self.warnings:
                self.warnings.append(note)
            return
        if done >= total:
            return
        row = 0  # rows seen; a row's "line" is its 1-based number
        for batch in shard.iter_batches(batch_size=1024):
            if row + batch.num_rows <= done:
                row += batch.num_rows
                continue
            for obj in batch.to_pylist():
                row += 1
                if row > done:
                    yield self._parsed(obj, path, key, (row, row))


class JsonlFileSource(Source):
    """One JSONL file that keeps growing (``tail -f``)."""

    def events(self) -> Iterator[Event]:
        if not self.path.exists():
            return  # not created yet: nothing to read
        yield from self._jsonl(self.path, self.path.name)


class FolderSource(Source):
    """A folder into which JSONL batch files and Parquet shards are dropped (read in name order)."""

    def files(self) -> list[Path]:
        if not self.path.is_dir():
            raise DataError("the stream folder does not exist", path=self.path)
        out = []
        for p in sorted(self.path.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            if p.suffix in SUFFIXES:
                out.append(p)
                continue
            note = (f"{p}: not read: the stream folder's batches are .jsonl or .parquet files"
                    + (f" (a {p.suffix} file; rename it to {p.stem}{p.suffix.lower()})"
                       if p.suffix.lower() in SUFFIXES else ""))
            if note not in self.noted:
                self.noted.add(note)
                self.warnings.append(note)
        return out

    def events(self) -> Iterator[Event]:
        for p in self.files():
            yield from (self._parquet(p, p.name) if p.suffix == ".parquet" else self._jsonl(p, p.name))


class ParquetFileSource(FolderSource):
    """A single Parquet file (read once; a shard does not grow)."""

    def files(self) -> list[Path]:
        if not self.path.is_file():
            raise DataError("file not found", path=self.path)
        return [self.path]


def open_source(path: str | os.PathLike[str], columns: Mapping[str, str] | None = None) -> Source:
    """The source for a stream path: a folder, a ``.parquet`` file, or a (growing) JSONL file."""
    unknown = sorted(set(columns or {}) - set(STREAM_FIELDS))
    if unknown:
        raise DataError(f"stream column mapping names unknown fields {unknown}; fields are {STREAM_FIELDS}")
    p = Path(path)
    if p.is_dir():
        return FolderSource(p, columns)
    if p.suffix == ".parquet":
        return ParquetFileSource(p, columns)
    return JsonlFileSource(p, columns)
