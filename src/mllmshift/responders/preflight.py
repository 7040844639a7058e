"""One check that a chat-completions server is there before a run sends it hundreds of requests.

``respond`` and ``judge`` retry each failed item up to ``--max-attempts`` times with back-off, which is right
for a server that is busy and wrong for one that is not there: against a port where nothing listens, 90 items
took minutes to fail one by one. :func:`check_server` asks once, ``GET {base_url}/models`` with a short timeout
(the OpenAI-compatible listing that vLLM, SGLang, Ollama, llama.cpp and OpenAI all serve), and stops the run in
seconds when no server answers or the server refuses the key. Any other HTTP answer (a 404 from a server
without the listing, a 5xx from a busy one) shows something is listening, so the run goes on and the per-item
retries handle the rest. A listing that lacks the requested model is a warning, not an error: proxies and
routers often serve names they do not list.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import warnings
from typing import Any

from mllmshift.errors import DataError, MllmshiftWarning
import urllib.parse

from mllmshift.secrets import basic_auth, redact, redact_url, request_url, url_secrets

log = logging.getLogger(__name__)

#: seconds the one check waits for an answer (a server that is up answers a listing at once)
PREFLIGHT_TIMEOUT = 5.0


def models_url(base_url: str) -> str:
    """``{base_url}/models`` (the path, before any query string), the base taken without a trailing
    ``/chat/completions``; user-info stays (see :func:`check_server`, which sends it as a header)."""
    parts = urllib.parse.urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/models", parts.query, ""))


def check_server(base_url: str, *, api_key: str | None = None, model: str | None = None,
                 timeout: float = PREFLIGHT_TIMEOUT, flag: str = "--base-url") -> list[str] | None:
    """Ask the server once for its model list; raise a DataError naming ``flag`` when nothing answers.

    Returns the listed model ids (None when the server has no listing). Raises :class:`DataError` when the
    connection fails (refused, unknown host, timeout) or the server answers 401/403 (the key is missing or
    wrong); warns when ``model`` is not among the listed ids.
    """
    full = models_url(base_url)
    secrets = [api_key, *url_secrets(base_url)]
    shown_base, url = redact_url(base_url), redact_url(full)  # what messages and logs show
    if urllib.parse.urlsplit(full).scheme not in ("http", "https"):
        raise DataError(f"base URL must start with http:// or https://, got {shown_base!r}", field=flag)
    headers = {"Accept": "application/json", **basic_auth(full)}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(request_url(full), headers=headers, method="GET")
    log.debug("preflight: GET %s (timeout %.1f s)", url, timeout)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https checked)
            body = response.read(1 << 20)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise DataError(f"the server at {shown_base} refused the request to {url} with HTTP {err.code}: the API "
                            "key is missing or not accepted (see --api-key-env)", field=flag) from None
        log.info("preflight: %s answered HTTP %d; the server is up, going on", url, err.code)
        return None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"no server answers at {shown_base} (GET {url} within {timeout:g} s: "
                        f"{redact(str(reason), secrets)}); start the server or correct the URL",
                        field=flag) from None
    ids = _model_ids(body)
    if ids is not None and model and model not in ids:
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        warnings.warn(f"the server at {shown_base} does not list the model {model!r} (it lists: {shown or 'none'}); "
                      "requests may fail", MllmshiftWarning, stacklevel=2)
    log.info("preflight: %s is up (%s models listed)", shown_base, "?" if ids is None else len(ids))
    return ids


def _model_ids(body: bytes) -> list[str] | None:
    """The ``id`` of each entry of an OpenAI-style ``{"data": [{"id": ...}, ...]}`` listing, or None."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return None
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
