"""RTP (RFC 3550) for G.711 voice and RFC 4733 telephone-events, sans-I/O.

`parse_rtp` turns one datagram into an `RtpPacket` or an `RtpProblem` value; it never raises.
`RtpReceiver` is one call's incoming stream: it decodes PCMU/PCMA to 8 kHz PCM16, turns
telephone-events into keypad keys (counted once per event however often the peer repeats
it), drops duplicates, restores order within a small window, follows sequence wrap and a
change of source (SSRC). `RtpSender` numbers and stamps outgoing 20 ms frames and `Pacer`
says when each is due; the driver owns the socket and the clock and passes times in.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from ivr.audio.g711 import decode_alaw, decode_mulaw, encode_alaw, encode_mulaw
from ivr.types import Dtmf

__all__ = [
    "PCMA",
    "PCMU",
    "Codec",
    "KeyPressed",
    "Lost",
    "Media",
    "Pacer",
    "RtpEvent",
    "RtpPacket",
    "RtpProblem",
    "RtpReceiver",
    "RtpSender",
    "SourceChanged",
    "TelephoneEvent",
    "build_rtp",
    "parse_rtp",
    "parse_telephone_event",
]

PCMU: Final = 0
PCMA: Final = 8
Codec = Literal["PCMU", "PCMA"]
CODEC_PAYLOAD_TYPE: Final[dict[str, int]] = {"PCMU": PCMU, "PCMA": PCMA}
SAMPLES_PER_FRAME: Final = 160
"""20 ms at 8 kHz: the timestamp step of one frame."""
MAX_DATAGRAM: Final = 1500
"""A datagram longer than an Ethernet MTU is not a voice packet."""
MAX_DROPOUT: Final = 3000
"""A sequence jump larger than this is a restarted stream, not loss (RFC 3550 A.1)."""
_KEYS: Final = {i: Dtmf(str(i)) for i in range(10)} | {10: Dtmf.STAR, 11: Dtmf.HASH}


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet; fields as in RFC 3550 section 5.1."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = field(repr=False)
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"rtp pt={self.payload_type} seq={self.sequence} ts={self.timestamp}"


@dataclass(frozen=True)
class RtpProblem:
    """A datagram that is not a usable RTP packet; it is dropped, the call goes on."""

    reason: str

    def __str__(self) -> str:
        return f"rtp dropped: {self.reason}"


def parse_rtp(data: bytes) -> RtpPacket | RtpProblem:
    """One datagram to a packet, or a problem saying why not."""
    if len(data) < 12:
        return RtpProblem(f"{len(data)} bytes, shorter than an RTP header")
    if len(data) > MAX_DATAGRAM:
        return RtpProblem(f"{len(data)} bytes, longer than {MAX_DATAGRAM}")
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != 2:
        return RtpProblem(f"RTP version {first >> 6}, not 2")
    end = len(data)
    if first & 0x20:
        pad = data[-1]
        if pad == 0 or pad > end - 12:
            return RtpProblem(f"padding of {pad} bytes does not fit")
        end -= pad
    offset = 12 + 4 * (first & 0x0F)
    if offset > end:
        return RtpProblem("CSRC list runs past the packet")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, 12)
    if first & 0x10:
        if offset + 4 > end:
            return RtpProblem("header extension runs past the packet")
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
        if offset > end:
            return RtpProblem("header extension runs past the packet")
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bytes(data[offset:end]),
                     bool(second & 0x80), tuple(csrcs))


def build_rtp(packet: RtpPacket) -> bytes:
    """A packet to its datagram (no padding, no extension)."""
    first = 0x80 | len(packet.csrcs)
    second = (0x80 if packet.marker else 0) | packet.payload_type
    header = struct.pack("!BBHII", first, second, packet.sequence, packet.timestamp,
                         packet.ssrc)
    return header + b"".join(struct.pack("!I", c) for c in packet.csrcs) + packet.payload


@dataclass(frozen=True)
class TelephoneEvent:
    """An RFC 4733 section 2.3 named event payload."""

    event: int
    end: bool
    volume: int
    duration: int


def parse_telephone_event(payload: bytes) -> TelephoneEvent | RtpProblem:
    """The 4-byte event payload (the first block if the peer sent several)."""
    if len(payload) < 4:
        return RtpProblem(f"telephone-event payload of {len(payload)} bytes")
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True)
class Media:
    """20 ms (or whatever the peer sent) of caller audio, in order."""

    pcm: bytes = field(repr=False)
    """Signed 16-bit little-endian mono at 8 kHz."""
    timestamp: int

    def __str__(self) -> str:
        return f"rtp media {len(self.pcm) // 2} samples at ts={self.timestamp}"


@dataclass(frozen=True)
class KeyPressed:
    """The caller pressed a key (once per RFC 4733 event, however often it is repeated)."""

    key: Dtmf = field(repr=False)
    """Out of repr and str: keyed digits never reach a log."""

    def __str__(self) -> str:
        return "rtp dtmf"


@dataclass(frozen=True)
class Lost:
    """Packets that never came (or came too late) before the ones that followed."""

    count: int


@dataclass(frozen=True)
class SourceChanged:
    """A new SSRC (the peer restarted its stream, e.g. after a re-INVITE); order resets."""

    ssrc: int


RtpEvent = Media | KeyPressed | Lost | SourceChanged | RtpProblem


class RtpReceiver:
    """One call's incoming RTP: datagrams in, ordered media and keys out."""

    def __init__(self, codec: Codec, *, telephone_event: int | None = 101,
                 window: int = 4) -> None:
        self._audio_pt = CODEC_PAYLOAD_TYPE[codec]
        self._decode = decode_mulaw if codec == "PCMU" else decode_alaw
        self._event_pt = telephone_event
        self._window = window
        self._ssrc: int | None = None
        self._highest = 0
        """Highest extended sequence number seen."""
        self._next = 0
        """Extended sequence number of the next packet to release."""
        self._held: dict[int, RtpPacket] = {}
        self._keyed: deque[int] = deque(maxlen=32)
        """Timestamps of telephone-events already reported (RFC 4733: one event, one ts)."""
        self.duplicates = 0
        self.late = 0

    def feed(self, data: bytes) -> list[RtpEvent]:
        """One datagram in; the events it completes out."""
        packet = parse_rtp(data)
        if isinstance(packet, RtpProblem):
            return [packet]
        if packet.payload_type not in (self._audio_pt, self._event_pt):
            return [RtpProblem(f"payload type {packet.payload_type} was not negotiated")]
        events: list[RtpEvent] = []
        if packet.ssrc != self._ssrc:
            events.append(SourceChanged(packet.ssrc))
            self._restart(packet)
        ext = self._extend(packet.sequence)
        if ext is None:
            events.append(SourceChanged(packet.ssrc))
            self._restart(packet)
            ext = self._next
        if ext < self._next or ext in self._held:
            if ext in self._held or ext == self._next - 1:
                self.duplicates += 1
            else:
                self.late += 1
            return events
        self._highest = max(self._highest, ext)
        self._held[ext] = packet
        return events + self._release()

    def _restart(self, packet: RtpPacket) -> None:
        self._ssrc = packet.ssrc
        self._highest = self._next = packet.sequence
        self._held.clear()

    def _extend(self, sequence: int) -> int | None:
        """The extended sequence number nearest the highest seen; None on a restart jump."""
        delta = (sequence - self._highest) & 0xFFFF
        ext = self._highest + delta if delta < 0x8000 else self._highest + delta - 0x10000
        if ext - self._highest > MAX_DROPOUT or self._next - ext > MAX_DROPOUT:
            return None
        return ext

    def _release(self) -> list[RtpEvent]:
        events: list[RtpEvent] = []
        while True:
            packet = self._held.pop(self._next, None)
            if packet is not None:
                self._next += 1
                events += self._deliver(packet)
            elif len(self._held) > self._window:
                first = min(self._held)
                events.append(Lost(first - self._next))
                self._next = first
            else:
                return events

    def _deliver(self, packet: RtpPacket) -> list[RtpEvent]:
        if packet.payload_type == self._audio_pt:
            codes = np.frombuffer(packet.payload, dtype=np.uint8)
            return [Media(self._decode(codes).astype("<i2").tobytes(), packet.timestamp)]
        event = parse_telephone_event(packet.payload)
        if isinstance(event, RtpProblem):
            return [event]
        key = _KEYS.get(event.event)
        if key is None or packet.timestamp in self._keyed:
            return []
        self._keyed.append(packet.timestamp)
        return [KeyPressed(key)]


class RtpSender:
    """Numbers and stamps outgoing G.711 frames: sequence +1, timestamp +160 per 20 ms."""

    def __init__(self, codec: Codec, *, ssrc: int, sequence: int = 0,
                 timestamp: int = 0) -> None:
        self._pt = CODEC_PAYLOAD_TYPE[codec]
        self._encode = encode_mulaw if codec == "PCMU" else encode_alaw
        self.ssrc = ssrc & 0xFFFFFFFF
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self._talking = False

    def frames(self, pcm: bytes) -> list[bytes]:
        """8 kHz PCM16 LE to datagrams of 20 ms; the last frame is padded with silence.
        Each datagram takes the next sequence number now: a sender that may stop before the
        end (barge-in) should number them as it sends (`payloads`, then `packet`)."""
        return [self.packet(payload) for payload in self.payloads(pcm)]

    def payloads(self, pcm: bytes) -> list[bytes]:
        """8 kHz PCM16 LE to encoded 20 ms payloads, not yet numbered (the last padded)."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        out = []
        for start in range(0, len(samples), SAMPLES_PER_FRAME):
            frame = np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
            chunk = samples[start:start + SAMPLES_PER_FRAME]
            frame[: len(chunk)] = chunk
            out.append(self._encode(frame).tobytes())
        return out

    def packet(self, payload: bytes) -> bytes:
        """One encoded 20 ms frame to a datagram; the first of a talkspurt carries the marker."""
        datagram = build_rtp(RtpPacket(self._pt, self.sequence, self.timestamp, self.ssrc,
                                       payload, marker=not self._talking))
        self._talking = True
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        return datagram

    def pause(self, frames: int) -> None:
        """Silence not sent (e.g. between prompts): time moves on, the next frame is marked."""
        self.timestamp = (self.timestamp + frames * SAMPLES_PER_FRAME) & 0xFFFFFFFF
        self._talking = False


class Pacer:
    """When each 20 ms frame is due, from a start time the driver reads from its clock."""

    def __init__(self, start: float, *, frame_seconds: float = 0.02, max_burst: int = 3) -> None:
        self._start = start
        self._step = frame_seconds
        self._max_burst = max_burst
        self.sent = 0
        self.skipped = 0

    def due(self, now: float) -> int:
        """How many frames to send now. After a long stall at most `max_burst` go at once
        and the rest are skipped, so the far end's jitter buffer is not flooded."""
        behind = int((now - self._start) / self._step) + 1 - self.sent
        if behind <= 0:
            return 0
        if behind > self._max_burst:
            self.skipped += behind - self._max_burst
            self.sent += behind - self._max_burst
            behind = self._max_burst
        self.sent += behind
        return behind

    def next_due(self) -> float:
        """The time at which the next frame is due."""
        return self._start + self.sent * self._step
