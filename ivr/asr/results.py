"""What crosses the recogniser seam: the stream a turn asks for, and what its decoders made.

These values are the recogniser protocol's (`ivr.asr.recognizer`) vocabulary: the speech
front-end builds a `StreamSpec` and reads `DualResult`s, whichever recogniser (in process, in
worker processes, over a pipe) produced them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Word

__all__ = ["DualResult", "Hypothesis", "StreamSpec"]


@dataclass(frozen=True)
class StreamSpec:
    """How one utterance is to be decoded: what may be said, and what the line is."""

    grammar: tuple[str, ...] | None = None
    """The phrase grammar (in words the model knows); None for free decoding only."""
    narrowband: bool = False
    """The audio comes from an 8 kHz line (resampled to 16 kHz)."""
    paced: bool = False
    """Frames come at real-time pace, from a live caller (their wait tells whether the
    recogniser keeps up)."""
    free: bool = True
    """Decode freely too, beside the grammar (a stream without a grammar always does)."""


@dataclass(frozen=True)
class Hypothesis:
    """What one decoder made of an utterance."""

    text: str
    """Best transcript (Chinese without the recogniser's spaces)."""
    alternatives: tuple[str, ...] = ()
    """Other transcripts, best first (final results only)."""
    words: tuple[Word, ...] = ()
    """Word timings of the best transcript (final results only)."""


@dataclass(frozen=True)
class DualResult:
    """Every decoder's view of one utterance: grammar decoding per view, and free decoding."""

    grammars: tuple[Hypothesis, ...]
    """From the phrase grammar, one per view in `DecoderConfig.views` order (empty when the
    stream had no grammar)."""
    free: Hypothesis | None
    """From free decoding (None when no free recogniser was available: shed under load)."""
    audio_seconds: float = 0.0
    """Audio fed to the stream."""
    final: bool = False
    """True for a final result, False for a partial one."""

    @property
    def grammar(self) -> Hypothesis | None:
        """The first view's grammar hypothesis."""
        return self.grammars[0] if self.grammars else None
