"""Synthetic Korean callers for `make bench-speech`: espeak-ng speech at telephone quality.

Each caller sentence (samples/speech/ko_callers.yaml) is spoken by espeak-ng at run time
(Korean voice, 220 words per minute), padded with silence as a caller on a line would be, and
prepared in one of three conditions:

* `16k` — 16 kHz PCM16, as a wideband line or a microphone gives it;
* `8k_mulaw` — resampled to 8 kHz and written as a G.711 mu-law WAV file, read back through
  `ivr.audio.read_wav` (what a phone system records);
* `8k_mulaw_noisy` — the same with pink noise mixed in at 10 dB SNR before encoding (seeded
  per sentence, so every run hears the same noise).

A `paused` caller says the first half of the sentence, stops for `gap_s`, then says the rest:
the endpointer must not cut them off.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ivr.audio import decode_wav, resample, wav_bytes
from ivr.errors import UsageError
from ivr.types import SAMPLE_RATE, Audio

from .corpus import Example, load_corpus

__all__ = ["CONDITIONS", "CORPUS", "Caller", "load_callers", "make_caller", "synthesize"]

CONDITIONS = ("16k", "8k_mulaw", "8k_mulaw_noisy")
CORPUS = Path("samples/speech/ko_callers.yaml")
SNR_DB = 10.0
LEAD_S, TRAIL_S = 0.4, 1.2
"""Silence before and after the speech (the trailing part lets the endpointer end the turn)."""


@dataclass(frozen=True)
class Caller:
    """One synthetic caller turn."""

    example: Example
    """Sentence, label, split."""
    condition: str
    """One of CONDITIONS."""
    audio: Audio
    """16 kHz PCM16 as the front-end gets it (with the file's original rate and encoding)."""
    speech_end_s: float
    """Where the speech really ends, seconds from the start of `audio`."""
    paused: bool = False
    """Said in two halves with a pause between."""


def synthesize(text: str, *, rate_wpm: int = 220, pitch: int = 50) -> NDArray[np.float32]:
    """`text` spoken by espeak-ng's Korean voice (`pitch` 0..99), as float samples at 16 kHz."""
    if shutil.which("espeak-ng") is None:
        raise UsageError("the speech benchmark needs espeak-ng (apt-get install espeak-ng)")
    out = subprocess.run(["espeak-ng", "-v", "ko", "-s", str(rate_wpm), "-p", str(pitch),
                          "--stdout", text],
                         capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(decode_wav(out, source=text).pcm, "<i2").astype(np.float32)


def _trim(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Drop espeak's own leading and trailing silence (below -50 dB of the peak)."""
    if not len(x):
        return x
    loud = np.flatnonzero(np.abs(x) > np.max(np.abs(x)) * 10 ** (-50 / 20))
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def _pink(n: int, rng: np.random.Generator) -> NDArray[np.float32]:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(spectrum), dtype=np.float64)
    k[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(k), n)
    return (noise / (np.std(noise) or 1.0)).astype(np.float32)


def _seed(text: str, condition: str) -> int:
    return int(hashlib.sha256(f"{condition}:{text}".encode()).hexdigest()[:8], 16)


def make_caller(example: Example, condition: str, *, paused: bool = False,
                gap_s: float = 0.5) -> Caller:
    """Synthesize one caller turn in one condition (see the module doc)."""
    if condition not in CONDITIONS:
        raise UsageError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    words = example.text.split()
    if paused and len(words) >= 2:
        half = len(words) // 2
        gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
        speech = np.concatenate([_trim(synthesize(" ".join(words[:half]))), gap,
                                 _trim(synthesize(" ".join(words[half:])))])
    else:
        speech = _trim(synthesize(example.text))
    lead, trail = int(LEAD_S * SAMPLE_RATE), int(TRAIL_S * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
    rng = np.random.default_rng(_seed(example.text, condition))
    x = x + rng.standard_normal(len(x)).astype(np.float32) * 3.0  # a quiet line, not digital 0
    end_s = (lead + len(speech)) / SAMPLE_RATE
    if condition == "16k":
        pcm = np.clip(np.rint(x), -32768, 32767).astype("<i2")
        audio = Audio(pcm.tobytes(), example.text, SAMPLE_RATE, 1, "pcm16")
    else:
        y = resample(x, SAMPLE_RATE, 8000)
        if condition == "8k_mulaw_noisy":
            power = float(np.mean(resample(speech, SAMPLE_RATE, 8000) ** 2))
            y = y + _pink(len(y), rng) * np.sqrt(power / 10 ** (SNR_DB / 10))
        pcm8 = np.clip(np.rint(y), -32768, 32767).astype("<i2")
        audio = decode_wav(wav_bytes(pcm8, 8000, encoding="mulaw"), source=example.text)
    return Caller(example, condition, audio, end_s, paused and len(words) >= 2)


def load_callers(split: str, corpus: Path = CORPUS) -> list[Example]:
    """The corpus sentences of one split ("tune" or "heldout")."""
    if split not in ("tune", "heldout"):
        raise UsageError(f"split must be tune or heldout, not {split!r}")
    return load_corpus(corpus, (split,))
