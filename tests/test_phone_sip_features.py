"""The SIP line's service features at the protocol level, in process, from a scripted SIP
caller of our own over a UDP socket (baresip 1.0 cannot send SIP INFO keys, add a header or
refuse a REFER): keys sent as SIP INFO, a REFER the caller refuses outright, and the
caller's language from the called number and from an `X-IVR-Lang` header. Loopback only;
every wait bounded."""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest

from ivr.phone.rtp import KeyPressed
from ivr.phone.sdp import build_offer
from ivr.phone.sip import SipRequest, SipResponse, parse_message
from ivr.phone.sipline import LineConfig, PhoneCall, SipLine
from ivr.types import Dtmf
from tests.test_phone_sip_baresip import free_port, line


class ScriptedCaller(asyncio.DatagramProtocol):
    """A SIP caller of our own: INVITE (with extra headers), ACK the 200, answer a REFER with
    `refer_status`, 200 to a BYE; every message it gets kept, parsed by our gate."""

    def __init__(self, refer_status: int) -> None:
        self.refer_status = refer_status
        self.got: asyncio.Queue[SipRequest | SipResponse] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # 3.11's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, SipRequest) and self.transport is not None:
            status = self.refer_status if message.method == "REFER" else 200
            if message.method != "ACK":
                self.transport.sendto(reply(message, status), addr)
        if isinstance(message, SipRequest | SipResponse):
            self.got.put_nowait(message)


def reply(request: SipRequest, status: int) -> bytes:
    heads = "".join(f"{name}: {request.header(name)}\r\n"
                    for name in ("via", "from", "to", "call-id", "cseq"))
    return f"SIP/2.0 {status} Whatever\r\n{heads}Content-Length: 0\r\n\r\n".encode()


async def scripted_call(port: int, number: str, extra: str, refer_status: int,
                        handler_done: asyncio.Event, infos: tuple[tuple[str, str], ...] = ()
                        ) -> list[SipRequest | SipResponse]:
    loop = asyncio.get_running_loop()
    transport, caller = await loop.create_datagram_endpoint(
        lambda: ScriptedCaller(refer_status), local_addr=("127.0.0.1", 0))
    me = transport.get_extra_info("sockname")[1]
    call_id, tag = f"scripted-{secrets.token_hex(4)}", secrets.token_hex(4)
    sdp = build_offer(address="127.0.0.1", port=me + 2, session_id=1)
    head = (f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            f"From: <sip:caller@127.0.0.1:{me}>;tag={tag}\r\n"
            f"Call-ID: {call_id}\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:caller@127.0.0.1:{me}>\r\n")
    invite = (f"INVITE sip:{number}@127.0.0.1:{port} SIP/2.0\r\n{head}"
              f"To: <sip:{number}@127.0.0.1:{port}>\r\nCSeq: 1 INVITE\r\n{extra}"
              f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
    transport.sendto(invite.encode(), ("127.0.0.1", port))
    got: list[SipRequest | SipResponse] = []
    while not any(isinstance(m, SipResponse) and m.status >= 200 for m in got):
        got.append(await asyncio.wait_for(caller.got.get(), 5))
    ok = got[-1]
    assert isinstance(ok, SipResponse) and ok.status == 200, ok
    ack = (f"ACK sip:{number}@127.0.0.1:{port} SIP/2.0\r\n"
           f"{head.replace('branch=z9hG4bK', 'branch=z9hG4bKa')}To: {ok.header('to')}\r\n"
           "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    transport.sendto(ack.encode(), ("127.0.0.1", port))
    for n, (kind, body) in enumerate(infos, start=2):
        info = (f"INFO sip:{number}@127.0.0.1:{port} SIP/2.0\r\n"
                f"{head.replace('branch=z9hG4bK', f'branch=z9hG4bKi{n}')}"
                f"To: {ok.header('to')}\r\nCSeq: {n} INFO\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        transport.sendto(info.encode(), ("127.0.0.1", port))
        await asyncio.sleep(0.05)
    while not (handler_done.is_set() and any(
            isinstance(m, SipRequest) and m.method == "BYE" for m in got)):
        try:
            got.append(await asyncio.wait_for(caller.got.get(), 0.5))
        except TimeoutError:
            if handler_done.is_set():
                break
    transport.close()
    return got


INFOS = (("application/dtmf-relay", "Signal=4\r\nDuration=160\r\n"),
         ("application/dtmf", "#"),
         ("application/media_control+xml", "<media_control/>"),
         ("application/dtmf-relay", "Signal=7\r\nDuration=100\r\n"))


def test_sip_info_keys_reach_the_call_and_are_never_logged(
    caplog: pytest.LogCaptureFixture
) -> None:
    keys: list[Dtmf] = []
    done = asyncio.Event()

    async def listen(call: PhoneCall) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(keys) < 3 and loop.time() < deadline:
            try:
                event = await asyncio.wait_for(call.events.get(), deadline - loop.time())
            except TimeoutError:
                break
            if isinstance(event, KeyPressed):
                keys.append(event.key)
        done.set()

    async def run() -> tuple[SipLine, list[SipRequest | SipResponse]]:
        port = free_port(socket.SOCK_DGRAM)
        async with line(LineConfig(port=port), listen) as sip_line:
            got = await asyncio.wait_for(scripted_call(port, "1588", "", 200, done, INFOS), 15)
            return sip_line, got

    with caplog.at_level("DEBUG"):
        sip_line, got = asyncio.run(run())
    assert keys == [Dtmf.D4, Dtmf.HASH, Dtmf.D7]
    assert sip_line.records[0].keys == 3
    answers = {int((m.header("cseq") or "0").split()[0]): m.status for m in got
               if isinstance(m, SipResponse) and "INFO" in (m.header("cseq") or "")}
    assert answers == {2: 200, 3: 200, 4: 415, 5: 200}
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Signal" not in logged and "D4" not in logged, logged


@pytest.mark.parametrize("refer_status", [403, 405, 603])
def test_a_refer_refused_outright_falls_back_to_a_bridge(refer_status: int) -> None:
    """The REFER's own refusal ends the wait at once (no 15 s for a NOTIFY) and the line
    bridges instead; here the agent's line refuses the bridge's INVITE too (403)."""
    statuses: list[int] = []
    done = asyncio.Event()
    agent_port = free_port(socket.SOCK_DGRAM)

    async def hand_off(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 800)
        statuses.append(await call.transfer(f"sip:agent@127.0.0.1:{agent_port}", timeout=5))
        done.set()

    async def run() -> tuple[SipLine, SipLine, list[SipRequest | SipResponse], float]:
        port = free_port(socket.SOCK_DGRAM)
        refusing = LineConfig(port=agent_port, trusted=frozenset({"192.0.2.1"}))  # all 403
        async with line(LineConfig(port=port), hand_off) as sip_line, \
                line(refusing) as agent_side:
            started = asyncio.get_running_loop().time()
            got = await asyncio.wait_for(scripted_call(port, "1588", "", refer_status, done), 15)
            return sip_line, agent_side, got, asyncio.get_running_loop().time() - started

    sip_line, agent_side, got, took = asyncio.run(run())
    assert statuses == [403]  # the bridge's INVITE refused by the agent's line
    record = sip_line.records[0]
    assert (record.transfer_status, record.transfer_by) == (403, "bridge")
    assert agent_side.records == []
    assert [m.method for m in got if isinstance(m, SipRequest)][:1] == ["REFER"]
    assert took < 5  # answered by the refusals, long before the 5 s timeout


@pytest.mark.parametrize(("number", "header", "lang"), [
    ("1588", "", "ko"), ("1599", "", "en"), ("1600", "", None),
    ("1599", "X-IVR-Lang: zh\r\n", "zh"), ("1588", "X-IVR-Lang: fr\r\n", "ko"),
])
def test_the_callers_language_comes_from_the_number_or_the_header(
    number: str, header: str, lang: str | None
) -> None:
    done = asyncio.Event()

    async def short(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 800)
        done.set()

    async def run() -> SipLine:
        port = free_port(socket.SOCK_DGRAM)
        config = LineConfig(port=port, lang_for={"1588": "ko", "1599": "en"},
                            languages=("zh", "en", "ko"))
        async with line(config, short) as sip_line:
            await asyncio.wait_for(scripted_call(port, number, header, 200, done), 15)
            return sip_line

    (record,) = asyncio.run(run()).records
    assert (record.called, record.lang) == (number, lang)
