"""Warm recognisers lent to streams, and the process memory that bounds them.

Free recognisers are expensive to start cold (their search graph is built on the fly), so a
`FreePool` lends warm ones to streams and replaces each after `DecoderConfig.free_life_s` of
audio, which bounds the memory they hold. Grammar recognisers are cheap to build but decode
faster once their graph is built, so a `GrammarPool` keeps warm ones per grammar.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FreePool", "GrammarPool", "rss_mb"]


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * 4096 / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def _malloc_trim() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise)."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc
        ctypes.CDLL(name).malloc_trim(0)


@dataclass
class FreePool:
    """Warm free recognisers lent to streams; each replaced after `life_s` of audio."""

    make: Any
    """Builds a new free recogniser."""
    slots: int
    """Most recognisers alive at once (busy + idle)."""
    life_s: float
    """Audio seconds before a recogniser is retired."""
    memory_mb: float = float("inf")
    """Process memory growth (MB above `baseline_mb`) at which returned ones are retired."""
    baseline_mb: float = 0.0
    """Process memory after the model loaded."""
    young_s: float = 20.0
    """Audio seconds a free recogniser decodes before it counts as warm."""
    young_max: int = 1
    """Most young (not yet warm) free recognisers busy at once. A new free recogniser builds
    its search graph as it decodes and costs 0.72 s of CPU per second of audio at first
    (0.22 over its first 23 s, 0.05 once warm; the committed Korean callers): a burst of
    calls that each got a new one put the worker seconds behind, and their free decoding was
    dropped midway anyway (`ivr.asr.worker.DROP_LAG_S`). Beyond this, a stream that finds no
    warm recogniser idle decodes with the grammar views only, and the pool grows one young
    recogniser at a time."""
    idle: list[tuple[Any, float, float]] = field(default_factory=list)
    """Recognisers waiting: (recogniser, audio seconds decoded, its word clock)."""
    busy: int = 0
    created: int = 0
    retired: int = 0
    shed: int = 0
    """Streams that decoded with the grammar only: every slot busy, no warm recogniser and
    `young_max` young ones busy, or the worker behind (`ivr.asr.worker`)."""
    _young: set[int] = field(default_factory=set)
    """ids of the young recognisers lent."""

    def acquire(self, *, force: bool = False) -> tuple[Any, float, float] | None:
        """(recogniser, audio seconds decoded, word clock), or None when none may be lent.

        The warmest idle recogniser is lent first. With `force` a recogniser is lent or built
        whatever the limits (a stream with no grammar has nothing else to decode with); one
        built beyond `slots` is retired when returned.
        """
        warmest = max(range(len(self.idle)), key=lambda i: self.idle[i][1], default=None)
        young = warmest is None or self.idle[warmest][1] < self.young_s
        if not force and young and len(self._young) >= self.young_max:
            self.shed += 1
            return None
        if warmest is not None:
            found = self.idle.pop(warmest)
        elif self.busy >= self.slots and not force:
            self.shed += 1
            return None
        else:
            self.created += 1
            found = (self.make(), 0.0, 0.0)
        self.busy += 1
        if young:
            self._young.add(id(found[0]))
        return found

    def release(self, rec: Any, used_s: float, *, dirty: bool, clock_s: float = 0.0) -> None:
        """Return a recogniser; `dirty` when its utterance was abandoned before the final."""
        self.busy -= 1
        self._young.discard(id(rec))
        grown = rss_mb() - self.baseline_mb > self.memory_mb
        if used_s >= self.life_s or grown or self.busy + len(self.idle) >= self.slots:
            self.retired += 1
            del rec
            _malloc_trim()
            return
        if dirty:
            rec.Reset()
        self.idle.append((rec, used_s, clock_s))


@dataclass
class GrammarPool:
    """Warm grammar recognisers, kept per grammar and lent to streams.

    A grammar recogniser builds its decoding graph on the fly as it decodes; a reused one has
    it built already and decodes faster, with the same words (measured: see
    bench/results/speech_tuning.md). A node's grammar is the same for every caller at that
    node, so recognisers are kept per grammar, at most `idle_max` idle in all (least recently
    used dropped), each retired after `life_s` of audio.
    """

    make: Any
    """Builds a new recogniser for a grammar."""
    idle_max: int = 48
    life_s: float = 3600.0
    idle: dict[tuple[str, ...], list[tuple[Any, float, float]]] = field(default_factory=dict)
    """Per grammar: (recogniser, audio seconds decoded, its word clock)."""
    created: int = 0
    reused: int = 0

    def acquire(self, grammar: tuple[str, ...]) -> tuple[Any, float, float]:
        """(recogniser, audio seconds decoded, word clock) for `grammar`."""
        waiting = self.idle.get(grammar)
        if waiting:
            self.reused += 1
            found = waiting.pop()
            if not waiting:
                del self.idle[grammar]
            return found
        self.created += 1
        return self.make(grammar), 0.0, 0.0

    def release(self, grammar: tuple[str, ...], rec: Any, used_s: float, *, dirty: bool,
                clock_s: float) -> None:
        """Return a recogniser; `dirty` when its utterance was abandoned before the final."""
        if used_s >= self.life_s:
            return
        if dirty:
            rec.Reset()
        self.idle.setdefault(grammar, []).append((rec, used_s, clock_s))
        self.idle[grammar] = self.idle.pop(grammar)  # most recently used last
        while sum(len(v) for v in self.idle.values()) > self.idle_max:
            oldest = next(iter(self.idle))
            self.idle[oldest].pop(0)
            if not self.idle[oldest]:
                del self.idle[oldest]

