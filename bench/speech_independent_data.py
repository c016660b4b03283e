"""Independent Korean callers for `make bench-speech-independent`, spoken and put on a line.

Sentences come from eval/independent (written by people who never saw the flow):

* **test** — eval/independent/ko_speech.yaml, all of it (its header: "all test: never tuned
  on"): 30 per intent and 60 out of scope, Hangul only.
* **dev** — the `dev` half of eval/independent/ko.yaml (the Korean text set, same kind of
  writer), keeping the sentences espeak-ng can read as Korean (Hangul, spaces and
  punctuation; no digits or Latin letters). ko_speech.yaml has no dev half, so this is the
  only independent Korean material tuning may look at.

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

__all__ = ["CACHE", "CONDITIONS", "DEV", "TEST", "Voice", "independent_callers",
           "load_examples", "make_independent", "speakable", "voice_for"]

CONDITIONS = ("16k", "8k_mulaw", "8k_alaw")
TEST = Path("eval/independent/ko_speech.yaml")
DEV = Path("eval/independent/ko.yaml")
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


def load_examples(split: str) -> list[Example]:
    """The independent sentences of `split` ("dev" or "test"), see the module doc."""
    if split == "test":
        data = yaml.safe_load(TEST.read_text("utf-8"))
        groups = dict(data["intents"])
        groups[OUT_OF_SCOPE] = data["out_of_scope"]
        return [Example(str(t), label, "ko", "test", TEST.stem)
                for label, texts in groups.items() for t in texts]
    if split == "dev":
        out = []
        for e in load_corpus(DEV, ("dev",)):
            spoken = speakable(e.text)
            if spoken is not None:
                out.append(Example(spoken, e.label, e.lang, "dev", e.corpus))
        return out
    raise UsageError(f"split must be dev or test, not {split!r}")


def _sox(src: Path, dst: Path, encoding: str) -> None:
    if shutil.which("sox") is None:
        raise UsageError("the speech benchmark needs sox (apt-get install sox)")
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-e", encoding, str(dst),
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


def make_independent(example: Example, condition: str, cache: Path = CACHE) -> Caller:
    """One caller turn of `example` in `condition`, from the cache or made and cached."""
    if condition not in CONDITIONS:
        raise UsageError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
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
