"""Audio as a stream of frames: chunking decoded audio, a call's audio budget, and the live
microphone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from ivr.errors import AudioError, UsageError
from ivr.types import FRAME_MS, SAMPLE_RATE, Audio

__all__ = [
    "FrameBudget", "Microphone", "frame_samples", "frames", "open_microphone", "pcm_frames",
]


def frame_samples(rate: int, ms: int) -> int:
    """Samples in a frame of `ms` milliseconds at `rate` (UsageError for nonsense)."""
    if isinstance(ms, bool) or not isinstance(ms, int) or ms <= 0:
        raise UsageError(f"frame length must be a positive number of milliseconds, got {ms!r}")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise UsageError(f"sample rate must be a positive number of Hz, got {rate!r}")
    samples = rate * ms // 1000
    if samples == 0:
        raise UsageError(f"{ms} ms at {rate} Hz is less than one sample")
    return samples


def frames(audio: Audio, ms: int = FRAME_MS) -> Iterator[bytes]:
    """Chunk `audio.pcm` into frames of `ms` milliseconds; the last one may be shorter.

    Args:
        audio: 16 kHz mono PCM16 audio.
        ms: Frame length in milliseconds (20 ms is 640 bytes).

    Yields:
        Consecutive slices of `audio.pcm`; nothing for empty audio.
    """
    return pcm_frames(audio.pcm, ms)


def pcm_frames(pcm: bytes, ms: int = FRAME_MS) -> Iterator[bytes]:
    """Chunk 16 kHz PCM16 mono bytes into frames of `ms` milliseconds (the last may be short)."""
    step = 2 * frame_samples(SAMPLE_RATE, ms)
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]


class FrameBudget:
    """The audio one call may still take in, spent frame by frame across its turns.

    `take(frames)` passes 16 kHz PCM16 frames through until the budget is spent, then stops
    and sets `exhausted`: a recording or a line that never ends cannot hold a call, its
    buffers or its recogniser for ever. A turn that ends by itself before then leaves the
    rest of its frames unread and the budget unspent.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise UsageError(f"a call's audio budget must be positive, got {seconds!r} s")
        self.seconds = seconds
        """The whole budget."""
        self._left = round(seconds * SAMPLE_RATE)  # samples
        self._used = 0
        self.exhausted = False
        """A frame was refused: the call heard all the audio it may."""

    @property
    def used_s(self) -> float:
        """Audio taken so far."""
        return self._used / SAMPLE_RATE

    def take(self, frames: Iterable[bytes]) -> Iterator[bytes]:
        """`frames` until the budget runs out (a frame that would overrun it is refused)."""
        for frame in frames:
            samples = len(frame) // 2
            if self.exhausted or samples > self._left:
                self.exhausted = True
                return
            self._left -= samples
            self._used += samples
            yield frame


class Microphone:
    """PCM16 mono frames from a sounddevice input stream; iterate it, close it when done.

    Also a context manager: `with open_microphone() as mic: for frame in mic: ...`.
    Iteration blocks until the next frame is recorded and stops once the stream is closed.
    """

    def __init__(
        self, stream: Any, frame_samples: int, errors: tuple[type[Exception], ...]
    ) -> None:
        self._stream = stream
        self._frame_samples = frame_samples
        self._errors = errors
        self.overflows = 0
        """Frames during which the device dropped input because we read too slowly."""
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.closed:
            raise StopIteration
        try:
            data, overflowed = self._stream.read(self._frame_samples)
        except self._errors as exc:
            self.close()
            raise AudioError(f"microphone: recording failed ({exc})") from None
        if overflowed:
            self.overflows += 1
        return bytes(data)

    def close(self) -> None:
        """Stop and release the device; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            self._stream.stop()
        finally:
            self._stream.close()

    def __enter__(self) -> Microphone:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_microphone(
    rate: int = SAMPLE_RATE, ms: int = 20, *, device: int | str | None = None
) -> Microphone:
    """Start recording from an input device.

    Args:
        rate: Sample rate to record at; the device must support it (16 kHz feeds the
            recogniser directly).
        ms: Frame length in milliseconds.
        device: A sounddevice device index or name substring; None for the default input.

    Returns:
        A started `Microphone` yielding `rate * ms / 1000` PCM16 mono samples per frame.

    Raises:
        AudioError: "no audio input device: ..." when PortAudio is missing or there is no
            usable input device; "microphone: ..." when the device refuses the settings.
    """
    samples = frame_samples(rate, ms)
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise AudioError(f"no audio input device: sounddevice unavailable ({exc})") from None
    errors: tuple[type[Exception], ...] = (ValueError, sounddevice.PortAudioError)
    try:
        sounddevice.query_devices(device, kind="input")
    except errors as exc:  # ValueError: no such (input) device
        raise AudioError(f"no audio input device: {exc}") from None
    try:
        stream = sounddevice.RawInputStream(
            samplerate=rate, blocksize=samples, device=device, channels=1, dtype="int16"
        )
    except errors as exc:  # rate or channel count not supported, device busy
        raise AudioError(f"microphone: cannot record at {rate} Hz mono ({exc})") from None
    mic = Microphone(stream, samples, errors)
    try:
        stream.start()
    except errors as exc:
        mic.close()
        raise AudioError(f"microphone: cannot start recording ({exc})") from None
    return mic
