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
from mllmshift.secrets import redact

log = logging.getLogger(__name__)

#: seconds the one check waits for an answer (a server that is up answers a listing at once)
PREFLIGHT_TIMEOUT = 5.0


def models_url(base_url: str) -> str:
    """``{base_url}/models``, the base taken without a trailing ``/chat/completions``."""
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    return url + "/models"


def check_server(base_url: str, *, api_key: str | None = None, model: str | None = None,
                 timeout: float = PREFLIGHT_TIMEOUT, flag: str = "--base-url") -> list[str] | None:
    """Ask the server once for its model list; raise a DataError naming ``flag`` when nothing answers.

    Returns the listed model ids (None when the server has no listing). Raises :class:`DataError` when the
    connection fails (refused, unknown host, timeout) or the server answers 401/403 (the key is missing or
    wrong); warns when ``model`` is not among the listed ids.
    """
    url = models_url(base_url)
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, headers=headers, method="GET")
    log.debug("preflight: GET %s (timeout %.1f s)", url, timeout)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https checked)
            body = response.read(1 << 20)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise DataError(f"the server at {base_url} refused the request to {url} with HTTP {err.code}: the API "
                            "key is missing or not accepted (see --api-key-env)", field=flag) from None
        log.info("preflight: %s answered HTTP %d; the server is up, going on", url, err.code)
        return None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"no server answers at {base_url} (GET {url} within {timeout:g} s: "
                        f"{redact(str(reason), [api_key])}); start the server or correct the URL",
                        field=flag) from None
    ids = _model_ids(body)
    if ids is not None and model and model not in ids:
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        warnings.warn(f"the server at {base_url} does not list the model {model!r} (it lists: {shown or 'none'}); "
                      "requests may fail", MllmshiftWarning, stacklevel=2)
    log.info("preflight: %s is up (%s models listed)", base_url, "?" if ids is None else len(ids))
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
