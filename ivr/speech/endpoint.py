"""When a caller's turn starts and ends: voice activity turned into events, with timers.

    WAITING --speech for start_s--> SPEAKING --pause of speculate_s--> (SPECULATE)
       |                              ^   |                               |
       | no_input_s without speech    |   +-- speech for start_s <--------+ (RESUME)
       v                              |
    NO_INPUT                          +-- pause of commit_s, or max_speech_s of speech --> COMMIT

A short pause (`speculate_s`) is where a decision is prepared from the partial transcripts;
it stands if the caller stays quiet, and is dropped if they go on (RESUME), so a mid-sentence
pause never cuts a caller off. A long pause (`commit_s`) ends the turn. Timings are in audio
seconds from the start of the turn, so replays are exact.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..audio.vad import Vad, VadConfig
from ..errors import UsageError

__all__ = ["EndpointConfig", "Endpointer", "Event"]


class Event(enum.Enum):
    """What a frame changed."""

    START = "start"
    """Speech began (the utterance includes `preroll_s` before it)."""
    SPECULATE = "speculate"
    """A short pause: prepare a decision."""
    RESUME = "resume"
    """Speech again after a speculation: the prepared decision is void."""
    COMMIT = "commit"
    """The turn is over (long pause or the longest utterance reached)."""
    NO_INPUT = "no_input"
    """Nothing was said before the no-input timer ran out."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class EndpointConfig:
    """Timers of one listening turn, in seconds."""

    speculate_s: float = 0.24
    """Pause after which a decision is prepared (and taken, if the caller stays quiet)."""
    commit_s: float = 0.8
    """Pause that ends the turn for good."""
    no_input_s: float = 5.0
    """Silence from the start of the turn that counts as no input."""
    max_speech_s: float = 12.0
    """Longest utterance; the turn ends there even if the caller goes on."""
    start_s: float = 0.08
    """Speech needed in a row to count as speech (clicks and pops are shorter)."""
    preroll_s: float = 0.7
    """Audio kept from before the start of speech: the onset the detector needed to hear, and
    some line noise for the recogniser to adapt to; long enough that a committed turn decodes
    as the whole recording does (measured: see bench/results/speech_tuning.md)."""
    vad: VadConfig = field(default_factory=VadConfig)
    """The voice-activity detector's thresholds."""

    def __post_init__(self) -> None:
        if not 0 < self.speculate_s <= self.commit_s:
            raise UsageError("endpointing needs 0 < speculate_s <= commit_s")
        if min(self.no_input_s, self.max_speech_s, self.start_s) <= 0 or self.preroll_s < 0:
            raise UsageError("endpointing timers must be positive")


class Endpointer:
    """Frame-by-frame turn events for one listening turn."""

    def __init__(self, config: EndpointConfig | None = None, vad: Vad | None = None) -> None:
        self.config = config or EndpointConfig()
        self.vad = vad or Vad(self.config.vad)
        self._samples = 0
        self.started_at: float | None = None
        """When speech started (after its onset run), or None."""
        self.last_speech = 0.0
        """End of the last speech frame."""
        self.speculating = False
        self.done = False
        self.waiting_since = 0.0
        """When the no-input timer (re)started."""
        self._run = 0.0  # seconds of speech in a row

    @property
    def now(self) -> float:
        """Audio seconds consumed."""
        return self._samples / self.vad.rate

    @property
    def speaking(self) -> bool:
        """Speech has started and the turn is not over."""
        return self.started_at is not None and not self.done

    def push(self, frame: bytes) -> Event | None:
        """Consume one frame of 16 kHz PCM16; the event it causes, if any."""
        if self.done:
            return None
        seconds = len(frame) / 2 / self.vad.rate
        self._samples += len(frame) // 2
        speech = self.vad.is_speech(frame)
        self._run = self._run + seconds if speech else 0.0
        c = self.config
        if self.started_at is None:
            if self._run >= c.start_s:
                self.started_at, self.last_speech = self.now - self._run, self.now
                return Event.START
            if self.now - self.waiting_since >= c.no_input_s:
                self.done = True
                return Event.NO_INPUT
            return None
        if speech and (not self.speculating or self._run >= c.start_s):
            self.last_speech = self.now
        if self.now - self.started_at >= c.max_speech_s:
            self.done = True
            return Event.COMMIT
        pause = self.now - self.last_speech
        if self.speculating and pause == 0.0:
            self.speculating = False
            return Event.RESUME
        if pause >= c.commit_s:
            self.done = True
            return Event.COMMIT
        if pause >= c.speculate_s and not self.speculating:
            self.speculating = True
            return Event.SPECULATE
        return None

    def restart_no_input_timer(self) -> None:
        """Count no input from now (a prompt is still playing: the caller cannot answer yet)."""
        self.waiting_since = self.now

    def finish(self) -> Event:
        """The audio ended: COMMIT if speech started, else NO_INPUT."""
        self.done = True
        return Event.NO_INPUT if self.started_at is None else Event.COMMIT
