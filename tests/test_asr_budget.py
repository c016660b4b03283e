"""A worker's live-decoding budget (`ivr.asr.budget`): the arithmetic, then real Vosk workers
that drop free decoding from a live caller's stream past the budget and never from a
recording's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ivr.asr import DecoderConfig, ServiceConfig, SpeechService, StreamSpec
from ivr.asr.budget import FREE_RTF, VIEW_RTF, CostModel, StreamLoad, over_budget
from ivr.audio import frames, read_wav
from ivr.call import Hotline
from ivr.dialog import Dialog
from ivr.flow import Flow
from ivr.models import resolve_model

from .conftest import ROOT

CARD_LOSS = ROOT / "samples" / "audio" / "ko_card_loss.wav"


def test_a_stream_costs_its_views_and_its_free_decoding() -> None:
    model = CostModel()
    loads = [StreamLoad(1, 2, True), StreamLoad(2, 1, False)]
    assert model.cores(loads) == pytest.approx(3 * VIEW_RTF + FREE_RTF)
    assert model.cores([]) == 0


def test_the_newest_free_decoders_go_first_and_only_as_many_as_needed() -> None:
    model = CostModel(view_rtf=0.02, free_rtf=0.06)
    loads = [StreamLoad(sid, 2, True) for sid in range(1, 6)]  # 5 x 0.10 = 0.50 cores
    assert over_budget(model, loads, 0.5) == []
    assert over_budget(model, loads, 0.4) == [5, 4]  # 0.50 - 2 x 0.06 = 0.38
    # grammar alone over the budget: every free decoder goes, the grammar views stay
    assert over_budget(model, loads, 0.1) == [5, 4, 3, 2, 1]
    mixed = [StreamLoad(1, 2, True), StreamLoad(2, 2, False), StreamLoad(3, 2, False)]
    assert over_budget(model, mixed, 0.15) == [1]  # the newest are grammar only already


def test_narrowband_callers_give_way_at_their_own_lower_budget() -> None:
    model = CostModel(view_rtf=0.02, free_rtf=0.06)
    wide = [StreamLoad(sid, 2, True) for sid in range(1, 6)]  # 5 x 0.10 = 0.50 cores
    narrow = [StreamLoad(sid, 2, True, narrowband=True) for sid in range(1, 6)]
    assert over_budget(model, wide, 0.6, 0.3) == []  # 0.3 is for 8 kHz callers only
    assert over_budget(model, narrow, 0.6, 0.3) == [5, 4, 3, 2]  # 0.50 - 4 x 0.06 = 0.26
    assert over_budget(model, narrow, 0.6, None) == []
    assert over_budget(model, narrow, 0.2, 0.3) == [5, 4, 3, 2, 1]  # the lower one holds
    mixed = [StreamLoad(1, 2, True), StreamLoad(2, 2, True, narrowband=True),
             StreamLoad(3, 2, True), StreamLoad(4, 2, True, narrowband=True)]  # 0.40
    assert over_budget(model, mixed, 0.6, 0.3) == [4, 2]  # the wideband keep theirs


def test_the_model_learns_from_streams_long_enough_to_tell() -> None:
    model = CostModel(view_rtf=0.02, free_rtf=0.06)
    model.learn(view_cpu_s=0.1, view_s=0.5, free_cpu_s=1.0, free_s=0.5)  # too short
    assert (model.view_rtf, model.free_rtf) == (0.02, 0.06)
    for _ in range(40):
        model.learn(view_cpu_s=0.4, view_s=10.0, free_cpu_s=1.0, free_s=10.0)
    assert model.view_rtf == pytest.approx(0.04, abs=1e-3)
    assert model.free_rtf == pytest.approx(0.10, abs=1e-3)


@pytest.fixture(scope="module")
def grammar(bank: Flow) -> tuple[str, ...]:
    hotline = Hotline(bank)
    dialog = Dialog(bank, "ko", hotline.matcher("ko"), "t")
    dialog.start()
    return hotline.grammar(dialog)


def _service(budget: float | None, grammar: tuple[str, ...],
             narrowband_budget: float | None = None) -> Iterator[SpeechService]:
    """One worker, its recognisers warmed on the recording (a new free recogniser decodes
    slower than real time at first, and the worker would shed it by lag, budget or not)."""
    config = ServiceConfig(workers=1, decoder=DecoderConfig(
        live_budget=budget, narrowband_budget=narrowband_budget))
    svc = SpeechService(resolve_model("ko"), "ko", config)
    _decode(svc, grammar, paced=False)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def tight(grammar: tuple[str, ...]) -> Iterator[SpeechService]:
    """One worker whose budget no stream with free decoding fits (2 views + free ~ 0.10)."""
    yield from _service(0.05, grammar)


@pytest.fixture(scope="module")
def narrow_tight(grammar: tuple[str, ...]) -> Iterator[SpeechService]:
    """A budget every stream fits in, but no 8 kHz stream with free decoding."""
    yield from _service(1.0, grammar, narrowband_budget=0.05)


@pytest.fixture(scope="module")
def unbudgeted(grammar: tuple[str, ...]) -> Iterator[SpeechService]:
    yield from _service(None, grammar)


def _decode(service: SpeechService, grammar: tuple[str, ...], *, paced: bool,
            narrowband: bool = False) -> object:
    """A live caller's frames come at real-time pace (fed faster, they would wait in the
    worker and be shed by lag instead); a recording's as fast as they are read."""
    stream = service.open_stream(StreamSpec(grammar, narrowband=narrowband, paced=paced))
    start = time.monotonic()
    for i, frame in enumerate(frames(read_wav(CARD_LOSS), 20)):
        if paced:
            time.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
        stream.feed(frame)
    return stream.final()


def test_a_live_stream_over_the_budget_is_judged_on_its_grammar_views(
        tight: SpeechService, grammar: tuple[str, ...]) -> None:
    result = _decode(tight, grammar, paced=True)
    assert result.free is None and result.grammars and result.grammars[0].text  # type: ignore[attr-defined]
    assert tight.stats()[0]["free_budgeted"] == 1


def test_a_recording_is_never_budgeted(tight: SpeechService, grammar: tuple[str, ...]) -> None:
    before = tight.stats()[0]["free_budgeted"]
    result = _decode(tight, grammar, paced=False)
    assert result.free is not None and result.free.text  # type: ignore[attr-defined]
    assert tight.stats()[0]["free_budgeted"] == before


def test_without_a_budget_a_live_stream_keeps_free_decoding(
        unbudgeted: SpeechService, grammar: tuple[str, ...]) -> None:
    result = _decode(unbudgeted, grammar, paced=True)
    assert result.free is not None and result.free.text  # type: ignore[attr-defined]
    assert unbudgeted.stats()[0]["free_budgeted"] == 0


def test_a_live_8_khz_caller_gives_way_at_the_narrowband_budget_a_wideband_one_does_not(
        narrow_tight: SpeechService, grammar: tuple[str, ...]) -> None:
    narrow = _decode(narrow_tight, grammar, paced=True, narrowband=True)
    assert narrow.free is None and narrow.grammars  # type: ignore[attr-defined]
    assert narrow_tight.stats()[0]["free_budgeted"] == 1
    wide = _decode(narrow_tight, grammar, paced=True)
    assert wide.free is not None and wide.free.text  # type: ignore[attr-defined]
    assert narrow_tight.stats()[0]["free_budgeted"] == 1
