"""One call session: the one place that steps a dialog.

Every driver — a replayed script, a terminal, a microphone, the QA runner, a benchmark, a
phone line — opens a `Call` with `Hotline.open_call` and only moves things in and out of it:

    call = hotline.open_call("c-42", "ko")
    play(call.start())                     # prompts come back as `Prompt` events to render
    play(call.say("잔액 조회해 주세요"))     # typed text ...
    play(call.hear(frames))                # ... or one turn of 20 ms 16 kHz PCM16 frames
    play(call.press("1"))                  # DTMF keys
    result = call.hang_up()                # files the handoff, if any; the call's record

A live line pushes frames as they arrive instead: `turn = call.listen(...)`, then
`turn.push(frame)` per frame (its endpointing events drive barge-in), then
`call.heard(turn.finish())`. A recogniser that dies (`AsrCrash`) or a call that runs out of
audio budget hands the caller to a human (reasons `asr_error`, `audio_limit`): the session
never drops a caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from ..asr import AsrCrash
from ..audio import FrameBudget, open_wav
from ..dialog import Dialog
from ..errors import QueueError
from ..speech import Event, Heard, Turn, TurnContext
from ..types import Dtmf, Lang, TraceEvent, Utterance
from .outcome import call_outcome
from .result import CallResult, Prompt

if TYPE_CHECKING:  # the Hotline opens calls; a call only uses what it shares
    from .hotline import Hotline

__all__ = ["PROMPT_KINDS", "Call"]

_log = logging.getLogger(__name__)

PROMPT_KINDS = frozenset({"prompt", "announcement", "system"})
"""Trace events that are something said to the caller."""


class Call:
    """One call in progress; see the module doc. Open it with `Hotline.open_call`."""

    def __init__(self, hotline: Hotline, call_id: str, lang: Lang, *,
                 caller: str | None = None, label: str | None = None) -> None:
        self.hotline = hotline
        self.id = call_id
        """The call's id: unique per call (the telephony call id, a UUID, a script's id)."""
        self.lang: Lang = lang
        """The caller's language."""
        self.dialog = Dialog(hotline.flow, lang, hotline.matcher(lang), call_id,
                             services=hotline.services, caller=caller)
        self.budget = FrameBudget(hotline.speech.max_call_audio_s)
        """Caller audio the call may still take in, all turns together."""
        self._audio_s = self._decode_s = 0.0
        self._latencies: list[float] = []
        self._result: CallResult | None = None
        self.label = label
        """A QA label: the node the caller should reach (recorded with the call's outcome)."""
        self._opened = time.monotonic()
        self._failure: str | None = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """The call reached an end (a business node, a handoff, a hang-up)."""
        return self.dialog.done

    @property
    def node(self) -> str:
        """The node the caller is at."""
        return self.dialog.node.id

    @property
    def trace(self) -> tuple[TraceEvent, ...]:
        """Every step so far (deterministic)."""
        return tuple(self.dialog.trace)

    def _step(self, event: Callable[[], object]) -> tuple[Prompt, ...]:
        """Run one dialog event; the prompts it produced, as events for the driver."""
        if self.done:
            return ()
        mark = len(self.dialog.trace)
        event()
        rate = self.hotline.flow.settings.prompt_rate
        said = self.dialog.spoken  # a value read back is said whole, kept masked
        return tuple(Prompt(said.get(e.step, str(e.get("text"))), self.lang, e.node, rate)
                     for e in self.dialog.trace[mark:]
                     if e.kind in PROMPT_KINDS and e.get("text"))

    # -- what the caller does ------------------------------------------------------------------
    def start(self) -> tuple[Prompt, ...]:
        """Answer the call: the greeting and the first menu."""
        if self.dialog.trace:
            return ()
        return self._step(self.dialog.start)

    def say(self, text: str) -> tuple[Prompt, ...]:
        """The caller's turn as text (typed, or transcribed elsewhere)."""
        return self._step(lambda: self.dialog.on_utterance(Utterance(text, self.lang)))

    def press(self, keys: str) -> tuple[Prompt, ...]:
        """DTMF keys, one event each, until the call ends."""
        out: list[Prompt] = []
        for key in keys:
            out.extend(self._step(partial(self.dialog.on_dtmf, Dtmf(key))))
        return tuple(out)

    def silence(self) -> tuple[Prompt, ...]:
        """The caller's turn passed without a word (the no-input timer ran out)."""
        return self._step(self.dialog.on_no_input)

    def fail(self, reason: str, detail: str = "") -> tuple[Prompt, ...]:
        """A platform failure (asr_error, audio_limit, …): a human takes the caller with
        `reason`; `detail` (what failed) goes to the log only."""
        _log.warning("ivr: call %s: %s; handing off", self.id, detail or reason)
        if not self.done:
            self._failure = reason
        return self._step(lambda: self.dialog.on_error(reason))

    # -- speech --------------------------------------------------------------------------------
    def listen(self, *, narrowband: bool, realtime: bool = False,
               on_partial: Callable[[str], None] | None = None) -> Turn:
        """A listening turn at the call's current point, for a driver that pushes frames as
        they arrive (`turn.push(frame)`, then `call.heard(turn.finish())`). Frames pushed
        should come through `self.budget` (see `hear`)."""
        hotline, dialog = self.hotline, self.dialog
        context = TurnContext(hotline.grammar(dialog),
                              frozenset(hotline.flow.intents_at(dialog.node.id)),
                              confirming=dialog.confirming, narrowband=narrowband,
                              realtime=realtime)
        return hotline.listener(self.lang).turn(context, on_partial=on_partial)

    def heard(self, heard: Heard | None) -> tuple[Prompt, ...]:
        """What a listening turn heard goes to the dialog (None: the line closed mid-turn).

        A turn cut short by the call's audio budget is not acted on: a human takes the call.
        """
        if heard is None:
            return ()
        self._audio_s += heard.audio_seconds
        self._decode_s += heard.decode_seconds
        if self.budget.exhausted:  # cut mid-turn: a human takes the call, not half a turn
            return self.fail("audio_limit", f"over {self.budget.seconds:g} s of audio")
        if heard.utterance is None:
            return self._step(self.dialog.on_no_input)
        started = time.perf_counter()
        utterance = heard.utterance
        prompts = self._step(lambda: self.dialog.on_utterance(utterance))
        self._latencies.append(heard.latency_s + time.perf_counter() - started)
        return prompts

    def hear(self, frames: Iterable[bytes], *, narrowband: bool) -> tuple[Prompt, ...]:
        """One caller turn from recorded or buffered frames, decoded as fast as they come."""
        if self.done:
            return ()
        try:
            turn = self.listen(narrowband=narrowband)
            for frame in self.budget.take(frames):
                if turn.push(frame) in (Event.COMMIT, Event.NO_INPUT):
                    break
            heard = turn.finish()
        except AsrCrash as exc:  # the recogniser died: a human takes the call
            return self.fail("asr_error", str(exc))
        return self.heard(heard)

    def hear_file(self, path: str) -> tuple[Prompt, ...]:
        """One caller turn from a WAV file, streamed frame by frame (read only as far as the
        turn goes)."""
        if self.done:
            return ()
        self.hotline.listener(self.lang)  # a missing model is reported before a missing file
        with open_wav(path) as wav:
            return self.hear(wav.frames(20), narrowband=wav.narrowband)

    # -- the end -------------------------------------------------------------------------------
    def hang_up(self) -> CallResult:
        """End the call (the caller hung up, or the driver is done); files the handoff, if
        any, to the hotline's queue, and the call's outcome to its outcome log, once. Calling
        it again returns the same result. An outcome log that cannot be written is logged
        (one line) and the call ends as usual: a figure is lost, never a caller.

        Raises:
            DuplicateCallId: the queue holds a different call under this id (never dropped).
        """
        if self._result is not None:
            return self._result
        dialog = self.dialog
        outcome = dialog.on_hangup()
        queue = self.hotline.queue
        if (dialog.handoff is not None and queue is not None
                and not queue.put(replace(dialog.handoff, created_at=time.time()))):
            _log.info("ivr: call %s: already in the queue (a retried filing)", self.id)
        self._result = CallResult(self.id, self.lang, tuple(dialog.turns), tuple(dialog.path),
                                  outcome, tuple(dialog.trace), dialog.handoff, self._audio_s,
                                  self._decode_s, tuple(self._latencies))
        self._record_outcome(self._result)
        return self._result

    def _record_outcome(self, result: CallResult) -> None:
        """One `CallOutcome` (no caller text) into the hotline's outcome log, if it has one."""
        log = self.hotline.outcomes
        if log is None:
            return
        record = call_outcome(result, at=time.time(), overlays=self.hotline.flow.overlays,
                              duration_s=time.monotonic() - self._opened,
                              failure=self._failure, label=self.label)
        try:
            log.record(record)
        except QueueError as exc:
            _log.warning("ivr: call %s: outcome not recorded: %s", self.id,
                         str(exc).splitlines()[0])
