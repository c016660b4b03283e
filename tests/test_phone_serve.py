"""`ivr serve` end to end: a real process answers a baresip call (SIP) and an AudioSocket
client of ours (TCP), with the bank flow, the embedded Korean model and espeak-ng prompts.

The caller is a committed Korean recording converted to 8 kHz with sox; the node the served
call reaches must be the node `ivr replay` reaches with the same 8 kHz file, and the caller
must have heard prompt audio. Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from ivr.audio import read_wav
from ivr.phone.audiosocket import FRAME_BYTES, encode_audio, encode_hangup, encode_uuid
from tests.baresip import CONFIG, free_port

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "bank_hotline.yaml"
CALLER = ROOT / "samples" / "audio" / "ko_fraud.wav"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sox") is None or shutil.which("espeak-ng") is None,
                       reason="needs sox and espeak-ng"),
]
needs_baresip = pytest.mark.skipif(shutil.which("baresip") is None,
                                   reason="baresip is not installed (apt-get install baresip)")
KIND_AUDIO, KIND_HANGUP = 0x10, 0x00
ENDED = re.compile(r"call (\S+) ended: (\w+) at (\S+)")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def caller_8k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The caller's WAV at 8 kHz (with trailing silence so the call outlasts the decision),
    and the node `ivr replay` reaches with it."""
    tmp = tmp_path_factory.mktemp("caller")
    wav = tmp / "caller.wav"
    subprocess.run(["sox", "-D", "-R", str(CALLER), "-r", "8000", "-c", "1", "-b", "16", str(wav),
                    "pad", "0", "8"], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "replay", "--flow", str(FLOW),
                           "--lang", "ko", "--json", "--queue", str(tmp / "replay.sqlite3"),
                           str(wav)], env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    replayed = json.loads(done.stdout.splitlines()[0])
    assert replayed["path"][-1] != "root", replayed  # routed, so the check below means something
    return wav, str(replayed["outcome"]["node"])


class Served:
    """`ivr serve` as a child process; stderr collected to a file."""

    def __init__(self, tmp: Path, *listen: str) -> None:
        self.log = tmp / "serve.log"
        self.queue = tmp / "queue.sqlite3"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--flow", str(FLOW), "--lang", "ko",
             "--queue", str(self.queue), "--prompts", str(ROOT / "var" / "prompts"), *listen],
            env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"))
        deadline = time.monotonic() + 120
        while "listening on" not in self.text():
            assert self.process.poll() is None, self.text()[-2000:]
            assert time.monotonic() < deadline, "ivr serve did not start in 120 s"
            time.sleep(0.2)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM: drain, then exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return -9

    def ended(self) -> list[tuple[str, str, str]]:
        return ENDED.findall(self.text())


def energy(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


@needs_baresip
def test_a_baresip_call_is_answered_routed_as_replay_and_hears_prompts(
    tmp_path: Path, caller_8k: tuple[Path, str]
) -> None:
    wav, expected_node = caller_8k
    port = free_port(socket.SOCK_DGRAM)
    served = Served(tmp_path, "--sip", f"127.0.0.1:{port}")
    try:
        heard = asyncio.run(baresip_call(tmp_path / "baresip", wav, port))
    finally:
        code = served.stop()
    assert code == 0, served.text()[-2000:]
    ((_, outcome, node),) = served.ended()
    assert node == expected_node, served.text()[-2000:]
    assert "draining" in served.text()
    queued = subprocess.run([sys.executable, "-m", "ivr.cli", "queue", "list", "--json",
                             "--queue", str(served.queue)], env=env(), capture_output=True,
                            text=True, timeout=60)
    (record,) = [json.loads(line) for line in queued.stdout.splitlines()]
    assert outcome == "handoff" and record["path"][-1] == node, record  # filed by the session
    samples = read_wav(heard).pcm
    pcm = np.frombuffer(samples, "<i2")
    assert len(pcm) / 16000 > 1.0
    assert energy(pcm) > 300, energy(pcm)  # prompts, not silence (digital silence is 0)


async def baresip_call(tmp: Path, wav: Path, port: int, keys: str = "",
                       number: str = "ivr", calls: int = 1) -> Path:
    """Place one call from baresip to `number` (pressing `keys` a second after it is
    answered), recording what it hears until `calls` calls closed (2 when it is
    transferred and the transfer fails); the recording's path."""
    from tests.baresip import BaresipFailed, start_baresip
    from tests.test_phone_sip_baresip import closed

    tmp.mkdir()
    sip, ctrl = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    rtp = 20000 + (sip % 200) * 200
    config = CONFIG.format(sip=sip, wav=wav, ctrl=ctrl, rtp=rtp, rtp_end=rtp + 199)
    (tmp / "config").write_text(config + f"module sndfile.so\nsnd_path {tmp}\n")
    (tmp / "accounts").write_text(f"<sip:caller@127.0.0.1:{sip}>;regint=0\n")
    try:
        phone = await start_baresip(tmp, ctrl, sip)
    except BaresipFailed as error:
        pytest.fail(str(error))
    process, writer = phone.process, phone.writer
    try:
        await phone.dial(f"sip:{number}@127.0.0.1:{port}")
        if keys:
            assert await phone.until(lambda events: any(
                e.get("type") == "CALL_ESTABLISHED" for e in events), 10), phone.events
            await asyncio.sleep(1.0)
            for key in keys:
                await phone.command("sndcode", key)
                await asyncio.sleep(0.4)
        assert await phone.until(closed(calls), 60), phone.events
        assert phone.count("CALL_ESTABLISHED") >= 1, phone.events  # 2 once transferred
        await phone.command("quit", "")  # so its recorder writes out the whole call
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5)
        writer.close()
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 5)
    decoded = sorted(tmp.glob("*dec*.wav"))
    assert decoded, sorted(p.name for p in tmp.iterdir())
    return decoded[0]


def test_an_audiosocket_call_is_routed_as_replay_and_hears_prompts(
    tmp_path: Path, caller_8k: tuple[Path, str]
) -> None:
    wav, expected_node = caller_8k
    port = free_port(socket.SOCK_STREAM)
    served = Served(tmp_path, "--sip", "off", "--audiosocket", f"127.0.0.1:{port}",
                    "--workers", "2")
    call_id = uuid.uuid4()
    try:
        assert "; 2 speech workers" in served.text()
        assert len(speech_workers(served.process.pid)) == 2  # --workers reaches the service
        heard, hung_up = asyncio.run(audiosocket_call(wav, port, call_id))
    finally:
        code = served.stop()
    assert code == 0, served.text()[-2000:]
    ((ended_id, _, node),) = served.ended()
    assert ended_id == str(call_id)
    assert node == expected_node, served.text()[-2000:]
    assert hung_up  # the engine ended the call with a hang-up frame
    pcm = np.frombuffer(heard, "<i2")
    assert len(pcm) / 8000 > 1.0
    assert energy(pcm) > 300, energy(pcm)


def speech_workers(parent: int) -> list[int]:
    """Process ids of the recognition workers (`python -m ivr.asr.worker`) of `parent`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            stat = (cmdline.parent / "stat").read_text()
            if b"ivr.asr.worker" in args and int(stat.rpartition(")")[2].split()[1]) == parent:
                found.append(int(cmdline.parent.name))
    return found


async def audiosocket_call(wav: Path, port: int, call_id: uuid.UUID) -> tuple[bytes, bool]:
    """Speak the AudioSocket protocol as Asterisk does: UUID, then 20 ms frames paced in
    real time; collect what the engine sends back until it hangs up (bounded)."""
    import wave

    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_uuid(call_id))
    heard: list[bytes] = []
    hung_up = False

    async def receive() -> None:  # our own reading of the frames: kind, length, payload
        nonlocal hung_up
        while not hung_up:
            try:
                head = await reader.readexactly(3)
                payload = await reader.readexactly(int.from_bytes(head[1:3], "big"))
            except asyncio.IncompleteReadError:
                return
            if head[0] == KIND_AUDIO:
                heard.append(payload)
            elif head[0] == KIND_HANGUP:
                hung_up = True

    receiving = asyncio.create_task(receive())
    start = time.monotonic()
    for n, i in enumerate(range(0, len(pcm), FRAME_BYTES)):
        if receiving.done():
            break
        writer.write(encode_audio(pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")))
        await writer.drain()
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
    try:
        await asyncio.wait_for(receiving, 30)
    except TimeoutError:
        writer.write(encode_hangup())
    writer.close()
    return b"".join(heard), hung_up



@needs_baresip
def test_a_caller_keying_7_is_handed_off_and_referred_to_the_queues_sip_destination(
    tmp_path: Path
) -> None:
    from tests.test_phone_sip_baresip import baresip, tone_wav

    wav = tmp_path / "quiet.wav"  # the caller keys 7 (fraud_report) and stays on the line
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "trim", "0",
                    "25"], check=True, capture_output=True)
    port = free_port(socket.SOCK_DGRAM)
    (tmp_path / "agent").mkdir()
    tone = tone_wav(tmp_path / "agent.wav", 20.0)

    async def run() -> tuple[Served, bool]:
        async with baresip(tmp_path / "agent", tone, user="agent", answer=True) as agent:
            served = Served(tmp_path, "--sip", f"127.0.0.1:{port}", "--transfer",
                            f"fraud=sip:agent@127.0.0.1:{agent.port}")
            try:
                await baresip_call(tmp_path / "caller", wav, port, keys="7")
                reached = await agent.until(
                    lambda events: any(e.get("type") == "CALL_ESTABLISHED" for e in events), 15)
            finally:
                served.stop()
            return served, reached

    served, reached = asyncio.run(run())
    assert reached, served.text()[-2000:]  # the caller's phone called the agent
    assert re.search(r"transfer to queue fraud: 200", served.text()), served.text()[-2000:]
    queued = subprocess.run([sys.executable, "-m", "ivr.cli", "queue", "list", "--json",
                             "--queue", str(served.queue)], env=env(), capture_output=True,
                            text=True, timeout=60)
    assert len(queued.stdout.splitlines()) == 1  # filed before the transfer
