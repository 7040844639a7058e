"""Alert rules and where alerts go.

Rule: a watched term is *over* in a window when its estimate's permutation p-value against the term's
no-shift null at the window's size is at most the per-term level (or, for a term given a threshold, when
its estimate is above it). A window is over when some watched term is; that is one decision per window,
whose no-shift probability is the per-window level q (:mod:`mllmshift.monitor.calibration`: Šidák's
split over the T terms). The rule fires when k consecutive windows have been over; it fires once per
run of such windows and re-arms when a window is not over (a window where no watched term could be
computed breaks the run). With independent no-shift windows the expected run time to a false alarm is
ERT(q, k) = (1 − q^k) / ((1 − q) q^k), which ``--ert`` sets. An alert names the terms over in the window
where it fires.

Sinks: stdout (one line), ``alerts.jsonl`` (the JSON payload; an :class:`~mllmshift.monitor.series.AppendLog`
cut back on resume like the series), and optionally a webhook (HTTP POST of the JSON payload, with a
timeout and retries; a webhook that stays down is reported on stderr and does not stop the monitor. A
restart may POST an alert again if the process died between sending it and saving its state).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from mllmshift.secrets import basic_auth, redact, redact_url, request_url, url_secrets


class AlertSink(Protocol):
    """Where alerts go: :meth:`send` receives each alert's JSON payload."""

    def send(self, alert: Mapping[str, Any]) -> Any: ...


class AlertRule:
    """The k-consecutive-windows rule over the watched terms together (see the module docstring)."""

    def __init__(self, terms: Sequence[str], consecutive: int) -> None:
        self.terms, self.k = tuple(terms), int(consecutive)
        self.streak = 0

    def update(self, over: Mapping[str, bool]) -> list[str]:
        """Advance the streak with one window's ``over`` flags; the terms over in this window when the
        rule fires now (the k-th over window in a row), else []."""
        crossed = [t for t in self.terms if over.get(t, False)]
        self.streak = self.streak + 1 if crossed else 0
        return crossed if self.streak == self.k else []

    def state(self) -> dict[str, int]:
        return {"window": self.streak}

    def restore(self, streaks: Mapping[str, int]) -> None:
        self.streak = int(streaks.get("window", 0))


def alert_line(alert: Mapping[str, Any]) -> str:
    """One human line for an alert."""
    parts = []
    for t, d in alert["terms"].items():
        p = d.get("p")
        parts.append(f"{t} {d['value']:.4g} > threshold {d['threshold']:.4g}" + (f" (p = {p:.3g})" if p else ""))
    top = alert.get("top_samples") or []
    where = ", ".join(f"{s['id']} ({s['source']})" for s in top[:3])
    bound = alert.get("bound") or {}
    shares = ", ".join(f"{k} {v:.0%}" for k, v in (bound.get("shares") or {}).items() if v is not None)
    return (f"ALERT window {alert['window']} [{alert['start']} → {alert['end']}]: " + "; ".join(parts)
            + f" for {alert['consecutive']} windows; moved most: {alert['moved_most']}"
            + (f"; bound {bound['value']:.3g} = {shares}" if shares else "")
            + (f"; top samples: {where}" if where else ""))


class StdoutSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, alert: Mapping[str, Any]) -> None:
        out = self.stream or sys.stdout
        out.write(alert_line(alert) + "\n")
        out.flush()


class WebhookSink:
    """POSTs each alert as JSON to ``url``; ``retries`` more tries after a failure, waiting ``backoff``·2^i s.
    The URL is shown only redacted (user-info and query values masked, :func:`mllmshift.secrets.redact_url`);
    its user-info is sent as a Basic ``Authorization`` header."""

    def __init__(self, url: str, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must start with http:// or https://, got {redact_url(url)!r}")
        self.url, self.timeout, self.retries, self.backoff = redact_url(url), timeout, retries, backoff
        self._request_url, self._auth, self._secrets = request_url(url), basic_auth(url), url_secrets(url)
        self.failures = 0

    def send(self, alert: Mapping[str, Any]) -> bool:
        """True when the server answered 2xx."""
        body = json.dumps(alert, ensure_ascii=False).encode("utf-8")
        last = ""
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self._request_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "mllmshift",
                                                  **self._auth})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (user's URL)
                    if 200 <= resp.status < 300:
                        return True
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}"
            except urllib.error.URLError as err:
                last = str(err.reason)
            except OSError as err:  # a timeout while reading the answer
                last = str(err)
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        self.failures += 1
        last = redact(last, self._secrets)
        sys.stderr.write(f"mllmshift monitor: webhook {self.url} failed after {self.retries + 1} tries ({last}); "
                         f"the alert is in alerts.jsonl\n")
        return False
