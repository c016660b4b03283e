"""The speech front-end: caller audio to the one transcript a dialog turn is given.

Sits between the rooms it combines — audio (voice activity), asr (streams decoded with a phrase
grammar and freely, in worker processes) and nlu (the matcher's evidence) — and `ivr.call`:

* `Endpointer` / `EndpointConfig` — when a turn starts and ends: no-input timer, a short pause
  that prepares a decision, a long pause or the longest utterance that ends the turn.
* `Judge` / `Verdict` — grammar and free transcripts combined on the matcher's evidence, so
  in-menu speech gains from the grammar and out-of-menu speech is not forced onto a phrase.
* `TurnContext` — what one turn is about (grammar, intents allowed, a yes / no, the line),
  built once per turn and passed whole to the turn, its stream and the judge.
* `Listener` / `Turn` / `Heard` — one listening turn, frame by frame, live or from a file.
* `SpeechConfig` — all of the above in one value, for `ivr.call.Hotline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..asr.service import ServiceConfig
from ..errors import UsageError
from .context import TurnContext
from .endpoint import EndpointConfig, Endpointer, Event
from .judge import Judge, JudgeConfig, Verdict
from .listener import Heard, Listener, Turn

__all__ = [
    "EndpointConfig",
    "Endpointer",
    "Event",
    "Heard",
    "Judge",
    "JudgeConfig",
    "Listener",
    "SpeechConfig",
    "Turn",
    "TurnContext",
    "Verdict",
]


@dataclass(frozen=True)
class SpeechConfig:
    """Everything the speech front-end of a hotline can be tuned with."""

    service: ServiceConfig = field(default_factory=ServiceConfig)
    """Recognition processes and decoding settings."""
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    """Turn timers and voice-activity thresholds."""
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    """When a grammar transcript is trusted."""
    max_call_audio_s: float = 1800.0
    """Most caller audio one call may take in, all turns together (30 min). Audio is read
    and decoded frame by frame, so memory does not grow with it; past this the call is
    handed to a human with reason `audio_limit`, so no recording or open line can keep a
    call, and its recogniser, for ever."""

    def cold(self) -> SpeechConfig:
        """The same, with new recognisers for every utterance (`DecoderConfig.warm`): what a
        caller is heard saying depends on their audio only, not on the calls before, at
        up to 13x the decoding cost. For QA, where a call's result must not depend on the
        suite around it or on how calls were spread over processes."""
        decoder = replace(self.service.decoder, warm=False)
        return replace(self, service=replace(self.service, decoder=decoder))

    def __post_init__(self) -> None:
        if not self.max_call_audio_s > 0:
            raise UsageError("max_call_audio_s must be positive")
