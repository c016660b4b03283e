"""Suite figures: navigation and intent accuracy, confirm/reprompt, containment, transfers by
reason, latency percentiles, decode speed — and the intent confusion matrix.

Definitions (counts are over the calls or turns named; a rate with nothing to count is None):

* navigation accuracy — calls with an expectation on where they end (outcome, node, queue,
  reason or path) that met all of those; a call that could not be played counts as missed;
* intent accuracy — labelled turns (see `labelled_turns`) whose decided intent was the label;
* confirm and reprompt rates — matcher-decided turns that asked to confirm / reprompted;
* containment — played calls that ended without a human (at a business node, or hung up);
* transfer rate — played calls handed to a queue, overall and per handoff reason;
* latency p50/p95 — end of speech to decision, over every spoken turn (`CallResult.latencies`);
* decode real-time factor — decode seconds over audio seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..flow.model import Flow
from ..types import TurnKind
from .expect import MATCHER_DECISIONS, NAVIGATION_KEYS, Label, labelled_turns
from .runner import CallRun

__all__ = ["NONE", "Confusion", "Metrics", "Rate", "compute_metrics", "confusion",
           "confusion_of", "intent_targets", "percentile", "run_labels"]

NONE = "(none)"
"""The confusion matrix's name for "no intent"."""


@dataclass(frozen=True)
class Rate:
    """A fraction with what it counts."""

    count: int
    """Items that qualified."""
    total: int
    """Items counted."""

    @property
    def value(self) -> float | None:
        """count / total, None when there is nothing to count."""
        return self.count / self.total if self.total else None

    def as_dict(self) -> dict[str, Any]:
        """JSON shape: value (rounded to 4 places), count, total."""
        v = self.value
        return {"value": None if v is None else round(v, 4), "count": self.count,
                "total": self.total}


@dataclass(frozen=True)
class Metrics:
    """The figures for one suite run."""

    calls: int
    """Calls in the suite."""
    statuses: Mapping[str, int]
    """pass / fail / xfail / xpass / unchecked / error -> calls."""
    navigation: Rate
    """Calls that ended where expected."""
    intent: Rate
    """Labelled turns decided right."""
    confirm: Rate
    """Matcher turns that asked to confirm."""
    reprompt: Rate
    """Matcher turns that reprompted."""
    containment: Rate
    """Calls finished without a human."""
    transfer: Rate
    """Calls handed to a human."""
    transfer_by_reason: Mapping[str, Rate]
    """Handoffs per reason, over all played calls."""
    latency_p50: float | None
    """Median seconds from end of speech to decision."""
    latency_p95: float | None
    """95th percentile of the same."""
    latency_turns: int
    """Spoken turns measured."""
    audio_seconds: float
    """Audio decoded."""
    decode_seconds: float
    """Time decoding it."""

    @property
    def rtf(self) -> float | None:
        """Decode real-time factor (below 1: faster than real time)."""
        return self.decode_seconds / self.audio_seconds if self.audio_seconds else None

    def as_dict(self) -> dict[str, Any]:
        """The `metrics` object of the JSON report."""
        def secs(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "calls": self.calls, **{k: self.statuses.get(k, 0) for k in _STATUSES},
            "navigation_accuracy": self.navigation.as_dict(),
            "intent_accuracy": self.intent.as_dict(),
            "confirm_rate": self.confirm.as_dict(), "reprompt_rate": self.reprompt.as_dict(),
            "containment_rate": self.containment.as_dict(),
            "transfer_rate": self.transfer.as_dict(),
            "transfer_by_reason": {k: r.as_dict() for k, r in self.transfer_by_reason.items()},
            "latency_p50": secs(self.latency_p50), "latency_p95": secs(self.latency_p95),
            "latency_turns": self.latency_turns, "audio_seconds": round(self.audio_seconds, 3),
            "decode_seconds": round(self.decode_seconds, 3), "decode_rtf": secs(self.rtf),
        }


_STATUSES = ("pass", "fail", "xfail", "xpass", "unchecked", "error")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None for no values.

    The one definition of "p50" / "p95" in the QA reports and the benchmarks alike: numpy's
    default (`method="linear"`), so p50 is the median, and a percentile moves smoothly with
    the values instead of jumping from one observed value to the next.
    """
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def intent_targets(flow: Flow) -> dict[str, str]:
    """Node -> the one intent that leads there (nodes reached by several intents left out)."""
    by_node: dict[str, list[str]] = {}
    for iid, intent in flow.intents.items():
        by_node.setdefault(intent.target, []).append(iid)
    return {node: ids[0] for node, ids in by_node.items() if len(ids) == 1}


def run_labels(run: CallRun, targets: Mapping[str, str]) -> list[Label]:
    """The labelled turns of a played call (none for a call that could not be played)."""
    return labelled_turns(run.script, run.result, targets) if run.result is not None else []


def _navigation(runs: Sequence[CallRun]) -> Rate:
    checked = [r for r in runs if NAVIGATION_KEYS & set(r.script.expect)]
    met = [r for r in checked if r.result is not None
           and not any(f.turn is None and f.key in NAVIGATION_KEYS for f in r.failures)]
    return Rate(len(met), len(checked))


def compute_metrics(runs: Sequence[CallRun], flow: Flow) -> Metrics:
    """The figures for a suite run (see the module docstring for definitions)."""
    targets = intent_targets(flow)
    labels = [lab for r in runs for lab in run_labels(r, targets)]
    played = [r.result for r in runs if r.result is not None]
    decided = [t.decision for res in played for t in res.turns
               if t.decision in MATCHER_DECISIONS]
    handoffs = [res.outcome.reason or "unknown" for res in played
                if res.outcome.type == "handoff"]
    latencies = [x for res in played for x in res.latencies]
    return Metrics(
        calls=len(runs), statuses=Counter(r.status for r in runs),
        navigation=_navigation(runs),
        intent=Rate(sum(lab.got == lab.expected for lab in labels), len(labels)),
        confirm=Rate(decided.count(TurnKind.CONFIRM), len(decided)),
        reprompt=Rate(decided.count(TurnKind.REPROMPT), len(decided)),
        containment=Rate(len(played) - len(handoffs), len(played)),
        transfer=Rate(len(handoffs), len(played)),
        transfer_by_reason={k: Rate(n, len(played))
                            for k, n in sorted(Counter(handoffs).items())},
        latency_p50=percentile(latencies, 50), latency_p95=percentile(latencies, 95),
        latency_turns=len(latencies),
        audio_seconds=sum(res.audio_seconds for res in played),
        decode_seconds=sum(res.decode_seconds for res in played))


@dataclass(frozen=True)
class Confusion:
    """Expected intent (rows) against decided intent (columns), over labelled turns."""

    labels: tuple[str, ...]
    """Row and column names, intents sorted, `NONE` last."""
    counts: Mapping[tuple[str, str], int]
    """(expected, decided) -> turns."""

    def cell(self, expected: str, got: str) -> int:
        """Turns labelled `expected` that decided `got`."""
        return self.counts.get((expected, got), 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape: labels, and matrix[row = expected][column = decided]."""
        return {"labels": list(self.labels),
                "matrix": [[self.cell(e, g) for g in self.labels] for e in self.labels]}


def confusion_of(rows: Mapping[str, Mapping[str, int]]) -> Confusion:
    """A confusion matrix from counts per expected label (row) and decided label (column)."""
    names = ({e for e in rows} | {g for r in rows.values() for g in r}) - {NONE}
    counts = {(e, g): n for e, r in rows.items() for g, n in r.items() if n}
    return Confusion((*sorted(names), NONE), counts)


def confusion(runs: Sequence[CallRun], flow: Flow) -> Confusion:
    """The confusion matrix of a suite run."""
    targets = intent_targets(flow)
    pairs = Counter((lab.expected or NONE, lab.got or NONE)
                    for r in runs for lab in run_labels(r, targets))
    names = {n for pair in pairs for n in pair} - {NONE}
    return Confusion((*sorted(names), NONE), dict(pairs))
