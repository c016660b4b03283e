"""`ivr lint`: everything the loader checks, then what only the whole graph shows.

Levels: an error breaks calls (unknown target, dead end, cycle with no way out, the same phrase
in two intents); a warning will likely hurt callers (unreachable node, intents alike enough to
misroute); a note is worth knowing (a menu relying on the fallback queue). Overlays are checked
laid over the flow, one at a time and all together, whether or not they are active now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import FlowError, FlowProblem
from .confusable import confusions, empty_phrases
from .graphcheck import reachable, traps
from .loader import build_flow
from .model import Flow
from .overlay import Overlay, listed_missing, merge_patch, overlay_files, read_overlays
from .yamlpos import LDict, LList, Located, Pos, load_located

__all__ = ["Finding", "LintReport", "check_flow", "lint_flow"]

Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    """One thing lint found, at a place."""

    level: Level
    """error | warning | note."""
    code: str
    """Short kind: flow, dead-end, cycle, unreachable, unused-intent, no-on-fail, confusable,
    same-phrase, filler-phrase, label."""
    problem: FlowProblem
    """Where and what."""

    def __str__(self) -> str:
        p = self.problem
        return f"{p.path}:{p.line}:{p.col}: {self.level}: {p.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (`ivr lint --json`)."""
        p = self.problem
        return {"path": p.path, "line": p.line, "col": p.col, "level": self.level,
                "code": self.code, "message": p.message}


@dataclass(frozen=True)
class LintReport:
    """Everything lint found in one flow and its overlays."""

    path: str
    """The flow file."""
    findings: tuple[Finding, ...]
    """Sorted by file and position."""
    flow: Flow | None
    """The flow as built (None if it could not be read at all)."""
    overlays: tuple[str, ...] = ()
    """Names of the overlays checked."""

    def count(self, level: Level) -> int:
        """How many findings of a level."""
        return sum(f.level == level for f in self.findings)

    def exit_code(self, strict: bool = False) -> int:
        """2 with errors; 1 with warnings under --strict; else 0."""
        if self.count("error"):
            return 2
        return 1 if strict and self.count("warning") else 0


class _Where:
    """Positions in the located YAML a flow was built from."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.src = flow.source if isinstance(flow.source, LDict) else LDict()

    def key(self, section: str, name: str) -> FlowProblem:
        sec = self.src.get(section)
        pos = sec.key_pos.get(name) if isinstance(sec, LDict) else None
        if pos is None:
            item = self.flow.nodes.get(name) if section == "nodes" else self.flow.intents.get(name)
            pos = Pos(item.line if item else 1, 1, self.flow.path)
        return FlowProblem(pos.file or self.flow.path, pos.line, pos.col, "")

    def value(self, *path: str | int) -> FlowProblem | None:
        cur: Any = self.src
        for step in path:
            in_dict = isinstance(cur, LDict) and isinstance(step, str) and step in cur
            in_list = isinstance(cur, LList) and isinstance(step, int) and step < len(cur)
            if not (in_dict or in_list):
                return None
            cur = cur[step]
        if isinstance(cur, Located) and cur.line:
            return FlowProblem(cur.file or self.flow.path, cur.line, cur.col, "")
        return None


def _at(p: FlowProblem, level: Level, code: str, message: str) -> Finding:
    return Finding(level, code, replace(p, message=message))


def _graph(flow: Flow, w: _Where) -> list[Finding]:
    out: list[Finding] = []
    fallback = flow.settings.fallback_queue
    for trap in traps(flow):
        first = trap.nodes[0]
        if trap.cycle and all(flow.nodes[n].type == "service" for n in trap.nodes):
            continue  # the loader reports loops of service nodes
        if trap.cycle:
            shown = " → ".join((*trap.nodes, first))
            msg = (f"cycle with no way out: {shown}; no key, intent or on_fail leads out, so "
                   f"callers can only fail into the fallback queue '{fallback}'")
            out.append(_at(w.key("nodes", first), "error", "cycle", msg))
        else:
            msg = (f"menu '{first}' is a dead end: no DTMF key, intent or on_fail leads anywhere; "
                   f"callers can only fail into the fallback queue '{fallback}'")
            out.append(_at(w.key("nodes", first), "error", "dead-end", msg))
    seen = reachable(flow)
    if flow.start in flow.nodes:
        for nid in flow.nodes:
            if nid not in seen:
                out.append(_at(w.key("nodes", nid), "warning", "unreachable",
                               f"node '{nid}' is unreachable from '{flow.start}': no key, "
                               "intent, on_fail or next leads here"))
    listed = {i for node in flow.nodes.values() if node.type == "menu" for i in node.intents}
    for iid, intent in flow.intents.items():
        if not intent.is_global and iid not in listed:
            out.append(_at(w.key("intents", iid), "warning", "unused-intent",
                           f"intent '{iid}' is never understood: it is not global and no menu "
                           "lists it"))
    misses = flow.settings.max_retries + 1
    for nid, node in flow.nodes.items():
        if node.type == "menu" and not node.on_fail and nid in seen:
            out.append(_at(w.key("nodes", nid), "note", "no-on-fail",
                           f"menu '{nid}' has no on_fail: after {misses} miss"
                           f"{'es' if misses > 1 else ''} (no match or no input) callers go to "
                           f"the fallback queue '{fallback}'"))
    return out


def _phrases(flow: Flow, w: _Where) -> list[Finding]:
    out: list[Finding] = []
    for c in confusions(flow):
        where = w.value("intents", c.b, "phrases", c.lang, c.index_b) or w.key("intents", c.b)
        if c.identical:
            out.append(_at(where, "error", "same-phrase",
                           f"intents '{c.a}' and '{c.b}' share the phrase '{c.phrase_b}' "
                           f"({c.lang}) once normalised: callers saying it will be misrouted"))
        else:
            out.append(_at(where, "warning", "confusable",
                           f"intents '{c.a}' and '{c.b}' are too alike in {c.lang}: "
                           f"'{c.phrase_a}' ~ '{c.phrase_b}' (characters {c.chars:.0f}%, sound "
                           f"{c.sound:.0f}%); callers may be misrouted"))
    for iid, lang, k, phrase in empty_phrases(flow):
        where = w.value("intents", iid, "phrases", lang, k) or w.key("intents", iid)
        out.append(_at(where, "warning", "filler-phrase",
                       f"intent '{iid}' phrase '{phrase}' ({lang}) is only filler words once "
                       "normalised: it can never match"))
    for lang, text in flow.prompts.get("confirm", {}).items():
        if "{label}" not in text:
            where = w.value("prompts", "confirm", lang) or w.key("nodes", flow.start)
            out.append(_at(where, "warning", "label",
                           f"prompts 'confirm' ({lang}) has no {{label}}: callers will not hear "
                           "what they are asked to confirm"))
    return out


def check_flow(flow: Flow) -> list[Finding]:
    """The whole-flow checks (graph, phrases) on a built flow; the loader's come separately."""
    w = _Where(flow)
    return _graph(flow, w) + _phrases(flow, w)


def _errors(problems: Iterable[FlowProblem]) -> list[Finding]:
    return [Finding("error", "flow", p) for p in problems]


def _with(findings: list[Finding], names: tuple[str, ...], files: set[str]) -> list[Finding]:
    tag = f" (with overlay{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))})"
    return [f if f.problem.path in files else
            replace(f, problem=replace(f.problem, message=f.problem.message + tag))
            for f in findings]


def _overlaid(flow: Flow, combo: list[Overlay]) -> list[Finding]:
    problems: list[FlowProblem] = []
    merged = flow.source
    for overlay in combo:
        merged = merge_patch(merged, overlay.patch, problems)
    built, found = build_flow(merged, flow.path)
    built = replace(built, overlays=tuple(o.name for o in combo))
    return _errors(problems + found) + check_flow(built)


def _read_overlays(flow: Flow, extra: Iterable[str | Path]) -> tuple[list[Overlay], list[Finding]]:
    # a listed file that is missing is reported at its place in the list, not again here
    files = [f for f in overlay_files(flow, extra)
             if Path(f).is_file() or f not in flow.overlay_files]
    overlays, problems = read_overlays(files)
    return overlays, _errors(listed_missing(flow) + problems)


def lint_flow(path: str | Path, overlays: Iterable[str | Path] = ()) -> LintReport:
    """Check a flow file, the overlays it lists and `overlays`; never raises for a bad flow."""
    name = str(path)
    try:
        root, early = load_located(path)
        flow, problems = build_flow(root, name)  # raises for a flow over the size limits
    except FlowError as exc:
        return LintReport(name, (Finding("error", "flow", exc.problem),), None)
    findings = _errors(early + problems) + check_flow(flow)
    layers, bad = _read_overlays(flow, overlays) if isinstance(root, LDict) else ([], [])
    findings += bad
    combos = [[o] for o in layers] + ([layers] if len(layers) > 1 else [])
    seen = {str(f) for f in findings}
    for combo in combos:
        names, files = tuple(o.name for o in combo), {o.path for o in combo}
        for f in _overlaid(flow, combo):
            if str(f) not in seen:
                seen.add(str(f))
                findings += _with([f], names, files)
    rank = {"error": 0, "warning": 1, "note": 2}
    ordered = sorted(dict.fromkeys(findings), key=lambda f: (
        f.problem.path != name, f.problem.path, f.problem.line, f.problem.col, rank[f.level],
        f.problem.message))
    return LintReport(name, tuple(ordered), flow, tuple(o.name for o in layers))
