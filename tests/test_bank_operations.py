"""The sample bank's operations through the engine's client, over real HTTP (samples/bank).

Each operation's happy path and its real logic on the seeded data: verify counts failures per
customer and locks, freeze_card flips the flag once, deferral eligibility, disputes matched to
transactions, ATMs found by area or landmark in every language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from ivr.backend import OPERATIONS, Backend, BackendConfig, BackendError
from samples.bank.ops import LOCK_AFTER
from samples.bank.seed import PERSONAS, customers

from .bank_server import TOKEN_ENV, BankServer

KO, ZH, EN = PERSONAS


@pytest.fixture
def client(bank_api: BankServer) -> Iterator[Backend]:
    backend = Backend(BackendConfig(bank_api.url, token_env=TOKEN_ENV, timeout_s=5.0))
    yield backend
    backend.close()


def _customer(n: int) -> str:
    """A made-up (non-persona) customer's id: tests that change state use their own."""
    return f"C{n:05d}"


EXAMPLES = {
    "verify": {"caller_number": "+" + EN.caller_number, "birth_date": EN.birth_date},
    "freeze_card": {"customer_id": _customer(10)},
    "balance": {"customer_id": ZH.id},
    "transactions": {"customer_id": ZH.id, "limit": 5},
    "send_sms": {"customer_id": ZH.id, "kind": "statement"},
    "atm_nearby": {"area": "陆家嘴", "lang": "zh"},
    "card_retained": {"customer_id": KO.id, "atm": "강남역", "when": "오늘 오후 3시"},
    "open_dispute": {"customer_id": ZH.id, "transaction": "星巴克"},
    "loan_deferral_check": {"customer_id": EN.id},
    "loan_deferral_request": {"customer_id": "", "months": 3},  # an eligible one
}


def _eligible(client: Backend, numbers: range) -> str:
    """The first of these seeded customers whose loan may be deferred (the seed is fixed)."""
    for n in numbers:
        if client.call("loan_deferral_check", {"customer_id": _customer(n)})["eligible"]:
            return _customer(n)
    raise AssertionError(f"no deferrable loan among customers {numbers}")


def test_examples_cover_every_operation() -> None:
    assert EXAMPLES.keys() == OPERATIONS.keys()


@pytest.mark.parametrize("operation", sorted(EXAMPLES))
def test_every_operation_answers(client: Backend, operation: str) -> None:
    payload = EXAMPLES[operation]
    if operation == "loan_deferral_request":
        payload = {**payload, "customer_id": _eligible(client, range(30, 40))}
    reply = client.call(operation, payload)
    assert OPERATIONS[operation].reply <= reply.keys()


def test_verify_by_pin_and_failures_count_per_customer(client: Backend) -> None:
    who = list(customers(40))[20]
    number = "+" + who.caller_number
    wrong = "0" * len(who.pin) if who.pin != "0" * len(who.pin) else "1" * len(who.pin)
    assert client.call("verify", {"caller_number": number, "pin": wrong}) == {
        "verified": False, "failures": 1, "locked": False, "reason": "mismatch"}
    assert client.call("verify", {"caller_number": number, "pin": wrong})["failures"] == 2
    ok = client.call("verify", {"caller_number": number, "pin": who.pin})
    assert ok["verified"] is True and ok["customer_id"] == who.id and ok["failures"] == 0


def test_verify_locks_after_repeated_failures(client: Backend) -> None:
    who = list(customers(40))[21]
    number = "+" + who.caller_number
    for n in range(1, LOCK_AFTER + 1):
        reply = client.call("verify", {"caller_number": number, "birth_date": "1900-01-01"})
        assert reply["failures"] == n and reply["verified"] is False
    locked = client.call("verify", {"caller_number": number, "pin": who.pin})
    assert locked["verified"] is False and locked["locked"] is True


def test_verify_by_card_tail_and_birth_date(client: Backend) -> None:
    reply = client.call("verify", {"card_tail": ZH.cards[0], "birth_date": ZH.birth_date})
    assert reply["verified"] is True and reply["customer_id"] == ZH.id


def test_verify_needs_a_knowledge_fact(client: Backend) -> None:
    reply = client.call("verify", {"caller_number": "+" + KO.caller_number,
                                   "card_tail": KO.cards[0]})
    assert reply["verified"] is False


def test_verify_unknown_caller_counts_nobody(client: Backend) -> None:
    reply = client.call("verify", {"caller_number": "+19995550000", "pin": "1234"})
    assert reply == {"verified": False, "failures": 0, "reason": "not_found"}


def test_freeze_flips_the_flag_once(client: Backend) -> None:
    who = list(customers(40))[22]
    first = client.call("freeze_card", {"customer_id": who.id, "card_tail": who.cards[0]})
    again = client.call("freeze_card", {"customer_id": who.id, "card_tail": who.cards[0]})
    assert first["frozen"] and not first["already_frozen"] and first["card_tail"] == who.cards[0]
    assert again["already_frozen"] and again["confirmation"] == first["confirmation"]


def test_freeze_unknown_card_is_a_4xx(client: Backend) -> None:
    with pytest.raises(BackendError) as e:
        client.call("freeze_card", {"customer_id": KO.id, "card_tail": "0000"})
    assert e.value.reason == "http_4xx" and "card_not_found" in e.value.detail


def test_balance_in_the_customers_currency(client: Backend) -> None:
    reply = client.call("balance", {"customer_id": KO.id})
    assert reply["currency"] == "KRW" and str(reply["balance"]).isdigit()
    assert reply["as_of"] == dt.datetime.now(dt.UTC).date().isoformat()
    zh = client.call("balance", {"customer_id": ZH.id})
    assert zh["currency"] == "CNY" and str(zh["balance"]).count(".") == 1


def test_transactions_newest_first(client: Backend) -> None:
    reply = client.call("transactions", {"customer_id": EN.id, "limit": 5})
    rows = reply["transactions"]
    assert isinstance(rows, list) and len(rows) == 5
    dates = [r["date"] for r in rows if isinstance(r, dict)]
    assert dates == sorted(dates, reverse=True)
    assert {r["currency"] for r in rows if isinstance(r, dict)} == {"USD"}


@pytest.mark.parametrize(("area", "lang", "expect"), [
    ("강남", "ko", "강남역 ATM"), ("Gangnam Station", "en", "Gangnam Station ATM"),
    ("东方明珠", "zh", "陆家嘴环路自助银行"), ("times square", "ko", "타임스스퀘어 ATM"),
])
def test_atms_by_area_or_landmark_in_any_language(client: Backend, area: str, lang: str,
                                                  expect: str) -> None:
    atms = client.call("atm_nearby", {"area": area, "lang": lang})["atms"]
    assert isinstance(atms, list) and atms[0]["name"] == expect  # type: ignore[index]


def test_atm_open_now_follows_local_hours(client: Backend) -> None:
    # Myeongdong opens 09:00-22:00 Seoul time (UTC+9)
    def open_at(utc: str) -> object:
        atms = client.call("atm_nearby", {"area": "명동", "lang": "ko", "at": utc})["atms"]
        return atms[0]["open_now"]  # type: ignore[index]
    assert open_at("2026-12-04T03:00:00+00:00") is True   # 12:00 in Seoul
    assert open_at("2026-12-04T14:00:00+00:00") is False  # 23:00 in Seoul


def test_unknown_area_finds_no_atm(client: Backend) -> None:
    assert client.call("atm_nearby", {"area": "Atlantis", "lang": "en"}) == {"atms": []}


def test_dispute_matches_a_transaction(client: Backend) -> None:
    tx = client.call("transactions", {"customer_id": KO.id, "limit": 1})["transactions"]
    first = tx[0]  # type: ignore[index]
    reply = client.call("open_dispute", {"customer_id": KO.id, "transaction": first["id"]})
    assert reply["matched"] is True and reply["transaction_id"] == first["id"]
    assert str(reply["reference"]).startswith("DP")


def test_loan_deferral_once(client: Backend) -> None:
    eligible = [_eligible(client, range(23, 30))]
    reply = client.call("loan_deferral_request", {"customer_id": eligible[0], "months": 2})
    assert str(reply["reference"]).startswith("LD")
    dt.date.fromisoformat(str(reply["new_due_date"]))
    check = client.call("loan_deferral_check", {"customer_id": eligible[0]})
    assert check == {"eligible": False, "reason": "already_deferred"}
    with pytest.raises(BackendError) as e:
        client.call("loan_deferral_request", {"customer_id": eligible[0], "months": 2})
    assert e.value.reason == "http_4xx" and "not_eligible" in e.value.detail


def test_unknown_customer_is_a_4xx(client: Backend) -> None:
    with pytest.raises(BackendError) as e:
        client.call("balance", {"customer_id": "C99999"})
    assert e.value.reason == "http_4xx" and "customer_not_found" in e.value.detail


def test_card_retained_and_sms(client: Backend) -> None:
    kept = client.call("card_retained", {"atm": "Times Square", "when": "this morning"})
    assert kept["atm_id"] == "NY-MT-1"
    sms = client.call("send_sms", {"customer_id": EN.id, "kind": "upload_link"})
    assert sms["sent"] is True and str(sms["reference"]).startswith("SM")
