"""Overlays: YAML laid over a flow for a while or for some callers (emergencies, elderly mode).

An overlay file is a piece of a flow plus three keys of its own:

    overlay: typhoon                    # the name recorded in every call's trace
    description: ...                    # optional
    active: {from: 2025-09-01T00:00:00+08:00, until: ..., regions: [guangdong]}  # optional

Everything else is laid over the flow as a JSON merge patch (RFC 7386): mappings merge key
by key, any other value (text, number, list) replaces the flow's, and `null` (`~`) removes a key
— `dtmf: {"4": ~}` takes key 4 off a menu. The merged flow is checked like any flow, and every
problem points into the file that wrote the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import FlowError, FlowErrors, FlowProblem, UsageError
from .checks import Checker, suggest
from .loader import TOP_KEYS, build_flow, load_flow
from .model import Flow
from .yamlpos import LDict, LList, LNone, Located, load_located

__all__ = ["Overlay", "apply_overlays", "load_flow_with_overlays", "load_overlay", "merge_patch",
           "parse_time"]

_OWN_KEYS = ("overlay", "description", "active")
_PATCH_KEYS = tuple(k for k in TOP_KEYS if k not in ("flow", "overlays"))
_NEEDS = {"nodes": ("type", "node"), "intents": ("phrases", "intent")}


@dataclass(frozen=True)
class Overlay:
    """One overlay file, read and checked on its own (the patch is checked when applied)."""

    name: str
    """Name recorded in traces (`overlay:`; the file name if not given)."""
    path: str
    """The file."""
    description: str = ""
    """What it is for."""
    starts: datetime | None = None
    """Active from this moment (inclusive); None: always was."""
    ends: datetime | None = None
    """Active until this moment (exclusive); None: never ends."""
    regions: tuple[str, ...] = ()
    """Active only for these regions; empty: everywhere."""
    patch: Any = field(default=None, compare=False, repr=False)
    """The located merge patch (every key but overlay, description, active)."""

    def inactive_because(self, now: datetime, region: str | None) -> str | None:
        """Why the overlay does not apply at `now` in `region`, or None if it applies."""
        if self.starts is not None and now < self.starts:
            return f"starts {self.starts.isoformat()}"
        if self.ends is not None and now >= self.ends:
            return f"ended {self.ends.isoformat()}"
        if self.regions and (region or "").casefold() not in {r.casefold() for r in self.regions}:
            return f"only for {', '.join(self.regions)}" + ("" if region else " (no region given)")
        return None

    def is_active(self, now: datetime, region: str | None) -> bool:
        """Applies at `now` in `region`."""
        return self.inactive_because(now, region) is None


def parse_time(text: str) -> datetime:
    """An ISO 8601 moment with a UTC offset ("2025-09-01T08:00:00+08:00", or Z)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 time like 2025-09-01T08:00:00+08:00") \
            from None
    if when.tzinfo is None:
        raise ValueError(f"'{text}' has no UTC offset; add one, e.g. {text.strip()}+08:00")
    return when


def _time(c: Checker, active: LDict, key: str) -> datetime | None:
    value = active.get(key)
    if value is None:
        return None
    text = c.text(value, f"active '{key}'", active)
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        c.add(value, f"active '{key}': {exc}", active)
        return None


def _active(c: Checker, raw: Any) -> tuple[datetime | None, datetime | None, tuple[str, ...]]:
    if raw is None:
        return None, None, ()
    active = c.mapping(raw, "'active'")
    c.unknown_keys(active, ("from", "until", "regions"), "'active'")
    starts, ends = _time(c, active, "from"), _time(c, active, "until")
    if starts and ends and starts >= ends:
        c.add(active.get("until"), f"active: 'until' ({ends.isoformat()}) is not after 'from' "
                                   f"({starts.isoformat()})", active)
    return starts, ends, c.ids(active.get("regions"), "active 'regions'")


def load_overlay(path: str | Path) -> Overlay:
    """Read an overlay file; raises FlowError/FlowErrors with every problem in it."""
    name = str(path)
    root, problems = load_located(path)
    c = Checker(name)
    c.problems.extend(problems)
    top = c.mapping(root, "an overlay file")
    c.unknown_keys(top, (*_OWN_KEYS, *_PATCH_KEYS), "the overlay")
    starts, ends, regions = _active(c, top.get("active"))
    label = c.string(top, "overlay", "the overlay", required=False) or Path(name).stem
    description = c.string(top, "description", "the overlay", required=False) or ""
    if c.problems:
        raise FlowErrors(c.problems)
    patch = LDict((k, v) for k, v in top.items() if k not in _OWN_KEYS)
    patch.key_pos = {k: p for k, p in top.key_pos.items() if k not in _OWN_KEYS}
    _copy_pos(patch, top)
    return Overlay(label, name, description, starts, ends, regions, patch)


def _copy_pos(dst: Located, src: Any) -> None:
    if isinstance(src, Located):
        dst.line, dst.col, dst.file = src.line, src.col, src.file


def _merge(target: Any, patch: Any, where: tuple[str, ...], c: Checker) -> Any:
    if not isinstance(patch, LDict) or not isinstance(target, LDict):
        return patch
    out = LDict(target)
    out.key_pos = dict(target.key_pos)
    _copy_pos(out, target)
    for key, value in patch.items():
        pos = patch.key_pos[key]
        if isinstance(value, LNone):
            if key in out:
                del out[key], out.key_pos[key]
            else:
                c.add_at(pos, f"overlay removes '{'.'.join((*where, key))}', which the flow does "
                              f"not have{suggest(key, out)}")
            continue
        section = where[0] if len(where) == 1 else ""
        if section in _NEEDS and key not in out and isinstance(value, LDict):
            needed, kind = _NEEDS[section]
            if needed not in value:
                c.add_at(pos, f"overlay changes {kind} '{key}', which the flow does not have"
                              f"{suggest(key, out) or f'; a new {kind} needs {needed!r}'}")
        if key in out and isinstance(out[key], LDict) and isinstance(value, LDict):
            out[key] = _merge(out[key], value, (*where, key), c)
        else:
            out[key], out.key_pos[key] = value, pos
    return out


def merge_patch(target: Any, patch: Any, problems: list[FlowProblem] | None = None) -> Any:
    """`patch` laid over `target` (RFC 7386), neither changed; positions kept from both.

    Removing a key the target lacks, or changing a node or intent it lacks, is a problem
    (added to `problems`), as those are most often typos.
    """
    c = Checker("")
    merged = _merge(target, patch, (), c)
    if problems is not None:
        problems.extend(c.problems)
    return merged


def apply_overlays(flow: Flow, overlays: Iterable[Overlay], *, now: datetime,
                   region: str | None) -> Flow:
    """The flow with every overlay active at `now` in `region` laid over it, in order.

    Raises FlowErrors if the merged flow has problems; those outside the overlay files say
    which overlays were applied.
    """
    active = [o for o in overlays if o.is_active(now, region)]
    if not active:
        return flow
    if flow.source is None:
        raise UsageError(f"flow '{flow.name}' was not loaded from a file; overlays need one")
    problems: list[FlowProblem] = []
    merged = flow.source
    for overlay in active:
        merged = merge_patch(merged, overlay.patch, problems)
    built, found = build_flow(merged, flow.path)
    names = tuple(o.name for o in active)
    files = {o.path for o in active}
    tag = f" (with overlay{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))})"
    problems += [p if p.path in files else replace(p, message=p.message + tag) for p in found]
    if problems:
        raise FlowErrors(problems)
    return replace(built, overlays=flow.overlays + names)


def _now(now: datetime | str | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, str):
        try:
            return parse_time(now)
        except ValueError as exc:
            raise UsageError(f"--now: {exc}") from None
    if now.tzinfo is None:
        raise UsageError("'now' needs a timezone (a naive datetime is ambiguous)")
    return now


def overlay_files(flow: Flow, extra: Iterable[str | Path] = ()) -> list[str]:
    """The overlays the flow lists, then `extra`, each once."""
    seen: dict[str, str] = {}
    for f in (*flow.overlay_files, *map(str, extra)):
        seen.setdefault(str(Path(f).resolve()), f)
    return list(seen.values())


def listed_missing(flow: Flow) -> list[FlowProblem]:
    """Overlay files the flow lists that do not exist, at their place in the list."""
    out: list[FlowProblem] = []
    items = flow.source.get("overlays") if isinstance(flow.source, LDict) else None
    for k, f in enumerate(flow.overlay_files):
        if not Path(f).is_file():
            item = items[k] if isinstance(items, LList) and k < len(items) else None
            c = Checker(flow.path)
            c.add(item, f"overlay file '{f}' not found")
            out += c.problems
    return out


def read_overlays(files: Iterable[str | Path]) -> tuple[list[Overlay], list[FlowProblem]]:
    """Read overlay files: those that load, and the problems of all the others."""
    out: list[Overlay] = []
    problems: list[FlowProblem] = []
    for f in files:
        try:
            out.append(load_overlay(f))
        except FlowError as exc:
            problems.append(exc.problem)
        except FlowErrors as exc:
            problems.extend(exc.problems)
    return out, problems


def load_overlays(files: Sequence[str]) -> list[Overlay]:
    """Read overlay files; raises FlowErrors with the problems of all of them."""
    out, problems = read_overlays(files)
    if problems:
        raise FlowErrors(problems)
    return out


def load_flow_with_overlays(path: str | Path, overlay_paths: Iterable[str | Path] = (),
                            now: datetime | str | None = None,
                            region: str | None = None) -> Flow:
    """The flow, with the overlays it lists and `overlay_paths` applied where active.

    `now` defaults to the current time; an overlay limited to regions applies only when
    `region` is one of them. `Flow.overlays` names the overlays applied.
    """
    flow = load_flow(path)
    missing = listed_missing(flow)
    if missing:
        raise FlowErrors(missing)
    overlays = load_overlays(overlay_files(flow, overlay_paths))
    return apply_overlays(flow, overlays, now=_now(now), region=region)
