"""Live pages without a polling storm: one queue reader for every open stream (issue 13)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr.desk.floor import Floor, Snapshot
from ivr.desk.live import Hub, sse
from ivr.flow import Flow
from ivr.handoff import open_queue

from .desk_support import handoff


class CountingFloor(Floor):
    """A real floor over a real queue that counts its reads."""

    reads = 0

    def snapshot(self) -> Snapshot:
        self.reads += 1
        return super().snapshot()


def test_twenty_streams_share_one_reader_and_all_see_a_new_caller(tmp_path: Path,
                                                                  bank: Flow) -> None:
    queue = open_queue(tmp_path / "q.sqlite3")
    floor = CountingFloor(queue, bank)

    async def run() -> list[list[tuple[str, ...]]]:
        hub = Hub(floor, interval_s=0.05, refresh_s=60)
        start = asyncio.get_running_loop().time()
        hub.start()
        seen: list[list[tuple[str, ...]]] = [[] for _ in range(20)]

        async def page(i: int) -> None:
            async for snap in hub.updates():
                seen[i].append(tuple(q.handoff.call_id for q in snap.waiting))
                if "c1" in seen[i][-1]:
                    return

        pages = [asyncio.create_task(page(i)) for i in range(20)]
        while floor.reads < 3:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(queue.put, handoff("c1"))
        await asyncio.wait_for(asyncio.gather(*pages), 30)
        await hub.stop()
        elapsed = asyncio.get_running_loop().time() - start
        assert hub.clients == 0
        # at most one read per interval, however many pages are open (20 pages each reading
        # would make it 20 per interval)
        assert floor.reads <= elapsed / 0.05 + 3
        return seen

    seen = asyncio.run(run())
    assert all(s[-1] == ("c1",) for s in seen)
    queue.close()


def test_an_event_with_several_lines_stays_one_event() -> None:
    assert sse("update", "<p>a</p>\n<p>b</p>") == (
        "event: update\ndata: <p>a</p>\ndata: <p>b</p>\n\n")
    assert sse("lost", "") == "event: lost\ndata: \n\n"
