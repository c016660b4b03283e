"""Read any telephone-grade WAV file into 16 kHz mono PCM16, and write test WAV files.

The RIFF container is parsed here (see `ivr.audio.riff`), not with the standard `wave`
module, which refuses μ-law and A-law. Samples are decoded with numpy, mixed or picked
down to one channel, resampled with a windowed-sinc filter and rounded to int16.
"""

from __future__ import annotations

import os
import stat
import struct

import numpy as np
from numpy.typing import NDArray

from ivr.audio.g711 import decode_alaw, decode_mulaw, encode_alaw, encode_mulaw
from ivr.audio.resample import output_length, resample
from ivr.audio.riff import WavFormat, WavProblem, find_chunks, parse_fmt
from ivr.errors import AudioError, UsageError
from ivr.types import SAMPLE_RATE, Audio

__all__ = [
    "DEFAULT_MAX_BYTES",
    "WRITE_ENCODINGS",
    "decode_wav",
    "read_wav",
    "wav_bytes",
    "write_wav",
]

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""Largest file read, and largest 16 kHz PCM produced, unless the caller says otherwise."""
WRITE_ENCODINGS = ("pcm16", "mulaw", "alaw")
"""Encodings `write_wav` can produce."""

_CHANNEL_NAMES = {"left": 0, "right": 1}
_MB = 1024 * 1024


def read_wav(
    path: str | os.PathLike[str],
    *,
    channel: str | int = "mix",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Audio:
    """Read a WAV file and convert it to 16 kHz mono PCM16.

    Args:
        path: The file.
        channel: "mix" averages all channels; "left", "right" or a 0-based index picks
            one (the caller's leg of a stereo call recording).
        max_bytes: Refuse files, and decoded 16 kHz audio, larger than this.

    Returns:
        The audio, with the file's original rate, channel count and encoding.

    Raises:
        AudioError: The file is missing, unreadable, too large or not a WAV file this
            module can decode; the message starts with the path.
        UsageError: `channel` is not a channel name or a non-negative index.
    """
    name = os.fspath(path)
    _channel_index(channel)
    data = _read_bytes(name, max_bytes)
    return decode_wav(data, source=name, channel=channel, max_bytes=max_bytes)


def _read_bytes(name: str, max_bytes: int) -> bytes:
    limit = f"over the {_size(max_bytes)} limit"
    try:
        with open(name, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise AudioError(f"{name}: file is {_size(info.st_size)}, {limit}")
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{name}: is a directory, not a WAV file") from None
    except PermissionError:
        raise AudioError(f"{name}: permission denied") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise AudioError(f"{name}: more data than the {_size(max_bytes)} limit")
    return data


def _size(n_bytes: int) -> str:
    return f"{n_bytes / _MB:.1f} MB" if n_bytes >= _MB else f"{n_bytes} bytes"


def decode_wav(
    data: bytes,
    *,
    source: str = "<bytes>",
    channel: str | int = "mix",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Audio:
    """Decode a WAV file already in memory; see `read_wav` (`source` names it in errors)."""
    index = _channel_index(channel)
    if not data:
        raise AudioError(f"{source}: empty file")
    try:
        fmt_body, body = find_chunks(data)
        fmt = parse_fmt(fmt_body)
    except WavProblem as exc:
        raise AudioError(f"{source}: {exc}") from None
    n_frames = len(body) // fmt.block_align
    if n_frames == 0:
        raise AudioError(f"{source}: no audio data")
    if index is not None and index >= fmt.channels:
        raise AudioError(
            f"{source}: channel {index} requested but the file has {fmt.channels} channel(s)"
        )
    n_out = output_length(n_frames, fmt.rate, SAMPLE_RATE)
    if 2 * n_out > max_bytes:
        raise AudioError(
            f"{source}: {n_frames / fmt.rate:.0f} s of audio decodes to "
            f"{_size(2 * n_out)} at 16 kHz, over the {_size(max_bytes)} limit"
        )
    try:
        mono = _mono(_samples(body[: n_frames * fmt.block_align], fmt), index)
        pcm = _to_int16(resample(mono, fmt.rate, SAMPLE_RATE))
    except MemoryError:
        raise AudioError(f"{source}: not enough memory to decode") from None
    return Audio(
        pcm=pcm.tobytes(),
        source=source,
        source_rate=fmt.rate,
        source_channels=fmt.channels,
        encoding=fmt.encoding,
    )


def _channel_index(channel: str | int) -> int | None:
    """None for "mix", else the 0-based channel index; UsageError for anything else."""
    if isinstance(channel, int) and not isinstance(channel, bool) and channel >= 0:
        return channel
    if isinstance(channel, str):
        name = channel.strip().lower()
        if name == "mix":
            return None
        if name in _CHANNEL_NAMES:
            return _CHANNEL_NAMES[name]
        if name.isdigit():
            return int(name)
    raise UsageError(
        f"channel must be 'mix', 'left', 'right' or a channel number from 0, got {channel!r}"
    )


def _samples(raw: memoryview, fmt: WavFormat) -> NDArray[np.float32]:
    """Interleaved samples as float32 on the int16 scale, shape (frames, channels)."""
    enc = fmt.encoding
    if enc == "pcm8":
        flat = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) * 256.0
    elif enc == "pcm16":
        flat = np.frombuffer(raw, "<i2").astype(np.float32)
    elif enc == "pcm24":
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        flat = ((value ^ 0x800000) - 0x800000).astype(np.float32) / 256.0
    elif enc == "pcm32":
        flat = np.frombuffer(raw, "<i4").astype(np.float32) / 65536.0
    elif enc in ("float32", "float64"):
        values = np.frombuffer(raw, "<f4" if enc == "float32" else "<f8")
        clean = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)
        flat = (np.clip(clean, -1.0, 1.0) * 32768.0).astype(np.float32)
    elif enc == "mulaw":
        flat = decode_mulaw(np.frombuffer(raw, np.uint8)).astype(np.float32)
    elif enc == "alaw":
        flat = decode_alaw(np.frombuffer(raw, np.uint8)).astype(np.float32)
    else:  # parse_fmt only returns the encodings above
        raise AudioError(f"unknown encoding {enc}")
    return flat.reshape(-1, fmt.channels)


def _mono(frames: NDArray[np.float32], index: int | None) -> NDArray[np.float32]:
    if index is not None:
        return frames[:, index]
    if frames.shape[1] == 1:
        return frames[:, 0]
    mixed: NDArray[np.float32] = frames.mean(axis=1, dtype=np.float32)
    return mixed


def _to_int16(signal: NDArray[np.float32]) -> NDArray[np.int16]:
    return np.clip(np.rint(signal), -32768, 32767).astype("<i2")


def wav_bytes(samples: NDArray[np.int16], rate: int, *, encoding: str = "pcm16") -> bytes:
    """A complete WAV file holding `samples` (mono, or shape (frames, channels)).

    pcm16 writes a plain 16-byte fmt chunk; mulaw and alaw write the 18-byte form and a
    `fact` chunk, as the RIFF specification asks of non-PCM formats, plus a pad byte
    after an odd-sized data chunk.
    """
    frames = _frames_2d(samples)
    if encoding not in WRITE_ENCODINGS:
        raise UsageError(f"cannot write encoding {encoding!r}; use one of {WRITE_ENCODINGS}")
    n_frames, channels = frames.shape
    if encoding == "pcm16":
        width, tag, body = 2, 1, frames.astype("<i2").tobytes()
    else:
        encode = encode_mulaw if encoding == "mulaw" else encode_alaw
        width, tag, body = 1, (7 if encoding == "mulaw" else 6), encode(frames).tobytes()
    if not 0 < rate * channels * width < 2**32:
        raise UsageError(f"cannot write sample rate {rate} Hz")
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, 8 * width
    )
    chunks = [(b"fmt ", fmt)]
    if encoding != "pcm16":
        chunks = [(b"fmt ", fmt + b"\x00\x00"), (b"fact", struct.pack("<I", n_frames))]
    chunks.append((b"data", body))
    payload = b"".join(
        cid + struct.pack("<I", len(part)) + part + b"\x00" * (len(part) % 2)
        for cid, part in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WAVE" + payload


def _frames_2d(samples: NDArray[np.int16]) -> NDArray[np.int16]:
    array = np.asarray(samples)
    if array.dtype != np.int16:
        raise UsageError(f"samples must be an int16 array, got {array.dtype}")
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim == 2 and 1 <= array.shape[1] <= 0xFFFF:
        return array
    raise UsageError(f"samples must have shape (n,) or (n, channels), got {array.shape}")


def write_wav(
    path: str | os.PathLike[str],
    samples: NDArray[np.int16],
    rate: int,
    *,
    encoding: str = "pcm16",
) -> None:
    """Write `samples` as a WAV file (see `wav_bytes`); AudioError if it cannot be written."""
    data = wav_bytes(samples, rate, encoding=encoding)
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise AudioError(f"{os.fspath(path)}: cannot write ({exc.strerror or exc})") from None
