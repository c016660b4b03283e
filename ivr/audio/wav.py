"""Read any telephone-grade WAV file into 16 kHz mono PCM16, and write test WAV files.

The RIFF container is parsed here (see `ivr.audio.riff`), not with the standard `wave`
module, which refuses μ-law and A-law. Samples are decoded with numpy, mixed or picked
down to one channel, resampled with a windowed-sinc filter and rounded to int16.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from ivr.audio.g711 import encode_alaw, encode_mulaw
from ivr.audio.pcm import channel_index, decode_samples, to_int16, to_mono
from ivr.audio.resample import output_length, resample
from ivr.audio.riff import WavProblem, find_chunks, parse_fmt
from ivr.errors import AudioError, UsageError
from ivr.types import SAMPLE_RATE, Audio

__all__ = [
    "DEFAULT_MAX_BYTES",
    "WRITE_ENCODINGS",
    "decode_wav",
    "read_bytes",
    "read_wav",
    "wav_bytes",
    "write_wav",
]

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""Largest file read, and largest 16 kHz PCM produced, unless the caller says otherwise."""
WRITE_ENCODINGS = ("pcm16", "mulaw", "alaw")
"""Encodings `write_wav` can produce."""

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
    channel_index(channel)
    data = read_bytes(name, max_bytes)
    return decode_wav(data, source=name, channel=channel, max_bytes=max_bytes)


def open_audio_file(name: str) -> BinaryIO:
    """`name` opened for reading, or one AudioError saying why not."""
    try:
        return open(name, "rb")
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{name}: is a directory, not a WAV file") from None
    except PermissionError:
        raise AudioError(f"{name}: permission denied") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror or exc})") from None


def read_bytes(name: str, max_bytes: int) -> bytes:
    """The whole file, refused with an AudioError over `max_bytes` (also for pipes)."""
    limit = f"over the {_size(max_bytes)} limit"
    with open_audio_file(name) as handle:
        try:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise AudioError(f"{name}: file is {_size(info.st_size)}, {limit}")
            data = handle.read(max_bytes + 1)
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
    index = channel_index(channel)
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
        mono = to_mono(decode_samples(body[: n_frames * fmt.block_align], fmt), index)
        pcm = to_int16(resample(mono, fmt.rate, SAMPLE_RATE))
    except MemoryError:
        raise AudioError(f"{source}: not enough memory to decode") from None
    return Audio(
        pcm=pcm.tobytes(),
        source=source,
        source_rate=fmt.rate,
        source_channels=fmt.channels,
        encoding=fmt.encoding,
    )


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
