"""One answered SIP call as the call session sees it: caller events in (RTP through
`ivr.phone.rtp`), paced prompt audio out, a blind transfer, hold and resume.

A re-INVITE (`SipLine`) hands the call a new `Answer` (`update`): the peer's new media
address, its event type, and hold — while the caller holds the call (our direction recvonly
or inactive, or the hold address 0.0.0.0) no RTP is sent: a prompt pauses where it was and
goes on after the resume. While the call is bridged to an agent (`ivr.phone.bridge`), the
caller's datagrams go to the bridge's `relay` instead of the receiver.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ivr.phone.rtp import KeyPressed, Media, Pacer, RtpEvent, RtpReceiver, RtpSender
from ivr.phone.sdp import Answer
from ivr.types import Lang

__all__ = ["QUEUE_FRAMES", "CallRecord", "PhoneCall", "RtpPort"]

log = logging.getLogger(__name__)
QUEUE_FRAMES = 500
"""Incoming events held per call (10 s of audio); past that the oldest are dropped."""
FRAME_S = 0.02


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
    transfer_by: str | None = None
    """"refer" or "bridge": how the caller was transferred (or tried to be)."""
    bridge_ended_by: str = ""
    """Why a bridge to an agent ended: "caller", "agent", "limit", "no media", "stopped"."""
    relayed: tuple[int, int] = (0, 0)
    """Datagrams relayed caller → agent and agent → caller while bridged."""
    holds: int = 0
    """Times the caller put the call on hold (re-INVITE sendonly/inactive)."""
    reinvites: int = 0
    """re-INVITEs answered 200 (and refused with 488 are not counted)."""
    called: str | None = None
    """The number the caller dialled (user part of the Request-URI)."""
    lang: Lang | None = None
    """The caller's language chosen by the number or header (None: the line's default)."""
    caller: str | None = None
    """The caller's number (P-Asserted-Identity, else From), when it is a phone number."""


class RtpPort(asyncio.DatagramProtocol):
    """One call's RTP socket: datagrams from the negotiated peer only, into its receiver
    (or, while bridged, to the agent)."""

    call: PhoneCall | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        call = self.call
        if call is None or addr[0] != call.answer.remote_address:
            return
        if call.relay is not None:
            call.relay(data)
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
        self.relay: Callable[[bytes], None] | None = None
        """While bridged: where the caller's datagrams go (the agent leg)."""
        self.bridge: asyncio.Task[str] | None = None
        """The bridge to an agent, while it runs: the line hangs up when it ends."""
        self._resumed = asyncio.Event()
        self._resumed.set()

    @property
    def held(self) -> bool:
        """The caller holds the call: nothing is sent, prompts wait."""
        return not self._resumed.is_set()

    def update(self, answer: Answer) -> None:
        """A re-INVITE's answer: the peer's media address, event type, hold or resume."""
        if answer.telephone_event != self.answer.telephone_event:
            self.receiver = RtpReceiver(answer.codec, telephone_event=answer.telephone_event)
        was_held = self.held
        self.answer = answer
        self.record.reinvites += 1
        if answer.sending:
            self._resumed.set()
        else:
            self._resumed.clear()
        if self.held != was_held:
            self.record.holds += self.held
            log.info("sip call %s %s", self.record.call_id, "held" if self.held else "resumed")

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

    def send(self, datagram: bytes) -> None:
        """One datagram to the caller's media address (dropped while held)."""
        if self.transport is not None and not self.held:
            self.transport.sendto(datagram, (self.answer.remote_address, self.answer.remote_port))

    async def play(self, pcm: bytes) -> None:
        """Send 8 kHz PCM16 paced at 20 ms a frame; stops early when the call ends, waits
        while the caller holds the call and goes on where it was after the resume."""
        datagrams = self.sender.payloads(pcm)  # numbered as sent: a cut prompt leaves no gap
        pacer = Pacer(time.monotonic())
        sent = 0
        while sent < len(datagrams) and not self.ended.is_set() and self.transport is not None:
            if self.held:
                paused = time.monotonic()
                await self.until_resumed()
                self.sender.pause(int((time.monotonic() - paused) / FRAME_S))  # time moved on
                pacer = Pacer(time.monotonic())
                continue
            for _ in range(pacer.due(time.monotonic())):
                if sent < len(datagrams):
                    self.send(self.sender.packet(datagrams[sent]))
                    sent += 1
            await asyncio.sleep(max(0.0, pacer.next_due() - time.monotonic()))
        self.record.frames_out += sent

    async def until_resumed(self) -> None:
        """Return when the call is not held (or has ended)."""
        waits = [asyncio.ensure_future(self._resumed.wait()),
                 asyncio.ensure_future(self.ended.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def transfer(self, target: str, *, timeout: float = 15.0) -> int:
        """Transfer to `target` (REFER, or a bridge where REFER is refused or configured
        off); the final status (200 = connected), 408 if none came in `timeout` seconds."""
        if self._refer is None:
            return 501
        status = await self._refer(target, timeout)
        self.record.transfer_status = status
        return status
