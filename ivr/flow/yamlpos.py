"""YAML with positions: every mapping, list and scalar keeps its line and column.

PyYAML's safe loader builds plain values and forgets where they came from. Here we compose the
node graph with the safe loader (so unsafe tags are never constructed), then walk it ourselves:
each value is wrapped in a small subclass carrying its position, duplicate keys are reported
with both lines, and hostile files (alias bombs, deep nesting, huge files) are refused early.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import FlowError, FlowProblem

__all__ = [
    "LIMITS", "LBool", "LDict", "LList", "LNone", "LStr", "Limits", "Located", "load_located",
    "pos_of",
]


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile file from costing time or memory."""

    max_bytes: int = 2_000_000
    """Largest flow file read."""
    max_nodes: int = 200_000
    """Values visited, counting each alias expansion (stops alias bombs)."""
    max_depth: int = 40
    """Nesting depth."""
    max_aliases: int = 100
    """Alias uses in one file."""


LIMITS = Limits()

_SAFE_TAG_PREFIX = "tag:yaml.org,2002:"
_SAFE_TAGS = frozenset(_SAFE_TAG_PREFIX + t for t in
                       ("str", "int", "float", "bool", "null", "map", "seq", "timestamp"))


class Located:
    """Mixin: where a value came from (1-based line and column)."""

    line: int = 0
    col: int = 0


class LDict(dict[str, Any], Located):
    """A mapping that also knows where each key was written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_pos: dict[str, tuple[int, int]] = {}


class LList(list[Any], Located):
    """A sequence with a position."""


class LStr(str, Located):
    """A string scalar with a position."""


class LInt(int, Located):
    """An integer scalar with a position."""


class LFloat(float, Located):
    """A float scalar with a position."""


class LBool(int, Located):
    """A boolean scalar (YAML 1.1 `yes`/`no`/`on`/`off` included) with a position."""

    source: str = ""
    """The text as written (e.g. "no"), for messages about YAML 1.1 surprises."""

    def __repr__(self) -> str:
        return repr(self.source) if self.source else repr(bool(self))


class LNone(Located):
    """A null scalar with a position."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "None"


def pos_of(value: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """(line, col) of a located value, or `default` for a plain one."""
    if isinstance(value, Located) and value.line:
        return value.line, value.col
    return default


class _Walker:
    def __init__(self, path: str, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        self.visited = 0
        self.aliases = 0
        self.problems: list[FlowProblem] = []
        self.loader = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> FlowError:
        m = node.start_mark
        return FlowError(FlowProblem(self.path, m.line + 1, m.column + 1, message))

    def walk(self, node: yaml.Node, depth: int) -> Any:
        self.visited += 1
        if self.visited > self.limits.max_nodes:
            raise self.fail(node, f"file expands to over {self.limits.max_nodes} values "
                                  "(alias bomb?); refused")
        if depth > self.limits.max_depth:
            raise self.fail(node, f"nesting deeper than {self.limits.max_depth}; refused")
        if node.tag not in _SAFE_TAGS:
            raise self.fail(node, f"tag {node.tag!r} is not allowed in a flow file")
        value = self._build(node, depth)
        value.line, value.col = node.start_mark.line + 1, node.start_mark.column + 1
        return value

    def _build(self, node: yaml.Node, depth: int) -> Located:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            return LList(self.walk(item, depth + 1) for item in node.value)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LDict:
        out = LDict()
        for key_node, value_node in node.value:
            if key_node.tag == _SAFE_TAG_PREFIX + "merge":
                raise self.fail(key_node, "merge keys ('<<') are not supported in flow files")
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or isinstance(key, LNone | LList | LDict):
                raise self.fail(key_node, "mapping keys must be plain scalars")
            skey = str(key) if not isinstance(key, LBool) else key_node.value
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if skey in out.key_pos:
                first = out.key_pos[skey][0]
                self.problems.append(FlowProblem(self.path, line, col,
                                                 f"duplicate key '{skey}' (first on line {first})"))
                continue
            out.key_pos[skey] = (line, col)
            out[skey] = self.walk(value_node, depth + 1)
        return out

    def _scalar(self, node: yaml.Node) -> Located:
        raw = self.loader.construct_object(node, deep=False)
        if raw is None:
            return LNone()
        if isinstance(raw, bool):
            value = LBool(raw)
            value.source = str(node.value)
            return value
        if isinstance(raw, int):
            return LInt(raw)
        if isinstance(raw, float):
            return LFloat(raw)
        return LStr(str(raw))


def _count_aliases(text: str) -> int:
    count = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
    return count


def load_located(path: str | Path, limits: Limits = LIMITS) -> tuple[Any, list[FlowProblem]]:
    """Read a YAML file into located values.

    Returns the root value and the non-fatal problems found while walking (duplicate keys).
    Raises FlowError for problems that stop reading: missing file, size, syntax, hostile shape.
    """
    name = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limits.max_bytes:
            raise FlowError(FlowProblem(name, 1, 1, f"file is {size} bytes, over the "
                                        f"{limits.max_bytes}-byte limit for a flow; refused"))
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FlowError(FlowProblem(name, 1, 1, "no such file")) from None
    except IsADirectoryError:
        raise FlowError(FlowProblem(name, 1, 1, "is a directory, not a flow file")) from None
    except UnicodeDecodeError as exc:
        raise FlowError(FlowProblem(name, 1, 1, f"not UTF-8 text ({exc.reason})")) from None
    except OSError as exc:
        raise FlowError(FlowProblem(name, 1, 1, f"cannot read: {exc.strerror}")) from None
    walker = _Walker(name, limits)
    try:
        if _count_aliases(text) > limits.max_aliases:
            raise FlowError(FlowProblem(name, 1, 1, f"more than {limits.max_aliases} aliases; "
                                        "refused"))
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise FlowError(FlowProblem(name, line, col, f"YAML syntax error: {what}")) from None
    except yaml.YAMLError as exc:
        raise FlowError(FlowProblem(name, 1, 1, f"YAML error: {exc}")) from None
    if root is None:
        raise FlowError(FlowProblem(name, 1, 1, "file is empty"))
    try:
        value = walker.walk(root, 0)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise FlowError(FlowProblem(name, line, col, f"bad value: {exc.problem}")) from None
    return value, walker.problems
