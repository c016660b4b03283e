"""The seam to the bank's systems as the step machine sees it: one call per operation.

The Hotline holds the one implementation per process (`ivr.backend.Backend` over HTTP, behind
an adapter in ivr.call that turns its errors into `ServiceError`); the dialog stays
synchronous and never knows a URL, a token or a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["ServiceError", "Services"]


class ServiceError(Exception):
    """A bank operation failed (timeout, http_500, refused, breaker_open, bad_reply): the
    caller goes to a human with reason backend_error."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        """Short kind of failure."""
        self.detail = detail
        """What failed (for the log only; never holds request values)."""


class Services(Protocol):
    """What a `request` or `authenticate` step calls."""

    def call(self, operation: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Run one operation; its JSON reply.

        Raises:
            ServiceError: the operation did not answer usefully.
        """
        ...
