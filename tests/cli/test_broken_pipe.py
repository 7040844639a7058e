"""A closed stdout reader (``mllmshift shift list | head -1``) ends the CLI quietly with 141 (128 + SIGPIPE), no
traceback and no error line; the entry point handles it once for every verb (cli/main.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mllmshift.vocab import EXIT_BROKEN_PIPE

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENTRY = "import sys; from mllmshift.cli.main import main; sys.exit(main())"


#: a verb's output ends with 141; argparse's own (--help) swallows the write error itself and exits 0
CASES = {"verb": (["shift", "list"], EXIT_BROKEN_PIPE), "argparse-help": (["--help"], 0)}


@pytest.mark.parametrize("argv,code", list(CASES.values()), ids=list(CASES))
def test_a_reader_that_is_gone_ends_the_cli_quietly(argv, code):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write to stdout meets EPIPE
    try:
        out = subprocess.run([sys.executable, "-c", ENTRY, *argv], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC}, check=False)
    finally:
        os.close(write)
    assert (out.stderr, out.returncode) == ("", code)


def test_a_broken_pipe_that_is_not_stdout_is_still_an_error(monkeypatch, capsys):
    """A socket's or a child's broken pipe inside a verb is reported (exit 1), not taken for a closed reader."""
    from mllmshift.cli import estimators
    from mllmshift.cli.main import main

    def boom(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(estimators, "run_list", boom)  # the parser is built after this, with the stand-in
    assert main(["estimators", "list"]) == 1
    assert "mllmshift estimators: error: Broken pipe" in capsys.readouterr().err
