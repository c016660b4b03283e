"""A WAV file streamed as a phone line delivers it: header parsed once, 20 ms frames out.

`open_wav` walks the RIFF chunks without reading the audio (`ivr.audio.riff.locate_chunks`),
checks the format and the channel, and fails there, with the same one-line `AudioError` as
`read_wav`, for any file `read_wav` refuses. `WavReader.frames` then reads, decodes, mixes
and resamples the data `READ_BYTES` at a time and yields 16 kHz mono PCM16 frames: exactly
the bytes `frames(read_wav(path))` gives, with memory that does not grow with the file. A
caller that stops iterating (the turn ended) leaves the rest of the file unread.

Pipes and devices cannot be read at an offset; they are read whole, under `max_bytes`, as
`read_wav` reads them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

from ivr.audio.pcm import channel_index, decode_samples, to_int16, to_mono
from ivr.audio.resample import StreamResampler, converts
from ivr.audio.riff import BytesSource, Source, WavFormat, WavProblem, locate_chunks, parse_fmt
from ivr.audio.stream import frame_samples
from ivr.audio.wav import DEFAULT_MAX_BYTES, open_audio_file, read_bytes
from ivr.errors import AudioError
from ivr.types import SAMPLE_RATE

__all__ = ["READ_BYTES", "WavReader", "open_wav"]

READ_BYTES = 32_768
"""Bytes of the data chunk read and decoded per step (about 4 s of 8 kHz μ-law)."""


class _FileSource:
    """A `Source` over an open regular file, read on demand."""

    def __init__(self, handle: BinaryIO, size: int, name: str) -> None:
        self.handle, self.size, self.name = handle, size, name

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (fewer if the file ends, or shrank, first)."""
        try:
            self.handle.seek(offset)
            return self.handle.read(n)
        except OSError as exc:
            raise AudioError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        except ValueError:  # read after close()
            raise AudioError(f"{self.name}: read after the file was closed") from None


class WavReader:
    """An open WAV file: its format, and its audio as 16 kHz mono PCM16 frames on demand."""

    def __init__(self, name: str, src: Source, handle: BinaryIO | None,
                 channel: str | int) -> None:
        self.source = name
        """The path, as given (errors start with it)."""
        self._src, self._handle = src, handle
        index = channel_index(channel)
        if src.size == 0:
            raise AudioError(f"{name}: empty file")
        try:
            fmt_body, self._start, length = locate_chunks(src)
            self.format: WavFormat = parse_fmt(fmt_body)
        except WavProblem as exc:
            raise AudioError(f"{name}: {exc}") from None
        self.n_frames = length // self.format.block_align
        """Frames (one sample of every channel) in the data chunk."""
        if self.n_frames == 0:
            raise AudioError(f"{name}: no audio data")
        if index is not None and index >= self.format.channels:
            raise AudioError(f"{name}: channel {index} requested but the file has "
                             f"{self.format.channels} channel(s)")
        self._index = index

    @property
    def source_rate(self) -> int:
        """The file's sample rate."""
        return self.format.rate

    @property
    def narrowband(self) -> bool:
        """Recorded at 8 kHz or less (see `ivr.types.Audio.narrowband`)."""
        return self.format.rate <= 8000

    @property
    def seconds(self) -> float:
        """Length of the recording."""
        return self.n_frames / self.format.rate

    def frames(self, ms: int = 20) -> Iterator[bytes]:
        """16 kHz mono PCM16 frames of `ms` milliseconds; the last one may be shorter."""
        step = 2 * frame_samples(SAMPLE_RATE, ms)
        fmt = self.format
        resampler = StreamResampler(fmt.rate, SAMPLE_RATE) if converts(
            fmt.rate, SAMPLE_RATE) else None
        per_read = max(1, READ_BYTES // fmt.block_align)
        pending = b""
        for first in range(0, self.n_frames, per_read):
            count = min(per_read, self.n_frames - first)
            raw = self._src.read_at(self._start + first * fmt.block_align,
                                    count * fmt.block_align)
            raw = raw[: len(raw) - len(raw) % fmt.block_align]
            if not raw:  # the file shrank while it was read: what was there is the call
                break
            mono = to_mono(decode_samples(raw, fmt), self._index)
            out = resampler.push(mono) if resampler is not None else mono
            pending += to_int16(out).tobytes()
            usable = len(pending) - len(pending) % step
            for at in range(0, usable, step):
                yield pending[at : at + step]
            pending = pending[usable:]
        if resampler is not None:
            pending += to_int16(resampler.flush()).tobytes()
        for at in range(0, len(pending), step):
            yield pending[at : at + step]

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> WavReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_wav(path: str | os.PathLike[str], *, channel: str | int = "mix",
             max_bytes: int = DEFAULT_MAX_BYTES) -> WavReader:
    """Open a WAV file for streaming; see the module doc.

    Args:
        path: The file.
        channel: "mix", "left", "right" or a 0-based index, as for `read_wav`.
        max_bytes: Largest pipe or device read whole (regular files are streamed, any size).

    Raises:
        AudioError: The file is missing, unreadable or not a WAV file this package can decode
            (the message starts with the path), as `read_wav` says it.
        UsageError: `channel` is not a channel name or a non-negative index.
    """
    name = os.fspath(path)
    channel_index(channel)
    handle = open_audio_file(name)
    try:
        info = os.fstat(handle.fileno())
        if stat.S_ISREG(info.st_mode):
            return WavReader(name, _FileSource(handle, info.st_size, name), handle, channel)
        handle.close()
        return WavReader(name, BytesSource(read_bytes(name, max_bytes)), None, channel)
    except BaseException:
        handle.close()
        raise
