"""Proposing accept/confirm thresholds from labelled replays.

Samples are the matcher-decided turns that carry a label (`labelled_turns`): the intent they
should have routed to, or none for out-of-scope callers. Each is re-scored from what was heard
at the node where it was decided, so the thresholds in force during the replay do not matter.

For an accept threshold `t`, out of all labelled turns: *right* is the share accepted with the
right intent, a *false accept* one accepted with a wrong intent (or accepted at all when
nothing should be routed) — a caller sent somewhere wrong without being asked. The proposed
accept threshold routes the most turns right without asking while keeping false accepts at
or below `max_false_accept`; of thresholds doing equally well, the highest (the data shows
no gain from going lower, so the room is kept in reserve). Below it, the confirm threshold
decides between asking ("You want to …, right?") and reprompting: the proposal is the one
making the fewest mistakes — confirming a wrong intent, or reprompting a right one —
preferring the current value, then the higher one, on ties. The flow's `margin` is kept as it is.

A proposal needs `MIN_SAMPLES` labelled turns, `MIN_NEGATIVES` of them turns that must not
be accepted as heard; nodes with fewer use the global proposal. The flow format holds one
global pair of thresholds, so `write_thresholds` writes that pair.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..call import Hotline
from ..errors import UsageError
from ..flow import Flow, load_flow
from ..flow.model import Settings
from ..flow.yamlpos import LDict, load_located, pos_of
from .metrics import intent_targets, run_labels
from .runner import CallRun

__all__ = [
    "MIN_NEGATIVES", "MIN_SAMPLES", "Calibration", "Point", "Proposal", "Sample", "calibrate",
    "collect_samples", "format_calibration", "sweep", "write_thresholds",
]

MIN_SAMPLES = 10
"""Labelled turns needed before proposing thresholds for a scope."""
MIN_NEGATIVES = 3
"""Of those, turns that must not be accepted as heard (out of scope, or top intent wrong)."""
_GRID = tuple(round(0.20 + 0.01 * i, 2) for i in range(80))  # 0.20 .. 0.99


@dataclass(frozen=True)
class Sample:
    """One labelled, matcher-decided turn, re-scored."""

    node: str
    """Where it was decided."""
    expected: str | None
    """The right intent (None: out of scope)."""
    top: str | None
    """The best candidate."""
    score: float
    """Its confidence."""
    margin: float
    """Its lead over the runner-up."""

    @property
    def top_right(self) -> bool:
        """Routing to the best candidate would be right."""
        return self.expected is not None and self.top == self.expected


@dataclass(frozen=True)
class Point:
    """The trade-off at one accept threshold (shares of all labelled turns)."""

    accept: float
    """The threshold."""
    right: float
    """Accepted, right intent."""
    false_accept: float
    """Accepted, wrong intent or out of scope."""
    confirmed: float
    """Asked to confirm (below accept, at or above confirm)."""

    def row(self) -> tuple[float, float, float, float]:
        """As a tuple for the curve picture."""
        return (self.accept, self.right, self.false_accept, self.confirmed)


@dataclass(frozen=True)
class Proposal:
    """Thresholds proposed for one scope ("global" or a node id)."""

    scope: str
    """"global" or the node."""
    samples: int
    """Labelled turns."""
    negatives: int
    """Of which must not be accepted as heard."""
    accept: float | None
    """Proposed accept threshold (None: not enough data, or no threshold meets the limit)."""
    confirm: float | None
    """Proposed confirm threshold."""
    note: str = ""
    """Why nothing was proposed, if so."""


@dataclass(frozen=True)
class Calibration:
    """What `ivr calibrate` found."""

    current: Settings
    """The flow's thresholds now."""
    max_false_accept: float
    """The limit asked for."""
    overall: Proposal
    """The global proposal."""
    nodes: tuple[Proposal, ...]
    """Per node with labelled turns."""
    curve: tuple[Point, ...]
    """The accept-threshold trade-off (confirm at the proposed or current value)."""


def collect_samples(runs: Sequence[CallRun], flow: Flow) -> list[Sample]:
    """The labelled matcher turns of the runs, re-scored at the node they were decided at."""
    hotline, targets = Hotline(flow), intent_targets(flow)
    out = []
    for run in runs:
        for lab in run_labels(run, targets):
            if not (lab.matcher and lab.node in flow.nodes):
                continue
            scores = hotline.matcher(run.lang).score(lab.text, flow.intents_at(lab.node))
            top = scores.top if scores.normalized and scores.top and scores.top.score > 0 else None
            out.append(Sample(lab.node, lab.expected, top.intent if top else None,
                              top.score if top else 0.0, scores.margin if top else 0.0))
    return out


def _accepted(s: Sample, accept: float, margin: float) -> bool:
    return s.top is not None and s.score >= accept and s.margin >= margin


def sweep(samples: Sequence[Sample], confirm: float, margin: float,
          grid: Sequence[float] = _GRID) -> list[Point]:
    """The trade-off at each accept threshold of `grid`, confirming from `confirm` up."""
    n = len(samples) or 1
    out = []
    for t in grid:
        acc = [s for s in samples if _accepted(s, t, margin)]
        asked = [s for s in samples if not _accepted(s, t, margin) and s.top is not None
                 and s.score >= confirm]
        right = sum(s.top_right for s in acc)
        out.append(Point(t, right / n, (len(acc) - right) / n, len(asked) / n))
    return out


def _confirm_for(samples: Sequence[Sample], accept: float, margin: float,
                 current: float) -> float:
    rest = [s for s in samples if not _accepted(s, accept, margin)]

    def mistakes(c: float) -> int:
        return sum((s.top is not None and s.score >= c) != s.top_right for s in rest)

    options = [g for g in _GRID if g <= accept]
    best = min(mistakes(c) for c in options)
    tied = [c for c in options if mistakes(c) == best]
    return current if round(current, 2) in tied else max(tied)


def _propose(scope: str, samples: Sequence[Sample], s: Settings, limit: float) -> Proposal:
    negatives = sum(not x.top_right for x in samples)
    if len(samples) < MIN_SAMPLES or negatives < MIN_NEGATIVES:
        return Proposal(scope, len(samples), negatives, None, None,
                        f"not enough data (need {MIN_SAMPLES} labelled turns, "
                        f"{MIN_NEGATIVES} that must not be accepted)")
    feasible = [p for p in sweep(samples, 0.0, s.margin, _GRID[30:])
                if p.false_accept <= limit]
    if not feasible:
        return Proposal(scope, len(samples), negatives, None, None,
                        f"no accept threshold keeps false accepts at or below {limit:.1%}")
    best = max(p.right for p in feasible)
    accept = max(p.accept for p in feasible if p.right == best)
    confirm = _confirm_for(samples, accept, s.margin, s.confirm)
    return Proposal(scope, len(samples), negatives, accept, confirm)


def calibrate(runs: Sequence[CallRun], flow: Flow, max_false_accept: float) -> Calibration:
    """Thresholds proposed from a replayed, labelled suite."""
    samples = collect_samples(runs, flow)
    s = flow.settings
    overall = _propose("global", samples, s, max_false_accept)
    by_node: dict[str, list[Sample]] = {}
    for x in samples:
        by_node.setdefault(x.node, []).append(x)
    nodes = tuple(_propose(n, xs, s, max_false_accept) for n, xs in sorted(by_node.items()))
    confirm = overall.confirm if overall.confirm is not None else s.confirm
    return Calibration(s, max_false_accept, overall, nodes,
                       tuple(sweep(samples, confirm, s.margin, _GRID[30:])))


def _table(cal: Calibration) -> list[str]:
    marks = {round(cal.current.accept, 2): "<- now"}
    if cal.overall.accept is not None:
        marks[cal.overall.accept] = ("<- proposed" if cal.overall.accept not in marks
                                     else "<- now, proposed")
    lines = ["  accept  right   false accept  confirmed"]
    for p in cal.curve:
        key = round(p.accept, 2)
        if round(key * 100) % 5 == 0 or key in marks:
            lines.append(f"  {p.accept:5.2f}  {p.right:6.1%}  {p.false_accept:8.1%}     "
                         f"{p.confirmed:6.1%}  {marks.get(key, '')}".rstrip())
    return lines


def format_calibration(cal: Calibration) -> str:
    """The proposal, the trade-off table and the per-node view, for people."""
    o, s = cal.overall, cal.current
    lines = [f"calibration from {o.samples} labelled turns ({o.negatives} that must not be "
             f"accepted as heard); false accepts at most {cal.max_false_accept:.1%}",
             f"  now       accept {s.accept:.2f}  confirm {s.confirm:.2f}  "
             f"(margin {s.margin:.2f}, kept)"]
    if o.accept is None or o.confirm is None:
        lines.append(f"  proposed  nothing: {o.note}")
    else:
        none = "  (no confirm tier: below accept, asking would be wrong more often than right)"
        lines.append(f"  proposed  accept {o.accept:.2f}  confirm {o.confirm:.2f}"
                     f"{none if o.confirm >= o.accept else ''}")
    lines.append("trade-off (shares of all labelled turns; confirm at the proposed value):")
    lines.extend(_table(cal))
    lines.append("per node:")
    for p in cal.nodes:
        what = (f"accept {p.accept:.2f}  confirm {p.confirm:.2f}" if p.accept is not None
                and p.confirm is not None else f"uses the global proposal: {p.note}")
        lines.append(f"  {p.scope:<22} {p.samples:>4} turns  {what}")
    return "\n".join(lines)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def write_thresholds(flow_path: str | Path, accept: float, confirm: float) -> list[str]:
    """Write the two thresholds into the flow file, changing only those numbers.

    Returns what changed, e.g. ["accept 0.80 -> 0.74"]. The edited file is checked by loading
    it before it replaces the original.

    Raises:
        UsageError: the file has no `settings:` mapping with both keys, or the edit would not
            load.
    """
    path = Path(flow_path)
    root, _ = load_located(path)
    settings = root.get("settings") if isinstance(root, LDict) else None
    if not isinstance(settings, LDict) or not {"accept", "confirm"} <= set(settings):
        raise UsageError(f"{path}: no 'settings:' with 'accept' and 'confirm' to edit; add "
                         "them first")
    lines = path.read_text("utf-8").splitlines(keepends=True)
    changes = []
    for key, value in (("accept", accept), ("confirm", confirm)):
        line, col = pos_of(settings[key])
        text = lines[line - 1]
        m = _NUMBER.match(text, col - 1)
        if m is None:
            raise UsageError(f"{path}:{line}:{col}: '{key}' is not a plain number; edit by hand")
        if float(m.group()) != round(value, 2):
            lines[line - 1] = f"{text[:m.start()]}{value:.2f}{text[m.end():]}"
            changes.append(f"{key} {m.group()} -> {value:.2f}")
    tmp = path.with_name(f".{path.name}.calibrated")
    tmp.write_text("".join(lines), "utf-8")
    try:
        load_flow(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return changes

