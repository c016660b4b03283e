"""The Asterisk AudioSocket protocol as a sans-I/O state machine.

AudioSocket (Asterisk's `res_audiosocket`, `AudioSocket()` dialplan application) is a TCP
stream of frames, each one byte of kind, two bytes of big-endian payload length, then the
payload. Asterisk connects to us and sends the call's UUID first, then 20 ms frames of
signed-linear 16-bit little-endian 8 kHz mono audio, DTMF digits and finally a hang-up (or
just closes the socket). We send audio back the same way, paced at 20 ms a frame.

`AudioSocketReader` takes bytes in any split and returns typed frozen events; it never
raises on peer input. A frame that breaks the protocol (unknown kind, payload over the
limit, audio before the UUID, a malformed UUID or DTMF payload) is one `ProtocolError`
event, after which the reader is closed and ignores the rest of the stream: the driver
drops the connection, and only that call is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Final

from ivr.types import Dtmf

__all__ = [
    "KIND_AUDIO",
    "KIND_DTMF",
    "KIND_ERROR",
    "KIND_HANGUP",
    "KIND_UUID",
    "MAX_PAYLOAD",
    "Audio",
    "AudioSocketEvent",
    "AudioSocketReader",
    "DtmfKey",
    "Error",
    "Hangup",
    "ProtocolError",
    "Uuid",
    "encode_audio",
    "encode_dtmf",
    "encode_frame",
    "encode_hangup",
    "encode_uuid",
]

KIND_HANGUP: Final = 0x00
KIND_UUID: Final = 0x01
KIND_DTMF: Final = 0x03
KIND_AUDIO: Final = 0x10
KIND_ERROR: Final = 0xFF
_SLIN_HIGHER_RATES: Final = frozenset(range(0x11, 0x19))
"""Newer Asterisk sends 12-192 kHz audio under these kinds; this engine takes 8 kHz only."""

HEADER_SIZE: Final = 3
MAX_PAYLOAD: Final = 4096
"""Largest payload accepted by default. A 20 ms 8 kHz frame is 320 bytes and Asterisk sends
one frame per message; 4096 leaves room for 120 ms frames and is far from the 65 535 a
hostile peer could announce."""
SAMPLE_RATE: Final = 8000
FRAME_BYTES: Final = 320
"""20 ms of 8 kHz signed-linear audio."""


@dataclass(frozen=True)
class Uuid:
    """The call's identifier, always the first frame."""

    value: uuid.UUID
    """The UUID Asterisk gave the channel (`AudioSocket(uuid, host:port)`)."""

    def __str__(self) -> str:
        return f"audiosocket uuid {self.value}"


@dataclass(frozen=True)
class Audio:
    """One frame of caller audio."""

    pcm: bytes
    """Signed 16-bit little-endian mono samples at 8 kHz (an even number of bytes)."""

    def __str__(self) -> str:
        return f"audiosocket audio {len(self.pcm) // 2} samples"


@dataclass(frozen=True)
class DtmfKey:
    """One keypad digit the caller pressed."""

    key: Dtmf = field(repr=False)
    """The key. Left out of repr and str: a keyed PIN or card number must never reach a log."""

    def __str__(self) -> str:
        return "audiosocket dtmf"


@dataclass(frozen=True)
class Hangup:
    """The peer hung up (a 0x00 frame)."""

    def __str__(self) -> str:
        return "audiosocket hangup"


@dataclass(frozen=True)
class Error:
    """The peer reported an error (a 0xff frame); the call is over."""

    code: bytes
    """The optional application-specific payload (Asterisk: 0x01 hang-up, 0x02 frame
    forwarding, 0x04 memory)."""

    def __str__(self) -> str:
        return f"audiosocket error {self.code.hex() or '-'}"


@dataclass(frozen=True)
class ProtocolError:
    """The stream broke the protocol; the reader is closed and the connection must be."""

    reason: str
    """One line saying what was wrong, for the log."""

    def __str__(self) -> str:
        return f"audiosocket protocol error: {self.reason}"


AudioSocketEvent = Uuid | Audio | DtmfKey | Hangup | Error | ProtocolError

_DTMF_BY_BYTE: Final = {key.value.encode("ascii"): key for key in Dtmf}


class AudioSocketReader:
    """Incoming half of one AudioSocket connection: bytes in, events out.

    Call `feed` with whatever the socket returned; it returns the events completed by those
    bytes. After a `Hangup`, `Error` or `ProtocolError` the reader is `closed` and returns
    no more events.
    """

    def __init__(self, *, max_payload: int = MAX_PAYLOAD) -> None:
        self._max_payload = max_payload
        self._buffer = bytearray()
        self._uuid: uuid.UUID | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the call is over or the stream broke the protocol."""
        return self._closed

    @property
    def call_id(self) -> uuid.UUID | None:
        """The call's UUID once received."""
        return self._uuid

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame (at most one header + `max_payload`)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[AudioSocketEvent]:
        """Take the next bytes of the stream; return the events they complete."""
        if self._closed:
            return []
        self._buffer += data
        events: list[AudioSocketEvent] = []
        while not self._closed and len(self._buffer) >= HEADER_SIZE:
            kind = self._buffer[0]
            length = int.from_bytes(self._buffer[1:3], "big")
            if length > self._max_payload:
                events.append(self._fail(f"frame kind 0x{kind:02x} announces {length} bytes, "
                                         f"over the {self._max_payload}-byte limit"))
                break
            if len(self._buffer) < HEADER_SIZE + length:
                break
            payload = bytes(self._buffer[HEADER_SIZE:HEADER_SIZE + length])
            del self._buffer[:HEADER_SIZE + length]
            events.append(self._frame(kind, payload))
        return events

    def end_of_stream(self) -> list[AudioSocketEvent]:
        """The socket closed: a hang-up if between frames, a protocol error if mid-frame."""
        if self._closed:
            return []
        if self._buffer:
            return [self._fail(f"connection closed inside a frame ({len(self._buffer)} bytes)")]
        self._closed = True
        return [Hangup()]

    def _fail(self, reason: str) -> ProtocolError:
        self._closed = True
        self._buffer.clear()
        return ProtocolError(reason)

    def _frame(self, kind: int, payload: bytes) -> AudioSocketEvent:
        if kind == KIND_UUID:
            return self._uuid_frame(payload)
        if kind == KIND_HANGUP:
            self._closed = True
            self._buffer.clear()
            return Hangup()
        if kind == KIND_ERROR:
            self._closed = True
            self._buffer.clear()
            return Error(payload)
        if self._uuid is None:
            return self._fail(f"frame kind 0x{kind:02x} before the call UUID")
        if kind == KIND_AUDIO:
            if len(payload) % 2:
                return self._fail(f"audio payload of odd length {len(payload)}")
            return Audio(payload)
        if kind == KIND_DTMF:
            key = _DTMF_BY_BYTE.get(payload)
            if key is None:
                return self._fail(f"DTMF payload is not one keypad digit ({len(payload)} bytes)")
            return DtmfKey(key)
        if kind in _SLIN_HIGHER_RATES:
            return self._fail(f"audio kind 0x{kind:02x} is not 8 kHz (configure slin 8 kHz)")
        return self._fail(f"unknown frame kind 0x{kind:02x}")

    def _uuid_frame(self, payload: bytes) -> AudioSocketEvent:
        if self._uuid is not None:
            return self._fail("a second call UUID")
        if len(payload) != 16:
            return self._fail(f"UUID payload of {len(payload)} bytes, not 16")
        self._uuid = uuid.UUID(bytes=payload)
        return Uuid(self._uuid)


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame: kind, big-endian length, payload."""
    if not 0 <= kind <= 0xFF:
        raise ValueError(f"frame kind {kind} is not a byte")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame")
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def encode_audio(pcm: bytes) -> bytes:
    """Frames of at most 20 ms carrying `pcm` (signed 16-bit LE, 8 kHz mono).

    The driver sends one frame every 20 ms; this only cuts and frames the bytes.
    """
    if len(pcm) % 2:
        raise ValueError("signed-linear audio must be an even number of bytes")
    return b"".join(encode_frame(KIND_AUDIO, pcm[i:i + FRAME_BYTES])
                    for i in range(0, len(pcm), FRAME_BYTES))


def encode_hangup() -> bytes:
    """The hang-up frame (0x00 0x00 0x00)."""
    return encode_frame(KIND_HANGUP)


def encode_uuid(call_id: uuid.UUID) -> bytes:
    """The first frame a caller (Asterisk, or a test client) sends."""
    return encode_frame(KIND_UUID, call_id.bytes)


def encode_dtmf(key: Dtmf) -> bytes:
    """One DTMF frame, as Asterisk sends it."""
    return encode_frame(KIND_DTMF, key.value.encode("ascii"))
