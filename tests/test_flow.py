"""Flow loading: positions, every problem at once, hostile files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import FlowError, FlowErrors
from ivr.flow import Flow, load_flow
from ivr.flow.model import NODE_TYPES, NodeType
from ivr.types import Priority

from .conftest import FLOWS

BUSINESS = (
    "balance_inquiry", "transaction_history", "card_loss", "card_retained", "account_error",
    "transfer", "atm_locator", "loan_deferral", "credit_report", "fraud_report",
    "credit_card_bill", "upload_documents", "elderly_service", "complaint", "human_agent",
    "password_reset", "card_activation",
)


def _messages(path: Path) -> list[str]:
    with pytest.raises((FlowError, FlowErrors)) as info:
        load_flow(path.name)
    return str(info.value).splitlines()


@pytest.mark.parametrize("case", sorted((FLOWS / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_flow_reports_exactly_the_expected_problems(case: Path, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.chdir(case.parent)
    expected = case.with_suffix(".expected").read_text("utf-8").splitlines()
    assert _messages(case) == expected


def test_bank_flow_has_every_business_node_and_intent(bank: Flow) -> None:
    for node_id in BUSINESS:
        assert node_id in bank.nodes, node_id
        target = bank.intents[node_id].target  # fraud: the freeze first, then the queue
        assert target == node_id or bank.nodes[target].next == node_id
        assert bank.intents[node_id].is_global
        for lang in ("zh", "en", "ko"):
            assert bank.intents[node_id].phrases[lang], (node_id, lang)
            assert bank.nodes[node_id].prompt[lang]


def test_bank_flow_queues(bank: Flow) -> None:
    for node_id in ("complaint", "human_agent", "fraud_report", "elderly_service"):
        assert bank.nodes[node_id].type == "transfer"
    assert bank.queue_priority(bank.nodes["fraud_report"]) is Priority.URGENT
    green = bank.nodes["elderly_service"].queue
    assert green not in (bank.nodes["human_agent"].queue, bank.nodes["complaint"].queue)


def test_positions_are_kept(mini: Flow) -> None:
    text = (FLOWS / "mini.yaml").read_text("utf-8").splitlines()
    assert text[mini.nodes["root"].line - 1].strip() == "root:"
    assert text[mini.intents["card_loss"].line - 1].strip() == "card_loss:"


def test_intents_at_lists_global_intents(mini: Flow) -> None:
    assert set(mini.intents_at("root")) == set(mini.intents)


@pytest.mark.parametrize("text, fragment", [
    ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "refused"),
    ("x: !!python/object/apply:os.system [echo hi]\n", "not allowed"),
    ("[" * 200 + "]" * 200 + "\n", "nesting"),
    ("", "empty"),
    ("nodes: [\n", "YAML syntax error"),
])
def test_hostile_or_broken_files_are_refused_fast(tmp_path: Path, text: str,
                                                   fragment: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises((FlowError, FlowErrors)) as info:
        load_flow(path)
    assert fragment in str(info.value)
    assert str(info.value).startswith(str(path) + ":")


def test_huge_file_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * 3_000_000 + b"\n")
    with pytest.raises(FlowError, match="limit"):
        load_flow(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="no such file"):
        load_flow(tmp_path / "nope.yaml")


def test_node_types_are_an_enum_with_the_file_strings(bank: Flow) -> None:
    assert NODE_TYPES == ("menu", "service", "transfer", "end")
    assert all(type(n.type) is NodeType for n in bank.nodes.values())
    assert bank.nodes[bank.start].type is NodeType.MENU and NodeType.MENU == "menu"
