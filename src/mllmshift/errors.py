"""Errors that tell the user exactly where their input is wrong."""

from __future__ import annotations

from os import PathLike


class MllmshiftError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(MllmshiftError, ValueError):
    """Bad input data, located by file, line and field.

    ``str(err)`` reads ``path:line: field 'name': message`` with the parts
    that are known, so a user can jump straight to the offending record.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        if self.field is not None:
            where += f"field '{self.field}': "
        return where + self.message


class UsageError(MllmshiftError):
    """Flags that contradict each other, or a required one missing (exit code 2, like argparse's errors)."""


class MissingDependencyError(MllmshiftError, ImportError):
    """An optional dependency needed by one registry entry is not installed."""

    def __init__(self, what: str, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'mllmshift[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{what} needs the package '{package}', which is not installed: {hint}")
        self.package = package
        self.extra = extra


class MllmshiftWarning(UserWarning):
    """Something the user should know about that did not stop the run (a recomputed cache entry, ...)."""
