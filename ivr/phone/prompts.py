"""Prompts as phone audio: a `Prompt` event becomes 8 kHz mono PCM16, rendered ahead of time.

A studio recording wins when the flow has one: `prompts/<lang>/<node>.wav` next to the flow
file (any WAV format `ivr.audio` reads), used for the node's own prompt in that language.
Everything else is synthesised with espeak-ng (voice per language, speed 175 wpm times the
prompt's rate, so the elderly overlay's slower rate is heard) into a cache directory keyed
by a hash of (language, text, rate): rendering happens once, at `ivr prompts render` or the
first time a prompt is needed, and a call only reads files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.audio.pcm import decode_samples, to_int16, to_mono
from ivr.audio.resample import resample
from ivr.audio.riff import WavProblem, find_chunks, parse_fmt
from ivr.audio.wav import read_bytes, wav_bytes
from ivr.call import Prompt
from ivr.errors import AudioError, UsageError
from ivr.flow.model import Flow
from ivr.types import Lang

__all__ = ["LINE_RATE", "TRANSFER_FAILED", "VOICES", "PromptAudio", "RenderReport", "flow_prompts",
           "line_prompt", "to_line_audio"]

LINE_RATE = 8000
"""Phone audio: 8 kHz mono PCM16."""
VOICES: dict[Lang, str] = {"ko": "ko", "zh": "cmn", "en": "en"}
"""espeak-ng voice per caller language."""
WORDS_PER_MINUTE = 175
"""espeak-ng's default speed, at prompt rate 1.0."""
SYNTH_VERSION = "espeak-ng-1"
"""Part of every cache key: bump it when the rendering changes, so old files are not reused."""
TRANSFER_FAILED: dict[Lang, str] = {
    "zh": "抱歉，现在无法为您接通人工客服。您的请求已经记录，客服会尽快回电给您。再见。",
    "en": "Sorry, I could not connect you to an agent right now. Your request is saved and "
          "an agent will call you back soon. Goodbye.",
    "ko": "죄송합니다, 지금은 상담원 연결이 어렵습니다. 요청하신 내용은 접수되었으며, "
          "상담원이 곧 다시 전화드리겠습니다. 안녕히 계세요.",
}
"""Built-in `transfer_failed` prompt, for flows that do not say their own."""
LINE_PROMPTS: dict[str, dict[Lang, str]] = {"transfer_failed": TRANSFER_FAILED}
"""System prompts only the phone line says, with their built-in texts."""
_MAX_WAV = 50 * 1024 * 1024
_MEMORY = 512
"""Prompts kept in memory per renderer (the flow's prompts are few; filled-in ones are not)."""


def to_line_audio(data: bytes, source: str) -> bytes:
    """Any WAV file in memory → 8 kHz mono PCM16 bytes (channels mixed, resampled)."""
    try:
        fmt_body, body = find_chunks(data)
        fmt = parse_fmt(fmt_body)
    except WavProblem as exc:
        raise AudioError(f"{source}: {exc}") from None
    n_frames = len(body) // fmt.block_align
    mono = to_mono(decode_samples(body[: n_frames * fmt.block_align], fmt), None)
    return to_int16(resample(mono, fmt.rate, LINE_RATE)).tobytes()


@dataclass(frozen=True)
class RenderReport:
    """What `PromptAudio.render_all` did."""

    synthesised: int
    """Prompts rendered with espeak-ng now."""
    cached: int
    """Prompts already in the cache."""
    studio: int
    """Prompts a studio recording covers."""
    seconds: float
    """Audio length of all of them together."""


def line_prompt(flow: Flow, name: str, lang: Lang) -> Prompt:
    """A prompt only the phone line says (`transfer_failed`): the flow's text, else the
    built-in one (English when the language has none)."""
    texts = flow.prompts.get(name) or LINE_PROMPTS[name]
    text = texts.get(lang) or LINE_PROMPTS[name].get(lang) or LINE_PROMPTS[name]["en"]
    return Prompt(text, lang, name, flow.settings.prompt_rate)


def flow_prompts(flow: Flow) -> Iterator[Prompt]:
    """Every prompt the flow can say whose text is known ahead of time, in every language:
    node prompts, the announcement, system prompts (the confirm prompt once per intent
    label). Texts with variables filled in at run time are rendered when first said."""
    rate = flow.settings.prompt_rate
    for lang in flow.languages:
        if flow.announcement.get(lang):
            yield Prompt(flow.announcement[lang], lang, flow.start, rate)
        for node in flow.nodes.values():
            if node.prompt.get(lang):
                yield Prompt(node.prompt[lang], lang, node.id, rate)
        for name, texts in flow.prompts.items():
            text = texts.get(lang, "")
            if name == "confirm":
                for intent in flow.intents.values():
                    label = intent.label.get(lang)
                    if label and "{label}" in text:
                        yield Prompt(text.replace("{label}", label), lang, name, rate)
            elif text and "{" not in text:
                yield Prompt(text, lang, name, rate)
        for name in LINE_PROMPTS:
            if name not in flow.prompts:
                yield line_prompt(flow, name, lang)


class PromptAudio:
    """Prompt events → 8 kHz PCM16 audio for one flow (studio recording, else espeak-ng)."""

    def __init__(self, flow: Flow, cache_dir: str | os.PathLike[str],
                 studio_dir: str | os.PathLike[str] | None = None) -> None:
        self.flow = flow
        self.cache_dir = Path(cache_dir)
        self.studio_dir = (Path(studio_dir) if studio_dir is not None
                           else Path(flow.path).resolve().parent / "prompts")
        self._espeak = shutil.which("espeak-ng")
        self._memory: dict[tuple[str, str, str, float], bytes] = {}

    def require_synthesis(self) -> str:
        """The espeak-ng program; UsageError (one line) when it is missing."""
        if self._espeak is None:
            raise UsageError("espeak-ng is not installed (apt-get install espeak-ng); "
                             "it renders the prompts to audio")
        return self._espeak

    def studio(self, prompt: Prompt) -> Path | None:
        """The studio recording for this prompt, if the designers dropped one in."""
        node = self.flow.nodes.get(prompt.node)
        if node is None or node.prompt.get(prompt.lang) != prompt.text:
            return None  # a recording is per node: it stands for the node's own prompt only
        path = self.studio_dir / prompt.lang / f"{prompt.node}.wav"
        return path if path.is_file() else None

    def cache_path(self, prompt: Prompt) -> Path:
        """Where the synthesised prompt lives: a hash of (language, text, rate)."""
        key = f"{SYNTH_VERSION}\0{prompt.lang}\0{prompt.rate:g}\0{prompt.text}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.cache_dir / prompt.lang / f"{digest}.wav"

    def audio(self, prompt: Prompt) -> bytes:
        """The prompt as 8 kHz mono PCM16 (rendered and cached on first use)."""
        key = (prompt.lang, prompt.node, prompt.text, prompt.rate)
        if key not in self._memory:
            if len(self._memory) >= _MEMORY:
                self._memory.pop(next(iter(self._memory)))
            studio = self.studio(prompt)
            if studio is not None:
                pcm = to_line_audio(read_bytes(str(studio), _MAX_WAV), str(studio))
            else:
                path = self.cache_path(prompt)
                if not path.is_file():
                    self._synthesise(prompt, path)
                pcm = to_line_audio(read_bytes(str(path), _MAX_WAV), str(path))
            self._memory[key] = pcm
        return self._memory[key]

    def _synthesise(self, prompt: Prompt, path: Path) -> None:
        espeak = self.require_synthesis()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            raw = Path(tmp) / "espeak.wav"
            speed = max(80, round(WORDS_PER_MINUTE * prompt.rate))
            done = subprocess.run(
                [espeak, "-v", VOICES.get(prompt.lang, prompt.lang), "-s", str(speed),
                 "-w", str(raw), "--", prompt.text],
                capture_output=True, timeout=60, check=False)
            if done.returncode != 0 or not raw.is_file():
                why = done.stderr.decode(errors="replace").strip()[:200]
                raise AudioError(f"espeak-ng could not render a {prompt.lang} prompt "
                                 f"of node {prompt.node}: {why or done.returncode}")
            pcm = to_line_audio(raw.read_bytes(), "espeak-ng output")
            final = Path(tmp) / "line.wav"
            final.write_bytes(wav_bytes(np.frombuffer(pcm, "<i2"), LINE_RATE))
            os.replace(final, path)  # atomic: a reader never sees half a file

    def render_all(self) -> RenderReport:
        """Render every prompt of the flow (`flow_prompts`) ahead of time."""
        synthesised = cached = studio = samples = 0
        for prompt in flow_prompts(self.flow):
            if self.studio(prompt) is not None:
                studio += 1
            elif self.cache_path(prompt).is_file():
                cached += 1
            else:
                synthesised += 1
            samples += len(self.audio(prompt)) // 2
        return RenderReport(synthesised, cached, studio, samples / LINE_RATE)
