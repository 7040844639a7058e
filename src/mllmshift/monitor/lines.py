"""What the monitor says per window on its log stream: the window's line (each watched term's value against its
threshold, ``*`` when over) and, at start, the false-alarm level it runs at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.monitor.config import MonitorConfig


def progress_line(row: dict[str, Any], watched: Sequence[str]) -> str:
    """``window 3 n=100 …: text 0.012/0.03, answer 0.05/0.04*  ALERT …``."""
    parts = []
    for t in watched:
        v, thr = row.get(t), row.get(f"{t}_threshold")
        if v is not None:
            parts.append(f"{t} {v:.3g}" + (f"/{thr:.3g}" if isinstance(thr, float) and np.isfinite(thr) else "")
                         + ("*" if row.get(f"{t}_over") else ""))
    return (f"window {row['window']} n={row['n']} {row['end'] or ''}: " + (", ".join(parts) or "no terms")
            + (f"  ALERT {row['alerts']}" if row["alerts"] else ""))


def level_line(cfg: MonitorConfig) -> str:
    """The per-window and per-term levels, k and the expected run time to a false alarm they give."""
    from mllmshift.monitor.calibration import expected_run_length

    ert = expected_run_length(cfg.window_alpha, cfg.consecutive)
    given = f"ERT {cfg.ert:g} windows" if cfg.ert is not None else f"α = {cfg.alpha:g} per window"
    return (f"{given}: per-window level {cfg.window_alpha:.4g}, per-term p-value level {cfg.term_alpha:.4g} "
            f"(Šidák over {len(cfg.alert_terms)} terms), k = {cfg.consecutive} consecutive windows, expected run "
            f"time to a false alarm {ert:.4g} windows (independent windows)")
