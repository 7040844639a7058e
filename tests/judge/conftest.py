"""Judge tests reuse the scripted chat-completions server of tests/responders."""

from __future__ import annotations

import sys
from pathlib import Path

_RESPONDERS = str(Path(__file__).resolve().parents[1] / "responders")
if _RESPONDERS not in sys.path:
    sys.path.insert(0, _RESPONDERS)
