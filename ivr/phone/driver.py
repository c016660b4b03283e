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

from ivr.call import CallResult, Hotline, Prompt
from ivr.phone.audiosocket_line import AudioSocketCall
from ivr.phone.callloop import HOLD_LIMIT_S, MEDIA_TIMEOUT_S, CallLoop, Upsampler
from ivr.phone.prompts import PromptAudio, line_prompt
from ivr.phone.sipline import PhoneCall
from ivr.types import Lang, TraceEvent

__all__ = ["MAX_WARM_TURNS", "LineCall", "PhoneDriver"]

log = logging.getLogger(__name__)
WARM_TURNS = 2
"""Warm recognisers per grammar view made ready for the first node before the first call
(`ivr serve` asks for one per call it takes, up to `MAX_WARM_TURNS`)."""
MAX_WARM_TURNS = 48
"""Most warm-up turns: a grammar recogniser is cheap to keep, but `GrammarPool.idle_max`
bounds the idle ones per worker anyway."""
WARM_SECONDS = 2.0
"""Greeting audio each warm-up turn decodes."""


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
    hold_limit_s: float = HOLD_LIMIT_S
    """A call held this long is ended as a dead line."""
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
            call = CallLoop(session, line, player, worker)
            call.media_timeout_s, call.hold_limit_s = self.media_timeout_s, self.hold_limit_s
            try:
                while not session.done and not line.ended.is_set() and not call.dead:
                    player.say(await call.turn())
                if call.dead:  # the handoff carries why: the line went quiet
                    await loop.run_in_executor(worker, session.fail, "line_dead", call.dead)
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
        record = getattr(line, "record", None)
        how = getattr(record, "transfer_by", None) or "refer"
        log.info("call %s transfer to queue %s: %d%s", call_id, queue, status,
                 " (bridged)" if how == "bridge" else "")
        event = "transfer_failed" if failed else "transferred"
        detail = f"SIP {status}" if how == "refer" else f"SIP {status} bridge"
        note = getattr(self.hotline.queue, "note", None)  # the queue's audit trail (if any)
        if note is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, note, call_id, event, "engine", detail)
            except Exception as exc:  # the caller must still hear the message
                log.error("call %s: queue note failed: %s", call_id, type(exc).__name__)
        if failed and not line.ended.is_set():
            log.info("call %s: the transfer failed (SIP %d); saying transfer_failed",
                     call_id, status)
            player.say([line_prompt(self.hotline.flow, "transfer_failed", result.lang)])
            await player.finish()
        node = result.outcome.node or "-"
        step = TraceEvent(len(result.trace), event, node,
                          (("queue", queue or ""), ("status", status), ("by", how)))
        return replace(result, trace=(*result.trace, step))
