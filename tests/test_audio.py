"""The audio room: decoding every WAV encoding, channel picking, resampling, G.711, frames.

WAV files are built byte by byte with `struct` here, independently of `ivr.audio`'s writer.
Hostile and broken files, and files written by sox, are in test_audio_corpus.py.
"""

from __future__ import annotations

import importlib.abc
import math
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from ivr.audio import (
    decode_alaw,
    decode_mulaw,
    decode_wav,
    encode_alaw,
    encode_mulaw,
    frames,
    open_microphone,
    read_wav,
    wav_bytes,
    write_wav,
)
from ivr.errors import AudioError, UsageError
from ivr.types import Audio

RATES = (8000, 11025, 16000, 22050, 44100, 48000)
ENCODINGS = ("pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "mulaw", "alaw")
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
TAGS = {"pcm": 1, "float": 3, "alaw": 6, "mulaw": 7}


# ---------------------------------------------------------------- building WAV bytes by hand


def chunk(cid: bytes, body: bytes, *, pad: bool = True) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2 if pad else 0)


def riff(*chunks: bytes) -> bytes:
    payload = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WAVE" + payload


def fmt(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    align = channels * ((bits + 7) // 8)
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra
    return chunk(b"fmt ", body)


def extensible(sub: int, channels: int, rate: int, bits: int, valid: int) -> bytes:
    ext = struct.pack("<HHIH", 22, valid, (1 << channels) - 1, sub) + GUID_TAIL
    return fmt(0xFFFE, channels, rate, bits, ext)


def encode(x: NDArray[np.int16], encoding: str) -> tuple[int, int, bytes, NDArray[np.int16]]:
    """(format tag, bits, data bytes, what a lossless reader must give back) for int16 x."""
    wide = x.astype(np.int64)
    if encoding == "pcm8":
        return 1, 8, ((wide >> 8) + 128).astype(np.uint8).tobytes(), ((wide >> 8) << 8)
    if encoding == "pcm16":
        return 1, 16, x.astype("<i2").tobytes(), x
    if encoding == "pcm24":
        four = (wide << 8).astype("<i4").view(np.uint8).reshape(-1, 4)
        return 1, 24, four[:, :3].tobytes(), x
    if encoding == "pcm32":
        return 1, 32, (wide << 16).astype("<i4").tobytes(), x
    if encoding in ("float32", "float64"):
        dtype = "<f4" if encoding == "float32" else "<f8"
        return 3, int(encoding[5:]), (wide / 32768.0).astype(dtype).tobytes(), x
    codes = encode_mulaw(x) if encoding == "mulaw" else encode_alaw(x)
    back = decode_mulaw(codes) if encoding == "mulaw" else decode_alaw(codes)
    return TAGS[encoding], 8, codes.tobytes(), back


def wav_of(x: NDArray[np.int16], rate: int, encoding: str) -> tuple[bytes, NDArray[np.int16]]:
    frames2d = x.reshape(len(x), -1)
    tag, bits, data, back = encode(frames2d, encoding)
    extra = b"\0\0" if tag != 1 else b""
    return riff(fmt(tag, frames2d.shape[1], rate, bits, extra), chunk(b"data", data)), back


def samples(audio: Audio) -> NDArray[np.int16]:
    return np.frombuffer(audio.pcm, "<i2")


def sine(freq: float, rate: int, seconds: float, amp: float = 8000.0) -> NDArray[np.float64]:
    return amp * np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate)


# ---------------------------------------------------------------- exact decoding at 16 kHz


@settings(max_examples=60, deadline=None)
@given(
    encoding=st.sampled_from(ENCODINGS),
    x=arrays(np.int16, st.tuples(st.integers(1, 300), st.integers(1, 3))),
)
def test_every_encoding_decodes_exactly_at_16k(encoding: str, x: NDArray[np.int16]) -> None:
    data, back = wav_of(x, 16000, encoding)
    for index in range(x.shape[1]):
        audio = decode_wav(data, channel=index)
        assert np.array_equal(samples(audio), back[:, index])
    mixed = samples(decode_wav(data)).astype(np.float64)
    assert np.abs(mixed - back.mean(axis=1)).max() <= 0.5
    assert audio.source_rate == 16000 and audio.source_channels == x.shape[1]
    assert audio.encoding == encoding


@pytest.mark.parametrize("encoding", ["pcm16", "mulaw", "alaw"])
@pytest.mark.parametrize("channels", [1, 2])
def test_write_wav_round_trip(tmp_path: Path, encoding: str, channels: int) -> None:
    tones = [sine(440 * (c + 1), 16000, 0.3) for c in range(channels)]
    x = np.stack(tones, axis=1).astype(np.int16)[:-1]  # odd length: G.711 mono needs a pad
    write_wav(tmp_path / "x.wav", x if channels > 1 else x[:, 0], 16000, encoding=encoding)
    expected = encode(x, encoding)[3]
    for c in range(channels):
        audio = read_wav(tmp_path / "x.wav", channel=c)
        assert np.array_equal(samples(audio), expected[:, c])
        assert audio.encoding == encoding and audio.source_channels == channels


def test_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(UsageError, match="encoding"):
        wav_bytes(np.zeros(4, np.int16), 8000, encoding="pcm24")
    with pytest.raises(UsageError, match="int16"):
        wav_bytes(np.zeros(4), 8000)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="sample rate"):
        wav_bytes(np.zeros(4, np.int16), 0)


# ---------------------------------------------------------------- every rate, mono and stereo


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_rates_and_channels(rate: int, encoding: str) -> None:
    tone = sine(440, rate, 0.25)
    stereo = np.stack([tone, np.zeros_like(tone)], axis=1).astype(np.int16)
    data, back = wav_of(stereo, rate, encoding)
    source_error = np.abs(back[:, 0] - tone).max()
    expected = sine(440, 16000, 0.25)
    inner = slice(80, -80)  # 5 ms from each end, where the filter meets the zero padding
    silence = abs(int(back[0, 1]))  # A-law has no zero: silence decodes to 8

    left = decode_wav(data, channel="left")
    assert len(left.pcm) // 2 == math.ceil(len(tone) * 16000 / rate)
    assert (left.source_rate, left.source_channels, left.encoding) == (rate, 2, encoding)
    assert abs(left.seconds - 0.25) < 0.001
    got = samples(left).astype(np.float64)
    assert np.abs(got - expected)[inner].max() <= 1.5 * source_error + 6
    assert np.array_equal(samples(decode_wav(data, channel=0)), samples(left))

    right = samples(decode_wav(data, channel="right"))
    assert np.abs(right[inner]).max() <= silence
    assert np.array_equal(samples(decode_wav(data, channel=1)), right)

    mixed = samples(decode_wav(data)).astype(np.float64)
    assert np.abs(mixed - (got + right) / 2).max() <= 1.0

    mono_data, _ = wav_of(stereo[:, :1], rate, encoding)
    mono = decode_wav(mono_data)
    assert mono.source_channels == 1 and np.array_equal(samples(mono), samples(left))


def test_float_nan_infinity_and_overrange_are_clipped() -> None:
    values = np.array([np.nan, np.inf, -np.inf, 2.0, -2.0, 0.5, 1e300], "<f8")
    data = riff(fmt(3, 1, 16000, 64, b"\0\0"), chunk(b"data", values.tobytes()))
    assert samples(decode_wav(data)).tolist() == [0, 32767, -32768, 32767, -32768, 16384, 32767]


def test_channel_arguments() -> None:
    data, _ = wav_of(np.zeros((10, 3), np.int16), 16000, "pcm16")
    assert decode_wav(data, channel="2").source_channels == 3
    with pytest.raises(AudioError, match="channel 3 requested but the file has 3"):
        decode_wav(data, channel=3)
    for bad in ("centre", -1, True):
        with pytest.raises(UsageError, match="channel must be"):
            decode_wav(data, channel=bad)
    mono, _ = wav_of(np.zeros(10, np.int16), 16000, "pcm16")
    with pytest.raises(AudioError, match="<bytes>: channel 1 requested but the file has 1"):
        decode_wav(mono, channel="right")


# ---------------------------------------------------------------- headers and chunk layout


@pytest.mark.parametrize(
    ("sub", "bits", "valid", "encoding"),
    [
        (1, 16, 16, "pcm16"),
        (1, 24, 20, "pcm24"),
        (1, 32, 24, "pcm32"),
        (3, 32, 32, "float32"),
        (7, 8, 8, "mulaw"),
        (6, 8, 8, "alaw"),
    ],
)
def test_extensible_header(sub: int, bits: int, valid: int, encoding: str) -> None:
    x = sine(300, 16000, 0.05).astype(np.int16).reshape(-1, 1)
    _, _, data, back = encode(np.concatenate([x, -x], axis=1), encoding)
    audio = decode_wav(
        riff(extensible(sub, 2, 16000, bits, valid), chunk(b"data", data)), channel=1
    )
    assert audio.encoding == encoding and np.array_equal(samples(audio), back[:, 1])


def test_odd_chunks_padding_and_order() -> None:
    x = np.array([1000, -2000, 3000], np.int16)
    codes = encode_mulaw(x).tobytes()  # 3 bytes: an odd data chunk with a pad byte
    head = fmt(7, 1, 16000, 8, b"\0\0")
    want = decode_mulaw(encode_mulaw(x))
    layouts = {
        "odd LIST first": riff(chunk(b"LIST", b"INFOa"), head, chunk(b"data", codes)),
        "fact and bext": riff(
            head,
            chunk(b"fact", b"\3\0\0\0"),
            chunk(b"bext", b"x" * 7),
            chunk(b"data", codes),
            chunk(b"LIST", b"y"),
        ),
        "missing pad byte": riff(chunk(b"junk", b"abc", pad=False), head, chunk(b"data", codes)),
        "data before fmt": riff(chunk(b"data", codes), head),
        "trailing garbage": riff(head, chunk(b"data", codes)) + b"\x01\x02\x03",
    }
    for name, data in layouts.items():
        assert np.array_equal(samples(decode_wav(data)), want), name


# ---------------------------------------------------------------- resampling quality


def spectrum_peak(y: NDArray[np.int16]) -> tuple[float, float]:
    """(frequency, amplitude) of the strongest bin of exactly one second at 16 kHz."""
    assert len(y) == 16000
    mag = np.abs(np.fft.rfft(y.astype(np.float64))) * 2 / len(y)
    peak = int(np.argmax(mag))
    return float(peak), float(mag[peak])


def rms_db(y: NDArray[Any], reference: float) -> float:
    level = float(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2)))
    return 20 * math.log10(max(level, 1e-9) / (reference / math.sqrt(2)))


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampling_keeps_frequency_and_amplitude(rate: int) -> None:
    data, _ = wav_of(sine(1000, rate, 1.5, 10000).astype(np.int16), rate, "pcm16")
    y = samples(decode_wav(data))[4000:20000]
    freq, amp = spectrum_peak(y)
    assert freq == 1000
    assert abs(amp - 10000) < 10000 * 0.005  # within 0.05 dB
    clean = sine(1000, 16000, 1.5, 10000)[4000:20000]
    assert rms_db(y - clean, 10000) < -70  # no distortion, no imaging


@pytest.mark.parametrize("freq", [9000, 12000, 20000])
def test_downsampling_filters_tones_above_the_new_nyquist(freq: int) -> None:
    tone = sine(freq, 48000, 1.0, 10000).astype(np.int16)
    assert rms_db(tone[::3], 10000) > -1  # naive decimation folds the tone into the band ...
    y = samples(decode_wav(wav_of(tone, 48000, "pcm16")[0]))[200:-200]
    assert rms_db(y, 10000) < -60  # ... a low-pass before decimating removes it


def test_upsampling_does_not_image() -> None:
    y = samples(
        decode_wav(wav_of(sine(3000, 8000, 1.5, 10000).astype(np.int16), 8000, "pcm16")[0])
    )[4000:20000]
    mag = np.abs(np.fft.rfft(y.astype(np.float64))) * 2 / len(y)
    assert abs(mag[3000] - 10000) < 50
    assert mag[5000] < 10000 * 1e-3  # the mirror image at 8000 - 3000 Hz is gone (< -60 dB)


def test_60_seconds_at_48k_stereo_converts_whole() -> None:
    tone = sine(440, 48000, 60.0).astype(np.int16)
    data, _ = wav_of(np.stack([tone, tone], axis=1), 48000, "pcm16")
    audio = decode_wav(data)
    assert audio.seconds == 60.0


# ---------------------------------------------------------------- G.711 against ITU-T G.711

# The first 32 entries of the μ-law and A-law expansion tables as published with the ITU
# reference code (Sun's g711.c) and reproduced in countless codecs.
# fmt: off
MULAW_HEAD = [
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884,
    -20860, -19836, -18812, -17788, -16764, -15996, -15484, -14972, -14460, -13948, -13436,
    -12924, -12412, -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
]
ALAW_HEAD = [
    -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736, -7552, -7296, -8064, -7808, -6528,
    -6272, -7040, -6784, -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368, -3776, -3648,
    -4032, -3904, -3264, -3136, -3520, -3392,
]
# fmt: on


def _search(value: int, ends: tuple[int, ...]) -> int:
    for index, end in enumerate(ends):
        if value <= end:
            return index
    return len(ends)


def ref_ulaw2linear(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def ref_linear2ulaw(pcm: int) -> int:
    pcm >>= 2
    mask = 0x7F if pcm < 0 else 0xFF
    pcm = min(abs(pcm), 8159) + (0x84 >> 2)
    seg = _search(pcm, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def ref_alaw2linear(code: int) -> int:
    a = code ^ 0x55
    t, seg = (a & 0x0F) << 4, (a & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if a & 0x80 else -t


def ref_linear2alaw(pcm: int) -> int:
    pcm >>= 3
    mask = 0xD5 if pcm >= 0 else 0x55
    pcm = pcm if pcm >= 0 else -pcm - 1
    seg = _search(pcm, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (1 if seg < 2 else seg)) & 0x0F)) ^ mask


def test_g711_published_values() -> None:
    assert decode_mulaw(np.arange(32)).tolist() == MULAW_HEAD
    assert decode_alaw(np.arange(32)).tolist() == ALAW_HEAD
    assert decode_mulaw([0x00, 0xFF, 0x7F, 0x80]).tolist() == [-32124, 0, 0, 32124]
    assert decode_alaw([0xD5, 0x55, 0xAA, 0x2A]).tolist() == [8, -8, 32256, -32256]
    assert encode_mulaw([0, 32767, -32768]).tolist() == [0xFF, 0x80, 0x00]
    assert encode_alaw([0, -1, 32767, -32768]).tolist() == [0xD5, 0x55, 0xAA, 0x2A]


def test_g711_matches_the_reference_algorithm_exhaustively() -> None:
    codes = range(256)
    assert decode_mulaw(np.arange(256)).tolist() == [ref_ulaw2linear(c) for c in codes]
    assert decode_alaw(np.arange(256)).tolist() == [ref_alaw2linear(c) for c in codes]
    pcm = range(-32768, 32768)
    everything = np.arange(-32768, 32768, dtype=np.int16)
    assert encode_mulaw(everything).tolist() == [ref_linear2ulaw(x) for x in pcm]
    assert encode_alaw(everything).tolist() == [ref_linear2alaw(x) for x in pcm]


@settings(max_examples=150, deadline=None)
@given(x=arrays(np.int16, st.tuples(st.integers(0, 40), st.integers(1, 3))))
def test_g711_round_trip_properties(x: NDArray[np.int16]) -> None:
    for enc, dec in ((encode_mulaw, decode_mulaw), (encode_alaw, decode_alaw)):
        codes = enc(x)
        y = dec(codes)
        assert codes.shape == x.shape and codes.dtype == np.uint8 and y.dtype == np.int16
        assert np.array_equal(dec(enc(y)), y)  # decoded values are fixed points
        wide, back = x.astype(np.int64), y.astype(np.int64)
        # Quantisation error: about 1/32 of the magnitude plus the finest step; both laws
        # clip at their largest level (32124 and 32256) and A-law's smallest level is 8.
        bound = np.maximum(np.abs(wide) // 28 + 16, np.abs(wide) - 32124)
        assert np.all(np.abs(back - wide) <= bound)
        order = np.argsort(wide.ravel(), kind="stable")
        assert np.all(np.diff(back.ravel()[order]) >= 0)  # monotone


@given(codes=arrays(np.uint8, st.integers(0, 64)))
def test_g711_codes_survive_decode_encode(codes: NDArray[np.uint8]) -> None:
    assert np.array_equal(encode_alaw(decode_alaw(codes)), codes)
    canonical = np.where(codes == 0x7F, 0xFF, codes)  # μ-law has two zeros; 0xFF wins
    assert np.array_equal(encode_mulaw(decode_mulaw(codes)), canonical)


def test_g711_rejects_out_of_range_input() -> None:
    with pytest.raises(UsageError, match=r"0\.\.255"):
        decode_mulaw([256])
    with pytest.raises(UsageError, match="integer"):
        encode_alaw(np.array([0.5]))
    with pytest.raises(UsageError, match=r"-32768\.\.32767"):
        encode_mulaw([40000])


# ---------------------------------------------------------------- frames


def test_frames_chunk_the_pcm() -> None:
    audio = Audio(bytes(range(200)) * 13, "t", 16000, 1, "pcm16")  # 2600 bytes, 81.25 ms
    chunks = list(frames(audio))
    assert [len(c) for c in chunks] == [640, 640, 640, 640, 40]
    assert b"".join(chunks) == audio.pcm
    thirty = list(frames(audio, ms=30))
    assert [len(c) for c in thirty] == [960, 960, 680] and b"".join(thirty) == audio.pcm
    assert list(frames(Audio(b"", "t", 16000, 1, "pcm16"))) == []
    with pytest.raises(UsageError, match="positive"):
        list(frames(audio, ms=0))


# ---------------------------------------------------------------- microphone


def test_package_imports_without_sounddevice() -> None:
    code = "import sys, ivr.audio; assert 'sounddevice' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Makes `import sounddevice` fail the way it does when libportaudio is missing."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


@pytest.mark.parametrize("failure", ["ImportError", "OSError"])
def test_microphone_without_portaudio(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    if failure == "ImportError":
        monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    else:
        monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
        monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(AudioError, match=r"^no audio input device: sounddevice unavailable"):
        open_microphone()


class FakeStream:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.reads, self.closed = kwargs, 0, False

    def start(self) -> None:
        pass

    def read(self, n: int) -> tuple[bytes, bool]:
        self.reads += 1
        return struct.pack(f"<{n}h", *([self.reads] * n)), self.reads == 2

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def fake_sounddevice(devices: bool) -> SimpleNamespace:
    class PortAudioError(Exception):
        pass

    def query_devices(device: Any, kind: str) -> dict[str, Any]:
        if not devices:
            raise PortAudioError("Error querying device -1")
        return {"name": "fake", "max_input_channels": 1}

    made: list[FakeStream] = []

    def raw_input_stream(**kwargs: Any) -> FakeStream:
        made.append(FakeStream(**kwargs))
        return made[-1]

    return SimpleNamespace(
        PortAudioError=PortAudioError,
        query_devices=query_devices,
        RawInputStream=raw_input_stream,
        made=made,
    )


def test_microphone_with_no_input_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(devices=False))
    with pytest.raises(AudioError, match=r"^no audio input device: Error querying"):
        open_microphone()


def test_microphone_yields_pcm16_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_sounddevice(devices=True)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    with open_microphone(rate=16000, ms=20) as mic:
        got = [next(mic) for _ in range(3)]
    stream = fake.made[0]
    assert stream.kwargs["samplerate"] == 16000 and stream.kwargs["dtype"] == "int16"
    assert stream.kwargs["channels"] == 1 and stream.closed and mic.overflows == 1
    assert [np.frombuffer(f, "<i2").tolist() for f in got] == [[k] * 320 for k in (1, 2, 3)]
    assert list(mic) == []  # closed: iteration ends
