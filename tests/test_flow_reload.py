"""Hot reload with real files: good changes replace the flow, bad ones keep the old one."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.errors import FlowErrors
from ivr.flow import Flow, FlowReloader

from .conftest import FLOWS

MINI = (FLOWS / "mini.yaml").read_text("utf-8")
GREETING = "How can I help you today?"


@pytest.fixture()
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(MINI, "utf-8")
    return path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def test_unchanged_file_gives_the_same_flow(flow_file: Path) -> None:
    r = FlowReloader(flow_file, check_every=0)
    assert r.current() is r.current()


def test_good_change_replaces_the_flow_for_new_calls_only(flow_file: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    r = FlowReloader(flow_file, check_every=0)
    in_progress: Flow = r.current()  # a call holds the flow it started with
    _edit(flow_file, GREETING, "Hello again.")
    with caplog.at_level(logging.INFO, logger="ivr.flow.reload"):
        fresh = r.current()
    assert fresh.nodes["root"].prompt["en"] == "Hello again."
    assert in_progress.nodes["root"].prompt["en"] == GREETING
    assert "reloaded" in caplog.text


def test_bad_change_keeps_the_old_flow_and_says_why_once(flow_file: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    r = FlowReloader(flow_file, check_every=0)
    old = r.current()
    _edit(flow_file, '"1": balance_inquiry', '"1": balance_inqury')
    with caplog.at_level(logging.WARNING, logger="ivr.flow.reload"):
        assert r.current() is old
        assert r.current() is old
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not reloaded" in warnings[0]
    assert f"{flow_file}:48:17: node 'root' dtmf '1': unknown node 'balance_inqury' (did you " \
           "mean 'balance_inquiry'?)" in warnings[0]
    _edit(flow_file, "balance_inqury", "balance_inquiry")  # fixed: taken at once
    _edit(flow_file, GREETING, "Fixed.")
    assert r.current().nodes["root"].prompt["en"] == "Fixed."


def test_lint_errors_refuse_but_warnings_pass(flow_file: Path) -> None:
    r = FlowReloader(flow_file, check_every=0)
    old = r.current()
    _edit(flow_file, "zh: [查余额, 查询余额,", "zh: [挂失, 查询余额,")
    assert r.current() is old  # "挂失" now in two intents: a lint error (the file itself loads)
    _edit(flow_file, "zh: [挂失, 查询余额,", "zh: [查余额, 查询余额,")
    _edit(flow_file, "    on_fail: human_agent\n", "    on_fail: human_agent\n  orphan:\n"
          "    type: end\n    prompt: {zh: 再见, en: Bye}\n")
    assert "orphan" in r.current().nodes  # unreachable: a warning, accepted


def test_deleted_file_keeps_the_old_flow(flow_file: Path) -> None:
    r = FlowReloader(flow_file, check_every=0)
    old = r.current()
    flow_file.unlink()
    assert r.current() is old


def test_no_good_flow_to_start_with(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MINI.replace("start: root", "start: rot"), "utf-8")
    with pytest.raises(FlowErrors, match="unknown node 'rot'"):
        FlowReloader(path)


def test_files_are_not_looked_at_more_often_than_asked(flow_file: Path) -> None:
    r = FlowReloader(flow_file, check_every=3600)
    old = r.current()
    _edit(flow_file, GREETING, "Not yet.")
    assert r.current() is old


def test_overlay_window_opening_and_closing_rebuilds(flow_file: Path) -> None:
    overlay = flow_file.parent / "notice.yaml"
    overlay.write_text("overlay: notice\nactive:\n  from: 2025-01-01T00:00:00Z\n"
                       "  until: 2025-01-02T00:00:00Z\nannouncement: {zh: 通知, en: Notice}\n",
                       "utf-8")
    now = [datetime(2024, 12, 31, 23, tzinfo=UTC)]
    r = FlowReloader(flow_file, [overlay], check_every=0, clock=lambda: now[0])
    assert r.current().overlays == ()
    now[0] += timedelta(hours=2)
    assert r.current().overlays == ("notice",)
    assert r.current().announcement["en"] == "Notice"
    _edit(overlay, "en: Notice", "en: Changed notice")  # an overlay file changes
    assert r.current().announcement["en"] == "Changed notice"
    now[0] += timedelta(days=1)
    assert r.current().overlays == ()


def test_many_threads_always_get_a_whole_flow(flow_file: Path) -> None:
    r = FlowReloader(flow_file, check_every=0)
    seen: set[str] = set()
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            for _ in range(20):
                seen.add(r.current().nodes["root"].prompt["en"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(3):
        _edit(flow_file, r.current().nodes["root"].prompt["en"], f"Version {k}.")
    for t in threads:
        t.join()
    assert errors == []
    assert seen <= {GREETING, "Version 0.", "Version 1.", "Version 2."}
    assert r.current().nodes["root"].prompt["en"] == "Version 2."
