"""The flow as a graph: where each node can lead, what is reachable, where callers get stuck.

An edge is anything that moves a call on: a DTMF key, an intent understood at a menu (its
local ones and every global one), a menu's `on_fail`, a service node's `next`. A node is an
exit when the call is served or handed over there (service without `next`, transfer, end).
Edges to unknown nodes count as exits here: they are reported once, by the loader, not again as
a trap. A trap is a set of nodes from which no exit can be reached — a menu with no edges at
all (a dead end) or a cycle with no edge leading out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import Flow
from .steps import Authenticate, Branch

__all__ = ["Edge", "Trap", "after_misses", "edges", "is_exit", "miss_loops", "reachable", "sccs",
           "traps"]


@dataclass(frozen=True)
class Edge:
    """One way a call moves from a node to another."""

    source: str
    """From this node."""
    target: str
    """To this node (possibly unknown)."""
    kind: str
    """dtmf | intent (local) | global | fail (on_fail) | next | step (a branch, or where
    authentication fails to)."""
    label: str
    """The key, the intent id, or the kind."""


@dataclass(frozen=True)
class Trap:
    """Nodes a caller cannot leave except by failing into the fallback queue."""

    nodes: tuple[str, ...]
    """A dead end: one menu. A cycle: a closed walk through all its nodes, from the first in
    the file (the return to it left out)."""
    cycle: bool
    """True for a cycle, False for a dead end."""


def edges(flow: Flow, nid: str) -> list[Edge]:
    """Every edge out of a node, declared order (targets may be unknown)."""
    node = flow.nodes[nid]
    out: list[Edge] = []
    if node.type == "menu":
        out += [Edge(nid, t, "dtmf", k) for k, t in node.dtmf.items()]
        for iid in flow.intents_at(nid):
            kind = "intent" if iid in node.intents else "global"
            out.append(Edge(nid, flow.intents[iid].target, kind, iid))
        if node.on_fail:
            out.append(Edge(nid, node.on_fail, "fail", "on_fail"))
    elif node.type == "service":
        for step in node.steps:
            if isinstance(step, Branch):
                c = step.cond
                test = {"truthy": c.var, "falsy": f"not {c.var}"}.get(c.op, f"{c.var} {c.op} "
                                                                         f"{c.value}")
                out += [Edge(nid, t, "step", f"if {test}" if t == step.then else "else")
                        for t in (step.then, step.otherwise) if t]
            elif isinstance(step, Authenticate) and step.on_fail:
                out.append(Edge(nid, step.on_fail, "step", "auth failed"))
        if node.next:
            out.append(Edge(nid, node.next, "next", "next"))
    return out


def is_exit(flow: Flow, nid: str) -> bool:
    """The call is served or handed over here (or leads somewhere unknown, reported elsewhere)."""
    node = flow.nodes[nid]
    if node.type not in ("menu", "service") or (node.type == "service" and not node.next):
        return True  # transfer, end, or a bad type (reported by the loader)
    return any(e.target not in flow.nodes for e in edges(flow, nid))


def _successors(flow: Flow) -> dict[str, list[str]]:
    return {nid: list(dict.fromkeys(e.target for e in edges(flow, nid) if e.target in flow.nodes))
            for nid in flow.nodes}


def reachable(flow: Flow, start: str | None = None) -> set[str]:
    """Nodes a call can reach from `start` (default: the flow's start)."""
    begin = flow.start if start is None else start
    if begin not in flow.nodes:
        return set()
    succ = _successors(flow)
    seen, todo = {begin}, deque([begin])
    while todo:
        for nxt in succ[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def sccs(nodes: Iterable[str], succ: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            if i == 0 and v not in index:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            children = succ.get(v, [])
            while i < len(children):
                w = children[i]
                i += 1
                if w not in index:
                    work[-1] = (v, i)
                    work.append((w, 0))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    comp: list[str] = []
                    while not comp or comp[-1] != v:
                        comp.append(stack.pop())
                        on_stack.discard(comp[-1])
                    out.append(comp)
    return out


def _path(a: str, b: str, comp: set[str], succ: Mapping[str, list[str]]) -> list[str]:
    """The shortest walk from `a` to `b` (at least one step) inside `comp`, without `a`."""
    prev: dict[str, str] = {}
    todo = deque([a])
    while todo:
        v = todo.popleft()
        for w in succ[v]:
            if w not in comp or w in prev:
                continue
            prev[w] = v
            if w == b:
                walk = [b]
                while prev[walk[-1]] != a:
                    walk.append(prev[walk[-1]])
                return walk[::-1]
            todo.append(w)
    return [b]  # pragma: no cover - a component is strongly connected


def _tour(first: str, order: list[str], comp: set[str],
          succ: Mapping[str, list[str]]) -> tuple[str, ...]:
    """A closed walk from `first` through every node of the component (without the return)."""
    walk = [first]
    for v in order:
        if v not in walk:
            walk += _path(walk[-1], v, comp, succ)
    back = _path(walk[-1], first, comp, succ)
    return tuple(walk + back[:-1])


def traps(flow: Flow) -> list[Trap]:
    """Every dead end and exit-less cycle (reachable or not), in file order."""
    succ = _successors(flow)
    pred: dict[str, list[str]] = {nid: [] for nid in flow.nodes}
    for v, ws in succ.items():
        for w in ws:
            pred[w].append(v)
    can_exit = {nid for nid in flow.nodes if is_exit(flow, nid)}
    todo = deque(can_exit)
    while todo:
        for p in pred[todo.popleft()]:
            if p not in can_exit:
                can_exit.add(p)
                todo.append(p)
    trapped = [nid for nid in flow.nodes if nid not in can_exit]
    found: list[Trap] = []
    for comp in sccs(trapped, succ):
        members = set(comp)
        if any(w not in members for v in comp for w in succ[v]):
            continue  # leads into another trap, which is the one reported
        first = min(comp, key=lambda n: (flow.nodes[n].line, n))
        if len(comp) == 1 and first not in succ[first]:
            found.append(Trap((first,), cycle=False))
        else:
            order = sorted(comp, key=lambda n: (flow.nodes[n].line, n))
            found.append(Trap(_tour(first, order, members, succ), cycle=True))
    return sorted(found, key=lambda t: (flow.nodes[t.nodes[0]].line, t.nodes[0]))


def after_misses(flow: Flow, nid: str) -> str | None:
    """The menu a caller who is never understood at menu `nid` waits at next: its `on_fail`,
    through service nodes' `next`. None: the call is handed over or ends on the way."""
    cur = flow.nodes[nid].on_fail
    seen: set[str] = set()
    while cur is not None and cur in flow.nodes and cur not in seen:
        node = flow.nodes[cur]
        if node.type == "menu":
            return cur
        if node.type != "service" or not node.next:
            return None
        seen.add(cur)
        cur = node.next
    return None  # unknown node or a loop of services: reported by the loader


def miss_loops(flow: Flow) -> list[tuple[str, ...]]:
    """Rings of menus a caller who only misses goes round for ever, each once, from its first
    menu in the file (the return to it left out); in file order."""
    nxt = {nid: after_misses(flow, nid) for nid, n in flow.nodes.items() if n.type == "menu"}
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for nid in nxt:
        walk: list[str] = []
        cur: str | None = nid
        while cur is not None and cur not in walk:
            walk.append(cur)
            cur = nxt.get(cur)
        if cur is None:
            continue
        ring = walk[walk.index(cur):]
        first = min(ring, key=lambda n: (flow.nodes[n].line, n))
        at = ring.index(first)
        found.setdefault(frozenset(ring), tuple(ring[at:] + ring[:at]))
    return sorted(found.values(), key=lambda r: (flow.nodes[r[0]].line, r[0]))
