"""`ivr call`: a live call from the microphone (the caller speaks).

It runs the speech front-end live: the microphone's frames go through voice activity
detection and endpointing (`ivr.speech`), the caller's words are shown as they speak, a caller
who talks over a prompt stops it (barge-in; with loudspeakers the prompt itself can trigger
it: use headphones), the no-input timer starts when a prompt ends, and the trace is printed at
hang-up. A dead recogniser hands the caller to a human with reason asr_error.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .asr import AsrCrash
from .call import Call, Hotline, Prompt
from .console import show_end, show_prompts
from .errors import UsageError
from .flow.model import Flow
from .handoff import HandoffQueue
from .speech import Event, Heard
from .types import Lang

__all__ = ["Speaker", "live_call"]

_VOICES = {"ko": "ko", "zh": "cmn", "en": "en"}
"""espeak-ng voice per caller language."""


class Speaker:
    """Prompts: printed, and spoken with espeak-ng where it is installed; stoppable (barge-in)."""

    def __init__(self, lang: Lang, out: TextIO, *, voice: bool = True,
                 rate: float = 1.0) -> None:
        self.lang, self.out = lang, out
        self.words_per_minute = max(80, round(175 * rate))
        """espeak-ng speed: its default 175 wpm times the flow's `prompt_rate`."""
        self._espeak = shutil.which("espeak-ng") if voice else None
        self._playing: subprocess.Popen[bytes] | None = None

    def say(self, prompts: Sequence[Prompt]) -> None:
        """Print the prompts and start speaking them (returns at once)."""
        text = " ".join(p.text for p in prompts)
        show_prompts(prompts, self.out)
        if self._espeak and text:
            self.stop()
            self._playing = subprocess.Popen(
                [self._espeak, "-v", _VOICES.get(self.lang, self.lang),
                 "-s", str(self.words_per_minute), text],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def speaking(self) -> bool:
        """A prompt is still playing."""
        return self._playing is not None and self._playing.poll() is None

    def stop(self) -> None:
        """Cut the prompt short (the caller started talking)."""
        if self.speaking and self._playing is not None:
            self._playing.terminate()
            self._playing.wait()


class _PartialLine:
    """The caller's words as they speak: one line rewritten in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.shown = out, ""
        self.tty = out.isatty()

    def __call__(self, text: str) -> None:
        if text != self.shown:
            self.shown = text
            if self.tty:
                self.out.write(f"\r\033[Kcaller… {text}")
            else:
                self.out.write(f"caller… {text}\n")
            self.out.flush()

    def done(self) -> None:
        if self.tty and self.shown:
            self.out.write("\r\033[K")
        self.shown = ""


def _listen(call: Call, frames: Iterator[bytes], speaker: Speaker, partial: _PartialLine, *,
            barge_in: bool) -> Heard | None:
    """One caller turn from the microphone; None when the frames ran out first."""
    turn = call.listen(narrowband=False, realtime=True, on_partial=partial)
    for frame in frames:
        playing = speaker.speaking
        event = turn.push(frame)
        if event is Event.START and playing and barge_in:
            speaker.stop()  # barge-in: the caller talks over the prompt
            print("(barge-in: prompt stopped)", file=partial.out, flush=True)
        elif playing and not turn.endpointer.speaking:
            turn.endpointer.restart_no_input_timer()  # no input counts once the prompt ends
        if event in (Event.COMMIT, Event.NO_INPUT):
            break
    else:
        if not turn.endpointer.speaking:
            return None
    partial.done()
    return turn.finish()


def live_call(flow: Flow, lang: Lang, queue: HandoffQueue | None,
              model: str | Path | None = None, *, microphone: Iterable[bytes] | None = None,
              hotline: Hotline | None = None, out: TextIO | None = None,
              speaker: Speaker | None = None, barge_in: bool = True,
              voice: bool = True) -> int:
    """A call from the microphone: prompts printed (and spoken), the caller's words shown as
    they speak, the trace at hang-up (Ctrl-C hangs up).

    `microphone` (an iterable of 20 ms 16 kHz PCM16 frames), `hotline` and `speaker` replace
    the sound card, a new Hotline and espeak-ng prompts, for tests and other front ends;
    `voice=False` prints the prompts without speaking them.
    """
    out = out or sys.stdout
    mic: Any = microphone
    if mic is None:
        from .audio import open_microphone

        mic = open_microphone()  # no device: AudioError, one line from the CLI
    hotline = hotline or Hotline(flow, queue=queue, model=model)
    speaker = speaker or Speaker(lang, out, voice=voice, rate=flow.settings.prompt_rate)
    partial = _PartialLine(out)
    call = hotline.open_call(f"live-{uuid.uuid4().hex[:12]}", lang)
    try:
        hotline.listener(lang)  # load the model before the caller is greeted
        speaker.say(call.start())
        frames = call.budget.take(mic)
        while not call.done:
            try:
                heard = _listen(call, frames, speaker, partial, barge_in=barge_in)
            except AsrCrash as exc:
                print(f"(speech recognition failed: {exc})", file=out, flush=True)
                speaker.say(call.fail("asr_error", str(exc)))
                break
            if call.budget.exhausted:  # the call took in all the audio it may
                print(f"(over {call.budget.seconds:g} s of caller audio)", file=out,
                      flush=True)
                speaker.say(call.fail("audio_limit"))
                break
            if heard is None:
                break
            if heard.utterance is not None:
                print(f"caller> {heard.utterance.text or '(not understood)'}", file=out,
                      flush=True)
            speaker.say(call.heard(heard))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"microphone failed: {exc}") from None
    finally:
        speaker.stop()
        if microphone is None and hasattr(mic, "close"):
            mic.close()
    print("\n".join(str(e) for e in call.trace), file=out)
    show_end(call.hang_up(), out)
    return 0
