"""Telephone PINs at rest: salted scrypt hashes with their cost, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = ["DEFAULT_COST", "check_pin", "hash_pin"]

DEFAULT_COST = 1 << 14
"""scrypt's N for stored PINs (16 MiB, ~50 ms); tests seed with a smaller one to be quick."""


def hash_pin(pin: str, *, cost: int = DEFAULT_COST, salt: bytes | None = None) -> str:
    """``scrypt$<N>$<salt hex>$<hash hex>`` for `pin` (a fresh 16-byte salt unless given)."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=8, p=1, dklen=32,
                            maxmem=64 * 1024 * 1024)
    return f"scrypt${cost}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """Whether `pin` is the one `stored` was made from (False for a malformed record)."""
    try:
        scheme, cost, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        again = hash_pin(pin, cost=int(cost), salt=bytes.fromhex(salt))
    except ValueError:
        return False
    return hmac.compare_digest(again.rsplit("$", 1)[1], digest)
