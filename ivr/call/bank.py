"""The bank's systems for the step machine: `ivr.backend.Backend` behind the `Services` seam.

One `Backend` per process (`shared_backend`), so one circuit breaker for every call; each of
its errors becomes a `ServiceError` with the same reason (the caller goes to a human with
reason backend_error). The detail is logged here, never a request value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..backend import Backend, BackendConfig, BackendError, shared_backend
from ..steps import ServiceError

__all__ = ["BankServices", "bank_services"]

_log = logging.getLogger(__name__)


class BankServices:
    """`Services` over a `Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        """The one client (and breaker) of this process."""

    def call(self, operation: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """One operation; `ServiceError` for any `BackendError`."""
        try:
            return self.backend.call(operation, payload)
        except BackendError as exc:
            _log.warning("ivr: bank %s failed: %s", operation, exc.reason)
            raise ServiceError(exc.reason, operation) from None


def bank_services(url: str | None = None) -> BankServices | None:
    """The process's bank services for `url` (else $IVR_BANK_URL); None when neither is set.

    Raises:
        UsageError: the URL or the token variable is not usable.
    """
    config = BackendConfig.from_env(url)
    return None if config is None else BankServices(shared_backend(config))
