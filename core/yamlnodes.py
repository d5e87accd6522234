"""Reading YAML as a tree of positioned nodes, so every problem has a FILE:LINE:COLUMN.

Values are read from the raw scalar text (so `08:00` stays a time, not a
sexagesimal number); duplicate keys are problems; anchors and aliases are
followed with a budget so an alias bomb cannot blow up memory.

A problem is a kind of `core.problems.MESSAGES` with its fields, put into words in the
reader's language when shown (`Problem.text(language)`, `Problem.render(language)`);
`message` and `str()` are the English ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.problems import Field, Say, Text, number, render

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at FILE:LINE:COLUMN: a kind of `core.problems.MESSAGES` and its fields.

    Problems compare, sort and deduplicate by file, line, column and English message."""

    file: str
    line: int
    column: int
    message: str = field(init=False)  # in English
    kind: str = field(compare=False)
    fields: tuple[tuple[str, Field], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", render(self.kind, self.fields, "en"))

    @classmethod
    def of(cls, file: str, line: int, column: int, kind: str, **fields: Field) -> Problem:
        return cls(file, line, column, kind, tuple(fields.items()))

    def text(self, language: str) -> str:
        """The message in `language` (`vi`, or `en`)."""
        return render(self.kind, self.fields, language)

    def render(self, language: str) -> str:
        """`FILE:LINE:COLUMN: message`, the message in `language`."""
        return f"{self.file}:{self.line}:{self.column}: {self.text(language)}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class Problems:
    """Collects every problem found in one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, node: Node | None, kind: str, **fields: Field) -> None:
        if node is None:
            line, col = 1, 1
        else:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.at(line, col, kind, **fields)

    def at(self, line: int, column: int, kind: str, **fields: Field) -> None:
        self.items.append(Problem.of(self.file, line, column, kind, **fields))

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
        problems.at(1, 1, "file_too_large", size=number(len(raw)), limit=number(MAX_FILE_BYTES))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        problems.at(line, col, "not_utf8")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    where = _control_chars(text)
    if where:
        problems.at(*where, "control_in_file")
        return None
    try:
        node = yaml.compose(text, Loader=LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "syntax error"
        problems.at(line, col, "yaml_syntax", detail=what)
        return None
    except yaml.YAMLError as exc:
        problems.at(1, 1, "yaml_error", detail=str(exc))
        return None
    except RecursionError:
        problems.at(1, 1, "too_deep")
        return None
    if node is None:
        problems.at(1, 1, "empty_file")
        return None
    if not _within_budget(node):
        problems.add(node, "too_many_values")
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


def kind_name(node: Node) -> Text:
    if isinstance(node, MappingNode):
        return Say("một bảng khoá: giá trị", "a mapping")
    if isinstance(node, SequenceNode):
        return Say("một danh sách", "a list")
    if node.tag.endswith(":null"):
        return Say("giá trị trống", "empty")
    return f"{node.value!r}"


def entries(node: Node, problems: Problems, what: Text) -> dict[str, tuple[Node, Node]] | None:
    """The keys of a mapping node with their key and value nodes; duplicates are problems."""
    if not isinstance(node, MappingNode):
        problems.add(node, "not_mapping", what=what, found=kind_name(node))
        return None
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.tag.endswith(":merge"):
            problems.add(key, "key_not_plain", what=what)
            continue
        name = str(key.value)
        if name in out:
            first = out[name][0].start_mark.line + 1
            problems.add(key, "key_twice", what=what, name=name, first=first)
            continue
        out[name] = (key, value)
    return out


def items(node: Node, problems: Problems, what: Text) -> Iterator[Node]:
    if not isinstance(node, SequenceNode):
        problems.add(node, "not_list", what=what, found=kind_name(node))
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
