"""A second leg to the agent (a B2BUA bridge) where the trunk does not do REFER: the line
INVITEs the agent itself and relays RTP both ways. Real baresip as the caller and as the
agent (auto-answer, recording what it heard): the agent hears the caller (cross-correlation
of its recording with what the caller sent), and a BYE from either side ends both legs.
The REFER-refusal path uses a scripted caller of ours that answers REFER 405 (baresip always
takes a REFER). Loopback only; every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from ivr.phone.bridge import BridgeLimits, sip_target
from ivr.phone.sdp import SessionDescription, parse_sdp
from ivr.phone.sipline import LineConfig, PhoneCall, SipLine
from tests.baresip import CONFIG, Baresip, BaresipFailed, start_baresip
from tests.sipdialog import ScriptedDialog
from tests.test_phone_serve_features import best_match, recorded
from tests.test_phone_sip_baresip import closed, free_port, line, needs_baresip, tone_wav

AGENT = "sip:agent@127.0.0.1:{port}"


def noise(seconds: float, seed: int) -> np.ndarray:
    """A caller's 'voice' the recording can be matched against (G.711 keeps its shape)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(8000 * seconds)) * 3000).clip(-30000, 30000).astype("<i2")


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.tobytes())
    return path


@asynccontextmanager
async def recording_baresip(tmp: Path, wav: Path, user: str,
                            answer: bool) -> AsyncIterator[Baresip]:
    """baresip that records what it hears (sndfile) into `tmp`; `quit` on the way out so the
    recording is written, killed if it does not go."""
    tmp.mkdir()
    sip, ctrl = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    rtp = 20000 + (sip % 200) * 200
    config = CONFIG.format(sip=sip, wav=wav, ctrl=ctrl, rtp=rtp, rtp_end=rtp + 199)
    (tmp / "config").write_text(config + f"module sndfile.so\nsnd_path {tmp}\n")
    auto = ";answermode=auto" if answer else ""
    (tmp / "accounts").write_text(f"<sip:{user}@127.0.0.1:{sip}>;regint=0{auto}\n")
    try:
        phone = await start_baresip(tmp, ctrl, sip)
    except BaresipFailed as error:
        pytest.fail(str(error))
    try:
        yield phone
        await phone.command("quit", "")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phone.process.wait(), 5)
        phone.writer.close()
    finally:
        if phone.process.returncode is None:
            phone.process.kill()
        await asyncio.wait_for(phone.process.wait(), 5)


def heard(tmp: Path) -> np.ndarray:
    decoded = sorted(tmp.glob("*dec*.wav"))
    assert decoded, sorted(p.name for p in tmp.iterdir())
    return recorded(decoded[0])


def established(events: list[dict[str, object]]) -> bool:
    return any(e.get("type") == "CALL_ESTABLISHED" for e in events)


def test_sip_targets() -> None:
    assert sip_target("sip:agent@127.0.0.1:5090") == ("127.0.0.1", 5090)
    assert sip_target("sip:agent@[::1]:5090;transport=udp") == ("::1", 5090)
    assert sip_target("sip:10.0.0.7") == ("10.0.0.7", 5060)
    for bad in ("sips:agent@127.0.0.1", "sip:agent@pbx.example", "sip:a@127.0.0.1:0",
                "sip:a@127.0.0.1:99999", "tel:+8215881588", "sip:a@127.0.0.1:5x"):
        assert sip_target(bad) is None, bad


@pytest.mark.slow
@needs_baresip
def test_a_bridge_by_config_relays_the_caller_to_the_agent_and_the_agents_bye_ends_both(
    tmp_path: Path
) -> None:
    voice = noise(20.0, seed=3)
    caller_wav = write_wav(tmp_path / "caller.wav", voice)
    statuses: list[int] = []

    async def hand_off(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 2400)
        statuses.append(await call.transfer(AGENT.format(port=agent_port)))

    async def run() -> SipLine:
        port = free_port(socket.SOCK_DGRAM)
        async with recording_baresip(tmp_path / "agent", tone_wav(tmp_path / "agent.wav", 20),
                                     "agent", answer=True) as agent, \
                recording_baresip(tmp_path / "caller", caller_wav, "caller",
                                  answer=False) as caller, \
                line(LineConfig(port=port, transfer_by="bridge"), hand_off) as sip_line:
            nonlocal agent_port
            agent_port = agent.port
            await caller.dial(f"sip:ivr@127.0.0.1:{port}")
            assert await agent.until(established, 15), agent.events
            await asyncio.sleep(4.0)  # the two talk
            await agent.command("hangup", "")
            assert await agent.until(closed(1), 10), agent.events
            assert await caller.until(closed(1), 10), caller.events  # our BYE to the caller
            for _ in range(50):
                if not sip_line.active:
                    break
                await asyncio.sleep(0.1)
            return sip_line

    agent_port = 0
    sip_line = asyncio.run(run())
    (record,) = sip_line.records
    assert statuses == [200]
    assert (record.transfer_by, record.transfer_status, record.bridge_ended_by,
            record.ended_by) == ("bridge", 200, "agent", "us")
    assert record.relayed[0] > 150 and record.relayed[1] > 150, record.relayed  # both ways
    agent_heard = heard(tmp_path / "agent")  # the caller's voice from when the bridge was up
    score = max(best_match(agent_heard, voice[8000 * k:]) for k in range(4))
    assert score > 0.6, score  # the agent heard the caller (1.0 seen; unrelated audio: ~0.03)
    assert best_match(heard(tmp_path / "agent"), noise(4.0, seed=4)) < 0.2


@pytest.mark.slow
@needs_baresip
def test_a_refused_refer_falls_back_to_a_bridge_and_the_callers_bye_ends_both(
    tmp_path: Path
) -> None:
    voice = noise(3.0, seed=5)
    statuses: list[int] = []
    bridged = asyncio.Event()

    async def hand_off(call: PhoneCall) -> None:
        await call.play(b"\0\0" * 800)
        statuses.append(await call.transfer(AGENT.format(port=agent_port), timeout=5))
        bridged.set()

    async def run() -> tuple[SipLine, ScriptedDialog, list[dict[str, object]]]:
        port = free_port(socket.SOCK_DGRAM)
        async with recording_baresip(tmp_path / "agent", tone_wav(tmp_path / "agent.wav", 20),
                                     "agent", answer=True) as agent, \
                line(LineConfig(port=port), hand_off) as sip_line:
            nonlocal agent_port
            agent_port = agent.port
            dialog = ScriptedDialog(port, refer_status=405)
            await dialog.open()
            try:
                ok = await dialog.invite(dialog.offer())
                sdp = parse_sdp(ok.body)
                assert isinstance(sdp, SessionDescription)
                dialog.line_rtp = sdp.media[0].port
                await asyncio.wait_for(bridged.wait(), 10)
                assert await agent.until(established, 5), agent.events
                await dialog.speak(voice.tobytes(), 5)
                await asyncio.sleep(0.5)
                assert (await dialog.bye()).status == 200
                assert await agent.until(closed(1), 10), agent.events  # our BYE to the agent
            finally:
                dialog.close()
            return sip_line, dialog, agent.events

    agent_port = 0
    sip_line, dialog, _ = asyncio.run(run())
    (record,) = sip_line.records
    assert statuses == [200]
    assert [r.method for r in dialog.sent_to_us("REFER")] == ["REFER"]  # refused: 405
    assert (record.transfer_by, record.bridge_ended_by, record.ended_by) == (
        "bridge", "caller", "caller")
    assert dialog.media is not None and len(dialog.media.arrivals) > 100  # the agent's tone
    score = best_match(heard(tmp_path / "agent"), voice)
    assert score > 0.6, score


def test_a_bridge_ends_at_its_time_limit_and_hangs_up_both_legs() -> None:
    """An agent line of ours (in process) that never hangs up; the bridge's limit does."""
    agent_done = asyncio.Event()

    async def agent_waits(call: PhoneCall) -> None:
        await asyncio.wait_for(call.ended.wait(), 20)
        agent_done.set()

    async def hand_off(call: PhoneCall) -> None:
        assert await call.transfer(AGENT.format(port=agent_port)) == 200

    async def run() -> tuple[SipLine, SipLine, ScriptedDialog, float]:
        port = free_port(socket.SOCK_DGRAM)
        config = LineConfig(port=port, transfer_by="bridge",
                            bridge=BridgeLimits(limit_s=1.5))
        async with line(LineConfig(port=agent_port), agent_waits) as agent_line, \
                line(config, hand_off) as sip_line:
            dialog = ScriptedDialog(port)
            await dialog.open()
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                assert (await dialog.invite(dialog.offer())).status == 200
                await asyncio.wait_for(agent_done.wait(), 10)
                for _ in range(50):
                    if dialog.sent_to_us("BYE"):
                        break
                    await asyncio.sleep(0.1)
                took = loop.time() - started
            finally:
                dialog.close()
            return sip_line, agent_line, dialog, took

    agent_port = free_port(socket.SOCK_DGRAM)
    sip_line, agent_line, dialog, took = asyncio.run(run())
    (record,) = sip_line.records
    (agent,) = agent_line.records
    assert record.bridge_ended_by == "limit" and agent.ended_by == "caller"  # our BYE there
    assert dialog.sent_to_us("BYE")  # and to the caller
    assert 1.5 < took < 6, took
