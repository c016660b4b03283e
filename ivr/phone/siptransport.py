"""The SIP line's UDP transport: aiosipua's, with our strict gate in front of its parser.

Every datagram passes `ivr.phone.sip.parse_message` first: a malformed one costs one log line
(and a 400 when it can be answered). An INVITE (first or re-INVITE) whose SDP our parser or
aiosipua's cannot read is answered 488 here (aiosipua's parser raises on some mutated bodies,
which would otherwise leave the request unanswered with a traceback in the log).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from aiosipua import SipResponse as LibResponse
from aiosipua import parse_sdp as lib_parse_sdp
from aiosipua.transport import UdpSipTransport

from ivr.phone.sdp import SdpError, parse_sdp
from ivr.phone.sip import (
    SipProblem,
    SipRequest,
    SipResponse,
    build_response,
    parse_message,
    serialize,
)

__all__ = ["GatedUdpTransport"]

log = logging.getLogger("ivr.phone.sipline")


class _GatedProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: GatedUdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._owner._dispatch(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.warning("sip socket: %s", exc)


class GatedUdpTransport(UdpSipTransport):
    """aiosipua's UDP transport with our strict gate in front of its parser.

    `start` binds with our own protocol: aiosipua 0.7.1's asserts a transport class that
    Python 3.11's selector loop does not have, and logs a traceback at every start.
    """

    on_response: Callable[[SipResponse], None] | None = None
    """Sees every well-formed response first (the REFER's own answer is not surfaced by
    aiosipua: a refused transfer is read here)."""
    record_routes: dict[str, tuple[str, ...]]
    """Call-ID → the Record-Route headers of its INVITE, while the call is being answered."""

    async def start(self) -> None:
        self.record_routes = {}
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _GatedProtocol(self), local_addr=self.local_addr)
        self._udp_transport = transport

    def send_reply(self, response: LibResponse) -> None:
        """A 2xx to an INVITE carries the INVITE's Record-Route (RFC 3261 §12.1.1), which
        aiosipua 0.7.1 leaves out: behind a proxy (Kamailio) the caller then sends its ACK,
        BYE and NOTIFYs through the proxy instead of around it."""
        routes = self.record_routes.get(response.call_id or "", ())
        cseq = response.cseq
        if (routes and 200 <= response.status_code < 300 and cseq is not None
                and cseq.method == "INVITE" and not response.headers.get("record-route")):
            for route in routes:
                response.headers.append("Record-Route", route)
        super().send_reply(response)

    def _dispatch(self, data: bytes, addr: tuple[str, int]) -> None:
        checked = parse_message(data)
        if isinstance(checked, SipProblem):
            log.warning("sip from %s:%d rejected: %s", addr[0], addr[1], checked.reason)
            if checked.reply is not None and self._udp_transport is not None:
                self._udp_transport.sendto(checked.reply, addr)
            return
        if isinstance(checked, SipResponse) and self.on_response is not None:
            self.on_response(checked)
        if isinstance(checked, SipRequest) and checked.method == "INVITE" and checked.body:
            unusable = _unusable_sdp(checked.body)
            if unusable is not None:  # aiosipua's own SDP parser raises on some bodies
                log.warning("sip %s from %s:%d refused: %s", checked.header("call-id"),
                            addr[0], addr[1], unusable)
                if self._udp_transport is not None:
                    self._udp_transport.sendto(serialize(build_response(
                        checked, 488, "Not Acceptable Here", to_tag=secrets.token_hex(4))), addr)
                return
        super()._dispatch(data, addr)


def _unusable_sdp(body: bytes) -> str | None:
    """Why an INVITE's SDP cannot be used (ours or aiosipua's parser), None if it can."""
    parsed = parse_sdp(body)
    if isinstance(parsed, SdpError):
        return str(parsed)
    try:
        lib_parse_sdp(body.decode("utf-8"))
    except Exception as exc:  # a hostile body must not reach aiosipua's dispatcher
        return f"sdp: {type(exc).__name__}"
    return None
