"""The AudioSocket line: an asyncio TCP server Asterisk connects to, one call per connection.

Bytes go through `ivr.phone.audiosocket.AudioSocketReader`; a protocol error costs that
connection only (one log line, socket closed). Each call is handed to a handler as an
`AudioSocketCall` (events in, paced 20 ms audio out), like `ivr.phone.sipline.PhoneCall`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ivr.phone.audiosocket import (
    FRAME_BYTES,
    Audio,
    AudioSocketEvent,
    AudioSocketReader,
    DtmfKey,
    Error,
    Hangup,
    ProtocolError,
    Uuid,
    encode_audio,
    encode_hangup,
)
from ivr.phone.rtp import Pacer

__all__ = ["AudioSocketCall", "AudioSocketLine", "AudioSocketRecord"]

log = logging.getLogger(__name__)
UUID_WAIT = 5.0
"""Seconds a new connection has to send its UUID before it is dropped."""


@dataclass
class AudioSocketRecord:
    """What happened on one connection."""

    peer: str
    call_id: uuid.UUID | None = None
    frames_in: int = 0
    frames_out: int = 0
    keys: int = 0
    ended_by: str = ""
    """"us", "caller", "error" or "protocol"."""


class AudioSocketCall:
    """One AudioSocket call: caller events in a queue, paced audio out."""

    def __init__(self, record: AudioSocketRecord, writer: asyncio.StreamWriter) -> None:
        self.record = record
        self.events: asyncio.Queue[Audio | DtmfKey] = asyncio.Queue(500)
        self.ended = asyncio.Event()
        self._writer = writer

    def deliver(self, event: Audio | DtmfKey) -> None:
        if isinstance(event, Audio):
            self.record.frames_in += 1
        else:
            self.record.keys += 1
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)

    async def play(self, pcm: bytes) -> None:
        """Send 8 kHz PCM16 as 20 ms frames, one every 20 ms; stops when the call ends."""
        frames = [encode_audio(pcm[i:i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)]
        pacer = Pacer(time.monotonic())
        sent = 0
        while sent < len(frames) and not self.ended.is_set():
            for _ in range(pacer.due(time.monotonic())):
                if sent < len(frames):
                    self._writer.write(frames[sent])
                    sent += 1
            await self._writer.drain()
            await asyncio.sleep(max(0.0, pacer.next_due() - time.monotonic()))
        self.record.frames_out += sent

    def hang_up(self) -> None:
        if not self.ended.is_set():
            self.record.ended_by = self.record.ended_by or "us"
            self.ended.set()
            self._writer.write(encode_hangup())


AudioSocketHandler = Callable[[AudioSocketCall], Coroutine[Any, Any, None]]


async def play_silence(call: AudioSocketCall) -> None:
    """The placeholder handler: one second of silence."""
    await call.play(b"\0\0" * 8000)


@dataclass
class AudioSocketLine:
    """A TCP listener for Asterisk's AudioSocket() application."""

    host: str = "127.0.0.1"
    port: int = 9092
    handler: AudioSocketHandler = play_silence
    max_calls: int = 24
    records: list[AudioSocketRecord] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _active: int = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        record = AudioSocketRecord(f"{peer[0]}:{peer[1]}" if peer else "?")
        if self._active >= self.max_calls:
            log.info("audiosocket %s refused: %d calls already", record.peer, self._active)
            writer.write(encode_hangup())
            writer.close()
            return
        self._active += 1
        self.records.append(record)
        call = AudioSocketCall(record, writer)
        protocol = AudioSocketReader()
        try:
            first = await asyncio.wait_for(self._read(reader, protocol, call), UUID_WAIT)
            if first and not protocol.closed:
                handling = asyncio.create_task(self.handler(call))
                reading = asyncio.create_task(self._read(reader, protocol, call, until_end=True))
                await asyncio.wait({handling, reading}, return_when=asyncio.FIRST_COMPLETED)
                if handling.done():
                    call.hang_up()
                    reading.cancel()
                else:
                    await handling
        except TimeoutError:
            log.warning("audiosocket %s dropped: no UUID in %.0f s", record.peer, UUID_WAIT)
            record.ended_by = "protocol"
        finally:
            call.ended.set()
            self._active -= 1
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, protocol: AudioSocketReader,
                    call: AudioSocketCall, *, until_end: bool = False) -> bool:
        """Feed the reader; without `until_end`, return True once the UUID is in."""
        got_uuid = False
        while not protocol.closed:
            data = await reader.read(4096)
            for event in protocol.feed(data) if data else protocol.end_of_stream():
                got_uuid |= self._event(call, event)
            if got_uuid and not until_end:
                return True
        call.ended.set()
        return False

    def _event(self, call: AudioSocketCall, event: AudioSocketEvent) -> bool:
        record = call.record
        if isinstance(event, Uuid):
            record.call_id = event.value
            return True
        if isinstance(event, Audio | DtmfKey):
            call.deliver(event)
        elif isinstance(event, Hangup | Error):
            record.ended_by = record.ended_by or ("caller" if isinstance(event, Hangup)
                                                  else "error")
        elif isinstance(event, ProtocolError):
            log.warning("audiosocket %s closed: %s", record.peer, event.reason)
            record.ended_by = "protocol"
        return False
