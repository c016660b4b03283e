"""The client's reply rules without a network: what a status and a body become."""

from __future__ import annotations

import re

import pytest

from ivr.backend import BackendError
from ivr.backend.client import _checked, _decoded, _Failed


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}', b"\xff\xfe",
                                  b"", b'{"a": 1} trailing'])
def test_unreadable_2xx_bodies_are_bad_replies(body: bytes) -> None:
    with pytest.raises(_Failed) as e:
        _decoded(200, body)
    assert e.value.reason == "bad_reply" and not e.value.retry


def test_an_error_code_with_digits_is_never_repeated() -> None:
    """A gateway that echoes a PIN or a card in its error code: the code is not logged."""
    with pytest.raises(_Failed) as e:
        _decoded(400, b'{"error": "wrong_pin:4829"}')
    assert e.value.reason == "http_4xx" and "4829" not in e.value.detail
    with pytest.raises(_Failed) as e:
        _decoded(503, b'{"error": "unavailable"}')
    assert e.value.reason == "http_500" and "unavailable" in e.value.detail and e.value.retry


def test_redirects_are_not_followed() -> None:
    with pytest.raises(_Failed) as e:
        _decoded(302, b"{}")
    assert e.value.reason == "bad_reply"


def test_a_reply_must_have_the_operations_fields() -> None:
    with pytest.raises(BackendError) as e:
        _checked("freeze_card", {"frozen": True})
    assert e.value.reason == "bad_reply" and "already_frozen" in e.value.detail
    assert _checked("some_new_operation", {}) == {}
    with pytest.raises(BackendError):
        _checked("balance", [1, 2])


def test_the_engines_operation_table_is_the_services() -> None:
    """ivr.backend.OPERATIONS (what lint and the client know) and the sample bank's parser
    (samples/bank/schema.py) and docs/backend.md list the same operations and fields."""
    from ivr.backend import OPERATIONS
    from samples.bank.ops import OPERATIONS as DONE
    from samples.bank.schema import FIELDS

    from .conftest import ROOT
    assert OPERATIONS.keys() == FIELDS.keys() == DONE.keys()
    for name, op in OPERATIONS.items():
        required = {f for f, (needed, _) in FIELDS[name].items() if needed}
        assert (op.required, op.optional) == (required, set(FIELDS[name]) - required), name
    doc = (ROOT / "docs" / "backend.md").read_text("utf-8")
    assert set(re.findall(r"^\| `(\w+)` \|", doc, re.M)) == set(OPERATIONS)
