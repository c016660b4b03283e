"""The sample bank's SQLite database: schema, one connection, one lock, transactions.

Amounts are integers in minor units (fen, cents; KRW has none). The request log and the
idempotency records live here too, so a restarted service keeps both.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DECIMALS", "SCHEMA", "Store", "from_minor", "to_minor"]

DECIMALS = {"CNY": 2, "USD": 2, "KRW": 0}
"""Digits after the decimal point per currency."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, lang TEXT NOT NULL,
    caller_number TEXT NOT NULL, birth_date TEXT NOT NULL, pin_hash TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS customers_caller ON customers (caller_number);
CREATE TABLE IF NOT EXISTS cards (
    customer_id TEXT NOT NULL REFERENCES customers, tail TEXT NOT NULL,
    is_primary INTEGER NOT NULL, frozen INTEGER NOT NULL DEFAULT 0, frozen_ref TEXT,
    PRIMARY KEY (customer_id, tail));
CREATE INDEX IF NOT EXISTS cards_tail ON cards (tail);
CREATE TABLE IF NOT EXISTS accounts (
    customer_id TEXT NOT NULL REFERENCES customers, currency TEXT NOT NULL,
    is_primary INTEGER NOT NULL, balance_minor INTEGER NOT NULL,
    PRIMARY KEY (customer_id, currency));
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers, date TEXT NOT NULL,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, merchant TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transactions_customer ON transactions (customer_id, date);
CREATE TABLE IF NOT EXISTS atms (
    id TEXT PRIMARY KEY, names TEXT NOT NULL, areas TEXT NOT NULL, landmarks TEXT NOT NULL,
    addresses TEXT NOT NULL, hours TEXT NOT NULL, utc_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS loans (
    customer_id TEXT PRIMARY KEY REFERENCES customers, principal_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, due_date TEXT NOT NULL, arrears_months INTEGER NOT NULL,
    deferred_months INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cases (
    reference TEXT PRIMARY KEY, kind TEXT NOT NULL, customer_id TEXT, detail TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, operation TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, operation TEXT NOT NULL,
    status INTEGER NOT NULL, error TEXT, replayed INTEGER NOT NULL, size INTEGER NOT NULL,
    body TEXT);
"""


def to_minor(amount: str, currency: str) -> int:
    """``"12.34"`` CNY -> 1234 (raises ValueError on more decimals than the currency has)."""
    whole, _, frac = amount.partition(".")
    places = DECIMALS[currency]
    if len(frac) > places:
        raise ValueError("too many decimals")
    sign = -1 if whole.startswith("-") else 1
    return int(int(whole or "0") * 10**places + int(frac.ljust(places, "0") or "0") * sign)


def from_minor(minor: int, currency: str) -> str:
    """1234 CNY -> ``"12.34"``; 50000 KRW -> ``"50000"``."""
    places = DECIMALS[currency]
    if not places:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


class Store:
    """One SQLite connection shared by the service's threads under one lock."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=10)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (committed, or rolled back on error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
