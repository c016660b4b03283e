"""The JUnit XML report CI systems read: one testcase per call, grouped by script file.

A failed call is a `<failure>` listing every unmet expectation with its turn; a call that could
not be played is an `<error>`; a known failure (`xfail`) is `<skipped>` with its reason, and so
is a call whose script expects nothing (`unchecked`: it proves nothing, so it is not a pass).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .runner import CallRun

__all__ = ["junit_xml"]

_SKIPPED = ("xfail", "unchecked")
"""Statuses reported as `<skipped>`: nothing was shown to pass."""


def _case(suite: ET.Element, run: CallRun) -> None:
    source = run.script.source.rpartition(":")[0] or run.script.source
    case = ET.SubElement(suite, "testcase", classname=Path(source).stem,
                         name=run.script.call_id, file=source, time=f"{run.seconds:.4f}")
    if run.status == "fail":
        first = run.failures[0]
        el = ET.SubElement(case, "failure", type="expectation",
                           message=f"{len(run.failures)} expectation(s) not met: {first}")
        el.text = "\n".join(str(f) for f in run.failures)
    elif run.status == "error":
        ET.SubElement(case, "error", type="not_played", message=run.error or "error")
    elif run.status == "xfail":
        ET.SubElement(case, "skipped", message=f"known failure: {run.script.xfail}")
    elif run.status == "unchecked":
        ET.SubElement(case, "skipped", message="unchecked: the script expects nothing of "
                                               "this call")
    elif run.status == "xpass":
        out = ET.SubElement(case, "system-out")
        out.text = f"known failure passes now; remove its 'xfail': {run.script.xfail}"


def junit_xml(runs: Sequence[CallRun], name: str = "ivr") -> str:
    """The report as an XML string."""
    root = ET.Element("testsuites", name=name)
    groups: dict[str, list[CallRun]] = {}
    for run in runs:
        groups.setdefault(run.script.source.rpartition(":")[0] or run.script.source,
                          []).append(run)
    for source, members in groups.items():
        suite = ET.SubElement(
            root, "testsuite", name=source, tests=str(len(members)),
            failures=str(sum(r.status == "fail" for r in members)),
            errors=str(sum(r.status == "error" for r in members)),
            skipped=str(sum(r.status in _SKIPPED for r in members)),
            time=f"{sum(r.seconds for r in members):.4f}")
        for run in members:
            _case(suite, run)
    root.set("tests", str(len(runs)))
    root.set("failures", str(sum(r.status == "fail" for r in runs)))
    root.set("errors", str(sum(r.status == "error" for r in runs)))
    root.set("skipped", str(sum(r.status in _SKIPPED for r in runs)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

