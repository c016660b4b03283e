"""Interactive calls: `ivr chat` (the caller types) and `ivr call` (the caller speaks)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from .call import Hotline
from .dialog import Dialog
from .errors import UsageError
from .flow.model import Flow
from .handoff import HandoffQueue
from .types import Audio, Dtmf, Lang, Utterance

__all__ = ["chat", "live_call", "utterances_from_frames"]

_HELP = "type what the caller says; /dtmf KEYS, /silence, /hangup, /trace; end of input hangs up"


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


def chat(flow: Flow, lang: Lang, queue: HandoffQueue | None, *,
         stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """A call where the caller's side is typed text."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    hotline = Hotline(flow)
    dialog = Dialog(flow, lang, hotline.matcher(lang), f"chat-{uuid.uuid4().hex[:12]}")
    print(f"({_HELP})", file=out)
    _play(dialog.start(), out)
    for raw in stdin:
        line = raw.strip()
        if line.startswith("/dtmf"):
            keys = line[5:].strip()
            if not keys or any(k not in "0123456789*#" for k in keys):
                print("(keys are 0-9, * and #)", file=out)
                continue
            for key in keys:
                _play(dialog.on_dtmf(Dtmf(key)), out)
        elif line == "/silence":
            _play(dialog.on_no_input(), out)
        elif line == "/hangup":
            break
        elif line == "/trace":
            print("\n".join(str(e) for e in dialog.trace), file=out)
        else:
            _play(dialog.on_utterance(Utterance(line, lang)), out)
        if dialog.done:
            break
    return _finish(dialog, queue, out)


def utterances_from_frames(frames: Iterator[bytes], *, pause_s: float = 0.8,
                           max_s: float = 15.0, no_input_s: float = 6.0,
                           threshold: float = 500.0) -> Iterator[bytes | None]:
    """Cut a live frame stream into utterances by energy: speech, then `pause_s` of quiet.

    Yields the PCM of each utterance, or None when `no_input_s` passes with no speech.
    """
    buf: list[bytes] = []
    quiet = heard = 0.0
    for frame in frames:
        seconds = len(frame) / 2 / 16000
        level = float(np.sqrt(np.mean(np.frombuffer(frame, np.int16).astype(np.float64) ** 2)))
        if level >= threshold:
            heard += seconds
            quiet = 0.0
        else:
            quiet += seconds
        if heard:
            buf.append(frame)
        total = sum(len(b) for b in buf) / 2 / 16000
        if heard and (quiet >= pause_s or total >= max_s):
            yield b"".join(buf)
            buf, quiet, heard = [], 0.0, 0.0
        elif not heard and quiet >= no_input_s:
            yield None
            quiet = 0.0


def live_call(flow: Flow, lang: Lang, queue: HandoffQueue | None,
              model: str | Path | None = None) -> int:
    """A call from the microphone: prompts printed, what was heard shown, trace at hang-up."""
    from .audio import open_microphone

    hotline = Hotline(flow, queue=queue, model=model)
    recognizer = hotline.recognizer(lang)
    dialog = Dialog(flow, lang, hotline.matcher(lang), f"live-{uuid.uuid4().hex[:12]}")
    out = sys.stdout
    _play(dialog.start(), out)
    try:
        with open_microphone() as mic:
            for pcm in utterances_from_frames(iter(mic)):
                if pcm is None:
                    _play(dialog.on_no_input(), out)
                else:
                    utt = recognizer.recognize(Audio(pcm, "microphone", 16000, 1, "pcm16"),
                                               hotline.grammar(dialog))
                    print(f"caller> {utt.text or '(nothing recognised)'}", file=out, flush=True)
                    _play(dialog.on_utterance(utt) if utt.text else dialog.on_no_input(), out)
                if dialog.done:
                    break
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"microphone failed: {exc}") from None
    print("\n".join(str(e) for e in dialog.trace), file=out)
    return _finish(dialog, queue, out)
