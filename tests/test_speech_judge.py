"""The judge's per-band thresholds and its free-decoding fallback, on hand-made hypotheses
(the matcher and the bank flow are real; the transcripts stand for what Vosk returned)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.asr.results import DualResult, Hypothesis
from ivr.call import Hotline
from ivr.flow import Flow
from ivr.speech import Judge, JudgeConfig, TurnContext


@pytest.fixture(scope="module")
def parts(bank: Flow) -> tuple[Hotline, TurnContext]:
    hotline = Hotline(bank)
    allowed = frozenset(bank.intents_at(bank.start))
    grammar = tuple(p for i in sorted(allowed) for p in bank.intents[i].phrases["ko"])
    return hotline, TurnContext(grammar, allowed)


def judge(hotline: Hotline, **config: float | None) -> Judge:
    return Judge(hotline.matcher("ko"), hotline.flow.settings, JudgeConfig(**config))  # type: ignore[arg-type]


def result(views: tuple[str, ...], free: str) -> DualResult:
    return DualResult(tuple(Hypothesis(v) for v in views), Hypothesis(free) if free else None,
                      final=True)


@given(st.floats(0, 1), st.floats(0, 1), st.none() | st.floats(0, 1),
       st.none() | st.floats(0, 1))
def test_band_thresholds(alone: float, supported: float, nb_alone: float | None,
                         nb_supported: float | None) -> None:
    c = JudgeConfig(fit_alone=alone, fit_supported=supported, narrowband_fit_alone=nb_alone,
                    narrowband_fit_supported=nb_supported)
    assert c.band(False) == (alone, supported)
    assert c.band(True) == (alone if nb_alone is None else nb_alone,
                            supported if nb_supported is None else nb_supported)


def test_a_narrowband_fit_threshold_applies_to_8k_lines_only(
        parts: tuple[Hotline, TurnContext]) -> None:
    hotline, wide = parts
    narrow = TurnContext(wide.grammar, wide.allowed, narrowband=True)
    # one view hears a near-phrase, the other nothing: trusted on fit alone or not at all
    heard = result(("카드를 분실 신고 했는데", ""), "")
    j = judge(hotline, fit_alone=0.99, narrowband_fit_alone=0.7)
    fit = j.fit("카드를 분실 신고 했는데", wide.grammar or ())
    assert 0.7 <= fit < 0.99
    assert not j.judge(heard, wide).trusted
    v = j.judge(heard, narrow)
    assert v.trusted and v.reason == "in_grammar" and v.intent == "card_loss"
    assert not judge(hotline, fit_alone=0.99).judge(heard, narrow).trusted


def test_the_fast_view_leads_on_8k_lines_only(parts: tuple[Hotline, TurnContext]) -> None:
    hotline, wide = parts
    narrow = TurnContext(wide.grammar, wide.allowed, narrowband=True)
    heard = result(("날씨 어때요", "카드를 분실 신고 했는데"), "")  # views disagree
    j = judge(hotline, fit_alone=0.99, narrowband_fit_alone=0.99, narrowband_lead_fit=0.6)
    assert not j.judge(heard, wide).trusted
    v = j.judge(heard, narrow)
    assert v.trusted and v.reason == "lead_view" and v.intent == "card_loss"
    assert v.text == "카드를 분실 신고 했는데"
    assert not judge(hotline, fit_alone=0.99, narrowband_fit_alone=0.99,
                     narrowband_lead_view=None).judge(heard, narrow).trusted
    assert not judge(hotline, fit_alone=0.99, narrowband_fit_alone=0.99,
                     narrowband_lead_fit=0.99).judge(heard, narrow).trusted
    # shed to one view under load: nothing to lead with
    assert not j.judge(result(("날씨 어때요",), ""), narrow).trusted


def test_the_free_fallback_routes_what_free_decoding_heard(
        parts: tuple[Hotline, TurnContext]) -> None:
    hotline, context = parts
    # the grammar views disagree on menu-word salad; free decoding heard the caller
    heard = result(("잔액 카드 분실", "대출 비밀번호"), "상담원 연결해 주세요")
    before = judge(hotline, fit_alone=0.99, fit_supported=0.99,
                   confirm_fit=None).judge(heard, context)
    assert not before.trusted and before.text == ""  # it would route, so it was dropped
    after = judge(hotline, fit_alone=0.99, fit_supported=0.99, confirm_fit=None,
                  free_fallback=0.8).judge(heard, context)
    assert after.trusted and after.source == "free" and after.reason == "free_fallback"
    assert after.text == "상담원 연결해 주세요" and after.intent == "human_agent"


def test_the_free_fallback_needs_its_score(parts: tuple[Hotline, TurnContext]) -> None:
    hotline, context = parts
    heard = result(("잔액 카드 분실", "대출 비밀번호"), "오늘 날씨 알려 주세요")
    v = judge(hotline, fit_alone=0.99, fit_supported=0.99, confirm_fit=None,
              free_fallback=0.8).judge(heard, context)
    assert v.reason == "out_of_grammar" and v.source != "grammar"


def test_weak_wideband_evidence_is_confirmed_never_accepted(
        parts: tuple[Hotline, TurnContext]) -> None:
    """One view hears a near-phrase, the other something else: not trusted, but at 16 kHz
    the caller is asked "card loss?" instead of being asked to say it all again."""
    hotline, wide = parts
    narrow = TurnContext(wide.grammar, wide.allowed, narrowband=True)
    heard = result(("카드를 분실 신고 했는데", "날씨 어때요"), "")
    j = judge(hotline, fit_alone=0.99, confirm_fit=0.6)
    v = j.judge(heard, wide)
    assert not v.trusted and v.unsure and v.reason == "unsure" and v.intent == "card_loss"
    assert v.text == "카드를 분실 신고 했는데"
    assert j.outcome(v, wide.allowed) == ("confirm", "card_loss")  # words alone would accept
    plain = judge(hotline, fit_alone=0.5).judge(heard, wide)
    assert plain.trusted and j.outcome(plain, wide.allowed) == ("accept", "card_loss")
    # not on an 8 kHz line, not under its fit, not without the rule
    assert not j.judge(heard, narrow).unsure
    assert not judge(hotline, fit_alone=0.99, confirm_fit=0.99).judge(heard, wide).unsure
    off = judge(hotline, fit_alone=0.99, confirm_fit=None).judge(heard, wide)
    assert not off.unsure and j.outcome(off, wide.allowed) == ("no_match", None)


def test_an_unsure_salad_that_reads_out_of_scope_is_not_confirmed(
        parts: tuple[Hotline, TurnContext]) -> None:
    hotline, wide = parts
    text = "다른 은행 카드 분실 신고는 어디에 해요"  # another bank's card: out-of-scope mass
    assert hotline.matcher("ko").score(text, wide.allowed).out_of_scope_probability >= 0.1
    heard = result((text, "날씨 어때요"), "")
    assert judge(hotline, fit_alone=0.99, confirm_fit=0.0,
                 confirm_max_out_of_scope=1.01).judge(heard, wide).unsure
    assert not judge(hotline, fit_alone=0.99, confirm_fit=0.0).judge(heard, wide).unsure
