"""HTTP for the sample bank: the standard library's ThreadingHTTPServer, with limits.

Why the standard library: the sample must run wherever the engine's tests run, with no
dependency of its own, and it needs a socket it can close and reopen ("down" mode), which
http.server gives directly. Limits are explicit here: HTTP/1.0 (one request per connection),
a socket timeout per connection, `MAX_BODY` from Content-Length (no chunked bodies), at most
`MAX_HANDLERS` requests at once (the rest get a 503 at once), and a failure in one request
ends only that connection.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .schema import MAX_BODY

if TYPE_CHECKING:
    from .service import BankService, Reply

__all__ = ["MAX_HANDLERS", "Server"]

MAX_HANDLERS = 64
"""Requests handled at once; one more is answered 503 without being read."""

CONNECTION_TIMEOUT_S = 10.0
"""The most a client may take to send its request (a stalled client loses only its own)."""

_log = logging.getLogger("samples.bank")


class Server(ThreadingHTTPServer):
    """One listener: the main one (``/v1`` and ``/admin``) or the admin one (``/admin``)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: BankService, *,
                 admin_only: bool = False, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self.admin_only = admin_only
        self.tls = tls
        self._slots = threading.BoundedSemaphore(MAX_HANDLERS)
        self._thread: threading.Thread | None = None

    def serve_in_thread(self) -> Server:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"bank-{self.server_address[1]}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket (connections are then refused)."""
        self.shutdown()
        self.server_close()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake runs on the request's thread, not here
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                if not isinstance(request, ssl.SSLSocket):
                    request.sendall(b"HTTP/1.0 503 Service Unavailable\r\n"
                                    b"Content-Length: 0\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "samplebank/1"
    sys_version = ""
    server: Server

    def setup(self) -> None:
        self.request.settimeout(CONNECTION_TIMEOUT_S)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # the service keeps its own log
        _log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            return self._send_error(411, "length_required")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or len(length) > 12:
            return self._send_error(411, "length_required")
        if int(length) > MAX_BODY:
            return self._send_error(413, "too_large")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            return None  # the client went away mid-body: nobody to answer
        return self._serve(body)

    def do_PUT(self) -> None:
        self._send_error(405, "method_not_allowed")

    do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_PUT

    def _serve(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = self.server.service.dispatch(self.command, self.path, headers, body,
                                                 admin_only=self.server.admin_only)
        except Exception:  # a bug answers this request 500; the service goes on
            _log.exception("request %s %s failed", self.command, self.path[:80])
            return self._send_error(500, "internal")
        self._send(reply)

    def _send_error(self, status: int, code: str) -> None:
        from .service import Reply
        self._send(Reply.json(status, {"error": code}))
        self.close_connection = True

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (TimeoutError, OSError):
            self.close_connection = True
