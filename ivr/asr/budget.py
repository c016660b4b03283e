"""What a worker's live callers cost it, and which of them decode freely.

A live caller's audio comes at real-time pace, so a worker that takes on more decoding per
second than it has CPU falls behind every caller at once: a burst of 24 callers who speak
together on 2 cores (`make bench-phone`) left each worker a second of audio behind, and every
decision waited for it. Shedding by lag (`ivr.asr.worker.SHED_LAG_S`) acts only once the
worker is behind; a burst opens all its streams before any lag shows.

So each worker also keeps a budget in cores (`DecoderConfig.live_budget`): the open live
streams cost what their recognisers cost per second of audio (measured as they decode: a
grammar view's and free decoding's CPU seconds per audio second), and when a new live
stream takes the sum over the budget, the newest live streams stop decoding freely (the
costliest part, a support for the grammar views) until it fits again. The grammar views are
never dropped here: they are what a decision needs. Recordings (not paced) are not counted
and never dropped: nobody waits on them in real time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CostModel", "StreamLoad", "over_budget"]

VIEW_RTF = 0.02
"""A warm grammar view's CPU seconds per audio second before any is measured (the bank
flow's first menu, committed Korean callers through 8 kHz mu-law: 0.017-0.018)."""
FREE_RTF = 0.06
"""The same for a warm free recogniser (0.05 measured; a new one costs 0.72)."""
_LEARN_MIN_S = 1.0
"""Audio a stream must have decoded before its cost teaches the model."""
_WEIGHT = 0.2
"""Weight of one stream's measured cost in the running estimate."""


@dataclass(frozen=True)
class StreamLoad:
    """One open live stream as the budget sees it."""

    sid: int
    views: int
    """Grammar views decoding."""
    free: bool
    """Decoding freely too."""
    narrowband: bool = False
    """An 8 kHz caller (`DecoderConfig.narrowband_budget` applies)."""


class CostModel:
    """Running estimates of a grammar view's and free decoding's CPU per audio second."""

    def __init__(self, view_rtf: float = VIEW_RTF, free_rtf: float = FREE_RTF) -> None:
        self.view_rtf, self.free_rtf = view_rtf, free_rtf

    def learn(self, view_cpu_s: float, view_s: float, free_cpu_s: float, free_s: float) -> None:
        """A finished stream's CPU seconds and audio seconds decoded (summed over its views)."""
        if view_s >= _LEARN_MIN_S:
            self.view_rtf += _WEIGHT * (view_cpu_s / view_s - self.view_rtf)
        if free_s >= _LEARN_MIN_S:
            self.free_rtf += _WEIGHT * (free_cpu_s / free_s - self.free_rtf)

    def cores(self, streams: Iterable[StreamLoad]) -> float:
        """What `streams` cost together, in cores (CPU seconds per second of real time)."""
        return sum(s.views * self.view_rtf + (self.free_rtf if s.free else 0.0)
                   for s in streams)


def over_budget(model: CostModel, streams: list[StreamLoad], budget: float,
                narrowband_budget: float | None = None) -> list[int]:
    """The streams (newest first, in `streams` order oldest first) that should stop
    decoding freely so that the rest fit in `budget` cores, and a narrowband stream in
    `narrowband_budget` if that is lower; empty when they all fit, and no more than there are
    free decoders to drop when even grammar alone does not."""
    cost = model.cores(streams)
    drop: list[int] = []
    for s in reversed(streams):
        limit = budget
        if s.narrowband and narrowband_budget is not None:
            limit = min(budget, narrowband_budget)
        if s.free and cost > limit:
            drop.append(s.sid)
            cost -= model.free_rtf
    return drop
