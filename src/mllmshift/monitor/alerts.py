"""Alert rules and where alerts go.

Rule: a watched term is *over* in a window when the lower end of its bootstrap CI is above its
threshold (the null's conformal (1 − α/T) quantile at the window's size, or a given value). The rule
fires when a term has been over in k consecutive windows; it fires once per run of such windows and
re-arms when a window is not over (a window where the term could not be computed breaks the run).
Under no shift each window is over with probability at most α/T per term (the lower bound is below the
estimate, and the estimate exceeds the threshold with probability at most α/T), so across the T terms
a window fires with probability at most α.

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
    """k-consecutive-windows rule per watched term (see the module docstring)."""

    def __init__(self, terms: Sequence[str], consecutive: int) -> None:
        self.terms, self.k = tuple(terms), int(consecutive)
        self.streaks: dict[str, int] = {t: 0 for t in self.terms}

    def update(self, over: Mapping[str, bool]) -> list[str]:
        """Advance the streaks with one window's ``over`` flags; the terms whose rule fires now."""
        fired = []
        for t in self.terms:
            self.streaks[t] = self.streaks[t] + 1 if over.get(t, False) else 0
            if self.streaks[t] == self.k:
                fired.append(t)
        return fired

    def state(self) -> dict[str, int]:
        return dict(self.streaks)

    def restore(self, streaks: Mapping[str, int]) -> None:
        self.streaks.update({t: int(v) for t, v in streaks.items() if t in self.streaks})


def alert_line(alert: Mapping[str, Any]) -> str:
    """One human line for an alert."""
    parts = []
    for t, d in alert["terms"].items():
        parts.append(f"{t} low {d['low']:.4g} > threshold {d['threshold']:.4g}")
    top = alert.get("top_samples") or []
    where = ", ".join(f"{s['id']} ({s['source']})" for s in top[:3])
    return (f"ALERT window {alert['window']} [{alert['start']} → {alert['end']}]: " + "; ".join(parts)
            + f" for {alert['consecutive']} windows; moved most: {alert['moved_most']}"
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
