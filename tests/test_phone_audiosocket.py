"""AudioSocket framing: any byte split gives the same events; hostile bytes give only events."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.phone.audiosocket import (
    MAX_PAYLOAD,
    Audio,
    AudioSocketEvent,
    AudioSocketReader,
    DtmfKey,
    Error,
    Hangup,
    ProtocolError,
    Uuid,
    encode_audio,
    encode_dtmf,
    encode_frame,
    encode_hangup,
    encode_uuid,
)
from ivr.types import Dtmf

CALL = uuid.UUID("0436430c-2b02-624c-2032-570501212b57")


def feed_split(data: bytes, cuts: list[int]) -> list[AudioSocketEvent]:
    reader = AudioSocketReader()
    events: list[AudioSocketEvent] = []
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        events += reader.feed(data[start:cut])
        start = cut
    return events + reader.end_of_stream()


def test_a_whole_call_reads_as_its_events() -> None:
    pcm = bytes(range(256)) * 5  # 1280 bytes: four 20 ms frames
    stream = encode_uuid(CALL) + encode_audio(pcm) + encode_dtmf(Dtmf.HASH) + encode_hangup()
    events = AudioSocketReader().feed(stream)
    assert events[0] == Uuid(CALL)
    assert [e for e in events if isinstance(e, Audio)] == [
        Audio(pcm[i:i + 320]) for i in range(0, 1280, 320)
    ]
    assert events[-2:] == [DtmfKey(Dtmf.HASH), Hangup()]


def test_the_uuid_must_come_first() -> None:
    events = AudioSocketReader().feed(encode_audio(b"\0\0" * 160) + encode_uuid(CALL))
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)
    assert "before the call UUID" in events[0].reason


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (encode_frame(0x10, b"\0" * (MAX_PAYLOAD + 1)), "limit"),
        (encode_frame(0x42, b"x"), "unknown frame kind 0x42"),
        (encode_frame(0x12, b"\0\0"), "not 8 kHz"),
        (encode_frame(0x03, b"A"), "not one keypad digit"),
        (encode_frame(0x03, b"12"), "not one keypad digit"),
        (encode_frame(0x10, b"\0\0\0"), "odd length"),
        (encode_uuid(CALL), "second call UUID"),
    ],
)
def test_a_broken_frame_is_one_protocol_error_and_closes(frame: bytes, words: str) -> None:
    reader = AudioSocketReader()
    assert reader.feed(encode_uuid(CALL)) == [Uuid(CALL)]
    events = reader.feed(frame + encode_audio(b"\0\0" * 160))
    assert len(events) == 1 and isinstance(events[0], ProtocolError)
    assert words in events[0].reason
    assert reader.closed and reader.pending == 0
    assert reader.feed(encode_audio(b"\0\0")) == [] and reader.end_of_stream() == []


def test_an_oversized_header_is_rejected_before_its_payload_arrives() -> None:
    reader = AudioSocketReader()
    reader.feed(encode_uuid(CALL))
    events = reader.feed(b"\x10\xff\xff")
    assert isinstance(events[0], ProtocolError) and reader.closed


def test_a_short_uuid_is_a_protocol_error() -> None:
    events = AudioSocketReader().feed(encode_frame(0x01, b"\1" * 15))
    assert isinstance(events[0], ProtocolError)


def test_peer_error_carries_its_code_and_ends_the_call() -> None:
    reader = AudioSocketReader()
    events = reader.feed(encode_uuid(CALL) + encode_frame(0xFF, b"\x02") + encode_hangup())
    assert events == [Uuid(CALL), Error(b"\x02")]
    assert reader.closed


def test_close_mid_frame_is_a_protocol_error_close_between_frames_a_hangup() -> None:
    reader = AudioSocketReader()
    reader.feed(encode_uuid(CALL) + b"\x10\x01")
    assert isinstance(reader.end_of_stream()[0], ProtocolError)
    clean = AudioSocketReader()
    clean.feed(encode_uuid(CALL))
    assert clean.end_of_stream() == [Hangup()]


def test_dtmf_key_is_not_in_repr_or_str() -> None:
    event = DtmfKey(Dtmf.D7)
    assert "7" not in repr(event) and "7" not in str(event)


def test_encode_audio_cuts_20ms_frames_and_rejects_odd_bytes() -> None:
    assert encode_audio(b"\1\0" * 170) == (
        encode_frame(0x10, b"\1\0" * 160) + encode_frame(0x10, b"\1\0" * 10)
    )
    with pytest.raises(ValueError):
        encode_audio(b"\0")


frames = st.one_of(
    st.binary(max_size=700).map(lambda b: encode_audio(b[: len(b) // 2 * 2])),
    st.sampled_from(list(Dtmf)).map(encode_dtmf),
    st.binary(max_size=4).map(lambda b: encode_frame(0xFF, b)),
)


@settings(max_examples=300)
@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 10_000), max_size=30),
       st.booleans())
def test_any_split_gives_the_same_events(
    body: list[bytes], cuts: list[int], hang_up: bool
) -> None:
    stream = encode_uuid(CALL) + b"".join(body) + (encode_hangup() if hang_up else b"")
    whole = feed_split(stream, [])
    assert feed_split(stream, cuts) == whole
    assert whole[0] == Uuid(CALL)
    assert isinstance(whole[-1], Hangup | Error)


@pytest.mark.slow
@settings(max_examples=2000)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_random_bytes_give_only_events(data: bytes, cuts: list[int]) -> None:
    events = feed_split(data, cuts)
    assert events, "the stream always ends in hang-up, error or protocol error"
    assert all(isinstance(e, Uuid | Audio | DtmfKey | Hangup | Error | ProtocolError)
               for e in events)
    assert sum(isinstance(e, Hangup | Error | ProtocolError) for e in events) == 1


@pytest.mark.slow
@settings(max_examples=2000)
@given(st.lists(frames, min_size=1, max_size=6), st.data())
def test_mutated_streams_give_only_events(body: list[bytes], data: st.DataObject) -> None:
    stream = bytearray(encode_uuid(CALL) + b"".join(body) + encode_hangup())
    for _ in range(data.draw(st.integers(1, 4))):
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    events = feed_split(bytes(stream), data.draw(st.lists(st.integers(0, 5000), max_size=6)))
    assert sum(isinstance(e, Hangup | Error | ProtocolError) for e in events) == 1
