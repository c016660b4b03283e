"""Overlays: merge rules, active windows and regions, the bank's typhoon and elderly modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.dialog import Dialog
from ivr.errors import FlowErrors, UsageError
from ivr.flow import Flow, apply_overlays, load_flow, load_flow_with_overlays, load_overlay
from ivr.flow.overlay import merge_patch, parse_time
from ivr.nlu import IntentMatcher
from ivr.types import Dtmf, Lang, Priority

from .conftest import BANK, FLOWS, ROOT

TYPHOON = ROOT / "flows" / "overlays" / "typhoon.yaml"
ELDERLY = ROOT / "flows" / "overlays" / "elderly.yaml"
CST = timezone(timedelta(hours=8))
DURING = datetime(2025, 9, 25, 10, 0, tzinfo=CST)
HOST = FLOWS / "overlay_host.yaml"


def _dialog(flow: Flow, lang: Lang = "en") -> tuple[Dialog, list[str]]:
    m = IntentMatcher({i: it.phrases[lang] for i, it in flow.intents.items()}, lang)
    d = Dialog(flow, lang, m, "call-1")
    return d, d.start()


def test_typhoon_applies_only_inside_its_window_and_regions() -> None:
    assert load_flow_with_overlays(BANK, [TYPHOON], DURING, "Guangdong").overlays == ("typhoon",)
    assert load_flow_with_overlays(BANK, [TYPHOON], DURING, "beijing").overlays == ()
    assert load_flow_with_overlays(BANK, [TYPHOON], DURING, None).overlays == ()
    before = datetime(2025, 9, 22, 23, 59, tzinfo=CST)
    assert load_flow_with_overlays(BANK, [TYPHOON], before, "hainan").overlays == ()
    end = datetime(2025, 10, 7, 0, 0, tzinfo=CST)  # `until` is exclusive
    assert load_flow_with_overlays(BANK, [TYPHOON], end, "hainan").overlays == ()
    assert load_flow_with_overlays(BANK, [TYPHOON], "2025-10-06T23:59:59+08:00",
                                   "hainan").overlays == ("typhoon",)


def test_typhoon_announces_then_routes_relief() -> None:
    flow = load_flow_with_overlays(BANK, [TYPHOON], DURING, "fujian")
    assert flow.queues["disaster_relief"] is Priority.HIGH
    assert flow.settings.fallback_queue == "disaster_relief"
    assert flow.nodes["credit_report"].prompt["en"].startswith("Late payments")
    d, prompts = _dialog(flow)
    assert prompts[0] == flow.announcement["en"] and prompts[1] == flow.nodes["root"].prompt["en"]
    assert d.trace[0].as_dict() == {"step": 0, "kind": "start", "node": "root", "flow":
                                    "bank_hotline", "lang": "en", "overlays": "typhoon"}
    assert d.trace[1].kind == "announcement"
    d.on_dtmf(Dtmf("8"))  # loan_deferral: verify, check, defer on the call (ivr.steps) ...
    assert d.node.id == "loan_deferral" and not d.done
    for _ in range(3):  # ... and a caller who cannot go through it goes to the relief team
        d.on_no_input()
    assert d.handoff is not None and d.handoff.queue == "disaster_relief"


def test_base_flow_trace_and_prompts_unchanged(bank: Flow) -> None:
    d, prompts = _dialog(bank)
    assert prompts == [bank.nodes["root"].prompt["en"]]
    assert dict(d.trace[0].data) == {"flow": "bank_hotline", "lang": "en"}


def test_elderly_mode() -> None:
    flow = load_flow_with_overlays(BANK, [ELDERLY])
    s = flow.settings
    assert (s.prompt_rate, s.no_input_seconds, s.max_retries) == (0.8, 10.0, 0)
    assert dict(flow.nodes["root"].dtmf) == {"1": "balance_inquiry", "2": "card_loss",
                                             "3": "fraud_report", "0": "elderly_service"}
    assert flow.nodes["root"].prompt["zh"].index("按1") < flow.nodes["root"].prompt["zh"].index(
        "直接说")  # the keypad is offered first
    d, _ = _dialog(flow, "zh")
    d.on_no_input()  # one miss
    assert d.handoff is not None and d.handoff.queue == "green_channel"
    assert d.handoff.priority is Priority.HIGH


def test_both_overlays_in_order(bank: Flow) -> None:
    both = load_flow_with_overlays(BANK, [TYPHOON, ELDERLY], DURING, "guangxi")
    assert both.overlays == ("typhoon", "elderly")
    assert both.settings.fallback_queue == "green_channel"  # the later overlay wins
    assert bank.overlays == () and bank.settings.fallback_queue == "general"  # untouched


def test_flow_lists_its_own_overlays() -> None:
    xmas = datetime(2025, 12, 25, 9, 0, tzinfo=CST)
    assert load_flow(HOST).overlay_files == (str(FLOWS / "overlays" / "holiday.yaml"),
                                             str(FLOWS / "overlays" / "regional.yaml"))
    assert load_flow(HOST).overlays == ()  # load_flow: the file alone
    flow = load_flow_with_overlays(HOST, [], xmas, "fujian")
    assert flow.overlays == ("holiday", "flood")
    assert flow.nodes["card_loss"].type == "transfer" and flow.nodes["card_loss"].queue == "relief"
    assert load_flow_with_overlays(HOST, [], xmas).overlays == ("holiday",)
    # the same file given again is applied once
    again = load_flow_with_overlays(HOST, [FLOWS / "overlays" / "holiday.yaml"], xmas)
    assert again.overlays == ("holiday",)


def test_missing_listed_overlay_points_at_the_list(tmp_path: Path) -> None:
    text = HOST.read_text("utf-8").replace("overlays/regional.yaml", "overlays/nope.yaml")
    path = tmp_path / "host.yaml"
    path.write_text(text, "utf-8")
    (tmp_path / "overlays").mkdir()
    (tmp_path / "overlays" / "holiday.yaml").write_bytes(
        (FLOWS / "overlays" / "holiday.yaml").read_bytes())
    with pytest.raises(FlowErrors) as info:
        load_flow_with_overlays(path)
    assert str(info.value) == (f"{path}:5:35: overlay file '{tmp_path / 'overlays' / 'nope.yaml'}'"
                               " not found")


def test_merged_problems_name_the_overlay(tmp_path: Path) -> None:
    patch = tmp_path / "drop.yaml"
    patch.write_text("overlay: drop\nnodes:\n  human_agent: ~\n", "utf-8")
    with pytest.raises(FlowErrors) as info:
        load_flow_with_overlays(FLOWS / "mini.yaml", [patch])
    lines = str(info.value).splitlines()
    assert f"{FLOWS / 'mini.yaml'}:48:55: node 'root' dtmf '0': unknown node 'human_agent' " \
           "(with overlay 'drop')" in lines
    assert all(line.startswith(str(FLOWS / "mini.yaml")) for line in lines)


def test_merge_patch_rules() -> None:
    from ivr.flow.yamlpos import LDict, LList, LNone, LStr, Pos

    def d(**kw: object) -> LDict:
        out = LDict(kw)
        out.key_pos = {k: Pos(1, 1, "t") for k in kw}
        return out

    base = d(a=d(x=LStr("1"), y=LStr("2")), b=LList([LStr("p")]), c=LStr("keep"))
    patch = d(a=d(y=LNone(), z=LStr("3")), b=LList([LStr("q")]))
    merged = merge_patch(base, patch)
    assert merged == {"a": {"x": "1", "z": "3"}, "b": ["q"], "c": "keep"}
    assert base == {"a": {"x": "1", "y": "2"}, "b": ["p"], "c": "keep"}  # not changed


def test_time_and_now_arguments() -> None:
    assert parse_time("2025-09-01T08:00:00Z") == datetime(2025, 9, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2025-09-01T08:00:00")
    with pytest.raises(UsageError, match="timezone"):
        load_flow_with_overlays(BANK, [TYPHOON], datetime(2025, 9, 25))
    with pytest.raises(UsageError, match="--now"):
        load_flow_with_overlays(BANK, [TYPHOON], "yesterday")


def test_apply_overlays_needs_a_loaded_flow(bank: Flow) -> None:
    from dataclasses import replace

    overlay = load_overlay(ELDERLY)
    assert overlay.inactive_because(DURING, None) is None
    with pytest.raises(UsageError, match="not loaded from a file"):
        apply_overlays(replace(bank, source=None), [overlay], now=DURING, region=None)
    typhoon = load_overlay(TYPHOON)
    assert typhoon.inactive_because(DURING, None) == (
        "only for guangdong, guangxi, hainan, fujian (no region given)")
