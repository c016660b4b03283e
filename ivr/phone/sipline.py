"""The SIP line: an asyncio driver that answers calls (aiosipua signalling, our gate and media).

Every datagram passes `ivr.phone.sip.parse_message` first: a malformed one costs one log line
(and a 400 when it can be answered), only well-formed messages reach aiosipua (see
docs/phone.md for why this stack). An INVITE is refused with 403 from an untrusted source,
503 while draining, 486 past the call limit and 488 when its SDP offers no G.711; otherwise
it is answered with an SDP answer from `ivr.phone.sdp`, and a `PhoneCall` (RTP in and out via
`ivr.phone.rtp`, keys from RFC 4733 and SIP INFO, the caller's language from the called number
or the `X-IVR-Lang` header) is handed to the call handler (`ivr.phone.driver` in `ivr serve`;
the default handler plays a second of silence and hangs up). A blind transfer (REFER) reports
the final status: the NOTIFY's sipfrag, the REFER's own refusal, or 408 when nothing came; a
REFER refused outright, or `transfer_by="bridge"`, bridges a second leg (`ivr.phone.bridge`).
A re-INVITE is answered on the call's codec (hold, resume, a new media address) or with 488.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiosipua import IncomingCall, SipUAS
from aiosipua import SipRequest as LibRequest
from aiosipua import parse_sdp as lib_parse_sdp
from aiosipua.uac import SipUAC

from ivr.phone.bridge import Bridge, BridgeLimits
from ivr.phone.callinfo import (
    LANG_HEADER,
    call_lang,
    called_number,
    calling_number,
    info_key,
)
from ivr.phone.phonecall import CallRecord, PhoneCall, RtpPort
from ivr.phone.rtp import Codec, KeyPressed
from ivr.phone.sdp import SdpError, SessionDescription, answer_offer, parse_sdp, reanswer
from ivr.phone.sip import (
    SipResponse,
)
from ivr.phone.siptransport import GatedUdpTransport
from ivr.types import Dtmf, Lang

__all__ = ["TRANSFER_BY", "CallRecord", "LineConfig", "PhoneCall", "SipLine"]

log = logging.getLogger(__name__)
TRANSFER_BY = ("refer", "bridge")


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
    transfer_by: str = "refer"
    """"refer": REFER, and a bridge when the REFER itself is refused (4xx-6xx but 481);
    "bridge": the trunk does not do REFER, always bridge a second leg."""
    bridge: BridgeLimits = field(default_factory=BridgeLimits)


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
    _bridges: dict[str, Bridge] = field(default_factory=dict)
    """The agent leg's Call-ID → its bridge, while one runs."""
    _refused: set[str] = field(default_factory=set)
    """Call-IDs whose REFER was answered 4xx-6xx itself (not in a NOTIFY)."""
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
        self._uas.on_reinvite = self._on_reinvite
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
            RtpPort, local_addr=(self.config.host, 0))
        port = transport.get_extra_info("sockname")[1]
        session = secrets.randbits(31)
        answer = answer_offer(offer, address=self.config.host, port=port,
                              session_id=session, codecs=self.config.codecs)
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
        phone = PhoneCall(record, answer,
                          lambda target, wait: self._transfer(call, phone, target, wait))
        rtp.call = phone
        phone.transport = transport
        self.records.append(record)
        self._calls[call.call_id] = phone
        try:
            call.accept(lib_parse_sdp(answer.sdp))
            await self.handler(phone)
            if phone.bridge is not None:  # the caller talks to an agent until one hangs up
                await phone.bridge
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

    async def _transfer(self, call: IncomingCall, phone: PhoneCall, target: str,
                        timeout: float) -> int:
        """REFER, falling back to a bridge when the REFER itself is refused (4xx-6xx but
        481: the dialog is gone); or a bridge at once when the line says so."""
        if self.config.transfer_by != "bridge":
            phone.record.transfer_by = "refer"
            status, refused = await self._refer(call, target, timeout)
            if not (refused and 400 <= status < 700 and status != 481):
                return status
            log.info("sip call %s: the REFER was refused (%d); bridging", call.call_id, status)
        return await self._bridge(call, phone, target)

    async def _bridge(self, call: IncomingCall, phone: PhoneCall, target: str) -> int:
        phone.record.transfer_by = "bridge"
        if self._uas is None or self._uas.uac is None or phone.bridge is not None:
            return 501  # one bridge per call
        bridge = Bridge(self._uas.uac, phone, self.config.host, self.config.bridge)
        status = 500
        try:
            status = await bridge.connect(target, call.call_id)
        finally:
            if status == 200:
                self._bridges[bridge.call_id] = bridge
                phone.bridge = asyncio.get_running_loop().create_task(bridge.run())
                phone.bridge.add_done_callback(
                    lambda _: self._bridges.pop(bridge.call_id, None))
            else:
                bridge.close()
        log.info("sip call %s: bridge to the agent: %d", call.call_id, status)
        return status

    async def _refer(self, call: IncomingCall, target: str, timeout: float) -> tuple[int, bool]:
        """The REFER's final status, and whether the REFER itself was refused."""
        if self._uas is None or self._uas.uac is None:
            return 501, True
        outcome = asyncio.get_running_loop().create_future()
        self._transfers[call.call_id] = outcome
        try:
            self._uas.uac.send_refer(call.dialog, target, call.source_addr)
            status: int = await asyncio.wait_for(outcome, timeout)
            return status, call.call_id in self._refused
        except ValueError:  # the dialog is no longer confirmed
            return 481, False
        except TimeoutError:
            return 408, False
        finally:
            self._refused.discard(call.call_id)
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
            self._refused.add(response.header("call-id") or "")
            outcome.set_result(response.status)

    def _on_reinvite(self, call: IncomingCall) -> None:
        """An in-dialog INVITE: hold (sendonly/inactive), resume, a new media address. 200
        with our answer on the same codec; 488 for an SDP we cannot use (the call goes on
        as it was); no body: our current SDP again."""
        phone = self._calls.get(call.call_id)
        bridge = self._bridges.get(call.call_id)
        body = call.invite.text if call.invite.body else ""
        if phone is not None:
            answer = (reanswer(phone.answer, body, address=self.config.host,
                               port=phone.transport.get_extra_info("sockname")[1])
                      if body and phone.transport is not None else phone.answer)
        elif bridge is not None:
            answer = bridge.reanswer(body) if body else SdpError("no offer")
        else:
            call._send_response(481, "Call/Transaction Does Not Exist")
            return
        if isinstance(answer, SdpError):
            log.warning("sip call %s re-INVITE refused: %s", call.call_id, answer)
            call._send_response(488, "Not Acceptable Here")  # not reject(): the dialog stays
            return
        if phone is not None and answer is not phone.answer:
            phone.update(answer)
        call.accept(lib_parse_sdp(answer.sdp))

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
        bridge = self._bridges.get(call.call_id)
        if bridge is not None:  # the agent hung up: the bridge ends the caller's leg too
            bridge.hung_up.set()
            return
        phone = self._calls.get(call.call_id)
        if phone is not None and not phone.ended.is_set():
            phone.record.ended_by = "caller"
            phone.ended.set()

    def _on_cancel(self, request: LibRequest, addr: tuple[str, int]) -> None:
        phone = self._calls.get(request.call_id or "")
        if phone is not None:
            phone.record.ended_by = "caller"
            phone.ended.set()
