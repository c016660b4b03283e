"""A scripted SIP caller of our own over UDP for in-process line tests: INVITE, ACK, in-dialog
re-INVITEs (hold, resume, anything the test writes), BYE; answers the line's requests (REFER
with a chosen status); RTP sent paced from a WAV's samples and counted coming back.
Loopback only; every wait bounded."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from ivr.phone.rtp import Pacer, RtpPacket, RtpSender, parse_rtp
from ivr.phone.sdp import build_offer
from ivr.phone.sip import SipRequest, SipResponse, parse_message


def reply(request: SipRequest, status: int) -> bytes:
    heads = "".join(f"{name}: {request.header(name)}\r\n"
                    for name in ("via", "from", "to", "call-id", "cseq"))
    return f"SIP/2.0 {status} Whatever\r\n{heads}Content-Length: 0\r\n\r\n".encode()


class _Signalling(asyncio.DatagramProtocol):
    def __init__(self, refer_status: int) -> None:
        self.refer_status = refer_status
        self.got: asyncio.Queue[SipRequest | SipResponse] = asyncio.Queue()
        self.requests: list[SipRequest] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # 3.11's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, SipRequest) and self.transport is not None:
            self.requests.append(message)
            if message.method != "ACK":
                status = self.refer_status if message.method == "REFER" else 200
                self.transport.sendto(reply(message, status), addr)
            return
        if isinstance(message, SipResponse):
            self.got.put_nowait(message)


class _Media(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if isinstance(parse_rtp(data), RtpPacket):
            self.arrivals.append(time.monotonic())


@dataclass
class ScriptedDialog:
    """One call from a scripted caller to the line at `port`."""

    port: int
    refer_status: int = 200
    number: str = "1588"
    signalling: _Signalling | None = None
    media: _Media | None = None
    me: int = 0
    rtp_port: int = 0
    cseq: int = 1
    to: str = ""
    call_id: str = field(default_factory=lambda: f"scripted-{secrets.token_hex(4)}")
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    _transports: list[asyncio.BaseTransport] = field(default_factory=list)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, self.signalling = await loop.create_datagram_endpoint(
            lambda: _Signalling(self.refer_status), local_addr=("127.0.0.1", 0))
        media, self.media = await loop.create_datagram_endpoint(
            _Media, local_addr=("127.0.0.1", 0))
        self._transports += [transport, media]
        self.me = transport.get_extra_info("sockname")[1]
        self.rtp_port = media.get_extra_info("sockname")[1]

    def close(self) -> None:
        for transport in self._transports:
            transport.close()

    def offer(self, direction: str = "sendrecv", port: int | None = None) -> str:
        sdp = build_offer(address="127.0.0.1", port=port or self.rtp_port, session_id=1)
        return sdp.replace("a=sendrecv", f"a={direction}")

    def _head(self, method: str, cseq: int) -> str:
        return (f"{method} sip:{self.number}@127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.me};branch=z9hG4bK{secrets.token_hex(6)}"
                f";rport\r\nFrom: <sip:caller@127.0.0.1:{self.me}>;tag={self.tag}\r\n"
                f"Call-ID: {self.call_id}\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:caller@127.0.0.1:{self.me}>\r\n"
                f"To: {self.to or f'<sip:{self.number}@127.0.0.1:{self.port}>'}\r\n"
                f"CSeq: {cseq} {method}\r\n")

    def send(self, method: str, body: str | bytes = b"", cseq: int | None = None) -> None:
        assert self.signalling is not None and self.signalling.transport is not None
        data = body.encode() if isinstance(body, str) else body
        kind = "Content-Type: application/sdp\r\n" if data else ""
        message = (f"{self._head(method, self.cseq if cseq is None else cseq)}{kind}"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data
        self.signalling.transport.sendto(message, ("127.0.0.1", self.port))

    async def final(self, seconds: float = 5.0) -> SipResponse:
        """The next final response (1xx skipped)."""
        assert self.signalling is not None
        while True:
            response = await asyncio.wait_for(self.signalling.got.get(), seconds)
            if response.status >= 200:
                return response  # type: ignore[return-value]

    async def invite(self, body: str | bytes) -> SipResponse:
        """INVITE (the first, or a re-INVITE); ACKs a 200; the final response."""
        self.send("INVITE", body)
        response = await self.final()
        if response.status == 200:
            self.to = response.header("to") or ""
            self.send("ACK", cseq=self.cseq)
        self.cseq += 1
        return response

    async def bye(self) -> SipResponse:
        self.send("BYE")
        self.cseq += 1
        return await self.final()

    def sent_to_us(self, method: str) -> list[SipRequest]:
        assert self.signalling is not None
        return [r for r in self.signalling.requests if r.method == method]

    async def speak(self, pcm: bytes, seconds: float) -> int:
        """Send `pcm` (8 kHz PCM16) as PCMU RTP to the line's media address from our SDP
        answer, paced at 20 ms, for at most `seconds`; the frames sent."""
        assert self.media is not None
        media = self._transports[1]
        sender = RtpSender("PCMU", ssrc=secrets.randbits(32))
        payloads = sender.payloads(pcm)
        pacer, sent, start = Pacer(time.monotonic()), 0, time.monotonic()
        while sent < len(payloads) and time.monotonic() - start < seconds:
            for _ in range(pacer.due(time.monotonic())):
                if sent < len(payloads):
                    media.sendto(sender.packet(payloads[sent]),  # type: ignore[attr-defined]
                                 ("127.0.0.1", self.line_rtp))
                    sent += 1
            await asyncio.sleep(max(0.0, pacer.next_due() - time.monotonic()))
        return sent

    line_rtp: int = 0
    """The line's RTP port (from its answer), set by the test."""
