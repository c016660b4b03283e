"""Sample decoding shared by the whole-file and the streaming WAV readers.

Raw `data` bytes of any encoding `ivr.audio.riff` accepts become float32 on the int16 scale,
are mixed or picked down to one channel, and (after resampling) are rounded to int16. Each
function works on any whole number of frames, so a file decoded a block at a time gives the
same samples as the file decoded at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ivr.audio.g711 import decode_alaw, decode_mulaw
from ivr.audio.riff import WavFormat
from ivr.errors import AudioError, UsageError

__all__ = ["channel_index", "decode_samples", "to_int16", "to_mono"]

_CHANNEL_NAMES = {"left": 0, "right": 1}


def channel_index(channel: str | int) -> int | None:
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


def decode_samples(raw: bytes | memoryview, fmt: WavFormat) -> NDArray[np.float32]:
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


def to_mono(frames: NDArray[np.float32], index: int | None) -> NDArray[np.float32]:
    if index is not None:
        return frames[:, index]
    if frames.shape[1] == 1:
        return frames[:, 0]
    mixed: NDArray[np.float32] = frames.mean(axis=1, dtype=np.float32)
    return mixed


def to_int16(signal: NDArray[np.float32]) -> NDArray[np.int16]:
    return np.clip(np.rint(signal), -32768, 32767).astype("<i2")
