"""Interactive calls: `ivr chat` (the caller types) and `ivr call` (the caller speaks).

`ivr call` runs the speech front-end live: the microphone's frames go through voice activity
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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .asr import AsrCrash
from .audio import FrameBudget
from .call import Hotline
from .dialog import Dialog
from .errors import UsageError
from .flow.model import Flow
from .handoff import HandoffQueue
from .speech import Event, Heard
from .textio import stdin_lines
from .types import Dtmf, Lang, Utterance

__all__ = ["Speaker", "chat", "live_call"]

_COMMANDS = {
    "/help": "/help      this list",
    "/dtmf": "/dtmf KEYS  press keys (0-9, * and #)",
    "/silence": "/silence   say nothing (the no-input timer runs out)",
    "/hangup": "/hangup    hang up",
    "/trace": "/trace     the call's trace so far",
}
"""The chat's commands; any other line is what the caller says."""

_HELP = ("type what the caller says; " + ", ".join(_COMMANDS) + "; end of input hangs up")


def _play(prompts: list[str], out: TextIO) -> None:
    for text in prompts:
        if text:
            print(f"ivr> {text}", file=out, flush=True)


def _finish(dialog: Dialog, queue: HandoffQueue | None, out: TextIO) -> int:
    outcome = dialog.on_hangup()
    if dialog.handoff is not None and queue is not None:
        queue.put(dialog.handoff)
    print(f"-- {outcome}; path {' > '.join(dialog.path)}", file=out, flush=True)
    return 0


def _chat_line(dialog: Dialog, line: str, out: TextIO) -> bool:
    """Act on one typed line; False when the caller hangs up."""
    command, _, rest = line.partition(" ") if line.startswith("/") else ("", "", "")
    if not command:
        _play(dialog.on_utterance(Utterance(line, dialog.lang)), out)
    elif command == "/dtmf":
        keys = rest.strip()
        if not keys or any(k not in "0123456789*#" for k in keys):
            print("(keys are 0-9, * and #)", file=out)
            return True
        for key in keys:
            _play(dialog.on_dtmf(Dtmf(key)), out)
    elif command == "/silence":
        _play(dialog.on_no_input(), out)
    elif command == "/hangup":
        return False
    elif command == "/trace":
        print("\n".join(str(e) for e in dialog.trace), file=out)
    elif command == "/help":
        print("\n".join(_COMMANDS.values()), file=out)
    else:  # a typo is not speech: the caller stays where they were
        print(f"(unknown command {command}; known: {' '.join(_COMMANDS)})", file=out,
              flush=True)
    return True


def chat(flow: Flow, lang: Lang, queue: HandoffQueue | None, *,
         lines: Iterable[str] | None = None, out: TextIO | None = None) -> int:
    """A call where the caller's side is typed text: each line is speech, or a command.

    `lines` (default: standard input, UTF-8) are the caller's lines. However the input ends —
    its end, /hangup, a line that cannot be read, Ctrl-C — the call is hung up properly and a
    caller handed off is filed into `queue` before the error, if any, goes on to the CLI.
    """
    out = out or sys.stdout
    hotline = Hotline(flow)
    dialog = Dialog(flow, lang, hotline.matcher(lang), f"chat-{uuid.uuid4().hex[:12]}")
    try:
        print(f"({_HELP})", file=out)
        _play(dialog.start(), out)
        for raw in stdin_lines() if lines is None else lines:
            if not _chat_line(dialog, raw.strip(), out) or dialog.done:
                break
    except BaseException:
        _finish(dialog, queue, out)
        raise
    return _finish(dialog, queue, out)


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

    def say(self, prompts: list[str]) -> None:
        """Print the prompts and start speaking them (returns at once)."""
        text = " ".join(p for p in prompts if p)
        _play(prompts, self.out)
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


def _listen(hotline: Hotline, dialog: Dialog, frames: Iterator[bytes], speaker: Speaker,
            partial: _PartialLine, *, barge_in: bool) -> Heard | None:
    """One caller turn from the microphone; None when the frames ran out first."""
    turn = hotline.listener(dialog.lang).turn(
        grammar=hotline.grammar(dialog), allowed=hotline.flow.intents_at(dialog.node.id),
        confirming=dialog.confirming, realtime=True, on_partial=partial)
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
    dialog = Dialog(flow, lang, hotline.matcher(lang), f"live-{uuid.uuid4().hex[:12]}")
    try:
        hotline.listener(lang)  # load the model before the caller is greeted
        speaker.say(dialog.start())
        budget = FrameBudget(hotline.speech.max_call_audio_s)
        frames = budget.take(mic)
        while not dialog.done:
            try:
                heard = _listen(hotline, dialog, frames, speaker, partial, barge_in=barge_in)
            except AsrCrash as exc:
                print(f"(speech recognition failed: {exc})", file=out, flush=True)
                speaker.say(dialog.on_error("asr_error"))
                break
            if budget.exhausted:  # the call took in all the audio it may: a human takes it
                print(f"(over {budget.seconds:g} s of caller audio)", file=out, flush=True)
                speaker.say(dialog.on_error("audio_limit"))
                break
            if heard is None:
                break
            if heard.utterance is None:
                speaker.say(dialog.on_no_input())
            else:
                print(f"caller> {heard.utterance.text or '(not understood)'}", file=out,
                      flush=True)
                speaker.say(dialog.on_utterance(heard.utterance))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"microphone failed: {exc}") from None
    finally:
        speaker.stop()
        if microphone is None and hasattr(mic, "close"):
            mic.close()
    print("\n".join(str(e) for e in dialog.trace), file=out)
    return _finish(dialog, queue or hotline.queue, out)
