"""The engine's HTTP client for the bank's service: one `Backend` per process, thread-safe.

`Backend(config).call(operation, payload)` posts JSON to ``<base_url>/v1/<operation>`` with the
bearer token from ``$<token_env>`` and an ``Idempotency-Key`` (one per logical call, the same on
every retry), and returns the reply object or raises `BackendError`.

Retries (at most `retries`, waiting `backoff_s`, 2×, 4× … between attempts) happen only where
repeating cannot do a thing twice:

* the request was never sent (connection refused, connect timeout): every operation;
* it may have reached the service (read timeout, a 5xx, the connection dropped mid-reply):
  read-only operations always, writes (verify counts failures, freeze_card, …) only when the
  service deduplicates by Idempotency-Key (`BackendConfig.dedupes`, true for the sample);
* never on a 4xx (the request is wrong), a bad reply, or a TLS failure (it will not heal).

urllib3 is the HTTP library: maintained (2.x), thread-safe connection pools, and exceptions
that tell a refused connection from a connect or a read timeout, which the retry rule needs.
Replies are read raw (no gzip: no decompression bomb) up to `max_reply_bytes`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeAlias

import urllib3
from urllib3 import exceptions as u3

from ..errors import UsageError
from .breaker import CircuitBreaker
from .config import BackendConfig
from .errors import BackendError, Reason
from .operations import OPERATIONS

__all__ = ["Backend", "JsonValue", "shared_backend"]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

_log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CHUNK = 64 * 1024


class _Failed(Exception):
    """One attempt failed: the reason, and whether repeating it is safe."""

    def __init__(self, reason: Reason, detail: str, *, sent: bool, retry: bool = True) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail
        self.sent = sent
        self.retry = retry


class Backend:
    """A client of one bank service, with the circuit breaker all its calls share."""

    def __init__(self, config: BackendConfig, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        token = os.environ.get(config.token_env, "")
        if not token or not token.isprintable() or len(token) > 4096:
            raise UsageError(f"backend: set ${config.token_env} to the bank service's token")
        if config.ca_file is not None and not Path(config.ca_file).is_file():
            raise UsageError(f"backend: CA file {config.ca_file} not found")
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s, clock)
        self._sleep = sleep
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Accept": "application/json", "Accept-Encoding": "identity",
                         "User-Agent": "ivr-backend/1"}
        # TLS: the system's CAs (or only `ca_file`), hostname checked, certificate required.
        context = ssl.create_default_context(cafile=config.ca_file) if config.tls else None
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False,
                                         ssl_context=context)
        self._base = config.base_url.rstrip("/")

    def __repr__(self) -> str:  # never the token
        return f"Backend({self._base!r}, breaker={self.breaker.state})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def call(self, operation: str, payload: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
        """Do `operation` with `payload`; the reply object, or `BackendError`.

        Raises:
            BackendError: timeout, http_500, refused, breaker_open, bad_reply or http_4xx.
            UsageError: the operation name is not one, or the payload is not JSON.
        """
        if not _NAME_RE.fullmatch(operation):
            raise UsageError(f"backend: {operation!r} is not an operation name")
        try:
            body = json.dumps(dict(payload), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise UsageError(f"backend {operation}: payload is not JSON ({type(e).__name__})"
                             ) from None
        if not self.breaker.allow():
            raise BackendError("breaker_open", f"{operation}: the service failed "
                               f"{self.config.breaker_failures} calls in a row; next try in "
                               f"{self.breaker.retry_in():.0f} s")
        try:
            reply = self._attempts(operation, body)
        except BackendError as e:
            (self.breaker.success if e.reason == "http_4xx" else self.breaker.failure)()
            raise
        except BaseException:
            self.breaker.failure()
            raise
        self.breaker.success()
        return reply

    def _attempts(self, operation: str, body: bytes) -> dict[str, JsonValue]:
        """Up to 1 + retries attempts with one Idempotency-Key; backoff doubles each time."""
        op = OPERATIONS.get(operation)
        repeatable = (op is not None and op.read_only) or self.config.dedupes
        headers = {**self._headers, "Idempotency-Key": uuid.uuid4().hex}
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                reply = self._once(operation, body, headers)
            except _Failed as f:
                ms = (time.monotonic() - started) * 1000
                _log.warning("backend %s attempt %d/%d: %s (%s) after %.0f ms", operation,
                             attempt, attempts, f.reason, f.detail, ms)
                safe = f.retry and (not f.sent or repeatable)
                if not safe or attempt == attempts:
                    tries = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                    raise BackendError(f.reason, f"{operation}: {f.detail} ({tries})") from None
                self._sleep(self.config.backoff_s * 2 ** (attempt - 1))
                continue
            _log.info("backend %s: ok in %.0f ms (attempt %d)", operation,
                      (time.monotonic() - started) * 1000, attempt)
            return _checked(operation, reply)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, operation: str, body: bytes, headers: Mapping[str, str]) -> object:
        """One POST; the decoded reply, or `_Failed`."""
        deadline = time.monotonic() + self.config.timeout_s
        try:
            response = self._pool.request(
                "POST", f"{self._base}/v1/{operation}", body=body, headers=dict(headers),
                timeout=urllib3.Timeout(total=self.config.timeout_s), redirect=False,
                preload_content=False, decode_content=False)
        except u3.SSLError as e:
            raise _Failed("refused", f"TLS: {_short(e)}", sent=False, retry=False) from None
        except u3.NewConnectionError as e:
            raise _Failed("refused", f"cannot connect: {_short(e)}", sent=False) from None
        except u3.ConnectTimeoutError:
            raise _Failed("timeout", "connect timed out", sent=False) from None
        except u3.ReadTimeoutError:
            wait = f"no reply in {self.config.timeout_s:g} s"
            raise _Failed("timeout", wait, sent=True) from None
        except (u3.ProtocolError, u3.HTTPError, OSError) as e:
            raise _Failed("bad_reply", f"connection broke: {_short(e)}", sent=True) from None
        try:
            return _reply(response, deadline, self.config)
        finally:
            response.release_conn()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(e: BaseException) -> str:
    """An exception in one short line (urllib3's messages repeat the pool's repr)."""
    text = str(e.__context__ or e) if isinstance(e, u3.NewConnectionError) else str(e)
    return " ".join(text.split())[:160]


def _reply(response: urllib3.BaseHTTPResponse, deadline: float, config: BackendConfig) -> object:
    """The reply's JSON, after the status, size, encoding and deadline checks."""
    status = response.status
    limit = config.max_reply_bytes
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        response.close()
        raise _Failed("bad_reply", "compressed reply (asked for identity)", sent=True, retry=False)
    length = response.headers.get("Content-Length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        response.close()
        raise _Failed("bad_reply", f"reply of {length} bytes (limit {limit})", sent=True,
                      retry=False)
    raw = bytearray()
    try:
        while len(raw) <= limit:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            raw += chunk
            if time.monotonic() > deadline:
                response.close()
                raise _Failed("timeout", f"reply not read in {config.timeout_s:g} s", sent=True)
    except u3.ReadTimeoutError:
        raise _Failed("timeout", f"reply not read in {config.timeout_s:g} s", sent=True) from None
    except (u3.ProtocolError, u3.HTTPError, OSError) as e:
        raise _Failed("bad_reply", f"reply broke: {_short(e)}", sent=True) from None
    if len(raw) > limit:
        response.close()
        raise _Failed("bad_reply", f"reply over {limit} bytes", sent=True, retry=False)
    return _decoded(status, bytes(raw))


def _decoded(status: int, raw: bytes) -> object:
    """The JSON of a 2xx reply; a 4xx or 5xx becomes `_Failed` with the service's code."""
    try:
        value: object = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        value = None
        if 200 <= status < 300:
            raise _Failed("bad_reply", f"HTTP {status} reply is not JSON", sent=True,
                          retry=False) from None
    code = value.get("error") if isinstance(value, dict) else None
    code = code[:64] if isinstance(code, str) and code.isprintable() else "no error code"
    if status >= 500:
        raise _Failed("http_500", f"HTTP {status} ({code})", sent=True)
    if 400 <= status < 500:
        raise _Failed("http_4xx", f"HTTP {status} ({code})", sent=True, retry=False)
    if not 200 <= status < 300:
        raise _Failed("bad_reply", f"HTTP {status}", sent=True, retry=False)
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _checked(operation: str, reply: object) -> dict[str, JsonValue]:
    """The reply, if it is a JSON object with every field the operation promises."""
    if not isinstance(reply, dict):
        raise BackendError("bad_reply", f"{operation}: reply is a {type(reply).__name__}, "
                           "not an object")
    op = OPERATIONS.get(operation)
    missing = sorted(op.reply - reply.keys()) if op is not None else []
    if missing:
        raise BackendError("bad_reply", f"{operation}: reply lacks {', '.join(missing)}")
    return reply


_shared: dict[BackendConfig, Backend] = {}
_shared_lock = threading.Lock()


def shared_backend(config: BackendConfig) -> Backend:
    """The process's one `Backend` for `config` (one pool, one circuit breaker for all calls)."""
    with _shared_lock:
        backend = _shared.get(config)
        if backend is None:
            backend = _shared[config] = Backend(config)
        return backend
