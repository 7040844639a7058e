"""``mllmshift`` entry point.

Each verb lives in its own module of :mod:`mllmshift.cli` exposing
``register(subparsers)``, which adds a sub-parser whose ``func`` default runs
the verb and returns an exit code. Modules are imported when the parser is
built; heavy dependencies are imported inside the verbs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from mllmshift import __version__
from mllmshift.errors import MllmshiftError, MllmshiftWarning, UsageError
from mllmshift.openmp import passive_waits
from mllmshift.provenance import set_invocation
from mllmshift.vocab import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

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
    _add_logging_flags(parser)
    return parser


#: the levels --log-level accepts (Python logging's names, any case)
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _add_logging_flags(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """``-v/--verbose`` and ``--log-level`` on the top-level parser and on every verb's (and sub-verb's) parser,
    so they may stand before or after the verb; a verb's copy leaves the namespace alone unless given."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    g = parser.add_argument_group("logging")
    g.add_argument("-v", "--verbose", action="count", help="log more: -v info, -vv debug (default: warnings only)",
                   **({"default": 0} if top else keep))
    g.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
                   help="log level by name (debug, info, warning, error, critical); overrides -v", **keep)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _add_logging_flags(child, top=False)


def log_level(args: argparse.Namespace) -> int:
    """The level the flags ask for: ``--log-level`` if given, else WARNING lowered one step per ``-v``."""
    name = getattr(args, "log_level", None)
    if name:
        return int(getattr(logging, name))
    return max(logging.DEBUG, logging.WARNING - 10 * int(getattr(args, "verbose", 0) or 0))


class _CliLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr lines ``mllmshift VERB: info: message`` (the logger's name too at debug level); progress bars and
    lines are not logs and keep their own stream (:mod:`mllmshift.progress`)."""

    #: marks the handler for code that would otherwise add its own stderr handler (respond's log file)
    mllmshift_cli = True

    def __init__(self, command: str, level: int) -> None:
        super().__init__(sys.stderr)
        self.setLevel(level)
        detail = " %(name)s:" if level <= logging.DEBUG else ""
        self.setFormatter(logging.Formatter(f"mllmshift {command}: %(levelname_lower)s:{detail} %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        record.levelname_lower = record.levelname.lower()
        self.stream = sys.stderr  # the stderr of now (tests capture it)
        super().emit(record)


def configure_logging(command: str, level: int) -> _CliLogHandler:
    """Attach one stderr handler at ``level`` to the package's root logger ``mllmshift`` for a CLI run."""
    logger = logging.getLogger("mllmshift")
    handler = _CliLogHandler(command, level)
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.level) if logger.level else level)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verb ``argv`` names (default: ``sys.argv[1:]``) and return its exit code (:mod:`mllmshift.vocab`).

    stdout is flushed here, inside the handler, so a reader that closed early (``| head -1``) is met once for
    every verb and for argparse's own output (``--help``), not in the interpreter's last flush (a traceback)."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_gone()


def _run(argv: Sequence[str] | None) -> int:
    passive_waits(os.environ)  # OpenMP threads sleep between kernels instead of spinning (mllmshift.openmp)
    parser = build_parser()
    args = parser.parse_args(argv)
    func = vars(args).get("func")
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    logger = logging.getLogger("mllmshift")
    old_level = logger.level
    handler = configure_logging(args.command, log_level(args))
    try:
        with warnings.catch_warnings(), set_invocation(_command_line(argv), input_paths(args)):
            warnings.showwarning = _warning_printer(args.command)
            return int(func(args) or EXIT_OK)
    except BrokenPipeError as err:
        if _reader_gone():
            raise  # no error of the user's: main() ends quietly
        print(f"mllmshift {args.command}: error: {err.strerror or err}", file=sys.stderr)  # another pipe or socket
        return EXIT_BAD_INPUT
    except UsageError as err:
        print(f"mllmshift {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except MllmshiftError as err:
        print(f"mllmshift {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # the file system said no (disk full, permission, a path under /proc): no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"mllmshift {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"mllmshift {args.command}: interrupted; completed work is cached, rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed (``poll`` reports an error on its write end), so that
    a broken pipe of a socket or a child process is still reported as an error."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or stdout has no file descriptor
        return False


def _stdout_gone() -> int:
    """stdout's reader closed early (``mllmshift shift list | head -1``): stop quietly, as ``head`` asked, with
    :data:`~mllmshift.vocab.EXIT_BROKEN_PIPE`. stdout is pointed at ``/dev/null`` so that the interpreter's
    final flush of what is still buffered cannot raise again (the recipe of Python's ``signal`` docs)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_BROKEN_PIPE


#: argument names that hold where a verb writes (or caches), never what it reads
OUTPUT_ARGS = frozenset({"out", "log_samples", "save_estimator", "cache_dir", "cache", "log_to_dir"})


def input_paths(args: argparse.Namespace) -> list[str]:
    """The existing files and folders a verb's arguments name (outputs and caches excluded): the inputs a
    result's provenance lists with their sizes and SHA-256."""
    found: list[str] = []
    for name, value in sorted(vars(args).items()):
        if name in OUTPUT_ARGS or name == "func":
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, os.PathLike)) and str(v) and os.path.exists(v):
                found.append(os.fspath(v))
    return found


def _command_line(argv: Sequence[str] | None) -> str:
    """The command as a shell line: ``mllmshift`` and the arguments, quoted, with the user-info and query values
    of every URL masked (:func:`mllmshift.secrets.redact_url`): results files record it."""
    from mllmshift.secrets import redact_url

    def shown(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        if eq and flag.startswith("--") and "://" in value:
            return f"{flag}={redact_url(value)}"
        return redact_url(arg) if "://" in arg else arg

    return shlex.join(["mllmshift", *(shown(a) for a in (sys.argv[1:] if argv is None else argv))])


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
