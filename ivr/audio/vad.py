"""Voice activity: is this 20 ms frame speech? An energy detector with a moving noise floor.

Each frame's level is the RMS of the pre-emphasised signal (first difference, which plays
down hum and rumble) in dB relative to full scale. The noise floor follows the level down at
once and creeps up slowly (`rise_db_per_s`), so it settles on the quietest recent frames:
room or line noise; it starts at the first frame's level (at most `start_floor_db`, as a turn
may start mid-speech). A frame is speech when its level is `margin_db` above the floor and
above `min_level_db`. One `Vad` should follow a whole call, so the floor carries over turns.
Runs of speech and silence (onset, hangover, pauses) are the endpointer's business
(`ivr.speech.endpoint`), not this module's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ivr.errors import UsageError

__all__ = ["Vad", "VadConfig", "frame_level_db"]

_PRE_EMPHASIS = 0.95


@dataclass(frozen=True)
class VadConfig:
    """Thresholds of the voice-activity detector."""

    margin_db: float = 9.0
    """A frame is speech when it is this far above the noise floor."""
    min_level_db: float = -50.0
    """Frames quieter than this (dBFS) are never speech, however quiet the line is."""
    rise_db_per_s: float = 3.0
    """How fast the noise-floor estimate climbs while the level stays above it."""
    start_floor_db: float = -35.0
    """Highest noise floor assumed from the first frame (a turn may start mid-speech)."""

    def __post_init__(self) -> None:
        if not (self.margin_db > 0 and self.rise_db_per_s > 0):
            raise UsageError("VAD margin and noise-floor rise must be positive")


def frame_level_db(frame: bytes) -> float:
    """Level of one PCM16 frame after pre-emphasis, dB relative to full scale (-120 if silent)."""
    x = np.frombuffer(frame, "<i2").astype(np.float32)
    if len(x) < 2:
        return -120.0
    y = x[1:] - _PRE_EMPHASIS * x[:-1]
    power = float(np.mean(y * y))
    return 10.0 * math.log10(power / (32768.0 * 32768.0)) if power > 0 else -120.0


class Vad:
    """Frame-by-frame speech decisions for one stream of 16 kHz PCM16 audio."""

    def __init__(self, config: VadConfig | None = None, rate: int = 16000) -> None:
        self.config = config or VadConfig()
        self.rate = rate
        self.floor_db: float | None = None
        self.level_db = -120.0

    def is_speech(self, frame: bytes) -> bool:
        """Update the noise floor with `frame` and say whether it is speech."""
        c = self.config
        level = frame_level_db(frame)
        self.level_db = level
        seconds = len(frame) / 2 / self.rate
        if self.floor_db is None:
            self.floor_db = min(level, c.start_floor_db)
        elif level < self.floor_db:
            self.floor_db = level
        else:
            self.floor_db = min(level, self.floor_db + c.rise_db_per_s * seconds)
        return level >= max(self.floor_db + c.margin_db, c.min_level_db)
