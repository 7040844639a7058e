"""``mllmshift`` entry point.

Each verb lives in its own module of :mod:`mllmshift.cli` exposing
``register(subparsers)``, which adds a sub-parser whose ``func`` default runs
the verb and returns an exit code. Modules are imported when the parser is
built; heavy dependencies are imported inside the verbs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from mllmshift import __version__
from mllmshift.errors import MllmshiftError, MllmshiftWarning, UsageError
from mllmshift.vocab import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

#: verb modules, in the order ``mllmshift --help`` lists them
COMMANDS: tuple[str, ...] = (
    "emi",
    "emid",
    "fit",
    "embed",
    "study",
    "monitor",
    "demo",
    "shift",
    "respond",
    "judge",
    "encoders",
    "estimators",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mllmshift",
        description="How much a multimodal LLM degrades under distribution shift, and why "
        "(EMI, EMID and the EMID upper bound of Oh et al., ICML 2025).",
    )
    parser.add_argument("--version", action="version", version=f"mllmshift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mllmshift.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = vars(args).get("func")
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)
            return int(func(args) or EXIT_OK)
    except UsageError as err:
        print(f"mllmshift {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except MllmshiftError as err:
        print(f"mllmshift {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"mllmshift {args.command}: interrupted; completed work is cached, rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _warning_printer(command: str) -> Any:
    """Print the package's warnings as ``mllmshift VERB: warning: message`` (no source line); others as usual."""
    default = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, MllmshiftWarning):
            print(f"mllmshift {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
