"""The SIP line against real SIP software: baresip calls it over loopback.

baresip is started here with a temporary config (127.0.0.1 only), driven over ctrl_tcp,
and killed at the end; every wait is bounded. Without baresip these tests skip.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import wave
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from ivr.phone.rtp import KeyPressed
from ivr.phone.sdp import SessionDescription, answer_offer, build_offer, parse_sdp
from ivr.phone.sip import SipResponse, parse_message
from ivr.phone.sipline import CallHandler, LineConfig, PhoneCall, SipLine, play_silence
from ivr.types import Dtmf
from tests.baresip import CONFIG, Baresip, BaresipFailed, free_port, start_baresip

needs_baresip = pytest.mark.skipif(shutil.which("baresip") is None,
                                   reason="baresip is not installed (apt-get install baresip)")

def tone_wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())
    return path


@asynccontextmanager
async def baresip(tmp: Path, wav: Path, codecs: str = "",
                  user: str = "caller", answer: bool = False) -> AsyncIterator[Baresip]:
    sip, ctrl, rtp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM), 0
    rtp = 20000 + (sip % 200) * 200
    (tmp / "config").write_text(CONFIG.format(sip=sip, wav=wav, ctrl=ctrl, rtp=rtp,
                                              rtp_end=rtp + 199))
    suffix = (f";audio_codecs={codecs}" if codecs else "") + (";answermode=auto" if answer else "")
    (tmp / "accounts").write_text(f"<sip:{user}@127.0.0.1:{sip}>;regint=0{suffix}\n")
    try:
        phone = await start_baresip(tmp, ctrl, sip)
    except BaresipFailed as error:
        pytest.fail(str(error))
    process, writer = phone.process, phone.writer
    try:
        yield phone
        writer.close()
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 5)


@asynccontextmanager
async def line(config: LineConfig,
               handler: CallHandler = play_silence) -> AsyncIterator[SipLine]:
    sip_line = SipLine(config, handler)
    await sip_line.start()
    try:
        yield sip_line
    finally:
        await sip_line.stop()


def closed(n: int) -> Callable[[list[dict[str, object]]], bool]:
    return lambda events: sum(e.get("type") == "CALL_CLOSED" for e in events) >= n


async def one_call(tmp: Path, codecs: str) -> tuple[SipLine, Baresip]:
    port = free_port(socket.SOCK_DGRAM)
    wav = tone_wav(tmp / "caller.wav", 3.0)
    async with line(LineConfig(port=port)) as sip_line, baresip(tmp, wav, codecs) as phone:
        await phone.dial(f"sip:ivr@127.0.0.1:{port}")
        assert await phone.until(closed(1), 15), phone.events
        return sip_line, phone


@needs_baresip
@pytest.mark.parametrize(("codecs", "expected"), [("", "PCMU"), ("PCMA", "PCMA")])
def test_baresip_call_is_answered_with_our_sdp_and_media_flows(
    tmp_path: Path, codecs: str, expected: str
) -> None:
    sip_line, phone = asyncio.run(one_call(tmp_path, codecs))
    assert phone.count("CALL_ESTABLISHED") == 1
    assert phone.count("CALL_RTPESTAB") == 1
    (record,) = sip_line.records
    assert record.answer.codec == expected
    assert record.answer.telephone_event == 101
    answer = parse_sdp(record.answer.sdp)
    assert isinstance(answer, SessionDescription) and answer.media[0].port > 0
    assert record.frames_out == 50  # one second of silence, 20 ms frames
    assert record.frames_in >= 25  # the caller's tone came back to us
    assert record.ended_by == "us"


@needs_baresip
def test_an_untrusted_source_gets_403(tmp_path: Path) -> None:
    async def run() -> tuple[SipLine, Baresip]:
        port = free_port(socket.SOCK_DGRAM)
        wav = tone_wav(tmp_path / "caller.wav", 1.0)
        config = LineConfig(port=port, trusted=frozenset({"192.0.2.1"}))
        async with line(config) as sip_line, baresip(tmp_path, wav) as phone:
            await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            assert await phone.until(closed(1), 10), phone.events
            return sip_line, phone

    sip_line, phone = asyncio.run(run())
    assert phone.count("CALL_ESTABLISHED") == 0 and sip_line.records == []
    closing = next(e for e in phone.events if e.get("type") == "CALL_CLOSED")
    assert "403" in str(closing.get("param", ""))


OPTIONS = (
    "OPTIONS sip:ivr@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-probe-{n};rport\r\n"
    "From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:ivr@127.0.0.1:{port}>\r\n"
    "Call-ID: probe-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def test_options_is_answered_and_a_malformed_request_gets_one_400_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> list[SipResponse]:
        port = free_port(socket.SOCK_DGRAM)
        async with line(LineConfig(port=port)):
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[bytes] = asyncio.Queue()

            class Probe(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: object) -> None:
                    queue.put_nowait(data)

            transport, _ = await loop.create_datagram_endpoint(
                Probe, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", port))
            me = transport.get_extra_info("sockname")[1]
            good = OPTIONS.format(port=port, me=me, n=1).encode()
            transport.sendto(good)
            transport.sendto(good.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
                             .replace(b"probe-1", b"probe-2"))
            replies = [await asyncio.wait_for(queue.get(), 5) for _ in range(2)]
            transport.close()
        parsed = [parse_message(r) for r in replies]
        return [p for p in parsed if isinstance(p, SipResponse)]

    with caplog.at_level("WARNING", logger="ivr.phone.sipline"):
        replies = asyncio.run(run())
    by_call = {r.header("call-id"): r.status for r in replies}
    assert by_call == {"probe-1": 200, "probe-2": 400}
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 1 and "CSeq method" in rejected[0].getMessage()


@needs_baresip
def test_dtmf_from_baresip_arrives_as_keys_once_each(tmp_path: Path) -> None:
    keys: list[Dtmf] = []
    hearing = asyncio.Event()

    async def listen(call: PhoneCall) -> None:
        playing = asyncio.create_task(call.play(b"\0\0" * 8000 * 10))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(keys) < 3 and loop.time() < deadline:
            try:
                event = await asyncio.wait_for(call.events.get(), deadline - loop.time())
            except TimeoutError:
                break
            hearing.set()
            if isinstance(event, KeyPressed):
                keys.append(event.key)
        playing.cancel()

    async def run() -> SipLine:
        port = free_port(socket.SOCK_DGRAM)
        wav = tone_wav(tmp_path / "caller.wav", 10.0)
        async with line(LineConfig(port=port), listen) as sip_line, \
                baresip(tmp_path, wav) as phone:
            await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            await asyncio.wait_for(hearing.wait(), 10)
            for digit in "4#7":
                await phone.command("sndcode", digit)
                await asyncio.sleep(0.4)
            assert await phone.until(closed(1), 12), phone.events
            return sip_line

    sip_line = asyncio.run(run())
    assert keys == [Dtmf.D4, Dtmf.HASH, Dtmf.D7]
    assert sip_line.records[0].keys == 3


def test_aiosipua_carries_our_sdp_answer_byte_for_byte() -> None:
    from aiosipua import parse_sdp as lib_parse
    from aiosipua import serialize_sdp

    offer = parse_sdp(build_offer(address="127.0.0.1", port=4000, session_id=3,
                                  codecs=("PCMA", "PCMU")))
    assert isinstance(offer, SessionDescription)
    answer = answer_offer(offer, address="127.0.0.1", port=5000, session_id=9)
    assert not isinstance(answer, str) and hasattr(answer, "sdp")
    assert serialize_sdp(lib_parse(answer.sdp)) == answer.sdp


@needs_baresip
def test_24_concurrent_baresip_calls_in_one_line(tmp_path: Path) -> None:
    async def three_seconds(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 8000 * 3)

    async def run() -> tuple[SipLine, Baresip, int]:
        port = free_port(socket.SOCK_DGRAM)
        wav = tone_wav(tmp_path / "caller.wav", 10.0)
        busiest = 0
        async with line(LineConfig(port=port), three_seconds) as sip_line, \
                baresip(tmp_path, wav) as phone:
            for _ in range(24):
                await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not closed(24)(phone.events) and loop.time() < deadline:
                busiest = max(busiest, sip_line.active)
                await phone.until(closed(24), 0.1)
            return sip_line, phone, busiest

    sip_line, phone, busiest = asyncio.run(run())
    assert phone.count("CALL_ESTABLISHED") == 24
    assert len(sip_line.records) == 24 and busiest == 24
    summary = [(r.frames_out, r.frames_in, r.ended_by) for r in sip_line.records]
    assert all(out == 150 and ended == "us" for out, _, ended in summary), summary
    assert all(heard >= 100 for _, heard, _ in summary), summary


@needs_baresip
@pytest.mark.parametrize(("agent_answers", "expected"), [(True, 200), (False, 408)])
def test_a_blind_transfer_refers_the_caller_to_the_agent(
    tmp_path: Path, agent_answers: bool, expected: int
) -> None:
    statuses: list[int] = []

    async def hand_off(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 4000)
        statuses.append(await call.transfer(target, timeout=4))

    async def run() -> tuple[SipLine, Baresip]:
        nonlocal target
        port = free_port(socket.SOCK_DGRAM)
        wav = tone_wav(tmp_path / "caller.wav", 10.0)
        (tmp_path / "agent").mkdir()
        async with line(LineConfig(port=port), hand_off) as sip_line, \
                baresip(tmp_path, wav) as phone, \
                baresip(tmp_path / "agent", wav, user="agent", answer=True) as agent:
            target = f"sip:agent@127.0.0.1:{agent.port if agent_answers else 9}"
            await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            assert await phone.until(closed(1), 12), phone.events
            if agent_answers:
                assert await agent.until(
                    lambda events: any(e.get("type") == "CALL_ESTABLISHED" for e in events), 8)
            return sip_line, agent

    target = ""
    sip_line, agent = asyncio.run(run())
    assert statuses == [expected]
    assert sip_line.records[0].transfer_status == expected
    assert agent.count("CALL_ESTABLISHED") == (1 if agent_answers else 0)


@needs_baresip
def test_start_baresip_fails_within_its_bound(tmp_path: Path) -> None:
    """A baresip that never listens on ctrl_tcp fails in the bound, killed, with its log."""
    sip, ctrl = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    config = CONFIG.format(sip=sip, wav=tone_wav(tmp_path / "t.wav", 1.0), ctrl=ctrl,
                           rtp=30000, rtp_end=30099)
    (tmp_path / "config").write_text(config.replace("module_app ctrl_tcp.so\n", ""))
    (tmp_path / "accounts").write_text(f"<sip:caller@127.0.0.1:{sip}>;regint=0\n")
    with pytest.raises(BaresipFailed, match="did not listen on ctrl_tcp within 2 s"):
        asyncio.run(start_baresip(tmp_path, ctrl, sip, seconds=2.0))
