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
            session = self.hotline.open_call(call_id, getattr(line, "lang", None) or self.lang)
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

    async def turn(self) -> tuple[Prompt, ...]:
        """Listen until the caller said something, pressed a key, or went silent."""
        loop = asyncio.get_running_loop()
        session = self.session
        try:
            turn = await loop.run_in_executor(
                self.worker, lambda: session.listen(narrowband=True, realtime=True))
            quiet = 0.0
            while not self.line.ended.is_set():
                try:
                    event = await asyncio.wait_for(self.line.events.get(), POLL_S)
                except TimeoutError:
                    quiet += POLL_S
                    if quiet >= self.media_timeout_s:
                        log.warning("call %s: nothing from the line for %.0f s; ending it",
                                    session.id, quiet)
                        self.dead = True
                        break
                    continue
                quiet = 0.0
                if isinstance(event, KeyPressed | DtmfKey):
                    self.player.stop()  # a key cuts the prompt short
                    await loop.run_in_executor(self.worker, _abandon, turn)
                    return await loop.run_in_executor(self.worker, session.press,
                                                      str(event.key.value))
                if not isinstance(event, Media | Audio):
                    continue
                frames = self.upsampler.push(event.pcm)
                ended = await loop.run_in_executor(self.worker, self._push, turn, frames,
                                                   self.player.playing)
                if ended is Event.START:
                    self.player.stop()  # barge-in: the caller talks over the prompt
                elif ended is not None:
                    return await loop.run_in_executor(self.worker, self._heard, turn)
            await loop.run_in_executor(self.worker, _abandon, turn)  # hung up, or a dead line
        except (AsrCrash, ModelError) as exc:  # no recogniser for the caller: a human takes it
            return await loop.run_in_executor(self.worker, session.fail, "asr_error", str(exc))
        return ()

    def _push(self, turn: Turn, frames: list[bytes], playing: bool) -> Event | None:
        """Push frames (worker thread); START, COMMIT or NO_INPUT if one came, else None."""
        started = None
        for frame in self.session.budget.take(frames):
            event = turn.push(frame)
            if event in (Event.COMMIT, Event.NO_INPUT):
                return event
            if event is Event.START:
                started = event
            elif playing and not turn.endpointer.speaking:
                turn.endpointer.restart_no_input_timer()  # no input counts once the prompt ends
        if self.session.budget.exhausted:
            return Event.COMMIT
        return started

    def _heard(self, turn: Turn) -> tuple[Prompt, ...]:
        heard: Heard = turn.finish()
        return self.session.heard(heard)


def _abandon(turn: Turn) -> None:
    """End a turn whose words no longer matter (a key, a hang-up), so its recognition
    stream is released on the worker; what it heard is dropped."""
    if turn.heard is None and turn.endpointer.started_at is not None:
        turn.finish()
