"""The call state machine, fed text (no audio): every path a caller can take."""

from __future__ import annotations

from pathlib import Path

from ivr.dialog import Dialog, yes_or_no
from ivr.flow import Flow, load_flow
from ivr.nlu import IntentMatcher
from ivr.types import DecisionKind, Dtmf, Lang, Priority, TurnKind, Utterance

from .conftest import FLOWS


def _dialog(flow: Flow, lang: Lang = "en") -> Dialog:
    m = IntentMatcher({i: it.phrases[lang] for i, it in flow.intents.items()}, lang)
    d = Dialog(flow, lang, m, "call-1")
    d.start()
    return d


def say(d: Dialog, text: str) -> list[str]:
    return d.on_utterance(Utterance(text, d.lang))


def test_one_sentence_straight_to_the_business_node(mini: Flow) -> None:
    d = _dialog(mini)
    prompts = say(d, "I lost my card")
    assert d.outcome is not None and d.outcome.type == "node"
    assert d.outcome.node == "card_loss" and d.path == ["root", "card_loss"]
    assert prompts == ["Reporting your card lost."]
    assert [t.decision for t in d.turns] == ["accept"]


def test_medium_confidence_confirms_then_yes_goes(mini: Flow) -> None:
    d = _dialog(mini)
    prompts = say(d, "i have a card and i want money")
    assert not d.done and d.confirming, d.trace
    assert prompts[0] == "You want to check your balance, is that right?"
    say(d, "yes")
    assert d.outcome is not None and d.outcome.node == "balance_inquiry"


def test_words_heard_on_weak_evidence_are_confirmed_not_accepted(mini: Flow) -> None:
    """The speech judge marks a guess `unsure`: the words alone would go straight to the
    node, but the caller is asked first, and a yes goes there."""
    d = _dialog(mini)
    prompts = d.on_utterance(Utterance("I lost my card", d.lang, "speech", unsure=True))
    assert not d.done and d.confirming, d.trace
    assert [t.decision for t in d.turns] == ["confirm"]
    assert prompts and prompts[0].endswith("is that right?")
    say(d, "yes")
    assert d.outcome is not None and d.outcome.node == "card_loss"


def test_confirm_no_then_low_confidence_hands_off_with_context(mini: Flow) -> None:
    d = _dialog(mini)
    say(d, "i have a card and i want money")
    say(d, "no")
    assert not d.done
    say(d, "the weather is nice today")
    assert d.outcome is not None and d.outcome.type == "handoff"
    assert d.handoff is not None and d.handoff.reason == "low_confidence"
    assert d.handoff.heard == ("i have a card and i want money", "no",
                               "the weather is nice today")
    assert d.handoff.path == ("root", "human_agent")  # root's on_fail
    assert d.handoff.candidates  # the agent sees what the engine considered


def test_two_low_confidence_turns_in_a_row_hand_off(mini: Flow) -> None:
    d = _dialog(mini)
    say(d, "what a lovely day")
    assert not d.done
    say(d, "pizza with extra cheese")
    assert d.outcome is not None and d.outcome.type == "handoff"
    assert d.outcome.reason == "low_confidence"


def test_no_input_retries_then_hands_off(mini: Flow) -> None:
    d = _dialog(mini)
    assert d.on_no_input()[0] == "Are you still there?"
    d.on_no_input()
    assert not d.done
    d.on_no_input()
    assert d.outcome is not None and d.outcome.type == "handoff"
    assert d.outcome.reason == "no_input"


def test_dtmf_routes_and_unknown_key_reprompts(mini: Flow) -> None:
    d = _dialog(mini)
    d.on_dtmf(Dtmf.D9)
    assert not d.done and d.turns[-1].decision == "dtmf"
    d.on_dtmf(Dtmf.D1)
    assert d.outcome is not None and d.outcome.node == "balance_inquiry"


def test_fraud_goes_to_the_urgent_queue(mini: Flow) -> None:
    d = _dialog(mini, "zh")
    say(d, "我被骗了")
    assert d.handoff is not None
    assert d.handoff.queue == "fraud" and d.handoff.priority is Priority.URGENT
    assert d.handoff.reason == "priority_intent" and d.handoff.intent == "fraud_report"


def test_caller_asks_for_a_human(mini: Flow) -> None:
    d = _dialog(mini)
    say(d, "talk to a real person")
    assert d.handoff is not None and d.handoff.reason == "caller_asked"
    assert d.handoff.queue == "general"


def test_hangup_midway(mini: Flow) -> None:
    d = _dialog(mini)
    outcome = d.on_hangup()
    assert outcome.type == "hangup" and outcome.node == "root"


def test_card_number_never_reaches_trace_or_handoff(mini: Flow) -> None:
    d = _dialog(mini)
    say(d, "my card 4111 1111 1111 1111 is gone and the weather")
    say(d, "4111111111111111")
    text = repr(d.trace) + repr(d.handoff) + repr(d.turns)
    assert "4111111111111111" not in text.replace(" ", "")
    assert "41111111" not in text.replace(" ", "")


def test_trace_is_deterministic(mini: Flow) -> None:
    runs = []
    for _ in range(3):
        d = _dialog(mini)
        say(d, "i have a card and i want money")
        say(d, "yes")
        runs.append([e.as_dict() for e in d.trace])
    assert runs[0] == runs[1] == runs[2]


def test_yes_no_words(mini: Flow) -> None:
    assert yes_or_no("yeah sure", "en", mini) is True
    assert yes_or_no("nope", "en", mini) is False
    assert yes_or_no("不是", "zh", mini) is False  # contains 是, but 不是 wins
    assert yes_or_no("是的", "zh", mini) is True
    assert yes_or_no("balance", "en", mini) is None


def test_misses_of_every_kind_count_together_and_answers_not_understood_on_their_own(
        mini: Flow) -> None:
    """mini: max_retries 2, max_low_confidence 2 (ivr.nlu.escalation's rule)."""
    d = _dialog(mini)
    d.on_no_input()
    d.on_dtmf(Dtmf.D9)  # a key root has no entry for
    assert not d.done
    say(d, "pizza with extra cheese")  # the third miss of any kind, the first not understood
    assert d.outcome is not None and d.outcome.reason == "low_confidence"
    assert d.path == ["root", "human_agent"]  # root's on_fail
    d = _dialog(mini)
    say(d, "i have a card and i want money")
    say(d, "no")  # a "no" to a confirmation is an answer not understood
    d.on_no_input()
    assert not d.done  # one not understood, two misses
    d.on_no_input()
    assert d.outcome is not None and d.outcome.reason == "no_input"


def test_the_give_up_turn_is_recorded_as_a_handoff_decision(mini: Flow) -> None:
    d = _dialog(mini)
    say(d, "what a lovely day")
    say(d, "pizza with extra cheese")
    assert [t.decision for t in d.turns] == ["reprompt", "handoff"]


def test_counts_start_again_on_entering_a_node(tmp_path: Path) -> None:
    text = (FLOWS / "mini.yaml").read_text("utf-8").replace(
        'dtmf: {"1": balance_inquiry,', 'dtmf: {"5": again, "1": balance_inquiry,') + (
        "  again:\n    type: menu\n    prompt: {zh: 再来, en: Again}\n"
        '    dtmf: {"1": balance_inquiry}\n    on_fail: human_agent\n')
    path = tmp_path / "f.yaml"
    path.write_text(text, "utf-8")
    d = _dialog(load_flow(path))
    d.on_no_input()
    d.on_no_input()
    d.on_dtmf(Dtmf.D5)
    d.on_no_input()
    d.on_no_input()
    assert not d.done and d.node.id == "again"
    d.on_no_input()
    assert d.outcome is not None and d.path == ["root", "again", "human_agent"]


def test_every_turn_kind_is_a_turn_kind_with_the_replay_string(mini: Flow) -> None:
    """Turn.decision is one enum (policy decisions, keys, yes/no, silence); JSON keeps the
    replay contract's plain strings."""
    d = _dialog(mini)
    d.on_no_input()
    d.on_dtmf(Dtmf("7"))
    say(d, "I lost my card")
    assert all(type(t.decision) is TurnKind for t in d.turns)
    assert [t.as_dict()["decision"] for t in d.turns] == ["no_input", "dtmf", "accept"]
    assert all(type(t.as_dict()["decision"]) is str for t in d.turns)
    assert {k.value for k in TurnKind} >= {str(k) for k in DecisionKind}
