"""WAV files from elsewhere: broken and hostile ones, and ones written by sox.

Broken and hostile files give an AudioError naming the file, or valid audio.

Named cases check the exact message for each kind of damage; a generated corpus (every
truncation, every header byte clobbered, and hypothesis-driven field and byte mutations of
valid files) checks that nothing else ever escapes, each read well under two seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ivr.audio import (
    decode_alaw,
    decode_mulaw,
    encode_alaw,
    encode_mulaw,
    read_wav,
    write_wav,
)
from ivr.errors import AudioError
from ivr.types import Audio

ENCODINGS = {"pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "mulaw", "alaw"}
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)


def riff(*chunks: bytes, size: int | None = None) -> bytes:
    payload = b"".join(chunks)
    return (
        b"RIFF" + struct.pack("<I", 4 + len(payload) if size is None else size) + b"WAVE" + payload
    )


def fmt_body(
    tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16, align: int | None = None
) -> bytes:
    align = channels * ((bits + 7) // 8) if align is None else align
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align & 0xFFFFFFFF, align, bits)


def fmt(**kwargs: int) -> bytes:
    return chunk(b"fmt ", fmt_body(**kwargs))


PCM = struct.pack("<8h", 0, 1000, 2000, 3000, -3000, -2000, -1000, 0)
GOOD = riff(fmt(), chunk(b"data", PCM))


def read(path: Path, **kwargs: int) -> Audio:
    """read_wav, asserting the promise that holds for every input: one-line AudioError."""
    try:
        return read_wav(path, **kwargs)
    except AudioError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        raise


def check_audio(audio: Audio, path: Path) -> None:
    assert audio.source == str(path) and audio.encoding in ENCODINGS
    assert len(audio.pcm) > 0 and len(audio.pcm) % 2 == 0
    assert 1000 <= audio.source_rate <= 768_000 and audio.source_channels >= 1


def read_any(path: Path, data: bytes) -> Audio | AudioError:
    """Write `data` to `path` and read it back; either outcome is fine, anything else fails."""
    path.write_bytes(data)
    try:
        audio = read(path)
    except AudioError as exc:
        return exc
    check_audio(audio, path)
    return audio


# ---------------------------------------------------------------- named damage, exact messages

BROKEN = {
    "empty": (b"", r"empty file$"),
    "short-riff": (b"RIFF\x10\x00", r"truncated header \(6 bytes\)"),
    "avi": (b"RIFF\x04\x00\x00\x00AVI LIST", r"RIFF file but not WAVE \(form type 'AVI '\)"),
    "id3-mp3": (
        b"ID3\x04\x00\x00\x00\x00\x00\x21",
        r"not a WAV file \(starts with 'ID3', looks like MP3\)",
    ),
    "bare-mp3": (b"\xff\xfb\x90\x64" + bytes(100), r"looks like MP3"),
    "ogg": (b"OggS\x00\x02" + bytes(50), r"looks like OGG"),
    "flac": (b"fLaC\x00\x00\x00\x22" + bytes(50), r"looks like FLAC"),
    "m4a": (b"\x00\x00\x00\x20ftypM4A " + bytes(20), r"looks like MP4/M4A"),
    "rf64": (b"RF64\xff\xff\xff\xffWAVEds64", r"looks like RF64, not supported"),
    "text": (
        b"hello, this is not audio\n",
        r"not a WAV file \(starts with 'hell', looks like text\)",
    ),
    "chinese-text": ("您好，欢迎致电银行\n".encode(), r"looks like text\)$"),
    "no-fmt": (riff(chunk(b"data", PCM)), r"no fmt chunk"),
    "no-data": (riff(fmt(), chunk(b"LIST", b"INFO")), r"no data chunk$"),
    "fmt-too-short": (
        riff(chunk(b"fmt ", b"\1\0\1\0"), chunk(b"data", PCM)),
        r"fmt chunk too short \(4 bytes",
    ),
    "fmt-cut": (GOOD[:30], r"truncated fmt chunk \(10 of 16 bytes\)"),
    "no-whole-frame": (riff(fmt(channels=2), chunk(b"data", b"\1\2\3")), r"no audio data$"),
    "empty-data": (riff(fmt(), chunk(b"data", b"")), r"no audio data$"),
    "rate-0": (riff(fmt(rate=0), chunk(b"data", PCM)), r"sample rate 0$"),
    "rate-500": (riff(fmt(rate=500), chunk(b"data", PCM)), r"sample rate 500 Hz out of range"),
    "rate-huge": (riff(fmt(rate=0xFFFFFFFF), chunk(b"data", PCM)), r"sample rate 4294967295 Hz"),
    "channels-0": (riff(fmt(channels=0, align=2), chunk(b"data", PCM)), r"zero channels$"),
    "block-align": (
        riff(fmt(channels=2, align=3), chunk(b"data", PCM)),
        r"block align 3 does not match 2 channel\(s\) × 2 byte\(s\)",
    ),
    "gsm": (
        riff(fmt(tag=0x31, bits=0, align=65), chunk(b"data", PCM)),
        r"unsupported format GSM 6.10 \(tag 0x0031\); convert it first",
    ),
    "mp3-in-wav": (
        riff(fmt(tag=0x55, bits=0, align=1), chunk(b"data", PCM)),
        r"MPEG Layer 3 \(MP3\)",
    ),
    "adpcm": (
        riff(fmt(tag=0x11, bits=4, align=256), chunk(b"data", PCM)),
        r"IMA ADPCM \(tag 0x0011\)",
    ),
    "odd-tag": (riff(fmt(tag=0x1234), chunk(b"data", PCM)), r"unknown \(tag 0x1234\)"),
    "pcm-40-bit": (riff(fmt(bits=40), chunk(b"data", PCM)), r"unsupported PCM sample size 40 bits"),
    "float-16": (
        riff(fmt(tag=3, bits=16), chunk(b"data", PCM)),
        r"unsupported float sample size 16",
    ),
    "mulaw-16": (riff(fmt(tag=7, bits=16), chunk(b"data", PCM)), r"G.711 needs 8 bits per sample"),
    "ext-short": (
        riff(chunk(b"fmt ", fmt_body(tag=0xFFFE) + b"\x16\x00"), chunk(b"data", PCM)),
        r"EXTENSIBLE fmt chunk too short \(18 bytes, need 40\)",
    ),
    "ext-guid": (
        riff(
            chunk(
                b"fmt ", fmt_body(tag=0xFFFE) + struct.pack("<HHIH", 22, 16, 4, 1) + b"\xff" * 14
            ),
            chunk(b"data", PCM),
        ),
        r"unsupported EXTENSIBLE sub-format GUID 0100f{28}",
    ),
    "chunk-flood": (
        riff(*[b"junk\0\0\0\0"] * 10_001, fmt(), chunk(b"data", PCM)),
        r"more than 10000 chunks before the audio",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_message(tmp_path: Path, name: str) -> None:
    data, pattern = BROKEN[name]
    path = tmp_path / "calls" / f"{name}.wav"
    path.parent.mkdir()
    path.write_bytes(data)
    with pytest.raises(AudioError) as raised:
        read(path)
    assert re.search(pattern, str(raised.value).removeprefix(f"{path}: ")), str(raised.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"nope\.wav: no such file$"):
        read(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match=r": is a directory, not a WAV file$"):
        read(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.wav"
    path.write_bytes(GOOD)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("ivr.audio.wav.open", refuse, raising=False)
    with pytest.raises(AudioError, match=r"locked\.wav: permission denied$"):
        read(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    path = tmp_path / "locked.wav"
    path.write_bytes(GOOD)
    path.chmod(0)
    with pytest.raises(AudioError, match="permission denied"):
        read(path)


def test_size_guards(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    path.write_bytes(GOOD)
    with pytest.raises(AudioError, match=r"file is 60 bytes, over the 59 bytes limit$"):
        read(path, max_bytes=59)
    assert read(path, max_bytes=60).seconds == pytest.approx(0.001)
    mulaw = riff(fmt(tag=7, bits=8), chunk(b"data", bytes(1000)))  # 1000 samples at 8 kHz
    path.write_bytes(mulaw)
    with pytest.raises(AudioError, match=r"decodes to 4000 bytes at 16 kHz, over the 3000"):
        read(path, max_bytes=3000)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_stream_is_cut_at_the_limit() -> None:
    with pytest.raises(AudioError, match=r"^/dev/zero: more data than the 1.0 MB limit$"):
        read(Path("/dev/zero"), max_bytes=1024 * 1024)


# ---------------------------------------------------------------- lies that are forgiven


def test_lenient_cases(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    want = np.frombuffer(PCM, "<i2")
    head = fmt(rate=16000)
    lenient = {
        "riff size too large": riff(head, chunk(b"data", PCM), size=1_000_000),
        "riff size too small": riff(head, chunk(b"data", PCM), size=20),
        "streaming placeholders": riff(head, b"data\0\0\0\0" + PCM, size=36),
        "data size 0xFFFFFFFF": riff(head, b"data\xff\xff\xff\xff" + PCM, size=0xFFFFFFFF),
        "data cut short": riff(head, b"data\xe8\x03\0\0" + PCM + b"\x07"),  # odd byte ignored
    }
    for name, data in lenient.items():
        result = read_any(path, data)
        assert isinstance(result, Audio) and np.array_equal(pcm16(result), want), name


# ---------------------------------------------------------------- generated corpus


def valid_files() -> list[bytes]:
    tone = (8000 * np.sin(np.arange(40) / 3)).astype(np.int16)
    ext = struct.pack("<HHIH", 22, 16, 3, 1) + GUID_TAIL
    return [
        riff(chunk(b"LIST", b"INFOisft"), fmt(rate=8000), chunk(b"data", tone.tobytes())),
        riff(
            chunk(b"fmt ", fmt_body(tag=7, bits=8) + b"\0\0"),
            chunk(b"fact", b"\x28\0\0\0"),
            chunk(b"data", encode_mulaw(tone).tobytes()),
        ),
        riff(
            chunk(b"fmt ", fmt_body(tag=0xFFFE, channels=2, rate=44100) + ext),
            chunk(b"data", tone.tobytes()),
        ),
        riff(
            fmt(tag=3, bits=32, rate=48000), chunk(b"data", (tone / 32768).astype("<f4").tobytes())
        ),
    ]


def test_every_truncation(tmp_path: Path) -> None:
    data = valid_files()[1]
    data_start = data.index(b"data") + 8
    for cut in range(len(data) + 1):
        result = read_any(tmp_path / f"cut{cut}.wav", data[:cut])
        assert isinstance(result, Audio) == (cut > data_start), cut


def test_every_header_byte_clobbered(tmp_path: Path) -> None:
    for number, data in enumerate(valid_files()):
        header_end = data.index(b"data") + 8
        for offset in range(header_end):
            for value in (0x00, 0xFF, 0x80):
                hostile = data[:offset] + bytes([value]) + data[offset + 1 :]
                read_any(tmp_path / f"v{number}-{offset}-{value}.wav", hostile)


FIELD_OFFSETS = (4, 16, 20, 22, 24, 28, 32, 34, 36, 40)  # RIFF size, fmt size, fmt fields, ...
SPECIAL = (
    0,
    1,
    2,
    3,
    6,
    7,
    8,
    16,
    24,
    32,
    0xFF,
    0x7FFF,
    0xFFFE,
    0xFFFF,
    8000,
    767_999,
    768_001,
    0x7FFFFFFF,
    0xFFFFFFFF,
)
mutation = st.one_of(
    st.tuples(
        st.just("u32"),
        st.sampled_from(FIELD_OFFSETS) | st.integers(0, 200),
        st.sampled_from(SPECIAL) | st.integers(0, 0xFFFFFFFF),
    ),
    st.tuples(
        st.just("u16"),
        st.sampled_from(FIELD_OFFSETS) | st.integers(0, 200),
        st.sampled_from(SPECIAL).map(lambda v: v & 0xFFFF) | st.integers(0, 0xFFFF),
    ),
    st.tuples(st.just("byte"), st.integers(0, 200), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 200), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 200), st.binary(min_size=1, max_size=12)),
)


def mutate(data: bytes, op: str, offset: int, value: int | bytes) -> bytes:
    offset = min(offset, len(data))
    if op == "cut":
        return data[:offset]
    if op == "insert":
        assert isinstance(value, bytes)
        return data[:offset] + value + data[offset:]
    assert isinstance(value, int)
    packed = struct.pack({"u32": "<I", "u16": "<H", "byte": "<B"}[op], value)
    return data[:offset] + packed + data[offset + len(packed) :]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(base=st.sampled_from(range(4)), ops=st.lists(mutation, min_size=1, max_size=4))
def test_hypothesis_corpus(
    tmp_path_factory: pytest.TempPathFactory, base: int, ops: list[tuple[str, int, int | bytes]]
) -> None:
    data = valid_files()[base]
    for op in ops:
        data = mutate(data, *op)
    read_any(tmp_path_factory.getbasetemp() / "hostile.wav", data)


# ---------------------------------------------------------------- files written by sox


def pcm16(audio: Audio) -> NDArray[np.int16]:
    return np.frombuffer(audio.pcm, "<i2")


SOX = shutil.which("sox")


def sox(*args: str | Path) -> None:
    subprocess.run(["sox", "-D", "-V1", *map(str, args)], check=True, capture_output=True)


@pytest.mark.skipif(SOX is None, reason="sox is not installed")
@pytest.mark.parametrize(("law", "encoding"), [("u-law", "mulaw"), ("a-law", "alaw")])
def test_g711_cross_check_with_sox(tmp_path: Path, law: str, encoding: str) -> None:
    dec = decode_mulaw if encoding == "mulaw" else decode_alaw
    enc = encode_mulaw if encoding == "mulaw" else encode_alaw
    (tmp_path / "codes.raw").write_bytes(bytes(range(256)))
    raw = f"-t raw -r 8000 -c 1 -e {law} -b 8 {tmp_path}/codes.raw"
    sox(*raw.split(), *f"-t raw -e signed -b 16 {tmp_path}/linear.raw".split())
    linear = np.frombuffer((tmp_path / "linear.raw").read_bytes(), "<i2")
    assert np.array_equal(linear, dec(np.arange(256)))
    # sox rounds to 14 (μ-law) / 13 (A-law) bits where the reference truncates: compare
    # its encoder on samples where the two agree, inside the unclipped range.
    ramp = np.arange(-32000, 32000, 8, dtype=np.int16)
    write_wav(tmp_path / "ramp.wav", ramp, 16000)
    sox(tmp_path / "ramp.wav", "-e", law, tmp_path / "law.wav")
    assert np.array_equal(pcm16(read_wav(tmp_path / "law.wav")), dec(enc(ramp)))
    assert read_wav(tmp_path / "law.wav").encoding == encoding


@pytest.mark.skipif(SOX is None, reason="sox is not installed")
@pytest.mark.parametrize(
    ("args", "encoding"),
    [
        (("-b", "8"), "pcm8"),
        (("-b", "24"), "pcm24"),
        (("-b", "32"), "pcm32"),
        (("-e", "floating-point", "-b", "32"), "float32"),
        (("-e", "floating-point", "-b", "64"), "float64"),
    ],
)
def test_reads_files_written_by_sox(tmp_path: Path, args: tuple[str, ...], encoding: str) -> None:
    x = (20000 * np.sin(2 * np.pi * 500 * np.arange(3200) / 16000)).astype(np.int16)
    write_wav(tmp_path / "in.wav", np.stack([x, x // 2], axis=1), 16000)
    sox(tmp_path / "in.wav", *args, tmp_path / "out.wav")
    sox(tmp_path / "out.wav", "-e", "signed", "-b", "16", tmp_path / "back.wav")
    got, want = read_wav(tmp_path / "out.wav"), read_wav(tmp_path / "back.wav")
    assert got.encoding == encoding and got.source_channels == 2
    assert np.abs(pcm16(got).astype(int) - pcm16(want)).max() <= 1
