"""`ivr graph`: the flow as a picture — Mermaid (always), Graphviz DOT, SVG (through `dot`).

Drawn: every node (menus as hexagons, services as boxes, transfers as parallelograms, end nodes
as circles), every human queue (cylinders) with its priority, DTMF keys and local intents as
solid edges, global intents as dashed edges through one "global intents" node (not one edge
per menu and intent), retries as a dotted loop on each menu, and where a menu goes when they
run out (both labelled by ivr.nlu.escalation, the rule the dialog follows).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import UsageError
from ..nlu.escalation import Rule
from .graphcheck import edges
from .model import Flow

__all__ = ["FORMATS", "render", "to_dot", "to_mermaid", "to_svg"]

FORMATS = ("mermaid", "dot", "svg")
_GLOBAL = "global intents"


@dataclass(frozen=True)
class _Box:
    id: str
    label: str
    kind: str  # menu | service | transfer | end | queue | global | announce


@dataclass(frozen=True)
class _Line:
    src: str
    dst: str
    label: str
    style: str  # solid | dashed | dotted


def _queue_id(name: str) -> str:
    return f"queue:{name}"


def _model(flow: Flow) -> tuple[list[_Box], list[_Line]]:
    """Boxes and lines, in a stable order, shared by every format."""
    boxes: list[_Box] = []
    lines: list[_Line] = []
    rule = Rule.of(flow.settings)
    if flow.announcement:
        boxes.append(_Box("announcement", "announcement", "announce"))
        lines.append(_Line("announcement", flow.start, "", "solid"))
    for nid, node in flow.nodes.items():
        boxes.append(_Box(nid, f"{nid}\n({node.type})", node.type or "unknown"))
        for e in edges(flow, nid):
            if e.kind == "dtmf":
                lines.append(_Line(nid, e.target, f"key {e.label}", "solid"))
            elif e.kind == "intent":
                lines.append(_Line(nid, e.target, f"says {e.label}", "solid"))
            elif e.kind == "next":
                lines.append(_Line(nid, e.target, "next", "solid"))
            elif e.kind == "step":
                lines.append(_Line(nid, e.target, e.label, "solid"))
        if node.type == "menu":
            again = rule.retry_label()
            if again:
                lines.append(_Line(nid, nid, again, "dotted"))
            after = rule.label()
            target = node.on_fail or _queue_id(flow.settings.fallback_queue)
            lines.append(_Line(nid, target, after, "dotted"))
        if node.type == "transfer":
            prio = flow.queue_priority(node).name.lower()
            lines.append(_Line(nid, _queue_id(node.queue or flow.settings.fallback_queue),
                               prio, "solid"))
    globals_ = [(iid, i.target) for iid, i in flow.intents.items() if i.is_global]
    menus = [nid for nid, n in flow.nodes.items() if n.type == "menu"]
    if globals_ and menus:
        boxes.append(_Box(_GLOBAL, "global intents\n(said at any menu)", "global"))
        lines += [_Line(nid, _GLOBAL, "says", "dashed") for nid in menus]
        lines += [_Line(_GLOBAL, target, "" if iid == target else iid, "dashed")
                  for iid, target in globals_]
    used = {ln.dst for ln in lines} | {ln.src for ln in lines}
    for name, level in flow.queues.items():
        if _queue_id(name) in used:
            boxes.append(_Box(_queue_id(name), f"queue {name}\n{level.name.lower()}", "queue"))
    known = {b.id for b in boxes}
    for ln in lines:  # unknown targets (a flow with errors) still show, marked
        if ln.dst not in known:
            boxes.append(_Box(ln.dst, f"{ln.dst}\n(unknown)", "unknown"))
            known.add(ln.dst)
    return boxes, lines


def _mid(name: str) -> str:
    """A Mermaid id: n_<node>, q_<queue>, g_intents (no clash with keywords like `end`)."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]", lambda m: f"_{ord(m.group()):x}_", text)

    if name == _GLOBAL:
        return "g_intents"
    if name.startswith("queue:"):
        return "q_" + safe(name[6:])
    return "n_" + safe(name)


def _mtext(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


_MSHAPE = {"menu": "{{%s}}", "service": "[%s]", "transfer": "[/%s/]", "end": "((%s))",
           "queue": "[(%s)]", "global": "([%s])", "announce": ">%s]", "unknown": "[%s]"}
_MARROW = {"solid": "-->", "dashed": "-.->", "dotted": "-.->"}


def to_mermaid(flow: Flow) -> str:
    """A Mermaid flowchart (renders on GitHub and in most Markdown viewers)."""
    boxes, lines = _model(flow)
    suffix = f" + overlays {', '.join(flow.overlays)}" if flow.overlays else ""
    out = ["flowchart LR", f"  %% flow {flow.name}{suffix}"]
    out += [f"  {_mid(b.id)}{_MSHAPE[b.kind] % _mtext(b.label)}" for b in boxes]
    for ln in lines:
        arrow = _MARROW[ln.style] + (f"|{_mtext(ln.label)}|" if ln.label else "")
        out.append(f"  {_mid(ln.src)} {arrow} {_mid(ln.dst)}")
    out += ["  classDef menu fill:#fff4cc,stroke:#b38f00",
            "  classDef transfer fill:#e0ecff,stroke:#3a6fd8",
            "  classDef queue fill:#eeeeee,stroke:#666666",
            "  classDef unknown fill:#ffd6d6,stroke:#c00000"]
    for kind in ("menu", "transfer", "queue", "unknown"):
        ids = [_mid(b.id) for b in boxes if b.kind == kind]
        if ids:
            out.append(f"  class {','.join(ids)} {kind}")
    return "\n".join(out) + "\n"


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DSHAPE = {
    "menu": 'shape=hexagon style=filled fillcolor="#fff4cc"',
    "service": "shape=box",
    "transfer": 'shape=parallelogram style=filled fillcolor="#e0ecff"',
    "end": "shape=doublecircle",
    "queue": 'shape=cylinder style=filled fillcolor="#eeeeee"',
    "global": "shape=ellipse style=dashed",
    "announce": "shape=note",
    "unknown": 'shape=box style=filled fillcolor="#ffd6d6"',
}


def to_dot(flow: Flow) -> str:
    """Graphviz DOT text."""
    boxes, lines = _model(flow)
    title = flow.name + (f" + {', '.join(flow.overlays)}" if flow.overlays else "")
    out = [f"digraph {_dq(flow.name)} {{", "  rankdir=LR;",
           f"  label={_dq(title)}; labelloc=t; fontname=Helvetica;",
           "  node [fontname=Helvetica fontsize=11];",
           "  edge [fontname=Helvetica fontsize=9];"]
    out += [f"  {_dq(b.id)} [label={_dq(b.label)} {_DSHAPE[b.kind]}];" for b in boxes]
    for ln in lines:
        attrs = [f"label={_dq(ln.label)}"] if ln.label else []
        if ln.style != "solid":
            attrs.append(f"style={ln.style}")
        out.append(f"  {_dq(ln.src)} -> {_dq(ln.dst)} [{' '.join(attrs)}];")
    return "\n".join(out) + "\n}\n"


def to_svg(flow: Flow, *, dot_cmd: str = "dot", timeout: float = 60.0) -> str:
    """SVG drawn by Graphviz `dot` (UsageError if it is not installed)."""
    exe = shutil.which(dot_cmd)
    if exe is None:
        raise UsageError(f"Graphviz '{dot_cmd}' is not installed: use --format mermaid or dot "
                         "(or install graphviz)")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=to_dot(flow), capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise UsageError(f"Graphviz took over {timeout:g} s; use --format mermaid") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise UsageError(f"Graphviz failed: {why}")
    return done.stdout


def render(flow: Flow, fmt: str) -> str:
    """The picture in one of FORMATS."""
    if fmt == "mermaid":
        return to_mermaid(flow)
    if fmt == "dot":
        return to_dot(flow)
    if fmt == "svg":
        return to_svg(flow)
    raise UsageError(f"unknown graph format '{fmt}' (one of {', '.join(FORMATS)})")
