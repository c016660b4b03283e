"""The turns of one phone call: the line's caller audio lifted to 16 kHz and pushed, frame
batches at a time, into the call session's listening turns on the call's worker thread; keys,
barge-in, a dead line, and hold (a held caller's audio is not listened to, the media timeout
does not count, and the no-input wait starts again on the resume)."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ivr.asr import AsrCrash
from ivr.audio.pcm import to_int16
from ivr.audio.resample import StreamResampler
from ivr.call import Call, Prompt
from ivr.errors import ModelError
from ivr.phone.audiosocket import Audio, DtmfKey
from ivr.phone.rtp import KeyPressed, Media
from ivr.speech import Event, Heard, Turn
from ivr.types import SAMPLE_RATE

if TYPE_CHECKING:
    from ivr.phone.driver import LineCall, Player

__all__ = ["HOLD_LIMIT_S", "MAX_BATCH", "MEDIA_TIMEOUT_S", "CallLoop", "TurnClock", "Upsampler"]

log = logging.getLogger("ivr.phone.driver")

FRAME_BYTES = SAMPLE_RATE * 2 // 50
"""One 20 ms frame at 16 kHz PCM16, as the speech front-end takes it."""
POLL_S = 0.2
"""How often a call waiting for caller audio checks that the line is still up."""
MAX_BATCH = 50
"""Most line events pushed in one handoff to the call's thread (1 s of audio)."""
MEDIA_TIMEOUT_S = 15.0
"""A line that sends nothing (no audio, no key) for this long is dead: the call is ended
(a caller's phone that stops its RTP without a BYE must not hold a call, or a drain, for ever)."""
HOLD_LIMIT_S = 600.0
"""A caller may hold the call (re-INVITE sendonly/inactive) this long; the media timeout does
not count meanwhile, and the audio a held phone sends (music) is not listened to."""


class Upsampler:
    """8 kHz PCM16 from the line → 20 ms frames of 16 kHz PCM16 for the recogniser."""

    def __init__(self) -> None:
        self._resampler = StreamResampler(8000, SAMPLE_RATE)
        self._pending = b""

    def push(self, pcm8: bytes) -> list[bytes]:
        samples = np.frombuffer(pcm8, "<i2").astype(np.float32)
        self._pending += to_int16(self._resampler.push(samples)).tobytes()
        cut = len(self._pending) - len(self._pending) % FRAME_BYTES
        frames = [self._pending[i:i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]
        self._pending = self._pending[cut:]
        return frames


class TurnClock:
    """Where a turn's time goes, measured on the wall clock (for the log and the bench).

    The line delivers caller audio in real time, so turn audio time T arrived at about
    `arrived0 + T`, where `arrived0` is when the turn's first frame reached the line: the
    time it was taken from the line's queue less the 20 ms frames still queued behind it.
    End of speech → decision on the wall clock is then the decision's `perf_counter` less
    the arrival of the last speech frame: the pause the endpointer waits, the frames' wait
    in the line's queue and for the call's thread, the recogniser's settle, the judge.
    """

    def __init__(self) -> None:
        self.arrived0: float | None = None
        self.frames = 0
        self.batches = 0
        self.most_queued = 0

    def received(self, frames: int, queued: int) -> None:
        if frames and self.arrived0 is None:
            self.arrived0 = time.perf_counter() - (frames + queued) * 0.02
        self.frames += frames
        self.batches += bool(frames)
        self.most_queued = max(self.most_queued, queued)

    def report(self, call_id: str, heard: Heard) -> None:
        """One log line per decided turn (timings only: no words, no keys)."""
        if heard.speech_end_s is None or heard.decided_s is None or self.arrived0 is None:
            return
        wall = heard.decided_wall - (self.arrived0 + heard.speech_end_s)
        log.info("call %s turn timing: end of speech to decision %.0f ms wall (trace %.0f ms "
                 "= pause %.0f ms + settle and judge %.0f ms, judge %.0f ms); %d frames in %d "
                 "handoffs, at most %d queued", call_id, wall * 1000, heard.latency_s * 1000,
                 max(0.0, heard.decided_s - heard.speech_end_s) * 1000, heard.compute_s * 1000,
                 heard.judge_s * 1000, self.frames, self.batches, self.most_queued)


class CallLoop:
    """The turns of one call: frames pushed on the call's worker thread."""

    def __init__(self, session: Call, line: LineCall, player: Player,
                 worker: ThreadPoolExecutor) -> None:
        self.session, self.line, self.player, self.worker = session, line, player, worker
        self.upsampler = Upsampler()
        self.media_timeout_s = MEDIA_TIMEOUT_S
        self.hold_limit_s = HOLD_LIMIT_S
        self.dead = ""
        """Why the line is dead: no audio nor key for `media_timeout_s`, or held too long."""
        self.quiet = 0.0
        self.held_since: float | None = None
        self.resumed = False
        """The caller came back from hold: the turn's no-input wait starts again."""
        self.clock = TurnClock()
        self._pending: Any = None
        self._carry: list[bytes] = []
        """Frames that came in a batch after the last turn ended: the next turn starts
        with them (nothing the caller says is dropped between turns)."""

    async def turn(self) -> tuple[Prompt, ...]:
        """Listen until the caller said something, pressed a key, or went silent."""
        loop = asyncio.get_running_loop()
        session = self.session
        try:
            turn = await loop.run_in_executor(
                self.worker, lambda: session.listen(narrowband=True, realtime=True))
            self.clock = TurnClock()
            while not self.line.ended.is_set():
                batch = await self._next_batch()
                if self.resumed:  # not reprompted for the time on hold
                    self.resumed = False
                    await loop.run_in_executor(self.worker,
                                               turn.endpointer.restart_no_input_timer)
                if batch is None:
                    break  # a dead line
                if isinstance(batch, KeyPressed | DtmfKey):
                    self.player.stop()  # a key cuts the prompt short
                    await loop.run_in_executor(self.worker, _abandon, turn)
                    return await loop.run_in_executor(self.worker, session.press,
                                                      str(batch.key.value))
                if not batch:
                    continue
                ended, used = await loop.run_in_executor(self.worker, self._push, turn, batch,
                                                         self.player.playing)
                self._carry = batch[used:]  # what came after the turn ended: the next turn's
                if ended is Event.START:
                    self.player.stop()  # barge-in: the caller talks over the prompt
                elif ended is not None:
                    return await loop.run_in_executor(self.worker, self._heard, turn)
            await loop.run_in_executor(self.worker, _abandon, turn)  # hung up, or a dead line
        except (AsrCrash, ModelError) as exc:  # no recogniser for the caller: a human takes it
            return await loop.run_in_executor(self.worker, session.fail, "asr_error", str(exc))
        return ()

    async def _next_batch(self) -> list[bytes] | KeyPressed | DtmfKey | None:
        """The caller audio waiting on the line, as 16 kHz frames, in one batch (one thread
        handoff for all of it, not one per 20 ms packet: a call that fell behind, e.g. while
        a speculation settled, catches up at once); a key on its own; None for a dead line.
        An empty list: nothing yet (the caller of this polls `line.ended`)."""
        events = self.line.events
        held = self._held()
        if held and self.held_since is not None \
                and time.monotonic() - self.held_since >= self.hold_limit_s:
            log.warning("call %s: on hold for %.0f s; ending it", self.session.id,
                        self.hold_limit_s)
            self.dead = f"on hold for {self.hold_limit_s:g} s"
            return None
        if self._carry:
            carried, self._carry = self._carry, []
            return carried
        if self._pending is not None:
            event, self._pending = self._pending, None
        else:
            try:
                event = await asyncio.wait_for(events.get(), POLL_S)
            except TimeoutError:
                if held:
                    return []  # a held phone may send nothing: not a dead line
                self.quiet += POLL_S
                if self.quiet >= self.media_timeout_s:
                    log.warning("call %s: nothing from the line for %.0f s; ending it",
                                self.session.id, self.quiet)
                    self.dead = f"no media for {self.media_timeout_s:g} s"
                    return None
                return []
        self.quiet = 0.0
        frames: list[bytes] = []
        for n in range(MAX_BATCH):
            if n:  # the events already waiting, up to MAX_BATCH in all
                if events.empty():
                    break
                event = events.get_nowait()
            if isinstance(event, KeyPressed | DtmfKey):
                if not frames:
                    return event
                self._pending = event  # the audio before the key goes first
                break
            if isinstance(event, Media | Audio) and not held:  # a held phone's music: not heard
                frames.extend(self.upsampler.push(event.pcm))
        self.clock.received(len(frames), events.qsize())
        return frames

    def _held(self) -> bool:
        """Whether the caller holds the call now; notes when it started and the resume."""
        held = bool(getattr(self.line, "held", False))
        if held and self.held_since is None:
            self.held_since = time.monotonic()
        elif not held and self.held_since is not None:
            self.held_since, self.resumed, self.quiet = None, True, 0.0
        return held

    def _push(self, turn: Turn, frames: list[bytes],
              playing: bool) -> tuple[Event | None, int]:
        """Push frames (worker thread); START, COMMIT or NO_INPUT if one came, else None;
        and how many frames the turn took (it takes none after its end)."""
        started, used = None, 0
        for frame in self.session.budget.take(frames):
            used += 1
            event = turn.push(frame)
            if event in (Event.COMMIT, Event.NO_INPUT):
                return event, used
            if event is Event.START:
                started = event
            elif playing and not turn.endpointer.speaking:
                turn.endpointer.restart_no_input_timer()  # no input counts once the prompt ends
        if self.session.budget.exhausted:
            return Event.COMMIT, used
        return started, len(frames)

    def _heard(self, turn: Turn) -> tuple[Prompt, ...]:
        heard: Heard = turn.finish()
        self.clock.report(self.session.id, heard)
        return self.session.heard(heard)


def _abandon(turn: Turn) -> None:
    """End a turn whose words no longer matter (a key, a hang-up), so its recognition
    stream is released on the worker; what it heard is dropped."""
    if turn.heard is None and turn.endpointer.started_at is not None:
        turn.finish()
