"""Normalisation, phonetic keys, the matcher and the decision policy."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.flow import Flow
from ivr.flow.model import Settings
from ivr.nlu import IntentMatcher, decide, normalize
from ivr.nlu.matcher import Scores
from ivr.nlu.phonetic import jamo, pinyin_syllables
from ivr.types import Candidate, DecisionKind

LANG = st.sampled_from(["zh", "en", "ko"])
_CHARS = "余额卡丢了嗯那个 一二三幺两,，。！?ＡＢabc'umsoyou know잔액조회음그\u200b\u00a0"
TEXT = st.text(alphabet=st.sampled_from(list(_CHARS)), max_size=30)


@given(TEXT, LANG)
@settings(max_examples=400, deadline=None)
def test_normalize_is_idempotent(text: str, lang: str) -> None:
    once = normalize(text, lang)  # type: ignore[arg-type]
    assert normalize(once, lang) == once  # type: ignore[arg-type]


def test_normalize_examples() -> None:
    assert normalize("嗯，那個，我的卡被取款機吞了！", "zh") == "我的卡被取款机吞了"
    assert normalize("ＡＴＭ在哪裡", "zh") == "atm在哪里"
    assert normalize("卡号幺二三四", "zh") == "卡号1234"
    assert normalize("I'm being SCAMMED, um, help", "en") == "i am being scammed help"
    assert normalize("음 잔액\u200b 조회해 주세요", "ko") == "잔액 조회해 주세요"


def test_phonetic_keys_make_homophones_equal() -> None:
    assert pinyin_syllables("余额") == pinyin_syllables("鱼额") == ("yu", "e")
    assert pinyin_syllables("挂失") == pinyin_syllables("挂湿")
    assert jamo("잔액") != "잔액" and len(jamo("잔액")) == 6


def _matcher(flow: Flow, lang: str) -> IntentMatcher:
    return IntentMatcher({i: it.phrases[lang] for i, it in flow.intents.items()}, lang)  # type: ignore[index,arg-type]


def test_every_example_phrase_ranks_its_own_intent_first(bank: Flow) -> None:
    for lang in ("zh", "en", "ko"):
        m = _matcher(bank, lang)
        for iid, intent in bank.intents.items():
            for phrase in intent.phrases[lang]:  # type: ignore[index]
                top = m.score(phrase).top
                assert top is not None and top.intent == iid, (lang, phrase, m.score(phrase))


def test_homophone_errors_still_route(bank: Flow) -> None:
    m = _matcher(bank, "zh")
    for text, intent in [("我要挂湿", "card_loss"), ("查一下鱼额", "balance_inquiry"),
                         ("我忘了秘码", "password_reset")]:
        s = m.score(text)
        assert s.top is not None and s.top.intent == intent, s


def test_out_of_scope_and_fragments_are_not_accepted(bank: Flow) -> None:
    for lang, text in [("zh", "卡"), ("zh", "今天天气怎么样"), ("zh", "嗯……"), ("zh", ""),
                       ("en", "what's the weather like"), ("en", "uh"), ("ko", "오늘 날씨 어때요")]:
        d = decide(_matcher(bank, lang).score(text), bank.settings)
        assert d.kind is not DecisionKind.ACCEPT, (lang, text, d)


def test_scores_are_in_unit_interval_and_sorted(bank: Flow) -> None:
    s = _matcher(bank, "en").score("my card got eaten by the cash machine")
    values = [c.score for c in s.candidates]
    assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values, reverse=True)
    assert s.top is not None and s.top.intent == "card_retained"


def test_allowed_restricts_candidates(bank: Flow) -> None:
    s = _matcher(bank, "en").score("lost card", allowed={"balance_inquiry", "transfer"})
    assert {c.intent for c in s.candidates} == {"balance_inquiry", "transfer"}


SCORE = st.floats(min_value=0.0, max_value=1.0)


@given(SCORE, SCORE, SCORE, SCORE, st.integers(min_value=0, max_value=3))
def test_raising_thresholds_never_turns_a_handoff_into_an_accept(top: float, second: float,
                                                                  low: float, bump: float,
                                                                  streak: int) -> None:
    cands = tuple(sorted([Candidate("a", top), Candidate("b", min(second, top))],
                         key=lambda c: -c.score))
    scores = Scores("x", "x", cands)
    base = Settings(accept=max(low, 0.5), confirm=min(low, 0.5))
    raised = replace(base, accept=min(1.0, base.accept + bump), confirm=min(
        base.confirm + bump, min(1.0, base.accept + bump)))
    order = {DecisionKind.HANDOFF: 0, DecisionKind.REPROMPT: 1, DecisionKind.CONFIRM: 2,
             DecisionKind.ACCEPT: 3}
    before = decide(scores, base, low_streak=streak).kind
    after = decide(scores, raised, low_streak=streak).kind
    assert order[after] <= order[before]


def test_policy_tiers() -> None:
    s = Settings(accept=0.8, confirm=0.5, margin=0.1, max_low_confidence=2)
    mk = lambda a, b: Scores("t", "t", (Candidate("x", a), Candidate("y", b)))  # noqa: E731
    assert decide(mk(0.9, 0.3), s).kind is DecisionKind.ACCEPT
    assert decide(mk(0.9, 0.85), s).kind is DecisionKind.CONFIRM  # too close to call
    assert decide(mk(0.6, 0.1), s).kind is DecisionKind.CONFIRM
    assert decide(mk(0.3, 0.1), s).kind is DecisionKind.REPROMPT
    assert decide(mk(0.3, 0.1), s, low_streak=1).kind is DecisionKind.HANDOFF
    empty = decide(Scores("嗯", "", (Candidate("x", 0.0),)), s)
    assert empty.kind is DecisionKind.REPROMPT and empty.reason == "no_match"
