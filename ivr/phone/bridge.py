"""A second leg to the agent where the PBX will not take a REFER: a bounded B2BUA bridge.

The engine INVITEs the queue's SIP destination itself (aiosipua's UAC) offering the caller's
own codec (and its telephone-event type), so RTP is relayed as it comes, datagram for
datagram, with no transcoding: the caller's to the agent's media address, the agent's to the
caller's (not while the caller holds the call). One bridge per call; it ends when either side
hangs up (BYE), when no RTP came either way for `media_timeout_s`, or at `limit_s`, and the
other leg is hung up with it. Only datagrams from each leg's negotiated address are relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from aiosipua import parse_sdp as lib_parse_sdp
from aiosipua.outgoing_call import OutgoingCall
from aiosipua.sdp import serialize_sdp
from aiosipua.uac import SipUAC

from ivr.phone.phonecall import PhoneCall
from ivr.phone.rtp import MAX_DATAGRAM
from ivr.phone.sdp import Answer, SdpError, answer_offer, build_offer, parse_sdp

__all__ = ["Bridge", "BridgeLimits", "sip_target"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeLimits:
    """How long a bridge may ring, last, and stay silent."""

    ring_s: float = 30.0
    """The agent's phone may ring this long (then CANCEL and 408)."""
    limit_s: float = 3600.0
    """The longest bridged conversation; both legs are hung up at the limit."""
    media_timeout_s: float = 15.0
    """No RTP from either side for this long ends the bridge."""


def sip_target(uri: str) -> tuple[str, int] | None:
    """`sip:user@HOST[:PORT][;params]` with an IP address for HOST → (host, port)."""
    if not uri.startswith("sip:"):
        return None
    hostport = uri[4:].split(";")[0].split("?")[0].rpartition("@")[2]
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        return None
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return address, int(port) if port else 5060


class _AgentPort(asyncio.DatagramProtocol):
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.bridge.from_agent(data, str(addr[0]))


class Bridge:
    """The caller's `PhoneCall` and an agent leg placed by the line's UAC."""

    def __init__(self, uac: SipUAC, caller: PhoneCall, host: str,
                 limits: BridgeLimits = BridgeLimits()) -> None:
        self.uac, self.caller, self.host, self.limits = uac, caller, host, limits
        self.agent: OutgoingCall | None = None
        self.agent_media: Answer | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.hung_up = asyncio.Event()
        """The agent sent BYE."""
        self.last = time.monotonic()
        self.relayed = [0, 0]

    @property
    def call_id(self) -> str:
        return self.agent.call_id if self.agent is not None else ""

    async def connect(self, target: str, call_id: str) -> int:
        """INVITE `target`; the final status (200 = the agent answered, the relay is on)."""
        remote = sip_target(target)
        if remote is None:
            log.warning("sip call %s: bridge target is not sip:user@IP[:port]", call_id)
            return 400
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _AgentPort(self), local_addr=(self.host, 0), family=family)
        self.port = self.transport.get_extra_info("sockname")[1]
        media = self.caller.answer
        offer = build_offer(address=self.host, port=self.port, session_id=secrets.randbits(31),
                            codecs=(media.codec,), telephone_event=media.telephone_event or 101)
        self.agent = self.uac.send_invite(
            f"sip:ivr@{self.uac._local_addr()[0]}:{self.uac._local_addr()[1]}", target, remote,
            lib_parse_sdp(offer), user_agent="ivr")
        try:
            await self.agent.wait_answered(self.limits.ring_s)
        except TimeoutError:
            self.agent.cancel(self.uac)
            return 408
        except RuntimeError:  # refused: the status is on the call
            return self.agent._reject_code or 500
        answered = (self.agent.sdp_answer and serialize_sdp(self.agent.sdp_answer)) or ""
        parsed = parse_sdp(answered)
        agreed = (answer_offer(parsed, address=self.host, port=self.port, session_id=0,
                               codecs=(media.codec,))
                  if not isinstance(parsed, SdpError) else parsed)
        if isinstance(agreed, SdpError):
            log.warning("sip call %s: the agent's answer is unusable: %s", call_id, agreed)
            self._bye_agent()
            return 488
        self.agent_media = agreed
        self.last = time.monotonic()
        self.caller.relay = self.from_caller
        return 200

    def from_caller(self, data: bytes) -> None:
        media = self.agent_media
        if media is None or self.transport is None or len(data) > MAX_DATAGRAM:
            return
        self.last = time.monotonic()
        self.relayed[0] += 1
        self.transport.sendto(data, (media.remote_address, media.remote_port))

    def from_agent(self, data: bytes, address: str) -> None:
        media = self.agent_media
        if media is None or address != media.remote_address or len(data) > MAX_DATAGRAM:
            return
        self.last = time.monotonic()
        self.relayed[1] += 1
        self.caller.send(data)

    async def run(self) -> str:
        """Relay until one side ends it; hang up the agent unless it hung up; say why."""
        started = time.monotonic()
        why = "stopped"
        try:
            while True:
                now = time.monotonic()
                if self.caller.ended.is_set():
                    why = "caller"
                elif self.hung_up.is_set():
                    why = "agent"
                elif now - started >= self.limits.limit_s:
                    why = "limit"
                elif now - self.last >= self.limits.media_timeout_s and not self.caller.held:
                    why = "no media"
                else:
                    await asyncio.sleep(0.1)
                    continue
                return why
        finally:
            self.caller.relay = None
            self.caller.record.bridge_ended_by = why
            self.caller.record.relayed = (self.relayed[0], self.relayed[1])
            if why != "agent":
                self._bye_agent()
            self.close()

    def reanswer(self, body: str) -> Answer | SdpError:
        """The agent's re-INVITE: our answer on the agent leg (its new address followed)."""
        if self.agent_media is None:
            return SdpError("the bridge is not up")
        parsed = parse_sdp(body)
        if isinstance(parsed, SdpError):
            return parsed
        agreed = answer_offer(parsed, address=self.host, port=self.port,
                              session_id=self.agent_media.session_id,
                              codecs=(self.agent_media.codec,),
                              version=self.agent_media.version + 1)
        if isinstance(agreed, Answer):
            self.agent_media = agreed
        return agreed

    def _bye_agent(self) -> None:
        if self.agent is not None:
            with contextlib.suppress(ValueError):  # no longer confirmed
                self.agent.hangup(self.uac)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
