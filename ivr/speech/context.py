"""What one listening turn is about: what the dialog expects to hear, and what the line is."""

from __future__ import annotations

from dataclasses import dataclass

from ..asr.results import StreamSpec

__all__ = ["TurnContext"]


@dataclass(frozen=True)
class TurnContext:
    """One turn's context, built once where the turn opens (`ivr.call.Call.listen`) and
    passed whole to the turn, its recognition stream and the judge."""

    grammar: tuple[str, ...] | None
    """The phrases that can be said at this point, in words the model knows (None or empty:
    free decoding only)."""
    allowed: frozenset[str]
    """Intents understood at this point."""
    confirming: bool = False
    """The dialog waits for a yes or a no (the grammar is the flow's yes / no words)."""
    narrowband: bool = False
    """The caller is on an 8 kHz line."""
    realtime: bool = False
    """Frames come at real-time pace (a live caller), not as fast as they can be read."""

    @property
    def stream(self) -> StreamSpec:
        """What the turn's recognition stream is asked to decode."""
        return StreamSpec(self.grammar or None, narrowband=self.narrowband, paced=self.realtime)
