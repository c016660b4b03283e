"""The one error a bank-service call raises, with a reason a flow can act on."""

from __future__ import annotations

from typing import Literal, get_args

from ..errors import IvrError

__all__ = ["REASONS", "BackendError", "Reason"]

Reason = Literal["timeout", "http_500", "refused", "breaker_open", "bad_reply", "http_4xx"]
REASONS: tuple[Reason, ...] = get_args(Reason)


class BackendError(IvrError):
    """A call to the bank's service that gave no usable answer.

    The message is ``backend <reason>: <detail>``; neither ever holds the payload (PINs) or
    the token.
    """

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"backend {reason}: {detail}" if detail else f"backend {reason}")
        self.reason: Reason = reason
        """timeout, http_500, refused, breaker_open, bad_reply or http_4xx."""
        self.detail = detail
        """What happened (operation, attempts, status, error code), never the payload."""
