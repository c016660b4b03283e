"""The model catalogue: which Vosk models `ivr models download` knows, and their pinned digests.

The shipped copy is `ivr/data/catalog.yaml` (identical to the repository's `models/catalog.yaml`).
A bank keeps its own copy, with the digests it has checked pinned, and points ivr at it with
`--catalog FILE` or `$IVR_CATALOG`; `pin_digest` writes one digest into such a file.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ModelError

__all__ = ["SHIPPED_LABEL", "Catalog", "ModelEntry", "catalog_path", "load_catalog", "pin_digest",
           "shipped_catalog_text"]

SHIPPED_LABEL = "ivr/data/catalog.yaml"
"""How messages name the catalogue shipped inside the package."""
_FIELDS = ("name", "lang", "sample_rate", "size_mb", "url", "sha256", "note")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_Fail = Callable[[yaml.Node, str], None]


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model in the catalogue."""

    name: str
    """The zip's base name and the directory it unpacks to."""
    lang: str
    """Language code: "zh", "en" or "ko"."""
    sample_rate: int
    """The rate the acoustic model was trained on (8000 = telephone band)."""
    size_mb: int
    """Download size in MB, rounded (on-disk size for the embedded model)."""
    url: str
    """Where the zip is published; empty for the embedded package model."""
    sha256: str | None
    """Lower-case hex digest of the zip, or None while unpinned."""
    note: str
    """One line for people choosing a model."""

    def __str__(self) -> str:
        return f"{self.name} ({self.lang}, {self.sample_rate} Hz, {self.size_mb} MB)"


@dataclass(frozen=True)
class Catalog:
    """The catalogue's entries, in preference order, with look-ups."""

    entries: tuple[ModelEntry, ...]
    """Every entry, in file order (within a language, the preferred model first)."""
    label: str = SHIPPED_LABEL
    """The file the entries came from, as messages name it."""

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Load a catalogue file; see `load_catalog`."""
        if path is None:
            path = catalog_path()
        return cls(load_catalog(path), str(path) if path is not None else SHIPPED_LABEL)

    def get(self, name: str) -> ModelEntry:
        """The entry called `name`; ModelError suggesting close names if there is none."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        close = difflib.get_close_matches(name, [e.name for e in self.entries], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ModelError(f"unknown model {name!r}{hint}: `ivr models list` shows the catalogue")

    def for_lang(self, lang: str) -> tuple[ModelEntry, ...]:
        """The entries for one language, preferred first."""
        return tuple(e for e in self.entries if e.lang == lang)


def catalog_path() -> Path | None:
    """The bank's catalogue named by `$IVR_CATALOG`, or None for the shipped one."""
    configured = os.environ.get("IVR_CATALOG", "")
    return Path(configured) if configured != "" else None


def shipped_catalog_text() -> str:
    """The text of the catalogue shipped in the package."""
    resource = importlib.resources.files("ivr").joinpath("data", "catalog.yaml")
    return resource.read_text(encoding="utf-8")


def load_catalog(path: Path | None = None) -> tuple[ModelEntry, ...]:
    """Read and validate a catalogue file.

    Args:
        path: A catalogue YAML file; by default the copy shipped in the package
            (`ivr/data/catalog.yaml`, identical to the repository's `models/catalog.yaml`).

    Raises:
        ModelError: Unreadable or invalid; one `file:line:col: problem` line per problem.
    """
    if path is None:
        label = SHIPPED_LABEL
        text = shipped_catalog_text()
    else:
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model catalogue {path}: {exc}") from exc
    return _parse_catalog(text, label)


def _parse_catalog(text: str, label: str) -> tuple[ModelEntry, ...]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ModelError(f"{label}: invalid YAML: {exc}".replace("\n", " ")) from exc
    problems: list[tuple[int, int, str]] = []

    def fail(node: yaml.Node, message: str) -> None:
        problems.append((node.start_mark.line + 1, node.start_mark.column + 1, message))

    items: list[yaml.Node] = []
    if isinstance(root, yaml.MappingNode):
        top = {k.value: v for k, v in root.value}
        if isinstance(top.get("models"), yaml.SequenceNode):
            items = top["models"].value
    if not items:
        raise ModelError(f"{label}: expected a top-level `models:` list of entries")
    entries: list[ModelEntry] = []
    seen: dict[str, int] = {}
    for item in items:
        entry = _parse_entry(item, fail)
        if entry is None:
            continue
        if entry.name in seen:
            fail(item, f"model {entry.name!r} is listed twice (first on line {seen[entry.name]})")
        seen.setdefault(entry.name, item.start_mark.line + 1)
        entries.append(entry)
    if problems:
        lines = (f"{label}:{line}:{col}: {msg}" for line, col, msg in sorted(problems))
        raise ModelError("\n".join(lines))
    return tuple(entries)


def _parse_entry(item: yaml.Node, fail: _Fail) -> ModelEntry | None:
    if not isinstance(item, yaml.MappingNode):
        fail(item, "each model must be a mapping of " + ", ".join(_FIELDS))
        return None
    constructor = yaml.SafeLoader("")
    values: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    ok = True
    for key_node, value_node in item.value:
        key = str(key_node.value)
        if key in nodes:
            first = nodes[key].start_mark.line + 1
            fail(key_node, f"duplicate key {key!r} (first on line {first})")
            ok = False
        elif key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            fail(key_node, f"unknown key {key!r}{hint}")
            ok = False
        nodes[key] = value_node
        values[key] = constructor.construct_object(value_node, deep=True)
    missing = [f for f in _FIELDS if f not in values]
    if missing:
        fail(item, "missing " + ", ".join(missing))
        return None
    name, sha = values["name"], values["sha256"]
    size, url, rate = values["size_mb"], values["url"], values["sample_rate"]
    checks = (
        ("name", isinstance(name, str) and _NAME_RE.fullmatch(name), "a plain file name"),
        ("lang", isinstance(values["lang"], str) and values["lang"] != "", "a language code"),
        ("sample_rate", values["sample_rate"] in (8000, 16000) and type(rate) is int,
         "8000 or 16000"),
        ("size_mb", type(size) is int and size > 0, "a positive whole number"),
        ("url", isinstance(url, str) and url.startswith("https://"), "an https:// URL"),
        ("sha256", sha is None or (isinstance(sha, str) and _SHA_RE.fullmatch(sha)),
         "null or 64 lower-case hex digits"),
        ("note", isinstance(values["note"], str), "one line of text"),
    )
    for key, good, expected in checks:
        if not good:
            fail(nodes[key], f"{key} must be {expected}, not {values[key]!r}")
            ok = False
    return ModelEntry(**values) if ok else None


def pin_digest(path: Path, name: str, sha256: str) -> bool:
    """Write `sha256` as the pinned digest of model `name` in the catalogue file `path`.

    Only the `sha256:` value of that entry changes; comments and layout stay. A file that does
    not exist yet starts as a copy of the shipped catalogue.

    Returns:
        False when that digest was already pinned (the file is left alone), True otherwise.

    Raises:
        ModelError: Unreadable or invalid catalogue, unknown name, malformed digest, or a
            different digest already pinned (a pin is changed by editing the file, on purpose).
    """
    if not _SHA_RE.fullmatch(sha256):
        raise ModelError(f"{sha256!r} is not a sha256 digest (64 lower-case hex digits)")
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else shipped_catalog_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model catalogue {path}: {exc}") from exc
    entry = Catalog(_parse_catalog(text, str(path)), str(path)).get(name)
    if entry.sha256 == sha256:
        return False
    if entry.sha256 is not None:
        raise ModelError(f"{path}: {name} is already pinned to sha256 {entry.sha256}, not "
                         f"{sha256}; edit the file by hand if the publisher really changed it")
    node = _sha_node(text, name)
    start, end = node.start_mark.index, node.end_mark.index
    updated = text[:start] + sha256 + text[end:]
    _parse_catalog(updated, str(path))  # never write a file that does not load
    part = path.with_name(f".{path.name}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(updated, encoding="utf-8")
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ModelError(f"cannot write model catalogue {path}: {exc}") from exc
    return True


def _sha_node(text: str, name: str) -> yaml.Node:
    """The `sha256:` value node of entry `name` in a catalogue already known to be valid."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    top = {k.value: v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    for item in getattr(top.get("models"), "value", []):
        fields = {k.value: v for k, v in item.value}
        if fields["name"].value == name:
            node: yaml.Node = fields["sha256"]
            return node
    raise ModelError(f"unknown model {name!r}")
