"""The operations, on the database: each takes the checked request and returns the reply.

Run inside one transaction (`Store.tx`), so a failure changes nothing. A refusal is an
`ApiError` (404 customer_not_found, 409 not_eligible, 423 locked, …).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from .pins import check_pin
from .schema import ApiError
from .store import from_minor, to_minor

__all__ = ["LOCK_AFTER", "OPERATIONS", "Context"]

LOCK_AFTER = 5
"""Failed verifications in a row that lock a customer's telephone banking."""

Context = tuple[sqlite3.Connection, dt.datetime]
"""The transaction's connection and the service's clock (UTC, aware)."""
Reply = dict[str, Any]


def _customer(db: sqlite3.Connection, customer_id: object) -> sqlite3.Row:
    row = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if not isinstance(row, sqlite3.Row):
        raise ApiError(404, "customer_not_found")
    return row


def _reference(db: sqlite3.Connection, prefix: str, kind: str, customer: object,
               detail: dict[str, object]) -> str:
    """A new case reference (two letters, six digits) recorded with what it is for."""
    while True:
        ref = f"{prefix}{secrets.randbelow(10**6):06d}"
        if db.execute("SELECT 1 FROM cases WHERE reference = ?", (ref,)).fetchone() is None:
            break
    db.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?)",
               (ref, kind, customer, json.dumps(detail, ensure_ascii=False), time.time()))
    return ref


def verify(ctx: Context, req: dict[str, Any]) -> Reply:
    """Identify by caller number (else card tail + birth date), then check every fact given.

    Verified only when the customer is found, not locked, every given fact matches, and a
    knowledge fact (PIN or birth date) was among them. Each mismatch counts a failure for
    that customer; `LOCK_AFTER` in a row lock them; success resets the count.
    """
    db, _ = ctx
    if "caller_number" in req:
        rows = db.execute("SELECT * FROM customers WHERE caller_number = ?",
                          (req["caller_number"],)).fetchall()
    elif "card_tail" in req and "birth_date" in req:
        rows = db.execute("SELECT c.* FROM customers c JOIN cards k ON k.customer_id = c.id "
                          "WHERE k.tail = ? AND c.birth_date = ?",
                          (req["card_tail"], req["birth_date"])).fetchall()
    else:
        raise ApiError(400, "not_enough_facts")
    if len(rows) != 1:  # unknown, or not one person: nobody to count against
        return {"verified": False, "failures": 0, "reason": "not_found"}
    row = rows[0]
    if row["locked"]:
        return {"verified": False, "failures": row["failures"], "locked": True,
                "reason": "locked"}
    tails = {r[0] for r in db.execute("SELECT tail FROM cards WHERE customer_id = ?", (row["id"],))}
    ok = ("pin" in req or "birth_date" in req) and all((
        req.get("card_tail", next(iter(tails), None)) in tails,
        req.get("birth_date", row["birth_date"]) == row["birth_date"],
        "pin" not in req or check_pin(req["pin"], row["pin_hash"]),
    ))
    if ok:
        db.execute("UPDATE customers SET failures = 0 WHERE id = ?", (row["id"],))
        return {"verified": True, "customer_id": row["id"], "failures": 0,
                "name": row["name"], "lang": row["lang"]}
    failures = row["failures"] + 1
    locked = failures >= LOCK_AFTER
    db.execute("UPDATE customers SET failures = ?, locked = ? WHERE id = ?",
               (failures, int(locked), row["id"]))
    return {"verified": False, "failures": failures, "locked": locked, "reason": "mismatch"}


def freeze_card(ctx: Context, req: dict[str, Any]) -> Reply:
    """Freeze the given card (else the primary one); an already frozen card says so."""
    db, _ = ctx
    _customer(db, req["customer_id"])
    if "card_tail" in req:
        card = db.execute("SELECT * FROM cards WHERE customer_id = ? AND tail = ?",
                          (req["customer_id"], req["card_tail"])).fetchone()
    else:
        card = db.execute("SELECT * FROM cards WHERE customer_id = ? ORDER BY is_primary DESC, "
                          "tail LIMIT 1", (req["customer_id"],)).fetchone()
    if card is None:
        raise ApiError(404, "card_not_found")
    if card["frozen"] and card["frozen_ref"]:
        return {"frozen": True, "already_frozen": True, "confirmation": card["frozen_ref"],
                "card_tail": card["tail"]}
    ref = _reference(db, "FZ", "freeze", req["customer_id"], {"card_tail": card["tail"]})
    db.execute("UPDATE cards SET frozen = 1, frozen_ref = ? WHERE customer_id = ? AND tail = ?",
               (ref, req["customer_id"], card["tail"]))
    return {"frozen": True, "already_frozen": bool(card["frozen"]), "confirmation": ref,
            "card_tail": card["tail"]}


def balance(ctx: Context, req: dict[str, Any]) -> Reply:
    """The balance of the customer's account in `currency` (else their primary one)."""
    db, now = ctx
    _customer(db, req["customer_id"])
    if "currency" in req:
        row = db.execute("SELECT * FROM accounts WHERE customer_id = ? AND currency = ?",
                         (req["customer_id"], req["currency"])).fetchone()
    else:
        row = db.execute("SELECT * FROM accounts WHERE customer_id = ? ORDER BY is_primary DESC "
                         "LIMIT 1", (req["customer_id"],)).fetchone()
    if row is None:
        raise ApiError(404, "account_not_found")
    return {"balance": from_minor(row["balance_minor"], row["currency"]),
            "currency": row["currency"], "as_of": now.date().isoformat()}


def transactions(ctx: Context, req: dict[str, Any]) -> Reply:
    """The customer's last `limit` transactions, newest first."""
    db, _ = ctx
    _customer(db, req["customer_id"])
    rows = db.execute("SELECT * FROM transactions WHERE customer_id = ? ORDER BY date DESC, id "
                      "DESC LIMIT ?", (req["customer_id"], req["limit"])).fetchall()
    return {"transactions": [{"id": r["id"], "date": r["date"], "merchant": r["merchant"],
                              "amount": from_minor(r["amount_minor"], r["currency"]),
                              "currency": r["currency"]} for r in rows]}


def send_sms(ctx: Context, req: dict[str, Any]) -> Reply:
    """Send a statement or an upload link to the customer's registered number (recorded)."""
    db, _ = ctx
    row = _customer(db, req["customer_id"])
    ref = _reference(db, "SM", req["kind"], row["id"], {"to": "***" + row["caller_number"][-2:]})
    return {"sent": True, "reference": ref}


def _matches(atm: sqlite3.Row, words: str) -> bool:
    needle = words.casefold().replace(" ", "")
    texts = [*json.loads(atm["areas"]).values(), *json.loads(atm["names"]).values()]
    texts += [x for group in json.loads(atm["landmarks"]).values() for x in group]
    return any(needle in t.casefold().replace(" ", "") or
               t.casefold().replace(" ", "") in needle for t in texts)


def _open_now(hours: str, offset: int, at: dt.datetime) -> bool:
    if hours == "24h":
        return True
    local = (at.astimezone(dt.UTC) + dt.timedelta(hours=offset)).strftime("%H:%M")
    opens, closes = hours.split("-")
    return opens <= local < closes


def atm_nearby(ctx: Context, req: dict[str, Any]) -> Reply:
    """ATMs whose area, name or landmark (any language) matches `area`, in `lang`."""
    db, now = ctx
    at = req.get("at", now)
    found = [a for a in db.execute("SELECT * FROM atms ORDER BY id") if _matches(a, req["area"])]
    return {"atms": [{"id": a["id"], "name": json.loads(a["names"])[req["lang"]],
                      "address": json.loads(a["addresses"])[req["lang"]], "hours": a["hours"],
                      "open_now": _open_now(a["hours"], a["utc_offset"], at)}
                     for a in found[:3]]}


def card_retained(ctx: Context, req: dict[str, Any]) -> Reply:
    """An urgent request to return a card an ATM kept; back within two days."""
    db, now = ctx
    if "customer_id" in req:
        _customer(db, req["customer_id"])
    rows = db.execute("SELECT * FROM atms ORDER BY id")
    atms = [a["id"] for a in rows if _matches(a, req["atm"])]
    ref = _reference(db, "CR", "card_retained", req.get("customer_id"),
                     {"atm": atms[0] if atms else None, "when": req["when"]})
    reply: Reply = {"reference": ref, "return_by": (now.date() + dt.timedelta(days=2)).isoformat()}
    if atms:
        reply["atm_id"] = atms[0]
    return reply


def open_dispute(ctx: Context, req: dict[str, Any]) -> Reply:
    """A dispute on one transaction: by its id, else by merchant or amount (newest first)."""
    db, _ = ctx
    _customer(db, req["customer_id"])
    rows = db.execute("SELECT * FROM transactions WHERE customer_id = ? ORDER BY date DESC, id "
                      "DESC", (req["customer_id"],)).fetchall()
    said = req["transaction"].casefold()
    amount = req.get("amount")
    match = next((r for r in rows if r["id"].casefold() == said), None) or next(
        (r for r in rows if r["merchant"].casefold() in said or said in r["merchant"].casefold()
         or (amount is not None and abs(r["amount_minor"]) == _minor(amount, r["currency"]))),
        None)
    ref = _reference(db, "DP", "dispute", req["customer_id"],
                     {"transaction": match["id"] if match else None})
    reply: Reply = {"reference": ref, "matched": match is not None}
    if match is not None:
        reply["transaction_id"] = match["id"]
    return reply


def _minor(amount: str, currency: str) -> int | None:
    try:
        return to_minor(amount, currency)
    except ValueError:
        return None


def _eligibility(db: sqlite3.Connection, customer_id: str) -> tuple[sqlite3.Row | None, str]:
    _customer(db, customer_id)
    loan = db.execute("SELECT * FROM loans WHERE customer_id = ?", (customer_id,)).fetchone()
    if loan is None:
        return None, "no_loan"
    if loan["deferred_months"]:
        return loan, "already_deferred"
    if loan["arrears_months"] >= 2:
        return loan, "in_arrears"
    return loan, ""


def loan_deferral_check(ctx: Context, req: dict[str, Any]) -> Reply:
    """Whether the customer's loan may be deferred (and why not)."""
    _, reason = _eligibility(ctx[0], req["customer_id"])
    return {"eligible": True} if not reason else {"eligible": False, "reason": reason}


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def loan_deferral_request(ctx: Context, req: dict[str, Any]) -> Reply:
    """Defer the next payment by `months`; 409 not_eligible (with the reason) otherwise."""
    db, _ = ctx
    loan, reason = _eligibility(db, req["customer_id"])
    if loan is None or reason:
        raise ApiError(409, f"not_eligible:{reason}")
    new_due = _add_months(dt.date.fromisoformat(loan["due_date"]), req["months"])
    ref = _reference(db, "LD", "loan_deferral", req["customer_id"], {"months": req["months"]})
    db.execute("UPDATE loans SET due_date = ?, deferred_months = ? WHERE customer_id = ?",
               (new_due.isoformat(), req["months"], req["customer_id"]))
    return {"reference": ref, "new_due_date": new_due.isoformat()}


OPERATIONS: dict[str, Callable[[Context, dict[str, Any]], Reply]] = {
    f.__name__: f for f in (verify, freeze_card, balance, transactions, send_sms, atm_nearby,
                            card_retained, open_dispute, loan_deferral_check,
                            loan_deferral_request)}
"""Every operation, by name (the same names as schema.FIELDS)."""
