"""The parser is built without the heavy libraries: verbs import them when they run (cli/main.py's rule)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "ray", "transformers", "pandas", "matplotlib", "sklearn")


def test_building_the_parser_imports_no_heavy_library():
    code = ("import sys; from mllmshift.cli.main import build_parser; build_parser(); "
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"building the parser imported {out}"


def test_the_monitor_package_still_gives_the_runner():
    from mllmshift import monitor
    from mllmshift.monitor.runner import Monitor, RunSummary

    assert monitor.Monitor is Monitor and monitor.RunSummary is RunSummary
