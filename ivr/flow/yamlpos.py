"""YAML with positions: every mapping, list and scalar keeps its file, line, column and source.

PyYAML's safe loader builds plain values and forgets where they came from. Here we compose the
node graph ourselves (libyaml's event parser when installed, PyYAML's pure-Python one if not),
refusing hostile shapes while composing — too many aliases, nesting too deep — then check how
far aliases would expand before building anything, then walk the graph: each value is wrapped
in a small subclass carrying its position and the text as written, duplicate keys are reported
with both lines, and only plain tags are accepted (nothing is ever constructed from a tag).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ..errors import FlowError, FlowProblem

__all__ = [
    "LIMITS", "LBool", "LDict", "LFloat", "LInt", "LList", "LNone", "LStr", "Limits", "Located",
    "Pos", "load_located", "pos_of",
]


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile file from costing time or memory."""

    max_bytes: int = 2_000_000
    """Largest flow file read (checked with stat, before reading)."""
    max_nodes: int = 200_000
    """Values in the file, and after alias expansion (stops alias bombs before building)."""
    max_depth: int = 40
    """Nesting depth."""
    max_aliases: int = 100
    """Alias uses in one file."""


LIMITS = Limits()

_T = "tag:yaml.org,2002:"
_SAFE_TAGS = frozenset(_T + t for t in
                       ("str", "int", "float", "bool", "null", "map", "seq", "timestamp"))


class Pos(NamedTuple):
    """Where something was written."""

    line: int
    """1-based line."""
    col: int
    """1-based column."""
    file: str
    """The file it is in."""


class Located:
    """Mixin: where a value came from, and (for scalars) the text as written."""

    line: int = 0
    col: int = 0
    file: str = ""
    source: str = ""
    """The scalar as written, without quotes (e.g. "12:30" for the number 750)."""


class LDict(dict[str, Any], Located):
    """A mapping that also knows where each key was written (keys are kept as written)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_pos: dict[str, Pos] = {}


class LList(list[Any], Located):
    """A sequence with a position."""


class LStr(str, Located):
    """A string scalar (timestamps included, as written) with a position."""


class LInt(int, Located):
    """An integer scalar with a position (`source` shows 0755 or 12:30 as written)."""


class LFloat(float, Located):
    """A float scalar with a position."""


class LBool(int, Located):
    """A boolean scalar (YAML 1.1 `yes`/`no`/`on`/`off` included) with a position."""

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


class _Refused(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.mark, self.message = mark, message


class _GuardedComposer(Composer):
    """Counts values, aliases and depth while composing, so a hostile file stops at once."""

    limits: Limits = LIMITS
    _depth = 0
    _aliases = 0
    _nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        events: Any = self  # the parser half of the loader class this is mixed into
        if events.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise _Refused(events.peek_event().start_mark,
                               f"more than {self.limits.max_aliases} aliases; refused")
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise _Refused(events.peek_event().start_mark,
                           f"file has over {self.limits.max_nodes} values; refused")
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth + 1:
                raise _Refused(events.peek_event().start_mark,
                               f"nesting deeper than {self.limits.max_depth}; refused")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _PyLoader(_GuardedComposer, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                SafeConstructor, Resolver):
    def __init__(self, text: str, limits: Limits) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits


def _loader_classes() -> tuple[type[Any], ...]:
    try:
        from yaml._yaml import CParser
    except ImportError:  # no libyaml: the pure-Python parser does the same, slower
        return (_PyLoader,)

    class _CLoader(_GuardedComposer, CParser, SafeConstructor, Resolver):
        def __init__(self, text: str, limits: Limits) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.limits = limits

    return (_CLoader, _PyLoader)


_LOADERS = _loader_classes()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: yaml.Node, cap: int) -> int | None:
    """Values the graph expands to once aliases are followed (capped); None if it is cyclic."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size[key] = min(cap + 1, 1 + sum(size[id(c)] for c in _children(node)))
        elif key in on_path:
            return None
        elif key not in size:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in size)
    return size[id(root)]


class _Walker:
    def __init__(self, path: str, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        self.problems: list[FlowProblem] = []
        self.constructor = SafeConstructor()

    def fail(self, node: yaml.Node, message: str) -> FlowError:
        m = node.start_mark
        return FlowError(FlowProblem(self.path, m.line + 1, m.column + 1, message))

    def walk(self, node: yaml.Node, depth: int, key: str = "") -> Any:
        if depth > self.limits.max_depth:
            raise self.fail(node, f"nesting deeper than {self.limits.max_depth}; refused")
        if node.tag not in _SAFE_TAGS:
            tag = str(node.tag).replace(_T, "!!")
            raise self.fail(node, f"tag '{tag}' is not allowed in a flow file (plain text, "
                                  "numbers, true/false, lists and mappings only)")
        if isinstance(node, yaml.MappingNode):
            value: Located = self._mapping(node, depth, key)
        elif isinstance(node, yaml.SequenceNode):
            value = LList(self.walk(item, depth + 1) for item in node.value)
        else:
            value = self._scalar(node)
        value.line, value.col = node.start_mark.line + 1, node.start_mark.column + 1
        value.file = self.path
        return value

    def _mapping(self, node: yaml.MappingNode, depth: int, parent: str) -> LDict:
        out = LDict()
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                raise self.fail(key_node, "merge keys ('<<') are not supported in flow files")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SAFE_TAGS \
                    or key_node.tag == _T + "null":
                raise self.fail(key_node, "mapping keys must be plain scalars")
            key = str(key_node.value)  # as written: `no:` stays "no", `0755:` stays "0755"
            pos = Pos(key_node.start_mark.line + 1, key_node.start_mark.column + 1, self.path)
            if key in out.key_pos:
                first = out.key_pos[key].line
                what = (f"duplicate DTMF key '{key}' (first on line {first}): only one can work"
                        if parent == "dtmf" else f"duplicate key '{key}' (first on line {first})")
                self.problems.append(FlowProblem(self.path, pos.line, pos.col, what))
                continue
            out.key_pos[key] = pos
            out[key] = self.walk(value_node, depth + 1, key)
        return out

    def _scalar(self, node: yaml.Node) -> Located:
        text = str(node.value)
        value: Located
        if node.tag in (_T + "str", _T + "timestamp"):
            value = LStr(text)
        else:
            raw = self.constructor.construct_object(node, deep=False)
            if raw is None:
                value = LNone()
            elif isinstance(raw, bool):
                value = LBool(raw)
            elif isinstance(raw, int):
                value = LInt(raw)
            elif isinstance(raw, float):
                value = LFloat(raw)
            else:
                value = LStr(text)
        value.source = text
        return value


def _read_text(name: str, limits: Limits) -> str:
    p = Path(name)
    try:
        size = p.stat().st_size
        if size > limits.max_bytes:
            raise FlowError(FlowProblem(name, 1, 1, f"file is {size} bytes, over the "
                                        f"{limits.max_bytes}-byte limit for a flow; refused"))
        with p.open("rb") as f:  # memory as the file's size; at most the cap if it grows
            data = f.read(size + 1)
            if len(data) > size:
                data += f.read(limits.max_bytes + 1 - len(data))
        if len(data) > limits.max_bytes:
            raise FlowError(FlowProblem(name, 1, 1, f"file is over the {limits.max_bytes}-byte "
                                        "limit for a flow; refused"))
        return data.decode("utf-8")
    except FileNotFoundError:
        raise FlowError(FlowProblem(name, 1, 1, "no such file")) from None
    except IsADirectoryError:
        raise FlowError(FlowProblem(name, 1, 1, "is a directory, not a flow file")) from None
    except UnicodeDecodeError as exc:
        raise FlowError(FlowProblem(name, 1, 1, f"not UTF-8 text ({exc.reason})")) from None
    except OSError as exc:
        raise FlowError(FlowProblem(name, 1, 1, f"cannot read: {exc.strerror}")) from None


def _syntax_error(name: str, text: str, exc: yaml.YAMLError) -> FlowError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and what.startswith("but "):  # "expected X in the stream, but found Y"
            what = f"{exc.context}, {what}"
        return FlowError(FlowProblem(name, line, col, f"YAML syntax error: {what}"))
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[:exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        return FlowError(FlowProblem(name, line, col, f"character U+{char:04X} is not allowed "
                                     "in a YAML file"))
    return FlowError(FlowProblem(name, 1, 1, f"YAML error: {str(exc).splitlines()[0]}"))


def _error_end(text: str, exc: yaml.YAMLError) -> int:
    """Where the text can be cut after an error (the end of the line after it)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        at = exc.problem_mark.index
    elif isinstance(exc, yaml.reader.ReaderError):
        at = exc.position
    else:
        return len(text)
    end = text.find("\n", at)
    end = text.find("\n", end + 1) if end >= 0 else -1
    return len(text) if end < 0 else end + 1


def _compose(name: str, text: str, limits: Limits) -> yaml.Node | None:
    """The node graph of a one-document file; hostile shapes are refused while composing.

    libyaml parses when installed; its error is then reworded by PyYAML's parser, which reads
    only the text up to the error, so messages are the same with or without libyaml.
    """
    first: yaml.YAMLError | None = None
    for i, cls in enumerate(_LOADERS):
        loader = None
        try:
            loader = cls(text, limits)
            node: yaml.Node | None = loader.get_single_node()
            if first is not None:  # the two parsers disagree: keep libyaml's word
                raise _syntax_error(name, text, first)
            return node
        except _Refused as exc:
            m = exc.mark
            raise FlowError(FlowProblem(name, m.line + 1, m.column + 1, exc.message)) from None
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(getattr(exc, "problem", "")):
                mark = getattr(exc, "problem_mark", None)
                line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                raise FlowError(FlowProblem(name, line, col, f"nesting deeper than "
                                            f"{limits.max_depth}; refused")) from None
            if i + 1 < len(_LOADERS):
                first, text = exc, text[:_error_end(text, exc)]
                continue
            raise _syntax_error(name, text, exc) from None
        finally:
            if loader is not None:
                loader.dispose()
    return None  # pragma: no cover - the last loader either returns or raises


def load_located(path: str | Path, limits: Limits = LIMITS) -> tuple[Any, list[FlowProblem]]:
    """Read a YAML file into located values.

    Returns the root value and the non-fatal problems found while walking (duplicate keys).
    Raises FlowError for problems that stop reading: missing file, size, syntax, hostile shape.
    """
    name = str(path)
    text = _read_text(name, limits)
    root = _compose(name, text, limits)
    if root is None:
        raise FlowError(FlowProblem(name, 1, 1, "file is empty"))
    size = _expanded_size(root, limits.max_nodes)
    if size is None:
        raise FlowError(FlowProblem(name, 1, 1, "an alias refers to a value that contains it "
                                    "(recursive alias); refused"))
    if size > limits.max_nodes:
        raise FlowError(FlowProblem(name, 1, 1, f"file expands to over {limits.max_nodes} "
                                    "values (alias bomb?); refused"))
    walker = _Walker(name, limits)
    try:
        value = walker.walk(root, 0)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise FlowError(FlowProblem(name, line, col, f"bad value: {exc.problem}")) from None
    return value, walker.problems
