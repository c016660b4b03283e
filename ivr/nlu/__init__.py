"""Understanding: normalise, phonetic keys, score intents, decide, slots."""

from .matcher import IntentMatcher, Scores
from .normalize import normalize
from .policy import decide

__all__ = ["IntentMatcher", "Scores", "decide", "normalize"]
