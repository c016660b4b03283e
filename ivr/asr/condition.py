"""Audio conditioning: what each decoder of a stream is fed (band fold, speed view, dither)."""

from __future__ import annotations

import numpy as np

from ..audio.resample import StreamResampler

__all__ = ["VIEWS", "Conditioner", "condition"]

VIEWS: dict[str, tuple[int, int]] = {"plain": (1, 1), "fast": (10, 11)}
"""Decoding views: the speed change (up, down) applied before decoding."""
_FOLD_GAIN = 10 ** (-21 / 20)
"""Level of the folded image added to narrowband audio (-21 dB, chosen on the tuning callers
at 8 kHz mu-law; measured: see bench/results/speech_tuning.md)."""


class Conditioner:
    """Stateful audio preparation for one decoder of one stream (see `condition`)."""

    def __init__(self, view: str, *, dither: float, narrowband: bool) -> None:
        if view not in VIEWS:
            raise ValueError(f"unknown decoding view {view!r}; known: {', '.join(VIEWS)}")
        self.dither, self.narrowband = dither, narrowband
        self._rng = np.random.default_rng(0)  # same audio, same dither, same words
        self._speed = StreamResampler.speed(*VIEWS[view]) if VIEWS[view] != (1, 1) else None
        self._n = 0  # samples seen, for the sign pattern of the fold

    def __call__(self, pcm: bytes) -> bytes:
        x = np.frombuffer(pcm, "<i2").astype(np.float32)
        if self.narrowband:
            signs = np.ones(len(x), np.float32)
            signs[(1 - self._n % 2)::2] = -1.0
            x = x + _FOLD_GAIN * signs * x
        self._n += len(x)
        if self._speed is not None:
            x = self._speed.push(x)
        if self.dither:
            x = x + self._rng.standard_normal(len(x), dtype=np.float32) * self.dither
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """The samples a speed change still holds (end of the recording)."""
        if self._speed is None:
            return b""
        x = self._speed.flush()
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def condition(pcm: bytes, *, view: str = "plain", dither: float = 1.0,
              narrowband: bool = False) -> bytes:
    """The audio a decoder of `view` gets for a whole recording (see `Conditioner`).

    * Narrowband audio (from an 8 kHz line) is silent above 4 kHz once resampled, which the
      wideband models never saw in training. The band below 4 kHz is mirrored into the empty
      one (multiplying by (-1)^n mirrors the spectrum about 4 kHz) at -21 dB, which routes
      more 8 kHz callers through the grammar (measured: see bench/results/speech_tuning.md).
    * The "fast" view plays the audio 10 % faster (Kaldi models are trained with 0.9/1.0/1.1
      speed perturbation, so both views are speech the model knows). Decoding the same
      utterance in two views and letting them vote is what gives the ensemble its edge.
    * A seeded dither (Kaldi's own is switched off, see `ivr.asr.modeldir`).
    """
    conditioner = Conditioner(view, dither=dither, narrowband=narrowband)
    return conditioner(pcm) + conditioner.flush()
