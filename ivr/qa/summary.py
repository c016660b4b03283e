"""A suite run as the JSON report, as text for people, and compared with a previous report.

The JSON report (`ivr test --json`) is the contract the other reports and `--baseline` read:
`{"version", "flow", "suite", "checked", "metrics", "confusion", "calls": [...], "baseline"?}`,
one record per call with its status (pass, fail, xfail, xpass, unchecked, error), failures,
masked turns, path, outcome and timings. A call whose script expects nothing is `unchecked`,
never `pass`; `checked` is false when no call was checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .metrics import Confusion, Metrics, Rate
from .redact import describe_input
from .runner import CallRun

__all__ = [
    "REPORT_VERSION", "Change", "Regression", "compare", "fmt_pct", "format_failures",
    "format_metrics", "format_regression", "load_report", "nothing_checked", "outcome_text",
    "suite_json",
]

REPORT_VERSION = 1
"""Bumped when the JSON report changes incompatibly."""

_COMPARED = ("navigation_accuracy", "intent_accuracy", "confirm_rate", "reprompt_rate",
             "containment_rate", "transfer_rate", "latency_p50", "latency_p95", "decode_rtf")


def fmt_pct(value: float | None) -> str:
    """A rate as a percentage with one decimal ("n/a" when there was nothing to count)."""
    return "n/a" if value is None else f"{value * 100:.1f}%"


def fmt_ms(value: float | None) -> str:
    """Seconds as whole milliseconds."""
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def outcome_text(outcome: Mapping[str, Any] | None) -> str:
    """An outcome record as a short phrase."""
    if not outcome:
        return "not played"
    if outcome.get("type") == "node":
        return f"node {outcome.get('node')}"
    if outcome.get("type") == "handoff":
        return f"handoff to {outcome.get('queue')} ({outcome.get('reason')})"
    return f"hangup at {outcome.get('node')} ({outcome.get('reason')})"


def _call_record(run: CallRun) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "call": run.script.call_id, "source": run.script.source, "lang": run.lang,
        "status": run.status, "xfail": run.script.xfail, "error": run.error,
        "seconds": round(run.seconds, 4),
        "inputs": [describe_input(i) for i in run.script.inputs],
        "failures": [f.as_dict() for f in run.failures],
    }
    if run.result is None:
        return {**rec, "turns": [], "path": [], "outcome": None, "trace": [], "latencies": [],
                "audio_seconds": 0.0, "decode_seconds": 0.0}
    res = run.result  # masked by the runner
    return {**rec, "turns": [t.as_dict() for t in res.turns], "path": list(res.path),
            "outcome": res.outcome.as_dict(), "trace": [e.as_dict() for e in res.trace],
            "latencies": [round(x, 4) for x in res.latencies],
            "audio_seconds": round(res.audio_seconds, 3),
            "decode_seconds": round(res.decode_seconds, 4)}


def nothing_checked(runs: Sequence[CallRun]) -> bool:
    """No call in the suite had an expectation to check (errors aside): it proves nothing."""
    return not any(r.status not in ("unchecked", "error") for r in runs)


def suite_json(runs: Sequence[CallRun], metrics: Metrics, conf: Confusion, *, flow: str,
               suite: Sequence[str]) -> dict[str, Any]:
    """The JSON report of a suite run (`checked`: false when no call had an expectation)."""
    return {"version": REPORT_VERSION, "flow": flow, "suite": list(suite),
            "checked": not nothing_checked(runs),
            "metrics": metrics.as_dict(), "confusion": conf.as_dict(),
            "calls": [_call_record(r) for r in runs]}


def load_report(path: str | Path) -> dict[str, Any]:
    """A JSON report written by `ivr test --json`.

    Raises:
        UsageError: unreadable, not JSON, or not such a report.
    """
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: the baseline is not JSON ({exc})") from None
    if not (isinstance(data, dict) and isinstance(data.get("calls"), list)
            and isinstance(data.get("metrics"), dict)):
        raise UsageError(f"{path}: not an 'ivr test --json' report (no calls and metrics)")
    return data


@dataclass(frozen=True)
class Change:
    """A call that ended differently from the baseline."""

    call: str
    """Call id."""
    before: str
    """Outcome and status then."""
    after: str
    """Outcome and status now."""


@dataclass(frozen=True)
class Regression:
    """What changed since a baseline report."""

    changed: tuple[Change, ...]
    """Calls whose outcome, path or status changed."""
    added: tuple[str, ...]
    """Calls not in the baseline."""
    removed: tuple[str, ...]
    """Baseline calls no longer in the suite."""
    deltas: Mapping[str, tuple[float | None, float | None]]
    """Metric -> (baseline, now)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (the report's `baseline` object)."""
        return {"changed": [{"call": c.call, "before": c.before, "after": c.after}
                            for c in self.changed],
                "added": list(self.added), "removed": list(self.removed),
                "metrics": {k: {"before": b, "after": a,
                                "delta": None if a is None or b is None else round(a - b, 4)}
                            for k, (b, a) in self.deltas.items()}}


def _scalar(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if isinstance(value, int | float) else None


def _state(rec: Mapping[str, Any]) -> tuple[str, str]:
    where = outcome_text(rec.get("outcome")) if not rec.get("error") else "error"
    return f"{where} [{rec.get('status')}]", json.dumps(rec.get("path"))


def compare(now: Mapping[str, Any], before: Mapping[str, Any]) -> Regression:
    """What changed between two JSON reports (`now` against the `before` baseline)."""
    old = {str(r.get("call")): r for r in before["calls"] if isinstance(r, dict)}
    new = {str(r.get("call")): r for r in now["calls"] if isinstance(r, dict)}
    changed = []
    for call, rec in new.items():
        if call in old and _state(old[call]) != _state(rec):
            changed.append(Change(call, _state(old[call])[0], _state(rec)[0]))
    reasons = sorted(set(now["metrics"].get("transfer_by_reason", {}))
                     | set(before["metrics"].get("transfer_by_reason", {})))
    deltas = {k: (_scalar(before["metrics"], k), _scalar(now["metrics"], k)) for k in _COMPARED}
    for reason in reasons:
        b = before["metrics"].get("transfer_by_reason", {}).get(reason, {"value": 0.0})
        a = now["metrics"].get("transfer_by_reason", {}).get(reason, {"value": 0.0})
        deltas[f"transfer_rate[{reason}]"] = (_scalar({"x": b}, "x"), _scalar({"x": a}, "x"))
    return Regression(tuple(changed), tuple(c for c in new if c not in old),
                      tuple(c for c in old if c not in new), deltas)


def _delta_text(key: str, before: float | None, after: float | None) -> str:
    if key.startswith("latency"):
        shown = f"{fmt_ms(before)} -> {fmt_ms(after)}"
        scale, unit = 1000.0, " ms"
    elif key == "decode_rtf":
        shown = f"{before if before is None else f'{before:.3f}'} -> " \
                f"{after if after is None else f'{after:.3f}'}"
        scale, unit = 1.0, ""
    else:
        shown, scale, unit = f"{fmt_pct(before)} -> {fmt_pct(after)}", 100.0, " pts"
    if before is None or after is None:
        return f"  {key:<32} {shown}"
    return f"  {key:<32} {shown}  ({(after - before) * scale:+.{3 if scale == 1 else 1}f}{unit})"


def format_regression(reg: Regression) -> str:
    """The baseline comparison for people."""
    lines = [f"since the baseline: {len(reg.changed)} calls changed, {len(reg.added)} new, "
             f"{len(reg.removed)} gone"]
    lines.extend(f"  {c.call}: {c.before} -> {c.after}" for c in reg.changed)
    lines.extend(f"  new  {c}" for c in reg.added)
    lines.extend(f"  gone {c}" for c in reg.removed)
    lines.append("metrics (baseline -> now):")
    lines.extend(_delta_text(k, b, a) for k, (b, a) in reg.deltas.items())
    return "\n".join(lines)


def format_failures(run: CallRun) -> str:
    """A call that did not pass: each failed expectation, with the turn's input and what was
    heard and decided there."""
    tag = {"fail": "FAIL", "xfail": "XFAIL", "xpass": "XPASS", "unchecked": "UNCHK",
           "error": "ERROR"}[run.status]
    lines = [f"{tag:<5} {run.script.call_id} [{run.lang}]  {run.script.source}"]
    if run.error:
        lines.append(f"      could not play: {run.error}")
    if run.script.xfail:
        note = "" if run.status == "xfail" else " — it passes now: remove the 'xfail' mark"
        lines.append(f"      known failure: {run.script.xfail}{note}")
    last: tuple[int | None, str] | None = None
    for f in run.failures:
        if (f.turn, f.at) != last:
            last = (f.turn, f.at)
            where = f"turn {f.turn}" if f.turn is not None else "call"
            lines.append(f"      {where}: {f.at}" if f.at else f"      {where}:")
        lines.append(f"        {f.what}: expected {f.expected}, got {f.got}")
    return "\n".join(lines)


def _rate(label: str, rate: Rate, unit: str) -> str:
    return f"{label:<20} {fmt_pct(rate.value):>6}  ({rate.count}/{rate.total} {unit})"


def format_metrics(m: Metrics, wall: float | None = None) -> str:
    """The suite figures for people."""
    s = m.statuses
    took = f"  in {wall:.1f} s" if wall is not None else ""
    by = ", ".join(f"{k} {r.count}" for k, r in m.transfer_by_reason.items()) or "none"
    rtf = "n/a" if m.rtf is None else f"{m.rtf:.3f}"
    return "\n".join([
        f"{m.calls} calls: {s.get('pass', 0)} passed, {s.get('fail', 0)} failed, "
        f"{s.get('xfail', 0)} known failures, {s.get('xpass', 0)} unexpectedly passed, "
        f"{s.get('unchecked', 0)} unchecked (no expectations), {s.get('error', 0)} errors"
        f"{took}",
        _rate("navigation accuracy", m.navigation, "calls"),
        _rate("intent accuracy", m.intent, "labelled turns"),
        _rate("confirm rate", m.confirm, "matcher turns"),
        _rate("reprompt rate", m.reprompt, "matcher turns"),
        _rate("containment", m.containment, "calls"),
        _rate("transfer rate", m.transfer, "calls") + f": {by}",
        f"{'latency':<20} p50 {fmt_ms(m.latency_p50)}, p95 {fmt_ms(m.latency_p95)}  "
        f"({m.latency_turns} spoken turns)",
        f"{'decode RTF':<20} {rtf}  ({m.audio_seconds:.1f} s of audio)",
    ])
