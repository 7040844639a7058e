"""Small, fast monitor set-ups shared by the monitor tests: a hashed bag-of-words text encoder (32-d),
linear RJSD, few null draws and bootstrap resamples, a short InfoNCE fit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor import Monitor, MonitorConfig, WindowSpec
from mllmshift.monitor.replay import stamp, synthetic_records
from mllmshift.records import Sample, Split


def fast_eval(**changes: Any) -> EvalConfig:
    """The evaluation config of the monitor tests: 32-d hashed bag-of-words, linear RJSD, a short InfoNCE fit,
    30 bootstrap resamples."""
    base = {"text_encoder": Component("hashing-bow", {"dim": 32}), "divergence": Component("rjsd"),
            "estimator": Component("infonce", {"max_steps": 150}), "n_resamples": 30}
    return EvalConfig(**{**base, **changes})


def config(window: str = "50", step: str | None = None, eval: EvalConfig | None = None,
           **overrides: Any) -> MonitorConfig:
    return MonitorConfig(window=WindowSpec.parse(window, step), eval=eval or fast_eval(),
                         **{"n_null": 100, **overrides})


def reference(n: int = 200, seed: int = 0) -> Split:
    return Split("ref", tuple(Sample(**r) for r in synthetic_records(n, 0, seed, prefix="r")))


def stream_records(levels: list[tuple[int, int]], seed: int = 1, every_s: float = 10.0) -> list[dict[str, Any]]:
    """Records at the given (shift level, count) blocks, in order, with timestamps every ``every_s``."""
    out: list[dict[str, Any]] = []
    for level, count in levels:
        out += synthetic_records(count, level, seed, start_index=len(out), prefix="s")
    return stamp(out, every_s=every_s)


def write_jsonl(path: Path, records: list[dict[str, Any]], mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records))
    return path


def monitor(cfg: MonitorConfig, ref: Split, stream: Path, out: Path, **kw: Any) -> Monitor:
    kw.setdefault("log", io.StringIO())
    kw.setdefault("alert_stream", io.StringIO())
    return Monitor(cfg, ref, stream, out, **kw)


def series(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "series.jsonl").read_text().splitlines()]
