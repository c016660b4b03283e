"""The bank service's operations (docs/backend.md): what each needs, returns, and may repeat.

A flow's `request` step names one of these; lint can check the name and the fields against
this table before any call is taken. `reply` lists the fields an answer must have: a reply
without one is a ``bad_reply``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPERATIONS", "Operation"]


@dataclass(frozen=True)
class Operation:
    """One operation of the bank service's API."""

    name: str
    """Posted to ``/v1/<name>``."""
    required: frozenset[str]
    """Request fields it cannot do without."""
    optional: frozenset[str]
    """Request fields it also takes."""
    reply: frozenset[str]
    """Fields every successful reply has."""
    read_only: bool
    """It changes nothing at the bank, so repeating it is always safe. `verify` is not: it
    counts failed attempts."""
    secret: frozenset[str] = frozenset()
    """Request fields that are secrets (the PIN): never logged, never in an error."""


def _op(name: str, required: str, optional: str, reply: str, read_only: bool,
        secret: str = "") -> Operation:
    return Operation(name, frozenset(required.split()), frozenset(optional.split()),
                     frozenset(reply.split()), read_only, frozenset(secret.split()))


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    _op("verify", "", "caller_number card_tail birth_date pin", "verified failures", False,
        secret="pin"),
    _op("freeze_card", "customer_id", "card_tail",
        "frozen already_frozen confirmation card_tail", False),
    _op("balance", "customer_id", "currency", "balance currency as_of", True),
    _op("transactions", "customer_id limit", "", "transactions", True),
    _op("send_sms", "customer_id kind", "", "sent reference", False),
    _op("atm_nearby", "area lang", "at", "atms", True),
    _op("card_retained", "atm when", "customer_id", "reference return_by", False),
    _op("open_dispute", "customer_id transaction", "amount", "reference", False),
    _op("loan_deferral_check", "customer_id", "", "eligible", True),
    _op("loan_deferral_request", "customer_id months", "", "reference new_due_date", False),
)}
"""Every operation, by name."""
