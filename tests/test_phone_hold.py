"""re-INVITE and hold on the SIP line: a scripted caller of ours (in process, UDP on
loopback) and real baresip (`hold` / `resume` over ctrl_tcp). A held call gets no RTP from
us and its prompt waits; the resume goes on where it was; a re-INVITE we cannot use gets 488
and the call goes on; a burst of mutated re-INVITEs costs nothing but their own answers."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from ivr.phone.sdp import SessionDescription, parse_sdp
from ivr.phone.sip import SipResponse
from ivr.phone.sipline import LineConfig, PhoneCall, SipLine
from tests.sipdialog import ScriptedDialog
from tests.test_phone_sip_baresip import baresip, closed, free_port, line, needs_baresip, tone_wav

TONE = (np.sin(np.arange(8000 * 4) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2").tobytes()
OPUS_ONLY = ("v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n")


def answered(response: SipResponse) -> SessionDescription:
    sdp = parse_sdp(response.body)
    assert isinstance(sdp, SessionDescription), response
    return sdp


def origin_version(response: SipResponse) -> int:
    (origin,) = [r for r in response.body.decode().splitlines() if r.startswith("o=")]
    return int(origin.split()[2])


def test_hold_stops_our_rtp_and_the_prompt_goes_on_after_the_resume() -> None:
    played: list[float] = []

    async def speak(call: PhoneCall) -> None:
        started = time.monotonic()
        await call.play(TONE)  # 4 s
        played.append(time.monotonic() - started)
        await asyncio.sleep(0.3)

    async def run() -> tuple[SipLine, dict[str, object]]:
        port = free_port(socket.SOCK_DGRAM)
        seen: dict[str, object] = {}
        async with line(LineConfig(port=port), speak) as sip_line:
            dialog = ScriptedDialog(port)
            await dialog.open()
            try:
                ok = await dialog.invite(dialog.offer())
                assert ok.status == 200
                dialog.line_rtp = answered(ok).media[0].port
                assert dialog.media is not None
                arrivals = dialog.media.arrivals
                await asyncio.sleep(1.0)
                held = await dialog.invite(dialog.offer("sendonly"))
                seen["held"] = (held.status, answered(held).media[0].direction,
                                origin_version(held) - origin_version(ok))
                await asyncio.sleep(0.2)  # frames already on the way
                before = len(arrivals)
                refused = await dialog.invite(OPUS_ONLY)
                inactive = await dialog.invite(dialog.offer("inactive"))
                await asyncio.sleep(1.5)
                seen["during hold"] = len(arrivals) - before
                seen["refused"] = refused.status
                seen["inactive"] = (inactive.status, answered(inactive).media[0].direction)
                resumed = await dialog.invite(dialog.offer("sendrecv"))
                seen["resumed"] = (resumed.status, answered(resumed).media[0].direction)
                await asyncio.sleep(4.0)
                seen["frames"] = len(arrivals)
                seen["bye"] = dialog.sent_to_us("BYE") != []
            finally:
                dialog.close()
            return sip_line, seen

    sip_line, seen = asyncio.run(run())
    (record,) = sip_line.records
    assert seen["held"] == (200, "recvonly", 1)  # our answer to a hold; o= version + 1
    assert seen["during hold"] == 0, seen  # nothing sent while held
    assert seen["refused"] == 488  # no G.711: refused, the call goes on
    assert seen["inactive"] == (200, "inactive")
    assert seen["resumed"] == (200, "sendrecv")
    assert (record.holds, record.reinvites, record.ended_by) == (1, 3, "us")
    assert record.frames_out == 200 and seen["frames"] == 200  # the whole prompt, once
    assert played[0] > 4.0 + 1.5, played  # the prompt waited while the call was held
    assert seen["bye"]


def mutated(rng: random.Random, body: str) -> bytes:
    data = bytearray(body.encode())
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        kind = rng.randrange(4)
        if kind == 0:
            data[at] = rng.randrange(256)
        elif kind == 1:
            del data[at:at + rng.randint(1, 20)]
        elif kind == 2:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            line_at = body.rfind("\n", 0, at) + 1
            data[at:at] = body[line_at:body.find("\n", at) + 1].encode()
    return bytes(data)


def test_mutated_reinvites_cost_only_their_own_answers(caplog: pytest.LogCaptureFixture) -> None:
    """600 seeded mutations of a hold offer in one call: each answered 200 or 488 (or 400
    by the gate), no traceback; the call then resumes, and a second call is answered."""
    done = asyncio.Event()

    async def wait(call: PhoneCall) -> None:
        await asyncio.wait_for(done.wait(), 120)

    async def run() -> tuple[list[int], int, int, SipLine]:
        port = free_port(socket.SOCK_DGRAM)
        rng = random.Random(12)
        async with line(LineConfig(port=port), wait) as sip_line:
            dialog, other = ScriptedDialog(port), ScriptedDialog(port)
            await dialog.open()
            await other.open()
            try:
                assert (await dialog.invite(dialog.offer())).status == 200
                statuses = [(await dialog.invite(mutated(rng, dialog.offer("sendonly")))).status
                            for _ in range(600)]
                last = (await dialog.invite(dialog.offer())).status
                second = (await other.invite(other.offer())).status
            finally:
                done.set()
                dialog.close()
                other.close()
            return statuses, last, second, sip_line

    with caplog.at_level(logging.INFO):
        statuses, last, second, sip_line = asyncio.run(run())
    assert set(statuses) <= {200, 400, 488}, sorted(set(statuses))
    assert statuses.count(488) > 50 and statuses.count(200) > 50  # both paths were taken
    assert (last, second) == (200, 200)
    assert all(r.exc_info is None for r in caplog.records), [
        r.getMessage() for r in caplog.records if r.exc_info][:3]
    assert len(sip_line.records) == 2


@needs_baresip
def test_baresip_hold_and_resume(tmp_path: Path) -> None:
    played: list[float] = []

    async def speak(call: PhoneCall) -> None:
        started = time.monotonic()
        await call.play(TONE)
        played.append(time.monotonic() - started)

    async def run() -> tuple[SipLine, list[dict[str, object]]]:
        port = free_port(socket.SOCK_DGRAM)
        wav = tone_wav(tmp_path / "caller.wav", 12.0)
        async with line(LineConfig(port=port), speak) as sip_line, \
                baresip(tmp_path, wav) as phone:
            await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            assert await phone.until(lambda events: any(
                e.get("type") == "CALL_ESTABLISHED" for e in events), 10), phone.events
            await asyncio.sleep(1.0)
            await phone.command("hold", "")
            await asyncio.sleep(2.5)
            held = sip_line.records[0].holds
            await phone.command("resume", "")
            assert await phone.until(closed(1), 20), phone.events
            assert held == 1, phone.events
            return sip_line, phone.events

    sip_line, _events = asyncio.run(run())
    (record,) = sip_line.records
    assert record.holds == 1 and record.reinvites >= 2, record
    assert record.frames_out == 200 and record.ended_by == "us"
    assert played[0] > 4.0 + 2.0, played  # paused while held, finished after the resume
