"""A strict YAML reader for configs: UTF-8 only, no duplicate keys, and the line of every field.

PyYAML keeps the last of two equal keys silently and reads any bytes its decoder accepts;
:func:`load_yaml` refuses both:

- a file that is not UTF-8 is a :class:`~mllmshift.errors.DataError` naming the line and the byte
  offset of the first bad byte (a Latin-1 config);
- a key given twice in one mapping is an error naming the field and both lines;
- a syntax error names its line;
- aliases are bounded: an alias that contains itself (``a: &x [*x]``) is refused, and so is a document
  that expands to more than :data:`MAX_NODES` nodes or nests deeper than :data:`MAX_DEPTH` (a "billion
  laughs" of nested aliases would otherwise take forever to walk, print or hash). A config has a few
  hundred nodes; the limits leave a thousandfold margin.

It returns a :class:`YamlDocument`: the data (PyYAML's safe types) and ``lines``, the 1-based line of
every field by its dotted path (``scenarios[1].path``), so later checks can name the line of the
field they refuse (:meth:`YamlDocument.error`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.text import read_utf8

#: the most nodes a YAML document may expand to, aliases counted at every use
MAX_NODES = 200_000
#: the deepest nesting of mappings and sequences in a YAML document
MAX_DEPTH = 200


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: ``data`` and the line of each field path (``a.b[2].c`` → line)."""

    data: Any
    lines: Mapping[str, int] = field(default_factory=dict)
    path: str | None = None

    def line_of(self, field_path: str) -> int | None:
        """The line of ``field_path``, or of its nearest enclosing field that has one."""
        probe = field_path
        while True:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            if cut <= 0:
                return None
            probe = probe[:cut]

    def error(self, message: str, field_path: str) -> DataError:
        """A :class:`DataError` naming this file, the line of ``field_path`` and the field (``""``: the document
        itself, line 1)."""
        if not field_path:
            return DataError(f"the document: {message}", path=self.path, line=1)
        return DataError(message, path=self.path, line=self.line_of(field_path), field=field_path)


class _Walk:
    """The state of one :func:`_index` walk: nodes seen (aliases at every use) and the current ancestors."""

    def __init__(self) -> None:
        self.count = 0
        self.stack: list[int] = []


def _index(node: Any, prefix: str, out: dict[str, int], path: str | None, walk: _Walk | None = None) -> None:
    """Fill ``out`` with the line of each field under ``node``; refuse duplicate keys and unbounded aliases."""
    import yaml

    walk = walk or _Walk()
    walk.count += 1
    line = node.start_mark.line + 1 if node is not None else None
    if walk.count > MAX_NODES:
        raise DataError(f"the document expands to more than {MAX_NODES:,} values (aliases counted at every use; "
                        "an alias bomb?); write the values out or use fewer nested aliases", path=path, line=line,
                        field=prefix or None)
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return
    if id(node) in walk.stack:
        raise DataError("an alias refers to a node that contains it (a recursive alias)", path=path, line=line,
                        field=prefix or None)
    if len(walk.stack) >= MAX_DEPTH:
        raise DataError(f"nested deeper than {MAX_DEPTH} levels", path=path, line=line, field=prefix or None)
    walk.stack.append(id(node))
    try:
        _index_children(node, prefix, out, path, walk)
    finally:
        walk.stack.pop()


def _index_children(node: Any, prefix: str, out: dict[str, int], path: str | None, walk: _Walk) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' merges; explicit keys may override it
                _index(value, prefix, {}, path, walk)
                continue
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else f"<{key.id}>"
            line = key.start_mark.line + 1
            fpath = f"{prefix}.{name}" if prefix else name
            if isinstance(key, yaml.ScalarNode):
                ident = (key.tag, key.value)
                if ident in seen:
                    raise DataError(f"duplicate key '{name}': given on line {seen[ident]} and again on line {line};"
                                    " YAML would keep only the last", path=path, line=line, field=fpath)
                seen[ident] = line
            out[fpath] = line
            _index(value, fpath, out, path, walk)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            fpath = f"{prefix}[{i}]"
            out[fpath] = item.start_mark.line + 1
            _index(item, fpath, out, path, walk)


def parse_yaml(text: str, path: str | os.PathLike[str] | None = None) -> YamlDocument:
    """Parse YAML ``text`` strictly (see the module docstring); ``path`` is only used in errors."""
    import yaml

    where = None if path is None else str(path)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        _index(node, "", lines, where)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise DataError(f"bad YAML: {problem}", path=where, line=None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()
    return YamlDocument(data, lines, where)


def load_yaml(path: str | os.PathLike[str], what: str = "file") -> YamlDocument:
    """Read and parse the YAML file ``path`` strictly; ``what`` names it in a not-found error."""
    p = Path(path)
    return parse_yaml(read_utf8(p, what), p)
