"""The SIP line: an asyncio driver that answers calls (aiosipua signalling, our gate and media).

Every datagram passes `ivr.phone.sip.parse_message` first: a malformed one costs one log line
(and a 400 when it can be answered), only well-formed messages reach aiosipua (see
docs/phone.md for why this stack). An INVITE is refused with 403 from an untrusted source,
503 while draining, 486 past the call limit and 488 when its SDP offers no G.711; otherwise
it is answered with an SDP answer from `ivr.phone.sdp`, and a `PhoneCall` (RTP in and out via
`ivr.phone.rtp`, keys from RFC 4733 and SIP INFO, the caller's language from the called number
or the `X-IVR-Lang` header) is handed to the call handler (`ivr.phone.driver` in `ivr serve`;
the default handler plays a second of silence and hangs up). A blind transfer (REFER) reports
the final status: the NOTIFY's sipfrag, the REFER's own refusal, or 408 when nothing came.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiosipua import IncomingCall, SipUAS
from aiosipua import SipRequest as LibRequest
from aiosipua import SipResponse as LibResponse
from aiosipua import parse_sdp as lib_parse_sdp
from aiosipua.transport import UdpSipTransport
from aiosipua.uac import SipUAC

from ivr.phone.callinfo import (
    LANG_HEADER,
    call_lang,
    called_number,
    calling_number,
    info_key,
)
from ivr.phone.rtp import Codec, KeyPressed, Media, Pacer, RtpEvent, RtpReceiver, RtpSender
from ivr.phone.sdp import Answer, SdpError, SessionDescription, answer_offer, parse_sdp
from ivr.phone.sip import SipProblem, SipResponse, parse_message
from ivr.types import Dtmf, Lang

__all__ = ["CallRecord", "LineConfig", "PhoneCall", "SipLine"]

log = logging.getLogger(__name__)
QUEUE_FRAMES = 500
"""Incoming events held per call (10 s of audio); past that the oldest are dropped."""


@dataclass(frozen=True)
class LineConfig:
    """Where the line listens and whom it answers."""

    host: str = "127.0.0.1"
    port: int = 5080
    trusted: frozenset[str] = frozenset({"127.0.0.1"})
    """Source addresses allowed to place calls; everything else gets 403."""
    max_calls: int = 24
    codecs: tuple[Codec, ...] = ("PCMU", "PCMA")
    lang_for: Mapping[str, Lang] = field(default_factory=dict)
    """Called number (user part of the Request-URI, else of To) → the caller's language."""
    languages: tuple[Lang, ...] = ()
    """Languages an `X-IVR-Lang` header may choose (the flow's)."""


@dataclass
class CallRecord:
    """What happened on one call, for tests, metrics and the log."""

    call_id: str
    answer: Answer
    frames_in: int = 0
    frames_out: int = 0
    keys: int = 0
    ended_by: str = ""
    """"us", "caller" or "error"."""
    transfer_status: int | None = None
    """The final status of a blind transfer, if one was tried."""
    called: str | None = None
    """The number the caller dialled (user part of the Request-URI)."""
    lang: Lang | None = None
    """The caller's language chosen by the number or header (None: the line's default)."""
    caller: str | None = None
    """The caller's number (P-Asserted-Identity, else From), when it is a phone number."""


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
        super()._dispatch(data, addr)


class _RtpPort(asyncio.DatagramProtocol):
    """One call's RTP socket: datagrams from the negotiated peer only, into its receiver."""

    call: PhoneCall | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        call = self.call
        if call is None or addr[0] != call.answer.remote_address:
            return
        for event in call.receiver.feed(data):
            call.deliver(event)


class PhoneCall:
    """One answered call as the call session will see it: events in, paced audio out."""

    def __init__(self, record: CallRecord, answer: Answer,
                 refer: Callable[[str, float], Awaitable[int]] | None = None) -> None:
        self.record = record
        self.lang: Lang | None = record.lang
        """The caller's language when the number or a header chose one."""
        self.caller: str | None = record.caller
        """The caller's number, for steps that identify the caller by it."""
        self._refer = refer
        self.answer = answer
        self.receiver = RtpReceiver(answer.codec, telephone_event=answer.telephone_event)
        self.sender = RtpSender(answer.codec, ssrc=secrets.randbits(32),
                                sequence=secrets.randbits(16), timestamp=secrets.randbits(32))
        self.events: asyncio.Queue[RtpEvent] = asyncio.Queue(QUEUE_FRAMES)
        self.ended = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    def deliver(self, event: RtpEvent) -> None:
        if isinstance(event, Media):
            self.record.frames_in += 1
        elif isinstance(event, KeyPressed):
            self.record.keys += 1
        else:  # loss, source change, a dropped datagram: counted by the receiver
            return
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)

    async def play(self, pcm: bytes) -> None:
        """Send 8 kHz PCM16 paced at 20 ms a frame; stops early when the call ends."""
        datagrams = self.sender.payloads(pcm)  # numbered as sent: a cut prompt leaves no gap
        pacer = Pacer(time.monotonic())
        sent = 0
        while sent < len(datagrams) and not self.ended.is_set() and self.transport is not None:
            for _ in range(pacer.due(time.monotonic())):
                if sent < len(datagrams):
                    self.transport.sendto(self.sender.packet(datagrams[sent]),
                                          (self.answer.remote_address, self.answer.remote_port))
                    sent += 1
            await asyncio.sleep(max(0.0, pacer.next_due() - time.monotonic()))
        self.record.frames_out += sent

    async def transfer(self, target: str, *, timeout: float = 15.0) -> int:
        """Blind transfer (REFER) to `target`; the final status the caller's phone reports
        for the new call (200 = connected), 408 if none came in `timeout` seconds."""
        if self._refer is None:
            return 501
        status = await self._refer(target, timeout)
        self.record.transfer_status = status
        return status


CallHandler = Callable[[PhoneCall], Awaitable[None]]


async def play_silence(call: PhoneCall) -> None:
    """The placeholder handler: one second of silence."""
    await call.play(b"\0\0" * 8000)


@dataclass
class SipLine:
    """A SIP listener that answers calls and hands each to `handler`."""

    config: LineConfig = field(default_factory=LineConfig)
    handler: CallHandler = play_silence
    records: list[CallRecord] = field(default_factory=list)
    draining: bool = False
    _calls: dict[str, PhoneCall] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _transfers: dict[str, asyncio.Future[int]] = field(default_factory=dict)
    _uas: SipUAS | None = None
    _transport: GatedUdpTransport | None = None

    async def start(self) -> None:
        transport = GatedUdpTransport(local_addr=(self.config.host, self.config.port))
        transport.on_response = self._on_response
        self._transport = transport
        self._uas = SipUAS(transport, uac=SipUAC(transport), user_agent="ivr")
        self._uas.on_invite = self._on_invite
        self._uas.on_bye = self._on_bye
        self._uas.on_cancel = self._on_cancel
        self._uas.on_transfer_progress = self._on_transfer_progress
        self._uas._handlers["INFO"] = self._on_info  # aiosipua answers INFO 405 otherwise
        await self._uas.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._uas is not None:
            await self._uas.stop()

    @property
    def active(self) -> int:
        return len(self._calls)

    def _refusal(self, call: IncomingCall) -> tuple[int, str] | None:
        if call.source_addr[0] not in self.config.trusted:
            return 403, "Forbidden"
        if self.draining:
            return 503, "Service Unavailable"
        if len(self._calls) >= self.config.max_calls:
            return 486, "Busy Here"
        return None

    def _on_invite(self, call: IncomingCall) -> None:
        refusal = self._refusal(call)
        if refusal is not None:
            log.info("sip call %s from %s refused: %d", call.call_id, call.source_addr[0],
                     refusal[0])
            call.reject(*refusal)
            return
        offer = parse_sdp(call.invite.body)
        if isinstance(offer, SdpError):
            log.warning("sip call %s refused: %s", call.call_id, offer)
            call.reject(488, "Not Acceptable Here")
            return
        self._follow_proxy(call)
        task = asyncio.get_running_loop().create_task(self._answer(call, offer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, call: IncomingCall, offer: SessionDescription) -> None:
        loop = asyncio.get_running_loop()
        transport, rtp = await loop.create_datagram_endpoint(
            _RtpPort, local_addr=(self.config.host, 0))
        port = transport.get_extra_info("sockname")[1]
        answer = answer_offer(offer, address=self.config.host, port=port,
                              session_id=secrets.randbits(31), codecs=self.config.codecs)
        if isinstance(answer, SdpError):
            log.warning("sip call %s refused: %s", call.call_id, answer)
            transport.close()
            call.reject(488, "Not Acceptable Here")
            if self._transport is not None:
                self._transport.record_routes.pop(call.call_id, None)
            return
        record = CallRecord(call.call_id, answer)
        record.called = called_number(call.invite.uri, call.invite.get_header("to"))
        record.caller = calling_number(call.invite.get_header("p-asserted-identity"),
                                       call.invite.get_header("from"))
        record.lang = call_lang(record.called, call.invite.get_header(LANG_HEADER),
                                lang_for=self.config.lang_for, languages=self.config.languages)
        phone = PhoneCall(record, answer, lambda target, wait: self._refer(call, target, wait))
        rtp.call = phone
        phone.transport = transport
        self.records.append(record)
        self._calls[call.call_id] = phone
        try:
            call.accept(lib_parse_sdp(answer.sdp))
            await self.handler(phone)
            if not phone.ended.is_set():
                record.ended_by = "us"
                call.hangup()
        except Exception as error:  # one call's failure must not reach the line
            log.error("sip call %s failed: %s", call.call_id, type(error).__name__)
            record.ended_by = record.ended_by or "error"
            call.hangup()
        finally:
            phone.ended.set()
            transport.close()
            self._calls.pop(call.call_id, None)
            if self._transport is not None:
                self._transport.record_routes.pop(call.call_id, None)

    def _follow_proxy(self, call: IncomingCall) -> None:
        """Behind a proxy: our 200 carries the INVITE's Record-Route, and our own in-dialog
        requests (BYE, REFER) route through the proxies in the Record-Route's order — the UAS
        route set is not reversed (RFC 3261 §12.1.1; aiosipua 0.7.1 reverses it)."""
        routes = tuple(call.invite.headers.get("record-route"))
        if routes and self._transport is not None:
            self._transport.record_routes[call.call_id] = routes
            call.dialog.route_set = list(routes)

    async def _refer(self, call: IncomingCall, target: str, timeout: float) -> int:
        if self._uas is None or self._uas.uac is None:
            return 501
        outcome = asyncio.get_running_loop().create_future()
        self._transfers[call.call_id] = outcome
        try:
            self._uas.uac.send_refer(call.dialog, target, call.source_addr)
            return await asyncio.wait_for(outcome, timeout)
        except ValueError:  # the dialog is no longer confirmed
            return 481
        except TimeoutError:
            return 408
        finally:
            self._transfers.pop(call.call_id, None)

    def _on_transfer_progress(self, call_id: str, status: int, reason: str) -> None:
        log.info("sip call %s transfer progress %d", call_id, status)
        outcome = self._transfers.get(call_id)
        if outcome is not None and status >= 200 and not outcome.done():
            outcome.set_result(status)

    def _on_response(self, response: SipResponse) -> None:
        """A REFER refused outright (4xx-6xx): the transfer's outcome."""
        method = (response.header("cseq") or "").split()[-1:]
        outcome = self._transfers.get(response.header("call-id") or "")
        if (method == ["REFER"] and response.status >= 300 and outcome is not None
                and not outcome.done()):
            outcome.set_result(response.status)

    def _on_info(self, request: LibRequest, addr: tuple[str, int]) -> None:
        """SIP INFO in a call: a DTMF body becomes a key (never logged); others get 415."""
        if self._uas is None:
            return
        uas = self._uas
        _, dialog = uas._find_dialog(request.call_id or "")
        phone = self._calls.get(request.call_id or "")
        if dialog is None or phone is None:
            uas._send_error(request, 481, "Call/Transaction Does Not Exist")
            return
        if not uas._validate_in_dialog(dialog, request):
            return
        key = info_key(request.get_header("content-type"), request.text)
        if key is False:
            uas._send_error(request, 415, "Unsupported Media Type")
            return
        uas.transport.send_reply(dialog.create_response(request, 200, "OK"))
        if isinstance(key, Dtmf):
            phone.deliver(KeyPressed(key))

    def _on_bye(self, call: IncomingCall, request: LibRequest) -> None:
        phone = self._calls.get(call.call_id)
        if phone is not None and not phone.ended.is_set():
            phone.record.ended_by = "caller"
            phone.ended.set()

    def _on_cancel(self, request: LibRequest, addr: tuple[str, int]) -> None:
        phone = self._calls.get(request.call_id or "")
        if phone is not None:
            phone.record.ended_by = "caller"
            phone.ended.set()
