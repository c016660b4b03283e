"""The sample bank as a service: operations with idempotency, modes, the two listeners.

`BankService.dispatch` is the whole API behind HTTP (handler.py only moves bytes). The main
listener serves ``/v1/<operation>`` (and ``/admin/*``); the admin listener serves only
``/admin/*`` and stays up when the main one is "down" (its socket closed: connections are
refused, as from a crashed gateway), so a test or the demo can bring it back.

Modes (``POST /admin/mode {"mode": …}``): ok; slow (sleep `delay_s`, then answer); fail (500);
down (close the main socket; `for_s` brings it back by itself); and hostile replies for the
client's tests: huge (a 2 MiB reply), garbage (200, not JSON), array (200, a JSON array).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from .handler import Server
from .ops import OPERATIONS
from .requestlog import RequestLog, fingerprint
from .schema import ApiError, decode_json, parse_body
from .store import Store

__all__ = ["MODES", "BankService", "Reply"]

MODES = ("ok", "slow", "fail", "down", "huge", "garbage", "array")
_KEY_RE = re.compile(r"[A-Za-z0-9_\-]{8,128}")
_OP_RE = re.compile(r"[a-z_]{1,64}")
_MAX_DELAY_S = 120.0


@dataclass(frozen=True)
class Reply:
    """What to send: status, body bytes, content type."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, value: object) -> Reply:
        return cls(status, json.dumps(value, ensure_ascii=False).encode())


class BankService:
    """The bank's API over a `Store`, with its switches and listeners."""

    def __init__(self, store: Store, token: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.log = RequestLog(store)
        self._token = f"Bearer {token}".encode()
        self._tls = tls
        self._mode, self._delay_s = "ok", 3.0
        self._lock = threading.Lock()
        self._main: Server | None = None
        self._admin: Server | None = None
        self._main_address: tuple[str, int] = ("127.0.0.1", 0)
        self._timer: threading.Timer | None = None

    # -- listeners ---------------------------------------------------------------------------

    def start(self, listen: tuple[str, int], admin: tuple[str, int]) -> None:
        """Bind both listeners (port 0: any free one) and serve them in threads."""
        self._admin = Server(admin, self, admin_only=True).serve_in_thread()
        self._main = Server(listen, self, tls=self._tls).serve_in_thread()
        self._main_address = self._main.server_address[:2]  # type: ignore[assignment]

    @property
    def main_address(self) -> tuple[str, int]:
        return self._main_address

    @property
    def admin_address(self) -> tuple[str, int]:
        assert self._admin is not None
        return self._admin.server_address[:2]  # type: ignore[return-value]

    def stop(self) -> None:
        """Close both listeners (requests in flight finish on their own threads)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            for server in (self._main, self._admin):
                if server is not None:
                    server.stop()
            self._main = self._admin = None

    def set_mode(self, mode: str, delay_s: float = 3.0, for_s: float | None = None) -> None:
        """Switch mode; "down" closes the main socket, any other mode reopens it."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._mode, self._delay_s = mode, delay_s
            if mode == "down" and self._main is not None:
                self._main.stop()
                self._main = None
            elif mode != "down" and self._main is None and self._admin is not None:
                self._main = Server(self._main_address, self, tls=self._tls).serve_in_thread()
            if for_s is not None and mode != "ok":
                self._timer = threading.Timer(for_s, self.set_mode, ("ok",))
                self._timer.daemon = True
                self._timer.start()

    # -- requests ----------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        import hmac
        return header is not None and hmac.compare_digest(header.encode(errors="replace"),
                                                          self._token)

    def dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes,
                 *, admin_only: bool) -> Reply:
        """The reply to one request that passed the transport limits (handler.py)."""
        if not self.authorized(headers.get("authorization")):
            return Reply.json(401, {"error": "unauthorized"})
        if path.startswith("/admin/"):
            return self._admin_request(method, path, body)
        if admin_only or not path.startswith("/v1/"):
            return Reply.json(404, {"error": "not_found"})
        operation = path[4:] if _OP_RE.fullmatch(path[4:]) else "?"
        if method != "POST":
            return Reply.json(405, {"error": "method_not_allowed"})
        return self._operation(operation, headers, body)

    def _operation(self, operation: str, headers: dict[str, str], body: bytes) -> Reply:
        mode, delay = self._mode, self._delay_s
        decoded: object = None
        with contextlib.suppress(ApiError):
            decoded = decode_json(body)
        if mode == "slow":
            time.sleep(delay)
        if mode == "fail":
            self.log.add(operation, 500, "unavailable", replayed=False, size=len(body),
                         body=decoded)
            return Reply.json(500, {"error": "unavailable"})
        status, value, replayed = self._answer(operation, headers.get("idempotency-key"), body)
        self.log.add(operation, status, value.get("error"), replayed=replayed, size=len(body),
                     body=decoded)
        if status == 200 and mode in ("huge", "garbage", "array"):
            return _hostile(mode)
        return Reply.json(status, value)

    def _answer(self, operation: str, key: str | None,
                body: bytes) -> tuple[int, dict[str, Any], bool]:
        """(status, reply, replayed): the stored answer for a repeated Idempotency-Key, else
        the operation's, done and recorded in one transaction."""
        try:
            request = parse_body(operation, body)
            if key is not None and not _KEY_RE.fullmatch(key):
                raise ApiError(400, "bad_idempotency_key")
        except ApiError as e:
            return e.status, {"error": e.code}, False
        now = dt.datetime.now(dt.UTC)
        with self.store.tx() as db:
            if key is not None:
                print_ = fingerprint(operation, request)
                row = db.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    if row["operation"] != operation or row["fingerprint"] != print_:
                        return 422, {"error": "idempotency_key_reused"}, False
                    return row["status"], json.loads(row["body"]), True
            try:
                status, value = 200, OPERATIONS[operation]((db, now), request)
            except ApiError as e:
                status, value = e.status, {"error": e.code}
            if key is not None:
                db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                           (key, operation, print_, status,
                            json.dumps(value, ensure_ascii=False), time.time()))
        return status, value, False

    def _admin_request(self, method: str, path: str, body: bytes) -> Reply:
        route, _, query = path.partition("?")
        if method == "GET" and route == "/admin/requests":
            args = dict(p.partition("=")[::2] for p in query.split("&") if p)
            try:
                since = int(args.get("since", "0"))
                limit = min(max(int(args.get("limit", "1000")), 1), 10_000)
            except ValueError:
                return Reply.json(400, {"error": "bad_query"})
            return Reply.json(200, self.log.read(since, limit))
        if method == "GET" and route == "/admin/health":
            return Reply.json(200, {"mode": self._mode, "up": self._main is not None})
        if method == "POST" and route == "/admin/mode":
            try:
                mode, delay, for_s = _mode_request(decode_json(body))
            except ApiError as e:
                return Reply.json(e.status, {"error": e.code})
            self.set_mode(mode, delay, for_s)
            return Reply.json(200, {"mode": mode})
        return Reply.json(404, {"error": "not_found"})


def _mode_request(value: object) -> tuple[str, float, float | None]:
    """(mode, delay_s, for_s) from ``{"mode": …, "delay_s"?: …, "for_s"?: …}``."""
    if not isinstance(value, dict) or value.get("mode") not in MODES:
        raise ApiError(400, "bad_mode")
    numbers = []
    for name, default in (("delay_s", 3.0), ("for_s", None)):
        v = value.get(name, default)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                              or not 0 <= v <= _MAX_DELAY_S):
            raise ApiError(400, f"bad_{name}")
        numbers.append(None if v is None else float(v))
    return value["mode"], numbers[0] or 0.0, numbers[1]


def _hostile(mode: str) -> Reply:
    if mode == "huge":
        return Reply.json(200, {"padding": "x" * (2 << 20)})
    if mode == "garbage":
        return Reply(200, b"<html><body>gateway error</body></html>", "text/html")
    return Reply.json(200, [1, 2, 3])
