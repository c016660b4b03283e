"""Live pages: one reader of the queue for the whole desk, server-sent events to each page.

The engines file into the queue from other processes (other hosts, with Redis), so the desk
must look: one task reads a `Snapshot` every `interval_s` while at least one page is open and
wakes the page streams when something changed (and every `refresh_s` anyway, so waits shown
keep counting). Each page's stream renders its own part from the shared snapshot and sends it
only when the HTML differs from what that page last got. A browser keeps one `EventSource` per
page and never polls; a hundred open pages still mean one queue read per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from .floor import Floor, Snapshot

__all__ = ["Hub", "sse"]


def sse(event: str, data: str) -> str:
    """One server-sent event: each line of `data` on its own `data:` line."""
    lines = data.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


class Hub:
    """Reads the floor for every open page and tells their streams when it changed.

    Args:
        floor: The queue and flow.
        interval_s: How often the queue is read while pages are open.
        refresh_s: Streams are woken at least this often (ages, keep-alive, lease renewal).
    """

    def __init__(self, floor: Floor, *, interval_s: float = 0.5, refresh_s: float = 5.0) -> None:
        self.floor = floor
        self.interval_s = interval_s
        self.refresh_s = refresh_s
        self.snapshot: Snapshot | None = None
        self.version = 0
        self.clients = 0
        self.error = ""
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()

    def start(self) -> None:
        """Start the reader (in the server's event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the reader and end every stream."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._changed:
            self.version = -1
            self._changed.notify_all()

    def poke(self) -> None:
        """Read the queue now (after this desk changed it: a take, a close)."""
        self._poke.set()

    async def updates(self) -> AsyncIterator[Snapshot]:
        """Snapshots for one stream: the current one at once, then each change or refresh."""
        self.clients += 1
        self.poke()
        try:
            seen = 0

            def moved() -> bool:
                return self.version != seen

            while True:
                async with self._changed:
                    await self._changed.wait_for(moved)
                if self.version < 0:
                    return
                seen = self.version
                if self.snapshot is not None:
                    yield self.snapshot
        finally:
            self.clients -= 1

    async def _run(self) -> None:
        last_key: object = None
        last_push = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if self.clients > 0:
                try:
                    snap = await run_in_threadpool(self.floor.snapshot)
                    self.error = ""
                except Exception as exc:  # the queue is down: say so, keep trying
                    self.error = f"{type(exc).__name__}: {exc}"
                    snap = None
                now = loop.time()
                if snap is not None and (snap.key() != last_key or now - last_push
                                         >= self.refresh_s or self._poke.is_set()):
                    last_key, last_push = snap.key(), now
                    async with self._changed:
                        self.snapshot = snap
                        self.version += 1
                        self._changed.notify_all()
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.interval_s)
