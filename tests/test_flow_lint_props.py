"""Hypothesis-generated flows: lint finds every missing target, unreachable node and trap.

Flows are drawn at random, written as YAML files and linted through `lint_flow`, exactly as
`ivr lint` does; the findings are compared with a slow, obvious reference computed from the
same drawn structure (reachability by repeated search, traps by fixed-point iteration).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flow import LintReport, lint_flow

KEYS = "0123456789*#"
TYPES = ("menu", "service", "transfer", "end")


@dataclass
class Drawn:
    """A flow as plain data, before it becomes YAML."""

    types: dict[str, str]
    dtmf: dict[str, dict[str, str]] = field(default_factory=dict)
    on_fail: dict[str, str] = field(default_factory=dict)
    next: dict[str, str] = field(default_factory=dict)
    local: dict[str, list[str]] = field(default_factory=dict)
    intents: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> (target, global)

    def to_yaml(self) -> str:
        nodes: dict[str, Any] = {}
        for nid, kind in self.types.items():
            node: dict[str, Any] = {"type": kind, "prompt": {"en": f"This is {nid}."}}
            if kind == "transfer":
                node["queue"] = "general"
            for key, table in (("dtmf", self.dtmf), ("on_fail", self.on_fail),
                               ("next", self.next), ("intents", self.local)):
                if nid in table:
                    node[key] = table[nid]
            nodes[nid] = node
        intents = {iid: {"target": target, "global": glob, "label": {"en": f"go {iid}"},
                         "phrases": {"en": [f"{iid} please"]}}
                   for iid, (target, glob) in self.intents.items()}
        flow = {"flow": "drawn", "languages": ["en"], "start": "n0",
                "queues": {"general": {"priority": "normal"}},
                "prompts": {k: {"en": "{label}?"} for k in
                            ("confirm", "reprompt", "no_input", "handoff")},
                "confirm_words": {"yes": {"en": ["yes"]}, "no": {"en": ["no"]}},
                "intents": intents, "nodes": nodes}
        return yaml.safe_dump(flow, allow_unicode=True, sort_keys=False)


# -- the reference: slow and obvious ------------------------------------------------------------
def _targets(d: Drawn, nid: str) -> list[str]:
    kind, out = d.types[nid], []
    if kind == "menu":
        out += list(d.dtmf.get(nid, {}).values())
        out += [d.intents[i][0] for i in d.local.get(nid, []) if i in d.intents]
        out += [t for t, glob in d.intents.values() if glob]
        out += [d.on_fail[nid]] if nid in d.on_fail else []
    elif kind == "service" and nid in d.next:
        out.append(d.next[nid])
    return out


def _reach(d: Drawn, start: str) -> set[str]:
    seen = {start}
    while True:
        more = {t for n in seen for t in _targets(d, n) if t in d.types} - seen
        if not more:
            return seen
        seen |= more


def _bottom_traps(d: Drawn) -> set[frozenset[str]]:
    good = {n for n, k in d.types.items() if k in ("transfer", "end")
            or (k == "service" and n not in d.next)
            or any(t not in d.types for t in _targets(d, n))}
    while True:
        more = {n for n in d.types if n not in good and any(t in good for t in _targets(d, n))}
        if not more:
            break
        good |= more
    out = set()
    for v in set(d.types) - good:
        r = _reach(d, v)
        if all(v in _reach(d, u) for u in r):
            out.add(frozenset(r))
    return out


def _missing(d: Drawn) -> list[str]:
    refs = [t for n in d.types for t in (
        *d.dtmf.get(n, {}).values(),
        *([d.on_fail[n]] if n in d.on_fail else []), *([d.next[n]] if n in d.next else []))]
    refs += [t for t, _ in d.intents.values()]
    return sorted(t for t in refs if t not in d.types)


# -- reading lint's findings -------------------------------------------------------------------
def _found(report: LintReport) -> dict[str, Any]:
    traps: set[frozenset[str]] = set()
    missing, unreachable = [], set()
    for f in report.findings:
        msg = f.problem.message
        if f.code == "cycle":
            traps.add(frozenset(msg.split(": ", 1)[1].split(";")[0].split(" → ")))
        elif f.code == "dead-end":
            traps.add(frozenset(re.findall(r"menu '([^']+)'", msg)[:1]))
        elif "loop forever" in msg:
            traps.add(frozenset(msg.split("caller: ", 1)[1].split(" → ")))
        elif f.code == "unreachable":
            unreachable.add(re.findall(r"node '([^']+)'", msg)[0])
        missing += re.findall(r"unknown node '([^']+)'", msg)
    return {"traps": traps, "missing": sorted(missing), "unreachable": unreachable}


@st.composite
def drawn_flows(draw: st.DrawFn) -> Drawn:
    n = draw(st.integers(2, 9))
    ids = [f"n{i}" for i in range(n)]
    ghosts = ["ghost_a", "ghost_b"]
    target = st.sampled_from(ids + ghosts) if draw(st.booleans()) else st.sampled_from(ids)
    types = {"n0": "menu", **{nid: draw(st.sampled_from(TYPES)) for nid in ids[1:]}}
    d = Drawn(types)
    for iid in [f"i{k}" for k in range(draw(st.integers(0, 3)))]:
        d.intents[iid] = (draw(target), draw(st.booleans()))
    for nid, kind in types.items():
        if kind == "menu":
            keys = draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True))
            d.dtmf[nid] = {k: draw(target) for k in keys}
            if draw(st.booleans()):
                d.on_fail[nid] = draw(target)
            use_local: bool = draw(st.booleans())
            if d.intents and use_local:
                d.local[nid] = draw(st.lists(st.sampled_from(sorted(d.intents)), max_size=2,
                                             unique=True))
        elif kind == "service" and draw(st.booleans()):
            d.next[nid] = draw(target)
    return d


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp) / "drawn.yaml"


def _lint(d: Drawn, path: Path) -> LintReport:
    path.write_text(d.to_yaml(), "utf-8")
    return lint_flow(path)


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn_flows())
def test_lint_agrees_with_the_reference(scratch: Path, d: Drawn) -> None:
    found = _found(_lint(d, scratch))
    assert found["missing"] == _missing(d)
    assert found["unreachable"] == set(d.types) - _reach(d, "n0")
    assert found["traps"] == _bottom_traps(d)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_ring=st.integers(1, 4), ring_types=st.lists(st.sampled_from(("menu", "service")),
                                                      min_size=4, max_size=4),
       ghost_key=st.sampled_from("123"), orphans=st.integers(1, 3))
def test_injected_defects_are_all_found(scratch: Path, n_ring: int, ring_types: list[str],
                                        ghost_key: str, orphans: int) -> None:
    # A healthy flow: a root menu whose keys lead to services, and an agent on failure.
    d = Drawn({"n0": "menu", "s1": "service", "s2": "service", "s3": "service",
               "agent": "transfer"})
    d.dtmf["n0"] = {"1": "s1", "2": "s2", "3": "s3", "0": "agent"}
    d.on_fail["n0"] = "agent"
    d.intents["i1"] = ("s1", False)
    d.local["n0"] = ["i1"]
    assert not [f for f in _lint(d, scratch).findings if f.level != "note"]
    # Inject: a missing target, orphan nodes, and a ring reached by key 9 with no way out.
    d.dtmf["n0"][ghost_key] = "ghost_node"
    for k in range(orphans):
        d.types[f"orphan{k}"] = "end"
    ring = [f"r{k}" for k in range(n_ring)]
    for k, nid in enumerate(ring):
        d.types[nid] = ring_types[k]
        nxt = ring[(k + 1) % n_ring]
        if ring_types[k] == "menu":
            d.dtmf[nid] = {"1": nxt}
        else:
            d.next[nid] = nxt
    d.dtmf["n0"]["9"] = ring[0]
    found = _found(_lint(d, scratch))
    assert "ghost_node" in found["missing"]
    assert {f"orphan{k}" for k in range(orphans)} <= found["unreachable"]
    assert frozenset(ring) in found["traps"]
