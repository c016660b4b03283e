"""The audio room: WAV files and the microphone in, 16 kHz mono PCM16 frames out.

`read_wav` decodes PCM 8/16/24/32-bit, IEEE float and G.711 μ-law/A-law WAV files of any
rate and channel count (plain or WAVE_FORMAT_EXTENSIBLE) without the standard `wave` or
`audioop` modules; `frames` chunks the result for a recogniser; `open_wav` streams a file
as those same frames, a block at a time, in memory that does not grow with the file (what
calls use); `open_microphone` records live (sounddevice is imported only when it is called,
so this package imports without PortAudio). `write_wav` and the G.711 codecs serve tests and tools.
"""

from __future__ import annotations

from ivr.audio.g711 import decode_alaw, decode_mulaw, encode_alaw, encode_mulaw
from ivr.audio.resample import output_length, resample
from ivr.audio.stream import FrameBudget, Microphone, frames, open_microphone, pcm_frames
from ivr.audio.wav import (
    DEFAULT_MAX_BYTES,
    WRITE_ENCODINGS,
    decode_wav,
    read_wav,
    wav_bytes,
    write_wav,
)
from ivr.audio.wavstream import WavReader, open_wav

__all__ = [
    "DEFAULT_MAX_BYTES",
    "WRITE_ENCODINGS",
    "FrameBudget",
    "Microphone",
    "WavReader",
    "decode_alaw",
    "decode_mulaw",
    "decode_wav",
    "encode_alaw",
    "encode_mulaw",
    "frames",
    "open_microphone",
    "open_wav",
    "output_length",
    "pcm_frames",
    "read_wav",
    "resample",
    "wav_bytes",
    "write_wav",
]
