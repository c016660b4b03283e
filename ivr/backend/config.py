"""How the engine reaches the bank's service: one frozen value, checked when made."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import UsageError

__all__ = ["DEFAULT_URL_ENV", "BackendConfig"]

DEFAULT_URL_ENV = "IVR_BANK_URL"
"""The environment variable `BackendConfig.from_env` reads the service's URL from."""


@dataclass(frozen=True)
class BackendConfig:
    """The bank service's address and the client's limits (every default documented here)."""

    base_url: str
    """``https://gateway.bank.example/`` (or ``http://127.0.0.1:8765`` for the sample);
    operations are posted to ``<base_url>/v1/<operation>``."""
    token_env: str = "IVR_BANK_TOKEN"
    """The environment variable holding the bearer token (never YAML, never logged)."""
    timeout_s: float = 2.0
    """The most one attempt may take, connecting and reading the whole reply."""
    retries: int = 2
    """Attempts after the first, only on failures that are safe to repeat (see `retry`)."""
    backoff_s: float = 0.2
    """The wait before the first retry; it doubles before each next one."""
    breaker_failures: int = 5
    """Consecutive failed calls that open the circuit breaker."""
    breaker_reset_s: float = 30.0
    """How long an open breaker fails calls fast before letting one trial call through."""
    ca_file: str | None = None
    """A PEM file of CA certificates to trust instead of the system's (a private bank CA)."""
    max_reply_bytes: int = 1 << 20
    """The largest reply body read; a longer one is a ``bad_reply``."""
    dedupes: bool = True
    """The service honours the ``Idempotency-Key`` header (the sample does): a write whose
    request may have reached it (a read timeout, a 5xx) is retried. When False only reads are
    retried after that; every operation is still retried when the request was never sent."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"backend URL {self.base_url!r}: use http://host:port or https://host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise UsageError("backend URL: no user, password, query or fragment (the token "
                             f"comes from ${self.token_env})")
        for name in ("timeout_s", "breaker_reset_s", "backoff_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name == "timeout_s" and value == 0):
                raise UsageError(f"backend {name} must be a positive number of seconds, "
                                 f"not {value}")
        if not 0 <= self.retries <= 10:
            raise UsageError(f"backend retries must be 0..10, not {self.retries}")
        if self.breaker_failures < 1:
            raise UsageError(f"backend breaker_failures must be >= 1, not {self.breaker_failures}")
        if self.max_reply_bytes < 2:
            raise UsageError(f"backend max_reply_bytes too small: {self.max_reply_bytes}")
        if not self.token_env.isidentifier():
            raise UsageError(f"backend token_env {self.token_env!r} is not a variable name")

    @property
    def tls(self) -> bool:
        """Whether the service is reached over HTTPS (certificates verified)."""
        return urlsplit(self.base_url).scheme == "https"

    @classmethod
    def from_env(cls, url: str | None = None, **options: object) -> BackendConfig | None:
        """The config for `url`, else ``$IVR_BANK_URL``; None when neither is set."""
        url = url if url is not None else os.environ.get(DEFAULT_URL_ENV) or None
        return None if url is None else cls(url, **options)  # type: ignore[arg-type]
