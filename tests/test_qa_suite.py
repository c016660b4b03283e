"""The committed call suite (tests/calls) through `ivr test` with real Vosk decoding: green,
covering every business node in every language; its reports, the HTML page checked in a real
headless browser; and byte-identical traces over 100 replays of one recording."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ivr.call import Hotline, Speak
from ivr.cli import main
from ivr.flow import Flow
from ivr.qa.script import load_suite
from ivr.qa.summary import fmt_pct

from .conftest import BANK, FLOWS, ROOT

CALLS = ROOT / "tests" / "calls"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class SuiteRun:
    code: int
    out: str
    dir: Path
    report: dict[str, object]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    out = tmp_path_factory.mktemp("suite")
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        code = main(["test", str(CALLS), "--flow", str(BANK), "--jobs", "2",
                     "--json", str(out / "report.json"), "--junit", str(out / "junit.xml"),
                     "--html", str(out / "html"), "--queue", str(out / "queue.sqlite3")])
    report = json.loads((out / "report.json").read_text("utf-8"))
    return SuiteRun(code, text.getvalue(), out, report)


@pytest.mark.slow
def test_the_committed_suite_is_green(suite_run: SuiteRun) -> None:
    m = suite_run.report["metrics"]
    assert isinstance(m, dict)
    assert suite_run.code == 0, suite_run.out
    assert m["fail"] == 0 and m["error"] == 0
    assert m["calls"] >= 100
    assert m["audio_seconds"] > 40 and m["decode_rtf"] > 0  # real decoding happened
    assert m["latency_turns"] >= 28 and m["latency_p95"] < 2.0
    print(suite_run.out)  # the metrics, for `pytest -s`


def test_every_business_node_in_every_language(bank: Flow) -> None:
    business = set()  # where callers are routed (to the end of a service's `next`)
    for nid in {i.target for i in bank.intents.values()} | set(bank.nodes["root"].dtmf.values()):
        while bank.nodes[nid].next:
            nid = bank.nodes[nid].next  # type: ignore[assignment]
        business.add(nid)
    assert len(business) == 17
    text: dict[str, set[str]] = {"zh": set(), "en": set(), "ko": set()}
    audio: set[str] = set()
    for s in load_suite([CALLS]):
        outcome = s.expect.get("outcome", {})
        node = s.expect.get("node", outcome.get("node") if isinstance(outcome, dict) else None)
        if node in business and s.lang is not None:
            (audio if isinstance(s.inputs[0], Speak) else text[s.lang]).add(node)
    assert {lang: business - nodes for lang, nodes in text.items()} == {
        "zh": set(), "en": set(), "ko": set()}
    assert business - audio == set()


@pytest.mark.slow
def test_junit_report_has_one_case_per_call(suite_run: SuiteRun) -> None:
    root = ET.parse(suite_run.dir / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    calls = suite_run.report["calls"]
    assert isinstance(calls, list)
    assert len(cases) == len(calls) and root.get("failures") == "0"
    assert {c.get("name") for c in cases} == {c["call"] for c in calls}


@pytest.mark.slow
def test_handoffs_were_filed_with_masked_card_numbers(suite_run: SuiteRun) -> None:
    blob = b"".join(p.read_bytes() for p in suite_run.dir.glob("queue.sqlite3*"))
    assert b"ko-audio-fraud" in blob and b"en-card-number-to-agent" in blob
    assert b"4111 1111 1111 1111" not in blob and b"4111111111111111" not in blob


class _Metrics(HTMLParser):
    """Collects the text of every element carrying data-metric, and data-* marks."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, tuple[str | None, str]] = {}
        self.sections: list[str] = []
        self._open: tuple[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-metric"):
            self._open = (str(a["data-metric"]), a.get("data-value"))
            self.metrics[self._open[0]] = (self._open[1], "")
        if tag == "section" and a.get("data-status"):
            self.sections.append(str(a["data-status"]))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            key, value = self._open
            self.metrics[key] = (value, self.metrics[key][1] + data)

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixel-row byte patterns (not decoded)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    row = len(raw) // height
    return width, height, len({raw[i * row + 1:(i + 1) * row] for i in range(height)})


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_html_report_renders_and_shows_the_json_numbers(suite_run: SuiteRun,
                                                        tmp_path: Path) -> None:
    page = suite_run.dir / "html" / "index.html"
    html = page.read_text("utf-8")
    for fetch in ("<script", "<link", "<img", "src=", "url(", "@import"):
        assert fetch not in html  # self-contained: nothing to fetch
    shot = tmp_path / "out.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri())
    assert shot.is_file(), run.stderr
    width, height, patterns = _png_size_and_colours(shot)
    assert (width, height) == (1200, 2000) and patterns > 200  # drawn, not a blank page
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "class=\"confusion\"" in dom and "class=\"flow\"" in dom
    found = _Metrics()
    found.feed(dom)
    metrics = suite_run.report["metrics"]
    assert isinstance(metrics, dict)
    for key in ("navigation_accuracy", "intent_accuracy", "confirm_rate", "reprompt_rate",
                "containment_rate", "transfer_rate"):
        value, shown = found.metrics[key]
        assert value is not None and float(value) == metrics[key]["value"]
        assert shown == fmt_pct(metrics[key]["value"])
    for reason, rate in metrics["transfer_by_reason"].items():
        assert found.metrics[f"transfer_by_reason.{reason}"][1] == fmt_pct(rate["value"])
    assert found.metrics["calls"][1] == str(metrics["calls"])
    assert found.metrics["latency_p95"][1] == f"{metrics['latency_p95'] * 1000:.0f} ms"
    assert found.metrics["decode_rtf"][1] == f"{metrics['decode_rtf']:.3f}"
    assert len(found.sections) == metrics["calls"] - metrics["pass"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_html_drills_down_into_a_failed_call(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text('lang: en\ncalls:\n  - call: wrong\n    turns:\n'
                      '      - {say: "I lost my card", expect: {intent: fraud_report}}\n'
                      '      - {say: "hello"}\n    expect: {node: fraud_report}\n', "utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["test", str(script), "--flow", str(FLOWS / "mini.yaml"), "-j", "1",
                     "--html", str(tmp_path / "html")]) == 1
    dom = _chromium(tmp_path, "--dump-dom", (tmp_path / "html" / "index.html").as_uri()).stdout
    section = dom[dom.index("data-call=\"wrong\" data-status=\"fail\""):]
    assert "intent: expected fraud_report, got card_loss" in section
    assert "I lost my card" in section and "not played" in section  # turn 2 never played
    assert "final node: expected fraud_report, got card_loss" in section


@pytest.mark.slow
def test_same_audio_same_trace_100_times_out_of_100(bank: Flow) -> None:
    hotline = Hotline(bank)  # one model, loaded once, reused for every replay
    # a phone recording (8 kHz mu-law): decoding, resampling and routing all take part
    inputs = [Speak(str(ROOT / "samples" / "audio" / "ko_complaint_8k_mulaw.wav"))]

    def replay() -> bytes:
        r = hotline.run("determinism", "ko", inputs)
        return json.dumps({"trace": [e.as_dict() for e in r.trace],
                           "turns": [t.as_dict() for t in r.turns], "path": r.path,
                           "outcome": r.outcome.as_dict()}, ensure_ascii=False,
                          sort_keys=True).encode("utf-8")

    runs = [replay() for _ in range(100)]
    assert runs.count(runs[0]) == 100
    assert b"complaints" in runs[0] and b"\"source\": \"speech\"" in runs[0]
