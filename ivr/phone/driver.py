"""The phone driver of the call session: a line call (SIP `PhoneCall` or `AudioSocketCall`)
in, a `Call` stepped, prompts played back as paced 8 kHz audio.

Per call: the session is opened under the line's call id (SIP Call-ID, AudioSocket UUID), the
greeting plays paced at 20 ms while the caller's 8 kHz audio is lifted to 16 kHz and pushed
frame by frame into a live listening turn (`call.listen(narrowband=True, realtime=True)`).
The caller speaking (`Event.START`) or pressing a key stops the prompt (barge-in); keys go to
`call.press`; a caller who hangs up ends the session (`call.hang_up`, which files what must
be filed). When the call ends on its own, the session is hung up first (the handoff record is
filed before the caller hears "please hold"), then the last prompts play and the line hangs
up. Recognition and dialog steps block, so they run on one thread per call, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ivr.asr import AsrCrash
from ivr.audio.pcm import to_int16
from ivr.audio.resample import StreamResampler
from ivr.call import Call, CallResult, Hotline, Prompt
from ivr.errors import ModelError
from ivr.phone.audiosocket import Audio, DtmfKey
from ivr.phone.audiosocket_line import AudioSocketCall
from ivr.phone.prompts import PromptAudio, line_prompt
from ivr.phone.rtp import KeyPressed, Media
from ivr.phone.sipline import PhoneCall
from ivr.speech import Event, Heard, Turn
from ivr.types import SAMPLE_RATE, Lang, TraceEvent

__all__ = ["LineCall", "PhoneDriver"]

log = logging.getLogger(__name__)

FRAME_BYTES = SAMPLE_RATE * 2 // 50
"""One 20 ms frame at 16 kHz PCM16, as the speech front-end takes it."""
POLL_S = 0.2
"""How often a call waiting for caller audio checks that the line is still up."""
WARM_TURNS = 2
"""Warm recognisers per grammar view made ready for the first node before the first call."""
WARM_SECONDS = 2.0
"""Greeting audio each warm-up turn decodes."""
MAX_BATCH = 50
"""Most line events pushed in one handoff to the call's thread (1 s of audio)."""
MEDIA_TIMEOUT_S = 15.0
"""A line that sends nothing (no audio, no key) for this long is dead: the call is ended
(a caller's phone that stops its RTP without a BYE must not hold a call, or a drain, for ever)."""


class LineCall(Protocol):
    """What the driver needs of a line's call (both `PhoneCall` and `AudioSocketCall`)."""

    @property
    def events(self) -> asyncio.Queue[Any]:
        """Caller audio (`.pcm`, 8 kHz PCM16) and keys (`.key`); other events are skipped."""

    @property
    def ended(self) -> asyncio.Event:
        ...

    async def play(self, pcm: bytes) -> None:
        ...


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


class Player:
    """Plays prompts on the line one after another; `stop` cuts them short (barge-in)."""

    def __init__(self, line: LineCall, audio: PromptAudio) -> None:
        self.line, self.audio = line, audio
        self._task: asyncio.Task[None] | None = None

    @property
    def playing(self) -> bool:
        return self._task is not None and not self._task.done()

    def say(self, prompts: Sequence[Prompt]) -> None:
        """Start playing `prompts` after whatever is still playing."""
        if prompts:
            self._task = asyncio.get_running_loop().create_task(
                self._play(self._task, tuple(prompts)))

    async def _play(self, before: asyncio.Task[None] | None, prompts: tuple[Prompt, ...]) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for prompt in prompts:
            pcm = await loop.run_in_executor(None, self.audio.audio, prompt)
            await self.line.play(pcm)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def finish(self) -> None:
        """Wait for what is playing to end (errors are logged, not raised)."""
        if self._task is not None:
            for outcome in await asyncio.gather(self._task, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.error("prompt playback failed: %s", outcome)


@dataclass
class PhoneDriver:
    """Runs each call of a line through the hotline's call session."""

    hotline: Hotline
    audio: PromptAudio
    lang: Lang
    transfers: Mapping[str, str] = field(default_factory=dict)
    """Queue name → SIP URI: a SIP caller handed off to that queue is REFERred there after
    the handoff prompt (the record is filed first, whatever the transfer does)."""
    media_timeout_s: float = MEDIA_TIMEOUT_S
    """A line silent (no RTP, no frame) this long is dead."""
    results: list[CallResult] | None = None
    """Every finished call's result, when a list is given (tests, the bench)."""
    observe: Callable[[str, CallResult | None], None] | None = None
    """Told "start" (no result) when a call begins and "end" with its result (metrics)."""

    def warm_up(self, turns: int = WARM_TURNS) -> int:
        """Before the first call: decode the greeting's own audio in `turns` listening turns
        at the first node, open side by side, so the recognition workers hold that many
        warm recognisers for it (a new one builds its decoding graph as it decodes).

        Without it the first calls after a start decoded 10-30x slower than later ones
        (settle 2.5-4.5 s against ~0.1 s), the worker fell behind real time, and streams
        opened then were shed to one grammar view without free decoding: the same caller
        was routed in one call and reprompted in the call beside it. Returns the frames
        decoded per turn."""
        session = self.hotline.open_call("warm-up", self.lang)
        greeting = b"".join(self.audio.audio(p) for p in session.start())
        pcm = greeting[:int(WARM_SECONDS * 16000)]  # 8 kHz PCM16: 2 bytes a sample
        frames = Upsampler().push(pcm)
        listening = [session.listen(narrowband=True) for _ in range(max(1, turns))]
        for frame in frames:
            for turn in listening:
                turn.push(frame)
        for turn in listening:
            turn.finish()
        return len(frames)

    async def sip(self, line: PhoneCall) -> None:
        """The `SipLine` handler."""
        await self.run(line, line.record.call_id)

    async def audiosocket(self, line: AudioSocketCall) -> None:
        """The `AudioSocketLine` handler."""
        await self.run(line, str(line.record.call_id))

    async def run(self, line: LineCall, call_id: str) -> CallResult:
        """One call, from answer to hang-up; returns when the line may hang up."""
        # one thread per call: its recognition and dialog steps in order, off the event loop
        worker = ThreadPoolExecutor(1, thread_name_prefix=f"call-{call_id[:8]}")
        loop = asyncio.get_running_loop()
        player = Player(line, self.audio)
        if self.observe is not None:
            self.observe("start", None)
        result: CallResult | None = None
        try:
            session = self.hotline.open_call(call_id, getattr(line, "lang", None) or self.lang,
                                             caller=getattr(line, "caller", None))
            player.say(await loop.run_in_executor(worker, session.start))
            call = _CallLoop(session, line, player, worker)
            call.media_timeout_s = self.media_timeout_s
            try:
                while not session.done and not line.ended.is_set() and not call.dead:
                    player.say(await call.turn())
                if call.dead:  # the handoff carries why: the line went quiet
                    await loop.run_in_executor(worker, session.fail, "line_dead",
                                               f"no media for {self.media_timeout_s:g} s")
            finally:  # files the handoff (if any) before the caller hears "please hold"
                result = await loop.run_in_executor(worker, session.hang_up)
            if not line.ended.is_set() and not call.dead:
                await player.finish()  # the last prompts, then the transfer or the hang-up
                result = await self._transfer(line, call_id, result, player)
        finally:
            player.stop()
            worker.shutdown(wait=False)  # never block the loop on a step still running
            if self.observe is not None:
                self.observe("end", result)
        log.info("call %s ended: %s at %s (%s; %s); turns: %s; end of speech to decision: %s",
                 call_id, result.outcome.type, result.outcome.node or "-", result.lang,
                 "caller hung up" if line.ended.is_set() else "we hung up",
                 " ".join(t.decision for t in result.turns) or "-",  # no words, no keys
                 " ".join(f"{s * 1000:.0f} ms" for s in result.latencies) or "-")
        if self.results is not None:
            self.results.append(result)
        return result


    async def _transfer(self, line: LineCall, call_id: str, result: CallResult,
                        player: Player) -> CallResult:
        """REFER a handed-off SIP caller to its queue's destination. A failed transfer
        (refused, a failure in the NOTIFY, no answer) is said to the caller, who stays
        filed in the queue; either way the queue record and the result say what happened."""
        queue = result.outcome.queue if result.outcome.type == "handoff" else None
        target = self.transfers.get(queue or "")
        transfer = getattr(line, "transfer", None)  # SIP calls transfer; AudioSocket cannot
        if target is None or transfer is None or line.ended.is_set():
            return result
        status: int = await transfer(target)
        failed = not 200 <= status < 300
        log.info("call %s transfer to queue %s: %d", call_id, queue, status)
        event = "transfer_failed" if failed else "transferred"
        note = getattr(self.hotline.queue, "note", None)  # the queue's audit trail (if any)
        if note is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, note, call_id, event, "engine", f"SIP {status}")
            except Exception as exc:  # the caller must still hear the message
                log.error("call %s: queue note failed: %s", call_id, type(exc).__name__)
        if failed and not line.ended.is_set():
            log.info("call %s: the transfer failed (SIP %d); saying transfer_failed",
                     call_id, status)
            player.say([line_prompt(self.hotline.flow, "transfer_failed", result.lang)])
            await player.finish()
        node = result.outcome.node or "-"
        step = TraceEvent(len(result.trace), event, node,
                          (("queue", queue or ""), ("status", status)))
        return replace(result, trace=(*result.trace, step))


class _CallLoop:
    """The turns of one call: frames pushed on the call's worker thread."""

    def __init__(self, session: Call, line: LineCall, player: Player,
                 worker: ThreadPoolExecutor) -> None:
        self.session, self.line, self.player, self.worker = session, line, player, worker
        self.upsampler = Upsampler()
        self.media_timeout_s = MEDIA_TIMEOUT_S
        self.dead = False
        """No audio nor key came for `media_timeout_s`."""
        self.quiet = 0.0
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
        if self._carry:
            carried, self._carry = self._carry, []
            return carried
        if self._pending is not None:
            event, self._pending = self._pending, None
        else:
            try:
                event = await asyncio.wait_for(events.get(), POLL_S)
            except TimeoutError:
                self.quiet += POLL_S
                if self.quiet >= self.media_timeout_s:
                    log.warning("call %s: nothing from the line for %.0f s; ending it",
                                self.session.id, self.quiet)
                    self.dead = True
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
            if isinstance(event, Media | Audio):
                frames.extend(self.upsampler.push(event.pcm))
        self.clock.received(len(frames), events.qsize())
        return frames

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
