"""The learnt intent classifier (ivr/nlu/classifier.py) on a tiny flow in zh, en and ko."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.nlu.classifier import (
    ClassifierConfig,
    IntentClassifier,
    borrowed_features,
    features,
    latin_words,
    vector_weight,
)
from ivr.nlu.embedding import DIM, sentence_vectors
from ivr.types import Lang

PHRASES: dict[Lang, dict[str, list[str]]] = {
    "en": {
        "balance": ["what is my balance", "how much money do I have", "check my account balance",
                    "tell me what is left in my account"],
        "card_lost": ["I lost my card", "my card was stolen", "block my card please",
                      "someone took my wallet with the card"],
        "card_retained": ["the cash machine swallowed my card", "the ATM kept my card",
                          "my card is stuck in the machine", "the machine ate my card"],
        "agent": ["let me talk to a person", "I want a human agent", "operator please",
                  "put me through to someone real"],
    },
    "zh": {
        "balance": ["查余额", "我卡里还有多少钱", "帮我查一下账户余额", "看看还剩多少钱"],
        "card_lost": ["我的卡丢了", "卡被偷了", "我要挂失", "钱包连卡一起丢了"],
        "card_retained": ["卡被取款机吞了", "ATM把我的卡吞了", "卡卡在机器里了", "取款机不吐卡"],
        "agent": ["转人工", "我要找人工客服", "帮我接真人", "人工服务"],
    },
    "ko": {
        "balance": ["잔액 조회", "통장에 얼마 있어요", "계좌 잔액 알려 주세요",
                    "남은 돈 확인하고 싶어요"],
        "card_lost": ["카드를 잃어버렸어요", "카드 도난당했어요", "카드 분실 신고",
                      "지갑이랑 카드 잃어버렸어요"],
        "card_retained": ["현금인출기가 카드를 먹었어요", "ATM에 카드가 안 나와요",
                          "기계에 카드가 걸렸어요", "카드가 기계에 들어가서 안 나와요"],
        "agent": ["상담원 연결", "상담원이랑 통화하고 싶어요", "사람이랑 얘기할래요",
                  "직원 바꿔 주세요"],
    },
}
LANGS: tuple[Lang, ...] = ("zh", "en", "ko")
_BUILT = {lang: IntentClassifier(PHRASES[lang], lang) for lang in LANGS}
CASES = [(lang, intent, p) for lang in LANGS for intent, ps in PHRASES[lang].items() for p in ps]


@given(st.sampled_from(CASES))
@settings(max_examples=60, deadline=None)
def test_an_exact_phrase_ranks_its_intent_first(case: tuple[Lang, str, str]) -> None:
    lang, intent, phrase = case
    top = _BUILT[lang].top(phrase, k=2)
    assert top[0].intent == intent
    assert top[0].score > top[1].score


@pytest.mark.parametrize("lang", LANGS)
def test_probabilities_are_a_distribution_and_deterministic(lang: Lang) -> None:
    again = IntentClassifier(PHRASES[lang], lang)
    for phrase in [p for ps in PHRASES[lang].values() for p in ps] + ["", "???"]:
        first = _BUILT[lang].predict_proba(phrase)
        assert first == again.predict_proba(phrase)  # bit for bit
        assert set(first) == set(PHRASES[lang])
        assert sum(first.values()) == pytest.approx(1.0)
        assert all(0.0 <= v <= 1.0 for v in first.values())


@pytest.mark.parametrize(("lang", "text", "intent"), [
    ("en", "the machine swallowed it and kept my card", "card_retained"),
    ("en", "how much money is left", "balance"),
    ("zh", "取款机把卡吞了", "card_retained"),
    ("zh", "鱼额多少", "balance"),          # a homophone error of 余额: the pinyin features
    ("ko", "잔엑 조회해 주세요", "balance"),  # one wrong vowel in 잔액: the jamo features
    ("ko", "카드를 분실했어요", "card_lost"),
])
def test_paraphrases_and_recogniser_errors_land(lang: Lang, text: str, intent: str) -> None:
    assert _BUILT[lang].top(text, k=1)[0].intent == intent


def test_top_k_is_ordered_and_tied_by_id() -> None:
    top = _BUILT["en"].top("", k=4)  # nothing said: the prior only
    assert len(top) == 4
    assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)
    for a, b in itertools.pairwise(top):
        assert a.score > b.score or a.intent < b.intent


def test_features_per_language() -> None:
    assert "card" in features("My cards!", "en")["word"]  # stemmed, punctuation dropped
    zh = features("余额", "zh")
    assert "余额" in zh["char"] and "yu e" in zh["pinyin"]
    ko = features("잔액 조회", "ko")
    assert "잔액" in ko["syllable"] and "조회" in ko["word"] and ko["jamo"]


def test_english_words_inside_chinese_and_korean_are_their_own_family() -> None:
    assert latin_words("帮我查下Balance!") == ["balance"]
    assert latin_words("credit report 요청합니다") == ["credit", "report"]
    assert features("转agent", "zh")["latin"] == ["agent"]
    assert features("잔액 조회", "ko")["latin"] == []
    assert "latin" not in features("check my balance", "en")
    lent = borrowed_features("the ATM kept my cards", "zh", known={"atm"})
    assert lent["latin"] == ["the", "kept", "my", "card"]
    assert not lent["char"] and not lent["pinyin"]


@pytest.mark.parametrize(("lang", "text", "intent"), [
    ("zh", "帮我查下balance", "balance"),
    ("zh", "转agent", "agent"),
    ("ko", "operator 연결해 주세요", "agent"),
    ("ko", "stolen 어떡해요", "card_lost"),
])
def test_code_switched_words_are_learnt_from_the_english_phrases(
        lang: Lang, text: str, intent: str) -> None:
    """A caller mixes in English words the language's own phrases never use: the same intents'
    English phrases, borrowed, teach them; without them the word means nothing."""
    alone = _BUILT[lang].predict_proba(text)[intent]
    lent = IntentClassifier(PHRASES[lang], lang, borrowed=PHRASES["en"])
    assert lent.top(text, k=1)[0].intent == intent
    assert lent.predict_proba(text)[intent] > alone + 0.2


def test_a_borrowed_word_the_language_already_uses_keeps_its_own_meaning() -> None:
    """"ATM" in the zh phrases belongs to card_retained there; an English agent phrase that
    says ATM must not pull it towards agent."""
    english = {**PHRASES["en"], "agent": [*PHRASES["en"]["agent"]] + ["atm atm atm"] * 20}
    lent = IntentClassifier(PHRASES["zh"], "zh", borrowed=english)
    assert lent.top("ATM", k=1)[0].intent == "card_retained"
    assert lent.predict_proba("ATM")["agent"] < _BUILT["zh"].predict_proba("ATM")["agent"] + 0.05


def test_one_intent_is_refused() -> None:
    with pytest.raises(ValueError, match="two intents"):
        IntentClassifier({"balance": ["what is my balance"]}, "en")


def test_importing_the_module_does_not_import_scikit_learn() -> None:
    code = "import sys, ivr.nlu.classifier; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ.copy())
    assert out.stdout.strip() == "False"


def test_sentence_vectors_are_unit_length_and_put_paraphrases_near() -> None:
    v = sentence_vectors(["I lost my card", "my card is missing", "how do I top up", ""])
    assert v.shape == (4, DIM)
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0)
    assert not v[3].any()  # nothing said: no direction
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    assert sentence_vectors([]).shape == (0, DIM)


@pytest.mark.parametrize(("text", "intent"), [
    ("can I speak to somebody", "agent"),
    ("what are my funds", "balance"),
    ("my wallet vanished", "card_lost"),
])
def test_english_sentence_vectors_lift_a_paraphrase_with_few_shared_words(
        text: str, intent: str) -> None:
    without = IntentClassifier(PHRASES["en"], "en", ClassifierConfig(embed_weight=0.0))
    assert _BUILT["en"].top(text, k=1)[0].intent == intent
    assert _BUILT["en"].predict_proba(text)[intent] > without.predict_proba(text)[intent] + 0.03
    assert "meaning:sentence vector" in dict(_BUILT["en"].contributions(text, intent, k=10))


def test_zh_and_ko_do_not_use_sentence_vectors() -> None:
    for lang in ("zh", "ko"):
        off = IntentClassifier(PHRASES[lang], lang, ClassifierConfig(embed_weight=0.0))
        phrase = PHRASES[lang]["balance"][0]
        assert off.predict_proba(phrase) == _BUILT[lang].predict_proba(phrase)


@given(st.lists(st.integers(1, 400), min_size=2, max_size=80), st.integers(1, 400))
@settings(max_examples=60, deadline=None)
def test_the_vector_weight_falls_from_few_phrases_to_many(counts: list[int], more: int) -> None:
    cfg = ClassifierConfig()
    w = vector_weight(cfg, counts)
    assert cfg.embed_weight <= w <= cfg.few_shot_embed_weight
    assert vector_weight(cfg, [c + more for c in counts]) <= w  # more phrases: never more
    assert vector_weight(ClassifierConfig(embed_weight=0.0), counts) == 0.0


def test_the_vector_weight_at_its_ends() -> None:
    cfg = ClassifierConfig()
    assert vector_weight(cfg, [4] * 5) == cfg.few_shot_embed_weight  # the tiny flows here
    assert vector_weight(cfg, [10] * 77) == cfg.few_shot_embed_weight  # BANKING77, 10 each
    assert vector_weight(cfg, [101, 108, 119] * 6) == cfg.embed_weight  # the bank flow
    assert cfg.embed_weight < vector_weight(cfg, [40] * 9) < cfg.few_shot_embed_weight
