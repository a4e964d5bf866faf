"""Reading an experiment YAML file within limits: size, alias expansion, nesting, duplicate keys.

PyYAML's safe loader builds only plain data, but on its own it accepts inputs that hurt a
service: a few hundred bytes whose aliases expand to billions of values (the "billion laughs"
pattern: every later copy of the data multiplies it), a file of many megabytes that takes
minutes and gigabytes to check, nesting deep enough to crash the parser, and a key written twice,
where the last one silently wins.

``load_text`` first checks the nesting depth on the parser's event stream, then composes the node
graph (aliases stay shared references there, so this is linear in the file), walks it once to
count the values the document would expand to and to find duplicate keys, and only then builds
Python objects.  Every problem is a ``ConfigError`` naming the file, the key where there is one
and, for duplicates, both lines.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import CollectionEndEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError

MAX_BYTES = 1 << 20     # 1 MiB: the largest shipped space file is about 1 KiB
MAX_VALUES = 100_000    # values after alias expansion (each scalar, list or mapping counts one)
MAX_DEPTH = 64          # nesting of lists and mappings
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser: ~4x faster when present
    """SafeLoader that also reads ``1e-4`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"), list("-+0123456789."))


def read_limited(path: Path, source: str | None = None) -> str:
    """The file's text, refusing files over ``MAX_BYTES`` (checked while reading, not only by size)."""
    source = source or str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"file is larger than {MAX_BYTES // 1024} KiB ({MAX_BYTES} bytes), the limit for "
                          "an experiment description", source=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=source) from None


def load_text(text: str, source: str) -> Any:
    """Parse one YAML document with the limits above; ``None`` for an empty document."""
    try:
        _check_depth(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _Walk(loader, source).size(node, "")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML{where}: {problem}", source=source) from None


def _check_depth(text: str, source: str) -> None:
    """Nesting limit, from the parser's event stream (a loop, not recursion).  Composing nodes
    recurses, and libyaml's composer overflows the C stack (a crash, not an exception) near
    100 000 levels, which ``- - - - 1`` or ``[[[[`` reach in a few hundred kilobytes."""
    parser = _Loader(text)
    depth = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(f"nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})",
                                      source=source)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        parser.dispose()


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


class _Walk:
    """One pass over the composed graph; a node reached again through an alias is counted from memory."""

    def __init__(self, loader: _Loader, source: str):
        self.loader, self.source = loader, source
        self.memo: dict[int, tuple[int, bool]] = {}  # id(node) -> (expanded values, uses an alias)
        self.active: set[int] = set()

    def size(self, node: Node, path: str) -> tuple[int, bool]:
        nid = id(node)
        if nid in self.memo:
            return self.memo[nid][0], True
        if nid in self.active:
            raise ConfigError("an alias refers to the mapping or list that contains it (recursive alias)",
                              path or None, self.source)
        self.active.add(nid)
        total, aliased = 1, False
        if isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                n, a = self.size(child, _join(path, f"[{i}]"))
                total, aliased = total + n, aliased or a
        elif isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                part = self._key(key_node)
                if key_node.tag != _MERGE_TAG and isinstance(key_node, ScalarNode):
                    key = self.loader.construct_object(key_node)
                    line = key_node.start_mark.line + 1
                    if key in first:
                        raise ConfigError(f"duplicate key at line {line} (first at line {first[key]}); "
                                          "YAML would silently keep the last one", _join(path, part), self.source)
                    first[key] = line
                for child, sub in ((key_node, path), (value_node, _join(path, part))):
                    n, a = self.size(child, sub)
                    total, aliased = total + n, aliased or a
        self.active.discard(nid)
        if total > MAX_VALUES:
            what = "aliases expand it to" if aliased else "it holds"
            raise ConfigError(f"{what} more than {MAX_VALUES} values, the limit for an experiment description",
                              path or None, self.source)
        self.memo[nid] = (total, aliased)
        return total, aliased

    @staticmethod
    def _key(key_node: Node) -> str:
        if isinstance(key_node, ScalarNode):
            return "<<" if key_node.tag == _MERGE_TAG else str(key_node.value)
        return f"<{type(key_node).__name__[:-4].lower()} key>"
