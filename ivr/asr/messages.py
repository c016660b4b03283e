"""The messages between `SpeechService` and its worker processes (pickled over a pipe).

To the worker: `Open`, `Feed` and `Close` (no reply), the requests `Partial`, `Settle`,
`Final` and `Stats` (each answered by a `Reply` carrying its `req`), and `Quit`. From the
worker: `Reply(0, True, {"pid": ...})` once the model is loaded (or `Reply(0, False,
message)`), then one `Reply` per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import StreamSpec

__all__ = ["Close", "Feed", "Final", "Message", "Open", "Partial", "Quit", "Reply",
           "Request", "Settle", "Stats"]


@dataclass(frozen=True)
class Open:
    """Start decoding one utterance."""

    sid: int
    """The stream's id (unique per service)."""
    spec: StreamSpec
    """How to decode it."""
    views: int | None = None
    """Grammar views to decode in (None: all); the worker sets 1 when it is far behind."""


@dataclass(frozen=True)
class Feed:
    """The next frame of a stream."""

    sid: int
    pcm: bytes
    """16 kHz PCM16."""
    sent: float | None
    """`time.monotonic()` when sent, for a paced (live) stream; None otherwise."""


@dataclass(frozen=True)
class Close:
    """Abandon a stream."""

    sid: int


@dataclass(frozen=True)
class Partial:
    """Ask for a stream's hypotheses so far."""

    sid: int
    req: int
    """The request's id, echoed in its `Reply`."""


@dataclass(frozen=True)
class Settle:
    """Ask for final results for the audio so far; the stream stays open."""

    sid: int
    req: int


@dataclass(frozen=True)
class Final:
    """Ask for the final results; the stream ends."""

    sid: int
    req: int


@dataclass(frozen=True)
class Stats:
    """Ask for the worker's figures (pid, memory, pools)."""

    req: int
    sid: int = 0


@dataclass(frozen=True)
class Quit:
    """Stop the worker."""


@dataclass(frozen=True)
class Reply:
    """The worker's answer to a request (req 0: the model loaded, or failed to)."""

    req: int
    ok: bool
    value: Any
    """The result (a `DualResult`, a dict of figures), or what went wrong."""


Request = Partial | Settle | Final | Stats
"""A message the parent waits on."""
Message = Open | Feed | Close | Request | Quit
"""Anything the parent sends."""
