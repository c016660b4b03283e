"""What the service was asked, kept for tests and the demo (``GET /admin/requests``).

Never a PIN: every field named like a secret becomes ``****`` at any depth, except the PIN of
a `verify` request, which is kept as a keyed hash (HMAC-SHA256 with a fresh salt per entry and
a key that lives only in this process's memory), so a log reader can tell that a PIN was sent
but never which. A body that is not a JSON object is kept as its size only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from typing import Any

from .store import Store

__all__ = ["SECRET_KEY_RE", "RequestLog", "masked"]

SECRET_KEY_RE = re.compile(r"pin|passw|passcode|cvv|cvc|otp|secret|card_number|security_?code",
                           re.IGNORECASE)
"""Field names whose values are secrets."""

_KEY = os.urandom(32)


def _keyed_hash(value: str) -> str:
    salt = os.urandom(8)
    return f"hmac${salt.hex()}${hmac.new(_KEY, salt + value.encode(), hashlib.sha256).hexdigest()}"


def fingerprint(operation: str, value: object) -> str:
    """A digest of a request that tells two different bodies apart without keeping either
    (keyed with the process's secret, so a PIN in it cannot be recovered by trying all)."""
    text = json.dumps([operation, value], sort_keys=True, ensure_ascii=False, default=str)
    return hmac.new(_KEY, text.encode(), hashlib.sha256).hexdigest()


def masked(operation: str, value: object, depth: int = 0) -> Any:
    """`value` with every secret-named field masked (verify's top-level pin: a keyed hash)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if SECRET_KEY_RE.search(str(k)):
                keep = operation == "verify" and depth == 0 and k == "pin" and isinstance(v, str)
                out[k] = _keyed_hash(v) if keep else "****"
            else:
                out[k] = masked(operation, v, depth + 1)
        return out
    if isinstance(value, list):
        return [masked(operation, v, depth + 1) for v in value]
    return value


class RequestLog:
    """Appends one row per request to the store's request_log table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, operation: str, status: int, error: str | None, *, replayed: bool,
            size: int, body: object) -> None:
        """Record a request: `body` is the decoded JSON (masked here) or None."""
        text = (json.dumps(masked(operation, body), ensure_ascii=False)
                if isinstance(body, dict) else None)
        with self._store.tx() as db:
            db.execute("INSERT INTO request_log (at, operation, status, error, replayed, size, "
                       "body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (time.time(), operation[:64], status, error, int(replayed), size, text))

    def read(self, since: int = 0, limit: int = 1000) -> dict[str, Any]:
        """Entries after sequence number `since`, oldest first, and how many there are."""
        with self._store.tx() as db:
            rows = db.execute("SELECT * FROM request_log WHERE seq > ? ORDER BY seq LIMIT ?",
                              (since, limit)).fetchall()
            total = db.execute("SELECT COUNT(*) FROM request_log").fetchone()[0]
        return {"total": total, "requests": [
            {"seq": r["seq"], "at": r["at"], "operation": r["operation"], "status": r["status"],
             "error": r["error"], "replayed": bool(r["replayed"]), "size": r["size"],
             "body": json.loads(r["body"]) if r["body"] is not None else None} for r in rows]}
