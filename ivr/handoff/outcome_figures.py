"""The floor's call figures over a window, from the call-outcome log (`ivr.handoff.outcomes`).

* containment: calls the engine finished itself (a business node reached) / calls;
* transfers by reason: calls a human took (handed off, or failed and handed off), per reason;
* navigation accuracy: labelled calls (a QA script named the node they should reach) that
  reached it / labelled calls, with the label count (None when no call is labelled);
* busiest nodes: the nodes calls ended at (the business node when contained), most first.

The desk's supervisor page, its JSON and its `/metrics` all read these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .outcomes import KINDS, CallOutcome

__all__ = ["DEFAULT_TOP", "DEFAULT_WINDOW_S", "CallFigures", "call_figures"]

DEFAULT_WINDOW_S = 3600.0
"""The supervisor's window: the last hour."""

DEFAULT_TOP = 8
"""How many of the busiest nodes are shown."""

Tally = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class CallFigures:
    """What the engines did with the calls of one window."""

    window_s: float
    """The window (seconds up to now)."""
    calls: int
    """Calls that ended in the window."""
    by_kind: Tally
    """Calls per outcome kind, every kind (contained, handed_off, caller_hung_up, failed)."""
    containment: float | None
    """Contained / calls; None when no call ended."""
    transfers: Tally
    """Calls handed to a human (handed off or failed) per reason, most first."""
    labelled: int
    """Calls with a QA label (the node their script expects)."""
    navigated: int
    """Labelled calls that reached their expected node."""
    navigation_accuracy: float | None
    """Navigated / labelled; None when no call is labelled."""
    busiest: Tally
    """Nodes calls ended at, most first (at most the top N)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (`/supervisor.json`'s "calls")."""
        return {
            "window_s": self.window_s, "calls": self.calls, "by_kind": dict(self.by_kind),
            "containment": self.containment,
            "transfers": [{"reason": r, "calls": n} for r, n in self.transfers],
            "navigation": {"labelled": self.labelled, "reached": self.navigated,
                           "accuracy": self.navigation_accuracy},
            "busiest": [{"node": node, "calls": n} for node, n in self.busiest],
        }


def _most_first(counts: Counter[str], top: int | None = None) -> Tally:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(ranked if top is None else ranked[:top])


def call_figures(outcomes: Iterable[CallOutcome], *, window_s: float = DEFAULT_WINDOW_S,
                 top: int = DEFAULT_TOP) -> CallFigures:
    """The figures of `outcomes` (the window's calls; see the module doc)."""
    calls = list(outcomes)
    kinds = Counter(o.kind for o in calls)
    transfers = Counter(o.reason or "-" for o in calls if o.kind in ("handed_off", "failed"))
    labelled = [o for o in calls if o.expected_node is not None]
    navigated = sum(1 for o in labelled if o.navigated)
    return CallFigures(
        window_s=window_s, calls=len(calls), by_kind=tuple((k, kinds.get(k, 0)) for k in KINDS),
        containment=kinds["contained"] / len(calls) if calls else None,
        transfers=_most_first(transfers), labelled=len(labelled), navigated=navigated,
        navigation_accuracy=navigated / len(labelled) if labelled else None,
        busiest=_most_first(Counter(o.node for o in calls if o.node), max(0, top)),
    )
