"""`ivr lint`: everything the loader checks, then what only the whole graph shows.

Levels: an error breaks calls (unknown target, dead end, cycle with no way out, the same phrase
in two intents); a warning will likely hurt callers (unreachable node, intents alike enough to
misroute); a note is worth knowing (a menu relying on the fallback queue). Overlays are checked
laid over the flow, one at a time and all together, whether or not they are active now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ..errors import FlowError, FlowErrors, FlowProblem
from ..nlu.escalation import Rule
from ..types import LANGS
from .checks import bad_id, escape
from .confusable import confusions, empty_phrases
from .graphcheck import miss_loops, reachable, traps
from .loader import build_flow, load_flow
from .model import Flow
from .overlay import (
    Overlay,
    listed_missing,
    load_flow_with_overlays,
    merge_patch,
    overlay_files,
    read_overlays,
)
from .stepcheck import step_findings
from .yamlpos import LDict, LList, Located, Pos, load_located

__all__ = ["Finding", "LintReport", "check_flow", "lint_flow", "load_linted"]

Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    """One thing lint found, at a place."""

    level: Level
    """error | warning | note."""
    code: str
    """Short kind: flow, dead-end, cycle, miss-loop, unreachable, unused-intent, no-on-fail,
    confusable, same-phrase, filler-phrase, label, skills."""
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
    return Finding(level, code, replace(p, message=escape(message)))


def _traps(flow: Flow, w: _Where) -> list[Finding]:
    """Where a caller can be kept for ever: dead ends, cycles with no way out, miss loops."""
    out: list[Finding] = []
    fallback = flow.settings.fallback_queue
    found, rings = traps(flow), miss_loops(flow)
    forever = "a caller who is never understood goes round it for ever"
    for trap in found:
        first = trap.nodes[0]
        if trap.cycle and all(flow.nodes[n].type == "service" for n in trap.nodes):
            continue  # the loader reports loops of service nodes
        if trap.cycle:
            shown = " → ".join((*trap.nodes, first))
            end = (forever if any(set(r) <= set(trap.nodes) for r in rings) else
                   f"callers can only fail into the fallback queue '{fallback}'")
            msg = f"cycle with no way out: {shown}; no key, intent or on_fail leads out, so {end}"
            out.append(_at(w.key("nodes", first), "error", "cycle", msg))
        else:
            msg = (f"menu '{first}' is a dead end: no DTMF key, intent or on_fail leads anywhere; "
                   f"callers can only fail into the fallback queue '{fallback}'")
            out.append(_at(w.key("nodes", first), "error", "dead-end", msg))
    trapped = {n for trap in found for n in trap.nodes}
    for ring in rings:
        if set(ring) <= trapped:
            continue  # the cycle with no way out is the finding
        shown = " → ".join((*ring, ring[0]))
        where = w.value("nodes", ring[0], "on_fail") or w.key("nodes", ring[0])
        out.append(_at(where, "error", "miss-loop",
                       f"on_fail loop: {shown}; {forever} and never reaches a person (end it at "
                       "a transfer node, or leave an on_fail out to hand off to the fallback "
                       f"queue '{fallback}')"))
    return out


def _graph(flow: Flow, w: _Where) -> list[Finding]:
    out = _traps(flow, w)
    fallback = flow.settings.fallback_queue
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
    after = Rule.of(flow.settings).describe()
    for nid, node in flow.nodes.items():
        if node.type == "menu" and not node.on_fail and nid in seen:
            out.append(_at(w.key("nodes", nid), "note", "no-on-fail",
                           f"menu '{nid}' has no on_fail: {after}, callers go to the "
                           f"fallback queue '{fallback}'"))
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


def _ids(flow: Flow, w: _Where) -> list[Finding]:
    """Names that are not plain ids (an invisible or bidi character, say); references to
    them are the loader's."""
    out: list[Finding] = []
    for section, names in (("nodes", flow.nodes), ("intents", flow.intents),
                           ("queues", flow.queues)):
        for name in names:
            why = bad_id(name)
            if why:
                out.append(_at(w.key(section, name), "error", "id", f"{section[:-1]} {why}"))
    return out


def _skills(flow: Flow, w: _Where) -> list[Finding]:
    """A queue that asks for a language the flow does not speak never gets a caller."""
    out: list[Finding] = []
    for queue, skills in flow.queue_skills.items():
        for lang in sorted(s for s in skills if s in LANGS and s not in flow.languages):
            where = w.value("queues", queue, "skills") or w.key("queues", queue)
            out.append(_at(where, "warning", "skills",
                           f"queue '{queue}' needs language skill '{lang}', but the flow's "
                           f"callers speak {', '.join(flow.languages)}: no caller reaches it"))
    return out


def _steps(flow: Flow, w: _Where) -> list[Finding]:
    """Variables, secrets and identity in node steps (ivr.flow.stepcheck)."""
    return [_at(w.value("nodes", f.node, "steps", f.index) or w.key("nodes", f.node), "error",
                f.code, f.message) for f in step_findings(flow)]


def check_flow(flow: Flow) -> list[Finding]:
    """The whole-flow checks (ids, skills, graph, phrases, steps) on a built flow; the
    loader's come separately."""
    w = _Where(flow)
    return (_ids(flow, w) + _skills(flow, w) + _graph(flow, w) + _phrases(flow, w)
            + _steps(flow, w))


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


def lint_flow(path: str | Path, overlays: Iterable[str | Path] = (), *,
              layered: bool = True) -> LintReport:
    """Check a flow file, the overlays it lists and `overlays` (`layered=False`: the file
    alone); never raises for a bad flow."""
    name = str(path)
    try:
        root, early = load_located(path)
        flow, problems = build_flow(root, name)  # raises for a flow over the size limits
    except FlowError as exc:
        return LintReport(name, (Finding("error", "flow", exc.problem),), None)
    findings = _errors(early + problems) + check_flow(flow)
    layered = layered and isinstance(root, LDict)
    layers, bad = _read_overlays(flow, overlays) if layered else ([], [])
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


def load_linted(path: str | Path, overlays: Iterable[str | Path] = (), *,
                now: datetime | str | None = None, region: str | None = None,
                layered: bool = True) -> Flow:
    """The flow as the engine runs it: only what `ivr lint` passes.

    The file and its overlays (those it lists and `overlays`, whatever their window) are linted
    first; warnings and notes pass, errors are refused. Then the overlays active at `now` in
    `region` are laid over it (see `load_flow_with_overlays`). `layered=False` lints and
    returns the file alone, overlays neither checked nor applied (as `ivr test` plays it).

    Raises:
        FlowErrors: every lint error, each as file:line:col: message.
    """
    report = lint_flow(path, overlays, layered=layered)
    errors = [f.problem for f in report.findings if f.level == "error"]
    if errors:
        raise FlowErrors(errors)
    if not layered:
        return load_flow(path)
    return load_flow_with_overlays(path, overlays, now=now, region=region)
