"""The sample bank's request parser under hostile input: in-process (thousands of bodies) and
over real HTTP (mutated bodies, raw bytes, stalled clients): always a 4xx, never a crash, and
the next good request is still answered."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samples.bank.requestlog import masked
from samples.bank.schema import FIELDS, MAX_BODY, MAX_DEPTH, ApiError, decode_json, parse_body

from .bank_server import BankServer

VALID: dict[str, dict[str, Any]] = {
    "verify": {"caller_number": "+821012345678", "pin": "4829"},
    "freeze_card": {"customer_id": "C00001", "card_tail": "5312"},
    "balance": {"customer_id": "C00002"},
    "transactions": {"customer_id": "C00002", "limit": 5},
    "send_sms": {"customer_id": "C00003", "kind": "statement"},
    "atm_nearby": {"area": "강남", "lang": "ko"},
    "card_retained": {"atm": "Times Square", "when": "today"},
    "open_dispute": {"customer_id": "C00002", "transaction": "星巴克", "amount": "35.00"},
    "loan_deferral_check": {"customer_id": "C00003"},
    "loan_deferral_request": {"customer_id": "C00003", "months": 1},
}
OPERATIONS = sorted(VALID)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid body with bytes flipped, inserted, deleted, or cut."""
    operation = draw(st.sampled_from(OPERATIONS))
    body = bytearray(json.dumps(VALID[operation], ensure_ascii=False).encode())
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        if kind == "flip" and where < len(body):
            body[where] = draw(st.integers(0, 255))
        elif kind == "insert":
            body[where:where] = draw(st.sampled_from(
                (b"{", b"[", b'"', b"\\", b",", b":", b"\x00", b"\xff", b"NaN", b"1e999",
                 b'"pin":"1"', b"null", "密码".encode())))
        elif kind == "delete":
            del body[where:where + draw(st.integers(1, 4))]
        else:
            del body[where:]
    return operation, bytes(body)


def _check(operation: str, body: bytes) -> None:
    try:
        request = parse_body(operation, body)
    except ApiError as e:
        assert e.status in (400, 404, 413) and e.code.isprintable() and len(e.code) < 64
        return
    assert set(request) <= set(FIELDS[operation])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bodies_are_parsed_or_refused(case: tuple[str, bytes]) -> None:
    _check(*case)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(OPERATIONS), json_values)
def test_any_json_is_parsed_or_refused(operation: str, value: object) -> None:
    _check(operation, json.dumps(value).encode())


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from([*OPERATIONS, "nope", "../admin"]), st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused(operation: str, body: bytes) -> None:
    _check(operation, body)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 5000, b"[" * (MAX_DEPTH + 1)])
def test_deep_nesting_is_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(ApiError) as e:
        decode_json(body)
    assert e.value.code in ("too_deep", "too_large")


def test_nesting_inside_strings_does_not_count() -> None:
    assert decode_json(json.dumps({"area": "[" * 50}).encode()) == {"area": "[" * 50}


@given(st.sampled_from(OPERATIONS), json_values, st.text("0123456789", min_size=4, max_size=8))
def test_secret_fields_never_survive_masking(operation: str, value: object, pin: str) -> None:
    body = {"x": value, "pin": pin, "nested": {"card_pin": pin, "list": [{"cvv": pin}]}}
    out = masked(operation, body)
    assert out["x"] == value
    assert out["nested"] == {"card_pin": "****", "list": [{"cvv": "****"}]}
    if operation == "verify":  # the verify request itself keeps a keyed hash, never the PIN
        assert out["pin"].startswith("hmac$") and pin not in out["pin"].split("$")[1]
    else:
        assert out["pin"] == "****"


# -- over the network ---------------------------------------------------------------------------


def _post(server: BankServer, path: str, body: bytes, token: str | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={
            "Authorization": f"Bearer {token or server.token}",
            "Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def _still_answers(server: BankServer) -> None:
    status, value = _post(server, "/v1/balance", b'{"customer_id": "C00002"}')
    assert status == 200 and value["currency"] == "CNY"


@pytest.fixture(scope="module")
def fuzzed_bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankServer]:
    """A bank of its own: mutated bodies that happen to be valid change data (a wrong PIN
    counts, a card freezes), which the session's shared bank must not see."""
    server = BankServer(tmp_path_factory.mktemp("bank-fuzz"), customers=5).start()
    yield server
    server.stop()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=mutated())
def test_the_service_refuses_mutated_bodies(fuzzed_bank: BankServer,
                                            case: tuple[str, bytes]) -> None:
    operation, body = case
    status, value = _post(fuzzed_bank, f"/v1/{operation}", body)
    assert status < 500 and (status == 200 or "error" in value)


def test_the_service_answers_after_the_fuzz(fuzzed_bank: BankServer) -> None:
    _still_answers(fuzzed_bank)


def _raw(server: BankServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"POST /v1/balance HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    b"POST /v1/balance HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/balance HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /v1/balance HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    b"POST /v1/" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"POST /v1/balance HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"customer_id\"",
])
def test_broken_requests_cost_only_themselves(bank_api: BankServer, data: bytes) -> None:
    reply = _raw(bank_api, data)
    assert reply == b"" or reply.split(b" ", 2)[1][:1] == b"4"
    _still_answers(bank_api)


def test_a_body_over_the_limit_is_refused_unread(bank_api: BankServer) -> None:
    status, value = _post(bank_api, "/v1/balance", b" " * (MAX_BODY + 1))
    assert (status, value) == (413, {"error": "too_large"})


def test_stalled_clients_do_not_block_others(bank_api: BankServer) -> None:
    stalled = [socket.create_connection(("127.0.0.1", bank_api.port)) for _ in range(8)]
    try:
        for s in stalled:
            s.sendall(b"POST /v1/balance HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        _still_answers(bank_api)
    finally:
        for s in stalled:
            s.close()


def test_wrong_token_is_refused(bank_api: BankServer) -> None:
    assert _post(bank_api, "/v1/balance", b'{"customer_id": "C00002"}', token="x") == (
        401, {"error": "unauthorized"})
