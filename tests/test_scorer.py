"""The routing scorer (ivr/nlu/scorer.py) and `ivr route --explain` (ivr/nlu/explain.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import OUT_OF_SCOPE
from bench.intent import independent
from ivr.call import Hotline
from ivr.cli import main
from ivr.flow import Flow, load_flow
from ivr.flow.model import Settings
from ivr.nlu import classifier
from ivr.nlu.cache import _digest, cached_classifier
from ivr.nlu.classifier import ClassifierConfig, IntentClassifier
from ivr.nlu.matcher import Scores, builtin_out_of_scope
from ivr.nlu.policy import decide
from ivr.nlu.scorer import CLASSIFIER_MAX_INTENTS, IntentScorer, pool
from ivr.types import Candidate, Lang

from .conftest import ROOT
from .test_classifier import PHRASES

BANK = str(ROOT / "flows" / "bank_hotline.yaml")
LANGS: tuple[Lang, ...] = ("zh", "en", "ko")
_SCORERS = {lang: IntentScorer(PHRASES[lang], lang, builtin_out_of_scope(lang)) for lang in LANGS}
CASES = [(lang, intent, p) for lang in LANGS for intent, ps in PHRASES[lang].items() for p in ps]


@given(st.sampled_from(CASES))
@settings(max_examples=60, deadline=None)
def test_an_exact_phrase_ranks_its_intent_first(case: tuple[Lang, str, str]) -> None:
    lang, intent, phrase = case
    scores = _SCORERS[lang].score(phrase)
    assert scores.candidates[0].intent == intent
    assert scores.candidates[0].score > scores.candidates[1].score


@given(m=st.floats(0, 1), p=st.floats(0, 1), dm=st.floats(0, 1), dp=st.floats(0, 1))
def test_more_evidence_never_lowers_the_confidence(m: float, p: float, dm: float,
                                                    dp: float) -> None:
    base = pool(m, p)
    assert 0.0 < base < 1.0
    assert pool(min(m + dm, 1.0), p) >= base
    assert pool(m, min(p + dp, 1.0)) >= base


@pytest.mark.parametrize("lang", LANGS)
def test_the_classifier_sees_out_of_scope_as_a_class(lang: Lang) -> None:
    scorer = _SCORERS[lang]
    assert scorer.classifier is not None
    weather = {"zh": "明天天气怎么样", "en": "what's the weather like tomorrow",
               "ko": "내일 날씨 어때요"}[lang]
    assert scorer.out_of_scope_probability(weather) > 0.5
    assert scorer.score(weather).candidates[0].score < 0.4  # below any flow's confirm tier


def test_a_flow_too_large_for_the_linear_model_is_ranked_by_the_matcher_alone() -> None:
    examples = {f"intent_{k:04d}": [f"code word {k} please", f"number {k} service"]
                for k in range(CLASSIFIER_MAX_INTENTS + 1)}
    scorer = IntentScorer(examples, "en")
    assert scorer.classifier is None
    got = scorer.score("code word 7 please", ["intent_0007", "intent_0008"])
    assert got == scorer.matcher_score("code word 7 please", ["intent_0007", "intent_0008"])


@pytest.fixture(scope="module")
def bank() -> Flow:
    return load_flow(BANK)


def _rates(hotline: Hotline, lang: Lang, part: str, matcher_only: bool
           ) -> tuple[float, float, float]:
    """Routed, confirm and out-of-scope accept rates on one independent dev set."""
    scorer = hotline.matcher(lang)
    assert isinstance(scorer, IntentScorer)
    score = scorer.matcher_score if matcher_only else scorer.score
    allowed = hotline.flow.intents_at(hotline.flow.start)
    routed = confirms = oos_accepts = n_in = n_oos = 0
    for e in independent(lang, part):
        d = decide(score(e.text, allowed), hotline.flow.settings)
        if e.label == OUT_OF_SCOPE:
            n_oos += 1
            oos_accepts += d.kind.value == "accept"
            continue
        n_in += 1
        routed += d.kind.value in ("accept", "confirm") and d.intent == e.label
        confirms += d.kind.value == "confirm"
    return routed / n_in, confirms / n_in, oos_accepts / n_oos


def test_on_independent_dev_sentences_the_scorer_rejects_more_and_stays_honest(
        bank: Flow) -> None:
    """On both dev sets (dev: 15 per intent + 30 out of scope per language, dev2: 25 + 120),
    through the same policy: the scorer accepts at most 1 out-of-scope sentence in 30 and
    3.4 % of dev2's (the matcher alone: zh 6.7 % on dev, ko 5.8 % on dev2; summed over the six
    sets 16 points more than the scorer's 5), asks for confirmation at most 12 % of the time
    (issue 15's bound; ko dev2 11.1 %), and routes no less than a point under the matcher in
    any set (today it routes 0 to 1.9 points more in every set). What the scorer adds is
    rejection and certainty: fewer out-of-scope accepts and fewer confirmations (summed over
    the six sets: 9.6 points fewer; 14 before the phrases of issue 15's misses, which made the
    matcher alone surer as well)."""
    hotline = Hotline(bank)
    oos_gain = confirm_gain = 0.0
    for lang in LANGS:
        for part in ("dev", "dev2"):
            old = _rates(hotline, lang, part, matcher_only=True)
            new = _rates(hotline, lang, part, matcher_only=False)
            assert new[0] >= old[0] - 0.01, (lang, part, old, new)
            assert new[1] <= 0.12 and new[2] <= 0.034, (lang, part, new)
            oos_gain += old[2] - new[2]
            confirm_gain += old[1] - new[1]
    assert oos_gain >= 0.12 and confirm_gain >= 0.08, (oos_gain, confirm_gain)


@pytest.mark.parametrize("lang", LANGS)
def test_the_scores_carry_the_out_of_scope_probability_to_the_policy(lang: Lang) -> None:
    scorer = _SCORERS[lang]
    texts = {"zh": ("明天天气怎么样", "密码忘了"), "en": ("order me a pizza", "I forgot my PIN"),
             "ko": ("내일 날씨 어때요", "비밀번호를 잊어버렸어요")}[lang]
    for text in texts:
        got = scorer.score(text).out_of_scope_probability
        assert got == scorer.out_of_scope_probability(text)
    assert scorer.matcher_score(text).out_of_scope_probability == 0.0


def test_the_policy_confirms_when_out_of_scope_is_likely() -> None:
    sure = Scores("x", "x", (Candidate("a", 0.95), Candidate("b", 0.01)),
                  out_of_scope_probability=0.3)
    s = Settings(accept=0.8, confirm=0.3, max_out_of_scope=0.2)
    d = decide(sure, s)
    assert (d.kind.value, d.intent, d.reason) == ("confirm", "a", "maybe_out_of_scope")
    assert decide(replace(sure, out_of_scope_probability=0.19), s).kind.value == "accept"
    assert decide(sure, replace(s, max_out_of_scope=1.0)).kind.value == "accept"


def _route_json(capsys: pytest.CaptureFixture[str], lang: str, *text: str,
                extra: tuple[str, ...] = ()) -> list[dict[str, object]]:
    assert main(["route", "--flow", BANK, "--lang", lang, "--json", "--explain", *extra,
                 *text]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_explain_shows_the_evidence_and_the_nearest_phrases(
        capsys: pytest.CaptureFixture[str], bank: Flow) -> None:
    [out] = _route_json(capsys, "en", "the machine swallowed my card", extra=("--nearest", "2"))
    why = out["explain"]
    assert isinstance(why, list) and len(why) == 3
    top = why[0]
    assert top["intent"] == out["intent"] == "card_retained"
    assert top["score"] == out["confidence"]
    assert 0.0 <= top["matcher"] <= 1.0 and 0.0 <= top["classifier"] <= 1.0
    assert math.isclose(top["score"], pool(top["matcher"], top["classifier"]), abs_tol=2e-4)
    phrases = {p.lower() for p in bank.intents["card_retained"].phrases["en"]}
    assert len(top["nearest"]) == 2
    assert all(n["phrase"] in phrases for n in top["nearest"])
    assert top["ngrams"] and all(g["weight"] > 0 for g in top["ngrams"])
    assert any("swallow" in g["ngram"] for g in top["ngrams"])
    assert out["reason"] is None and out["max_out_of_scope"] == bank.settings.max_out_of_scope
    assert 0.0 <= out["out_of_scope"] < bank.settings.max_out_of_scope


def test_explain_says_when_out_of_scope_turned_an_accept_into_a_confirm(
        capsys: pytest.CaptureFixture[str], bank: Flow) -> None:
    """Another company's password: the pooled confidence reaches `accept`, the classifier's
    probability of "none of these" does too, so the caller is asked (and told why here)."""
    [out] = _route_json(capsys, "en", "my yahoo password is not working")
    assert out["confidence"] >= bank.settings.accept
    assert out["out_of_scope"] >= bank.settings.max_out_of_scope
    assert (out["decision"], out["reason"]) == ("confirm", "maybe_out_of_scope")


@pytest.mark.parametrize(("lang", "text", "digits"), [
    ("en", "I forgot my pin it was 4 7 1 9 and the card is 4539 1488 0343 6467", ("4719", "6467")),
    ("zh", "我的密码是四七一九忘了怎么办", ("四七一九", "七一九")),
    ("ko", "비밀번호 사칠일구 잊어버렸어요", ("사칠일구", "칠일구")),
])
def test_explain_never_shows_a_callers_digits(capsys: pytest.CaptureFixture[str], lang: str,
                                              text: str, digits: tuple[str, ...]) -> None:
    [out] = _route_json(capsys, lang, text)
    shown = json.dumps(out["explain"], ensure_ascii=False).replace(" ", "")
    for d in digits:
        assert d not in shown
    assert main(["route", "--flow", BANK, "--lang", lang, "--explain", text]) == 0
    plain = capsys.readouterr().out.replace(" ", "")
    for d in digits:
        assert d not in plain


def test_a_fitted_classifier_is_kept_per_flow_digest(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE", str(tmp_path))
    fits: list[int] = []

    def fit() -> IntentClassifier:
        fits.append(1)
        return IntentClassifier(PHRASES["en"], "en")

    first = cached_classifier(PHRASES["en"], "en", fit)
    again = cached_classifier(PHRASES["en"], "en", fit)
    assert len(fits) == 1
    assert np.array_equal(first.proba(["my card is lost"]), again.proba(["my card is lost"]))
    other = {**PHRASES["en"], "agent": ["a person please"]}
    cached_classifier(other, "en", fit)  # other phrases: another digest, a fit
    assert len(fits) == 2
    cached_classifier(PHRASES["en"], "en", fit, borrowed={"agent": ("operator",)})
    assert len(fits) == 3  # other borrowed phrases: another digest too
    [stored] = [p for p in (tmp_path / "classifier").iterdir()
                if p.name.startswith(_digest(PHRASES["en"], "en", ClassifierConfig(), {}))]
    stored.chmod(0o666)  # writable by others: never unpickled
    cached_classifier(PHRASES["en"], "en", fit)
    assert len(fits) == 4
    stored.write_bytes(b"not a pickle")
    stored.chmod(0o600)
    assert cached_classifier(PHRASES["en"], "en", fit).intents == first.intents
    assert len(fits) == 5
    monkeypatch.setenv("IVR_CACHE", "off")
    cached_classifier(PHRASES["en"], "en", fit)
    assert len(fits) == 6


def test_a_model_over_the_weight_budget_is_not_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Old code: L-BFGS fitted whatever it was given (BANKING77's 2.6 M weights: 1 GB)."""
    monkeypatch.setenv("IVR_CACHE", "off")
    monkeypatch.setattr(classifier, "MAX_WEIGHTS", 100)
    with pytest.raises(classifier.ClassifierTooLarge):
        IntentClassifier(PHRASES["en"], "en")
    scorer = IntentScorer(PHRASES["en"], "en")
    assert scorer.classifier is None
    assert scorer.score("I lost my card") == scorer.matcher_score("I lost my card")
