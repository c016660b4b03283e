"""The AudioSocket line over real TCP on loopback, with a test client speaking the protocol."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ivr.phone import audiosocket_line
from ivr.phone.audiosocket import (
    Audio,
    AudioSocketEvent,
    AudioSocketReader,
    DtmfKey,
    Hangup,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
)
from ivr.phone.audiosocket_line import AudioSocketCall, AudioSocketHandler, AudioSocketLine
from ivr.types import Dtmf

CALL = uuid.UUID("12345678-1234-5678-1234-567812345678")


async def client(line: AudioSocketLine, sent: bytes, *, wait: float = 5.0,
                 hang_up_after: float | None = None) -> list[AudioSocketEvent]:
    """Connect like Asterisk, send `sent`, read what comes back until the line hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", line.port)
    writer.write(sent)
    await writer.drain()
    protocol = AudioSocketReader()
    protocol.feed(encode_uuid(CALL))  # our side of the stream needs no UUID from the line
    events: list[AudioSocketEvent] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    hang_at = None if hang_up_after is None else loop.time() + hang_up_after
    while not protocol.closed and loop.time() < deadline:
        if hang_at is not None and loop.time() >= hang_at:
            writer.write(encode_hangup())
            await writer.drain()
            hang_at = None
        try:
            data = await asyncio.wait_for(reader.read(4096), 0.05)
        except TimeoutError:
            continue
        events += protocol.feed(data) if data else protocol.end_of_stream()
    writer.close()
    return events


async def with_line(handler: AudioSocketHandler, sent: bytes,
                    **kwargs: float) -> tuple[AudioSocketLine, list[AudioSocketEvent]]:
    line = AudioSocketLine(port=0, handler=handler)
    await line.start()
    try:
        events = await client(line, sent, **kwargs)
        await asyncio.sleep(0.1)
        return line, events
    finally:
        await line.stop()


def test_a_call_hears_paced_audio_and_a_hangup_and_its_audio_and_keys_arrive() -> None:
    heard: list[Audio | DtmfKey] = []

    async def handler(call: AudioSocketCall) -> None:
        await call.play(b"\1\0" * 8000)  # 1 s
        while not call.events.empty():
            heard.append(call.events.get_nowait())

    stream = encode_uuid(CALL) + encode_audio(b"\0\0" * 8000) + encode_dtmf(Dtmf.D5)
    line, events = asyncio.run(with_line(handler, stream))
    audio = [e for e in events if isinstance(e, Audio)]
    assert len(audio) == 50 and all(len(e.pcm) == 320 for e in audio)
    assert events[-1] == Hangup()
    (record,) = line.records
    assert (record.call_id, record.frames_in, record.keys) == (CALL, 50, 1)
    assert (record.frames_out, record.ended_by) == (50, "us")
    assert DtmfKey(Dtmf.D5) in heard


def test_the_caller_hanging_up_stops_playback() -> None:
    async def handler(call: AudioSocketCall) -> None:
        await call.play(b"\0\0" * 8000 * 5)

    line, _ = asyncio.run(with_line(handler, encode_uuid(CALL), hang_up_after=0.3))
    (record,) = line.records
    assert record.ended_by == "caller"
    assert 5 <= record.frames_out < 250


def test_a_protocol_error_closes_only_that_connection_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(call: AudioSocketCall) -> None:
        await call.play(b"\0\0" * 8000)

    async def run() -> AudioSocketLine:
        line = AudioSocketLine(port=0, handler=handler)
        await line.start()
        try:
            bad = await client(line, encode_uuid(CALL) + b"\x42\x00\x01x")
            good = await client(line, encode_uuid(CALL))
            assert not [e for e in bad if isinstance(e, Audio)]
            assert len([e for e in good if isinstance(e, Audio)]) == 50
            return line
        finally:
            await line.stop()

    with caplog.at_level("WARNING", logger="ivr.phone.audiosocket_line"):
        line = asyncio.run(run())
    assert [r.ended_by for r in line.records] == ["protocol", "us"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "unknown frame kind 0x42" in lines[0]


def test_a_connection_without_uuid_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audiosocket_line, "UUID_WAIT", 0.2)

    async def handler(call: AudioSocketCall) -> None:
        raise AssertionError("no call without a UUID")

    line, events = asyncio.run(with_line(handler, b"", wait=2))
    assert line.records[0].ended_by == "protocol"
    assert not [e for e in events if isinstance(e, Audio)]
