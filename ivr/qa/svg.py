"""Pictures for the reports, as inline SVG text: the confusion matrix, the flow with how many
calls took each edge, and the calibration trade-off curve. No scripts, fonts or links: the
page that holds them works offline.

The flow picture is drawn here from `Flow` and the calls' paths on purpose (not from the
`ivr graph` exporter): nodes in columns by distance from the start node, edges as curves
whose width grows with the calls that took them; edges the flow defines but no call took are
drawn faint and dashed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from itertools import pairwise

from ..flow.model import Flow, NodeType
from .metrics import Confusion

__all__ = ["confusion_svg", "curve_svg", "flow_edges", "flow_svg"]

_FONT = "font-family='sans-serif' font-size='11'"
_TYPE_FILL: dict[NodeType | None, str] = {
    NodeType.MENU: "#dbe9f6", NodeType.SERVICE: "#dff3e3", NodeType.TRANSFER: "#fde8d7",
    NodeType.END: "#eeeeee"}


def _text(x: float, y: float, s: str, extra: str = "") -> str:
    return f"<text x='{x:.1f}' y='{y:.1f}' {_FONT} {extra}>{escape(s)}</text>"


def confusion_svg(conf: Confusion, title: str = "") -> str:
    """The confusion matrix: rows expected, columns decided, darker for more turns; `title`,
    if any, above it."""
    n, cell = len(conf.labels), 24
    left = 12 + 6.5 * max((len(s) for s in conf.labels), default=4)
    top = left + (20 if title else 0)
    width, height = left + n * cell + 20, top + n * cell + 30
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='confusion' width='{width:.0f}' "
           f"height='{height:.0f}' role='img' aria-label='intent confusion matrix'>"]
    if title:
        out.append(_text(10, 18, title, "style='font-size:14px'"))
    for i, name in enumerate(conf.labels):
        y = top + i * cell + cell / 2 + 4
        out.append(_text(left - 6, y, name, "text-anchor='end'"))
        x = left + i * cell + cell / 2 + 4
        out.append(_text(x, top - 6, name, f"transform='rotate(-60 {x:.1f} {top - 6:.1f})'"))
    for i, exp in enumerate(conf.labels):
        row = sum(conf.cell(exp, g) for g in conf.labels) or 1
        for j, got in enumerate(conf.labels):
            count = conf.cell(exp, got)
            share = count / row
            hue = "46,140,70" if i == j else "200,50,40"
            x, y = left + j * cell, top + i * cell
            out.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{cell}' height='{cell}' "
                       f"fill='rgba({hue},{0.08 + 0.85 * share if count else 0:.2f})' "
                       f"stroke='#ccc'><title>{escape(exp)} → {escape(got)}: {count}"
                       f"</title></rect>")
            if count:
                out.append(_text(x + cell / 2, y + cell / 2 + 4, str(count),
                                 "text-anchor='middle' data-cell='1'"))
    out.append(_text(left + n * cell / 2, height - 8, "decided", "text-anchor='middle'"))
    out.append("</svg>")
    return "".join(out)


def flow_edges(flow: Flow) -> set[tuple[str, str]]:
    """Every edge the flow defines: intents (at menus), keys, on_fail and next."""
    edges: set[tuple[str, str]] = set()
    for node in flow.nodes.values():
        targets: list[str | None] = [*node.dtmf.values(), node.on_fail, node.next]
        if node.type is NodeType.MENU:
            targets.extend(flow.intents[i].target for i in flow.intents_at(node.id))
        edges.update((node.id, t) for t in targets if t and t in flow.nodes)
    return edges


def _layers(flow: Flow, edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    nxt: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        nxt.setdefault(a, []).append(b)
    depth, frontier = {flow.start: 0}, [flow.start]
    while frontier:
        node = frontier.pop(0)
        for b in nxt.get(node, ()):
            if b not in depth:
                depth[b] = depth[node] + 1
                frontier.append(b)
    last = max(depth.values(), default=0) + 1
    return {n: depth.get(n, last) for n in flow.nodes}


def _edge(x1: float, y1: float, x2: float, y2: float, count: int, top: int) -> str:
    width = 1 + 6 * count / top if count else 1
    style = (f"stroke='#3a6fb0' stroke-width='{width:.1f}' stroke-opacity='0.75'" if count
             else "stroke='#bbb' stroke-width='1' stroke-dasharray='3 3'")
    if x2 > x1:
        mid = (x1 + x2) / 2
        d = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    else:  # same column or backwards: loop out to the right
        d = f"M{x1:.1f},{y1:.1f} C{x1 + 60:.1f},{y1:.1f} {x1 + 60:.1f},{y2:.1f} {x1:.1f},{y2:.1f}"
    return f"<path d='{d}' fill='none' {style}/>"


def flow_svg(flow: Flow, paths: Sequence[Sequence[str]]) -> str:
    """The flow's nodes and edges, each edge labelled with the calls that took it."""
    taken = Counter((a, b) for p in paths for a, b in pairwise(p))
    visits = Counter(n for p in paths for n in set(p))
    edges = flow_edges(flow) | set(taken)
    layer = _layers(flow, edges)
    columns: dict[int, list[str]] = {}
    for node in flow.nodes:
        columns.setdefault(layer[node], []).append(node)
    box_w, box_h, col_w, row_h = 190, 30, 330, 40
    rows = max(len(ns) for ns in columns.values())
    pos = {n: (20 + c * col_w, 20 + (rows - len(ns)) * row_h // 2 + r * row_h)
           for c, ns in columns.items() for r, n in enumerate(ns)}
    width = 20 + len(columns) * col_w
    height = 40 + rows * row_h
    top = max(taken.values(), default=1)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='flow' width='{width}' "
           f"height='{height}' role='img' aria-label='flow with calls per edge'>"]
    labels = []
    for a, b in sorted(edges, key=lambda e: (taken[e], e)):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        forward = layer[b] > layer[a]
        x1, x2 = xa + box_w, (xb if forward else xb + box_w)
        out.append(_edge(x1, ya + box_h / 2, x2, yb + box_h / 2, taken[(a, b)], top))
        if taken[(a, b)]:
            lx = x2 - 8 if forward else x1 + 48
            labels.append(_text(lx, yb + box_h / 2 - 3, str(taken[(a, b)]),
                                f"text-anchor='end' data-edge='{escape(a)}>{escape(b)}'"))
    for node, (x, y) in pos.items():
        kind = flow.nodes[node].type
        out.append(f"<rect x='{x}' y='{y}' width='{box_w}' height='{box_h}' rx='5' "
                   f"fill='{_TYPE_FILL.get(kind, '#eee')}' stroke='#888'>"
                   f"<title>{escape(node)} ({kind}): {visits[node]} calls</title></rect>")
        out.append(_text(x + 7, y + 19, node))
        out.append(_text(x + box_w - 7, y + 19, str(visits[node]),
                         f"text-anchor='end' font-weight='bold' data-node='{escape(node)}'"))
    out.extend(labels)
    out.append("</svg>")
    return "".join(out)


def curve_svg(rows: Sequence[tuple[float, float, float, float]], chosen: float,
              current: float) -> str:
    """The accept-threshold trade-off: for each threshold, the share of labelled turns routed
    right without asking, routed wrong without asking (false accepts), and confirmed."""
    w, h, pad = 520, 260, 40

    def at(t: float, v: float) -> tuple[float, float]:
        lo = min((r[0] for r in rows), default=0.5)
        return pad + (t - lo) / max(1e-9, 1.0 - lo) * (w - 2 * pad), h - pad - v * (h - 2 * pad)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='curve' width='{w}' height='{h}' "
           "role='img' aria-label='accept threshold trade-off'>",
           f"<rect x='{pad}' y='{pad}' width='{w - 2 * pad}' height='{h - 2 * pad}' "
           "fill='none' stroke='#999'/>"]
    series = (("right", 1, "#2e8c46"), ("false accept", 2, "#c83228"), ("confirmed", 3, "#888"))
    lo = min((r[0] for r in rows), default=0.5)
    for i in range(round(lo * 10), 11):
        x, _ = at(i / 10, 0)
        out.append(_text(x, h - pad + 13, f"{i / 10:.1f}", "text-anchor='middle'"))
    for v in (0.0, 0.5, 1.0):
        _, y = at(lo, v)
        out.append(_text(pad - 4, y + 4, f"{v:.0%}", "text-anchor='end'"))
    for k, (name, col, color) in enumerate(series):
        pts = " ".join("{:.1f},{:.1f}".format(*at(r[0], r[col])) for r in rows)
        out.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'/>")
        out.append(_text(pad + 10 + 120 * k, pad - 10, name, f"fill='{color}'"))
    for t, label in ((current, "now"), (chosen, "proposed")):
        x, _ = at(t, 0)
        out.append(f"<line x1='{x:.1f}' y1='{pad}' x2='{x:.1f}' y2='{h - pad}' stroke='#333' "
                   "stroke-dasharray='4 3'/>")
        out.append(_text(x + 3, h - pad - 6 - 12 * (label == "now"), f"{label} {t:.2f}"))
    out.append(_text(w / 2, h - 6, "accept threshold", "text-anchor='middle'"))
    out.append("</svg>")
    return "".join(out)
