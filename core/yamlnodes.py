"""Reading YAML as a tree of positioned nodes, so every problem has a FILE:LINE:COLUMN.

Values are read from the raw scalar text (so `08:00` stays a time, not a
sexagesimal number); duplicate keys are problems; anchors and aliases are
followed with a budget so an alias bomb cannot blow up memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class Problems:
    """Collects every problem found in one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, node: Node | None, message: str) -> None:
        if node is None:
            line, col = 1, 1
        else:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.items.append(Problem(self.file, line, col, message))

    def at(self, line: int, column: int, message: str) -> None:
        self.items.append(Problem(self.file, line, column, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def sorted(self) -> list[Problem]:
        return sorted(set(self.items))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def _control_chars(text: str) -> tuple[int, int] | None:
    """(line, column) of the first control character other than tab and line breaks."""
    m = _CONTROL.search(text)
    if m is None:
        return None
    before = text[: m.start()]
    return before.count("\n") + 1, m.start() - (before.rfind("\n") + 1) + 1


def compose(raw: bytes, problems: Problems) -> Node | None:
    """Parse bytes into a node tree, or record why not and return None."""
    if len(raw) > MAX_FILE_BYTES:
        problems.at(1, 1, f"file is too large ({len(raw):,} bytes; at most {MAX_FILE_BYTES:,})")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        problems.at(line, col, "the file is not valid UTF-8 text (save it as UTF-8)")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    where = _control_chars(text)
    if where:
        problems.at(*where, "control character in the file (only tabs and line breaks are allowed)")
        return None
    try:
        node = yaml.compose(text, Loader=LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "syntax error"
        problems.at(line, col, f"YAML syntax error: {what}")
        return None
    except yaml.YAMLError as exc:
        problems.at(1, 1, f"YAML error: {exc}")
        return None
    except RecursionError:
        problems.at(1, 1, "the file is nested too deeply")
        return None
    if node is None:
        problems.at(1, 1, "the file is empty")
        return None
    if not _within_budget(node):
        problems.add(node, "the file expands to too many values (aliases or nesting too deep)")
        return None
    return node


def _within_budget(root: Node) -> bool:
    count = 0
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            return False
        if isinstance(node, SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
    return True


def kind_name(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "empty"
    return f"{node.value!r}"


def entries(node: Node, problems: Problems, what: str) -> dict[str, tuple[Node, Node]] | None:
    """The keys of a mapping node with their key and value nodes; duplicates are problems."""
    if not isinstance(node, MappingNode):
        problems.add(node, f"{what} must be a mapping of keys to values, not {kind_name(node)}")
        return None
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.tag.endswith(":merge"):
            problems.add(key, f"{what}: keys must be plain names")
            continue
        name = str(key.value)
        if name in out:
            first = out[name][0].start_mark.line + 1
            problems.add(key, f"{what}: key '{name}' appears twice (first on line {first})")
            continue
        out[name] = (key, value)
    return out


def items(node: Node, problems: Problems, what: str) -> Iterator[Node]:
    if not isinstance(node, SequenceNode):
        problems.add(node, f"{what} must be a list, not {kind_name(node)}")
        return iter(())
    return iter(node.value)


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag.endswith(":null")


def text_of(node: Node) -> str | None:
    """The scalar's text, or None for a mapping, a list or an empty value."""
    if not isinstance(node, ScalarNode) or is_null(node):
        return None
    return str(node.value)


def scalar_value(node: Node) -> object:
    """A scalar as YAML's safe loader would type it (int, float, str, bool, None)."""
    if not isinstance(node, ScalarNode):
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
