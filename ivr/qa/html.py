"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

Every figure sits in an element with `data-metric` (and the exact JSON value in `data-value`),
so a browser test can read the rendered page and compare it with the JSON report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..flow.model import Flow
from ..textio import output_problem, write_output
from .expect import Failure, input_turns
from .metrics import Confusion, Metrics
from .redact import describe_input
from .runner import CallRun
from .summary import Regression, fmt_pct, nothing_checked, outcome_text
from .svg import confusion_svg, flow_svg

__all__ = ["render_html", "write_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#2e7d32}.fail,.error{color:#c62828;font-weight:bold}.xfail,.xpass,.unchecked{color:#9a6700}
.meta{color:#666;font-size:13px}.call{border:1px solid #ddd;border-radius:6px;padding:8px 12px;
margin:10px 0}.problem{color:#c62828}.figs{display:flex;gap:24px;flex-wrap:wrap}
tr.bad td{background:#fdecea}pre{font-size:11px;overflow-x:auto;background:#f7f7f7;padding:6px}
"""

_RATES = (("navigation_accuracy", "navigation accuracy", "calls"),
          ("intent_accuracy", "intent accuracy", "labelled turns"),
          ("confirm_rate", "confirm rate", "matcher turns"),
          ("reprompt_rate", "reprompt rate", "matcher turns"),
          ("containment_rate", "containment", "calls"),
          ("transfer_rate", "transfer rate", "calls"))


def _num(key: str, value: Any, shown: str) -> str:
    data = "" if value is None else f" data-value='{value}'"
    return f"<td class='num' data-metric='{escape(key)}'{data}>{escape(shown)}</td>"


def _metrics_table(m: dict[str, Any]) -> str:
    rows = [f"<tr><th>{label}</th>{_num(k, m[k], str(m[k]))}<td></td></tr>"
            for k, label in (("calls", "calls"), ("pass", "passed"), ("fail", "failed"),
                             ("xfail", "known failures (xfail)"),
                             ("xpass", "known failures that passed"),
                             ("unchecked", "unchecked (no expectations)"), ("error", "errors"))]
    for key, label, unit in _RATES:
        r = m[key]
        rows.append(f"<tr><th>{label}</th>{_num(key, r['value'], fmt_pct(r['value']))}"
                    f"<td>{r['count']}/{r['total']} {unit}</td></tr>")
    for reason, r in m["transfer_by_reason"].items():
        key = f"transfer_by_reason.{reason}"
        rows.append(f"<tr><th>&nbsp;&nbsp;by reason: {escape(reason)}</th>"
                    f"{_num(key, r['value'], fmt_pct(r['value']))}<td>{r['count']} calls</td></tr>")
    for key, label in (("latency_p50", "latency p50"), ("latency_p95", "latency p95")):
        v = m[key]
        shown = "n/a" if v is None else f"{v * 1000:.0f} ms"
        rows.append(f"<tr><th>{label}</th>{_num(key, v, shown)}"
                    f"<td>{m['latency_turns']} spoken turns</td></tr>")
    rtf = m["decode_rtf"]
    rows.append(f"<tr><th>decode real-time factor</th>"
                f"{_num('decode_rtf', rtf, 'n/a' if rtf is None else f'{rtf:.3f}')}"
                f"<td>{m['audio_seconds']:.1f} s of audio</td></tr>")
    return f"<table class='metrics'>{''.join(rows)}</table>"


def _regression(reg: Regression | None) -> str:
    if reg is None:
        return ""
    items = "".join(f"<li data-changed='{escape(c.call)}'><b>{escape(c.call)}</b>: "
                    f"{escape(c.before)} → {escape(c.after)}</li>" for c in reg.changed)
    deltas = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{b}</td><td class='num'>{a}"
                     f"</td></tr>" for k, (b, a) in reg.deltas.items())
    return (f"<h2>Since the baseline</h2><p>{len(reg.changed)} calls changed, "
            f"{len(reg.added)} new, {len(reg.removed)} gone.</p><ul>{items}</ul>"
            f"<table><tr><th>metric</th><th>baseline</th><th>now</th></tr>{deltas}</table>")


def _calls_table(runs: Sequence[CallRun]) -> str:
    rows = []
    for r in runs:
        out = outcome_text(r.result.outcome.as_dict()) if r.result else f"error: {r.error}"
        link = (f"<a href='#call-{escape(r.script.call_id)}'>{escape(r.script.call_id)}</a>"
                if r.status != "pass" else escape(r.script.call_id))
        rows.append(f"<tr data-call='{escape(r.script.call_id)}'><td>{link}</td>"
                    f"<td>{r.lang}</td><td class='{r.status}'>{r.status}</td>"
                    f"<td>{escape(out)}</td><td class='num'>{len(r.failures)}</td></tr>")
    return ("<table class='calls'><tr><th>call</th><th>lang</th><th>status</th>"
            f"<th>outcome</th><th>failures</th></tr>{''.join(rows)}</table>")


def _turn_rows(run: CallRun) -> list[str]:
    if run.result is None:
        return []
    res = run.result  # masked by the runner
    by_turn: dict[int | None, list[Failure]] = {}
    for f in run.failures:
        by_turn.setdefault(f.turn, []).append(f)
    rows = []
    for i, (item, turns) in enumerate(zip(run.script.inputs, input_turns(
            run.script.inputs, len(res.turns)), strict=True)):
        problems = "<br>".join(escape(f"{f.what}: expected {f.expected}, got {f.got}")
                               for f in by_turn.get(i + 1, ()))
        cls = " class='bad'" if problems else ""
        if not turns:
            rows.append(f"<tr{cls}><td>{i + 1}</td><td>{escape(describe_input(item))}</td>"
                        f"<td colspan='5'>not played</td><td class='problem'>{problems}</td></tr>")
        for k in turns:
            t = res.turns[k]
            rows.append(f"<tr{cls}><td>{i + 1}</td><td>{escape(describe_input(item))}</td>"
                        f"<td>{escape(t.heard or '(no input)')}</td><td>{t.decision}</td>"
                        f"<td>{escape(t.intent or '-')}</td><td class='num'>{t.confidence:.2f}"
                        f"</td><td>{escape(t.node)}</td><td class='problem'>"
                        f"{problems if k == turns[-1] else ''}</td></tr>")
    return rows


def _drilldown(run: CallRun) -> str:
    head = (f"<h3>{escape(run.script.call_id)} <span class='{run.status}'>{run.status}"
            f"</span></h3><p class='meta'>{escape(run.script.source)} · {run.lang}")
    if run.script.xfail:
        head += f" · known failure: {escape(run.script.xfail)}"
    head += "</p>"
    if run.error:
        head += f"<p class='problem'>could not play: {escape(run.error)}</p>"
    calls = "".join(f"<li class='problem'>{escape(f'{f.what}: expected {f.expected}, got {f.got}')}"
                    f"</li>" for f in run.failures if f.turn is None)
    table = ("<table><tr><th>#</th><th>caller</th><th>heard</th><th>decision</th>"
             "<th>intent</th><th>conf.</th><th>node after</th><th>expected</th></tr>"
             f"{''.join(_turn_rows(run))}</table>")
    tail = ""
    if run.result is not None:
        res = run.result  # masked by the runner
        trace = escape("\n".join(str(e) for e in res.trace))
        tail = (f"<p class='meta'>path {escape(' > '.join(res.path))} · outcome "
                f"{escape(str(res.outcome))}</p><details><summary>trace ({len(res.trace)} "
                f"steps)</summary><pre>{trace}</pre></details>")
    return (f"<section class='call' id='call-{escape(run.script.call_id)}' "
            f"data-call='{escape(run.script.call_id)}' data-status='{run.status}'>{head}"
            f"<ul>{calls}</ul>{table}{tail}</section>")


def render_html(runs: Sequence[CallRun], metrics: Metrics, conf: Confusion, flow: Flow, *,
                suite: Sequence[str], regression: Regression | None = None) -> str:
    """The whole page."""
    m = metrics.as_dict()
    failed = [r for r in runs if r.status != "pass"]
    paths = [r.result.path for r in runs if r.result is not None]
    verdict = ("NOTHING CHECKED" if nothing_checked(runs)
               else "passed" if all(r.ok for r in runs) else "FAILED")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ivr test: {escape(flow.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>ivr test: <span class='{'pass' if verdict == 'passed' else 'fail'}' "
        f"id='verdict'>{verdict}</span></h1><p class='meta'>flow {escape(flow.path)} · "
        f"suite {escape(' '.join(suite))}</p>"
        f"<h2>Metrics</h2>{_metrics_table(m)}{_regression(regression)}"
        "<h2>Intent confusion</h2><p class='meta'>Rows: the intent each labelled turn should "
        "have gone to; columns: what it decided.</p>"
        f"<div class='figs'>{confusion_svg(conf)}</div>"
        "<h2>Flow</h2><p class='meta'>Calls that took each edge (number by the arrow head) and "
        "reached each node (bold); dashed edges were not taken.</p>"
        f"<div class='figs'>{flow_svg(flow, paths)}</div>"
        f"<h2>Calls</h2>{_calls_table(runs)}"
        f"<h2>Calls that did not pass ({len(failed)})</h2>"
        f"{''.join(_drilldown(r) for r in failed) or '<p>None.</p>'}"
        "</body></html>\n")


def write_html(directory: str | Path, page: str) -> Path:
    """Write the page as DIR/index.html (DIR is created if missing); returns its path.

    Raises:
        UsageError: DIR is a file, or cannot be created or written (one line: why).
    """
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_problem(out, exc, "the HTML report into") from None
    return write_output(out / "index.html", page, what="the HTML report")
