"""Independent Korean callers for `make bench-speech-independent`, spoken and put on a line.

Sentences come from eval/independent (written by people who never saw the flow):

* **test** — eval/independent/ko_speech.yaml, all of it (its header: "all test: never tuned
  on"): 30 per intent and 60 out of scope, Hangul only.
* **dev** — the `dev` half of eval/independent/ko.yaml (the Korean text set, same kind of
  writer), keeping the sentences espeak-ng can read as Korean (Hangul, spaces and
  punctuation; no digits or Latin letters). ko_speech.yaml has no dev half.
* **dev2** — eval/independent/dev2/ko.yaml (dev only: a third writer, terse, elderly and
  dialect callers), the same Hangul-only filter, less the 7 short sentences that also occur
  in ko_speech.yaml (same text, same voice: test audio). dev and dev2 are all the
  independent Korean material tuning may look at.

Each sentence is spoken by espeak-ng's Korean voice with a pitch (35..70) and a rate
(160..240 words per minute) drawn from a hash of the sentence, so every run hears the same
voices; padded with 0.4 s before and 1.2 s after and a quiet line hiss. Conditions:

* `16k` — 16 kHz PCM16;
* `8k_mulaw`, `8k_alaw` — the 16 kHz recording through sox's telephone chain: band-pass
  300..3400 Hz, resampled to 8 kHz, G.711 mu-law or A-law WAV, read back (decoded) by
  `ivr.audio.decode_wav` as the engine reads a phone system's file.

WAVs are cached under var/speech_independent/ (not committed), keyed by sentence, voice
and condition.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ivr.audio import decode_wav, wav_bytes
from ivr.errors import UsageError
from ivr.types import SAMPLE_RATE

from .corpus import OUT_OF_SCOPE, Example, load_corpus
from .speech_data import LEAD_S, TRAIL_S, Caller, synthesize

__all__ = ["CACHE", "CONDITIONS", "DEV", "DEV2", "SPLITS", "TEST", "TUNING_CONDITIONS",
           "Voice", "independent_callers", "load_examples", "make_independent", "speakable",
           "voice_for"]

CONDITIONS = ("16k", "8k_mulaw", "8k_alaw")
TUNING_CONDITIONS = ("8k_chain", "8k_noisy")
"""Harder lines, for tuning on dev only: `8k_chain` is the A-law file re-encoded to mu-law
(a PCMA leg bridged to a PCMU one); `8k_noisy` is the recording with pink line noise at
15 dB SNR and a 0.7 gain before the mu-law telephone chain."""
TEST = Path("eval/independent/ko_speech.yaml")
DEV = Path("eval/independent/ko.yaml")
DEV2 = Path("eval/independent/dev2/ko.yaml")
SPLITS = ("dev", "dev2", "test")
CACHE = Path("var/speech_independent")
_HANGUL_ONLY = re.compile(r"[\uac00-\ud7a3\s.,?!~…'\"-]+")
_PUNCT = re.compile(r"[.,?!~…'\"-]+")


@dataclass(frozen=True)
class Voice:
    """espeak-ng settings for one sentence."""

    pitch: int
    """espeak-ng -p, 0..99 (50 is its default)."""
    rate: int
    """espeak-ng -s, words per minute."""


def voice_for(text: str) -> Voice:
    """The voice a sentence is spoken with: pitch 35..70, rate 160..240, from its hash."""
    h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return Voice(35 + h % 36, 160 + (h // 36) % 81)


def speakable(text: str) -> str | None:
    """`text` without punctuation if espeak-ng reads all of it as Korean, else None."""
    if not _HANGUL_ONLY.fullmatch(text):
        return None
    spoken = " ".join(_PUNCT.sub(" ", text).split())
    return spoken or None


def _test_groups() -> dict[str, list[str]]:
    data = yaml.safe_load(TEST.read_text("utf-8"))
    groups = dict(data["intents"])
    groups[OUT_OF_SCOPE] = data["out_of_scope"]
    return groups


def load_examples(split: str) -> list[Example]:
    """The independent sentences of `split` ("dev" or "test"), see the module doc."""
    if split == "test":
        return [Example(str(t), label, "ko", "test", TEST.stem)
                for label, texts in _test_groups().items() for t in texts]
    if split in ("dev", "dev2"):
        out = []
        # a short sentence two writers both wrote is spoken with the same voice: test audio
        held = {str(t) for texts in _test_groups().values() for t in texts}
        for e in load_corpus(DEV if split == "dev" else DEV2, ("dev",)):
            spoken = speakable(e.text)
            if spoken is not None and spoken not in held:
                out.append(Example(spoken, e.label, e.lang, "dev", e.corpus))
        return out
    raise UsageError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")


def _sox(src: Path, dst: Path, encoding: str) -> None:
    if shutil.which("sox") is None:
        raise UsageError("the speech benchmark needs sox (apt-get install sox)")
    subprocess.run(["sox", "-D", "-R", str(src), "-r", "8000", "-c", "1", "-e", encoding, str(dst),
                    "sinc", "300-3400"], check=True, capture_output=True, timeout=60)


def _wideband(text: str, voice: Voice) -> bytes:
    speech = synthesize(text, rate_wpm=voice.rate, pitch=voice.pitch)
    loud = np.flatnonzero(np.abs(speech) > (np.max(np.abs(speech)) if len(speech) else 0) / 316)
    if len(loud):
        speech = speech[loud[0]:loud[-1] + 1]
    seed = int(hashlib.sha256(f"line:{text}".encode()).hexdigest()[:8], 16)
    lead, trail = int(LEAD_S * SAMPLE_RATE), int(TRAIL_S * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
    x = x + np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32) * 3.0
    pcm = np.clip(np.rint(x), -32768, 32767).astype("<i2")
    return wav_bytes(pcm, SAMPLE_RATE)


def _noisy(wav: bytes, text: str) -> bytes:
    """`wav` (16 kHz) at 0.7 gain with pink noise 15 dB below its speech level."""
    x = np.frombuffer(decode_wav(wav, source=text).pcm, "<i2").astype(np.float32) * 0.7
    rng = np.random.default_rng(int(hashlib.sha256(f"noise:{text}".encode()).hexdigest()[:8], 16))
    spectrum = np.fft.rfft(rng.standard_normal(len(x)))
    k = np.arange(len(spectrum), dtype=np.float64)
    k[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(k), len(x)).astype(np.float32)
    pink /= float(np.std(pink)) or 1.0
    loud = np.abs(x) > 0.05 * (float(np.max(np.abs(x))) if len(x) else 0.0)
    level = float(np.sqrt(np.mean(x[loud] ** 2))) if loud.any() else 0.0
    x = x + pink * level * 10 ** (-15 / 20)
    return wav_bytes(np.clip(np.rint(x), -32768, 32767).astype("<i2"), SAMPLE_RATE)


def make_independent(example: Example, condition: str, cache: Path = CACHE) -> Caller:
    """One caller turn of `example` in `condition`, from the cache or made and cached."""
    if condition not in CONDITIONS + TUNING_CONDITIONS:
        known = ", ".join(CONDITIONS + TUNING_CONDITIONS)
        raise UsageError(f"unknown condition {condition!r}; use one of {known}")
    voice = voice_for(example.text)
    key = hashlib.sha256(f"{example.text}|{voice}".encode()).hexdigest()[:20]
    cache.mkdir(parents=True, exist_ok=True)
    wide = cache / f"{key}_16k.wav"
    if not wide.exists():
        tmp = wide.with_suffix(".part")
        tmp.write_bytes(_wideband(example.text, voice))
        tmp.replace(wide)
    path = wide
    if condition != "16k":
        path = cache / f"{key}_{condition}.wav"
        if not path.exists():
            tmp = path.with_name(path.stem + ".part.wav")
            if condition == "8k_chain":
                make_independent(example, "8k_alaw", cache)  # the A-law leg, cached
                _sox(cache / f"{key}_8k_alaw.wav", tmp, "u-law")
            elif condition == "8k_noisy":
                noisy = tmp.with_name(tmp.stem + ".noisy.wav")
                noisy.write_bytes(_noisy(wide.read_bytes(), example.text))
                _sox(noisy, tmp, "u-law")
                noisy.unlink()
            else:
                _sox(wide, tmp, "u-law" if condition == "8k_mulaw" else "a-law")
            tmp.replace(path)
    audio = decode_wav(path.read_bytes(), source=example.text)
    end_s = max(0.0, audio.seconds - TRAIL_S)
    return Caller(example, condition, audio, end_s)


def independent_callers(split: str, conditions: tuple[str, ...] = CONDITIONS,
                        step: int = 1, cache: Path = CACHE) -> list[Caller]:
    """Every `step`-th in-scope sentence of `split` and every `step // 3`-th out-of-scope
    one (so a subset keeps enough of them to measure false accepts), in each condition;
    sentence by sentence in hash order, so a partial run covers every condition and label."""
    examples = load_examples(split)
    inside = [e for e in examples if e.label != OUT_OF_SCOPE][::step]
    outside = [e for e in examples if e.label == OUT_OF_SCOPE][::max(1, step // 3)]
    chosen = sorted(inside + outside, key=lambda e: hashlib.sha256(e.text.encode()).digest())
    return [make_independent(e, c, cache) for e in chosen for c in conditions]
