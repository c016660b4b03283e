"""What the desk tests share: a floor (real SQLite queue, the bank flow), agents, handoffs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from ivr.desk.agents import AgentStore
from ivr.desk.commands import build_desk
from ivr.desk.pages import Desk
from ivr.flow import Flow
from ivr.handoff import HandoffQueue, open_queue
from ivr.types import Candidate, Handoff, Priority, Slot

PASSWORD = "correct horse battery"
FAST_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id with small costs: the same code path, fast enough for unit tests."""

AGENTS = {
    "alice": ("agent", frozenset({"fraud", "en", "zh"})),
    "bob": ("agent", frozenset({"en"})),
    "sue": ("supervisor", frozenset({"en", "zh", "ko"})),
}
"""alice handles fraud in English and Chinese; bob only general English callers."""

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
CARD = "4111 1111 1111 1234"


@dataclass
class Floor:
    """A desk over a fresh queue file, with its agents."""

    desk: Desk
    queue: HandoffQueue
    queue_path: Path
    agents_path: Path


def make_floor(tmp: Path, flow: Flow, *, lease_s: float = 60.0,
               queue_url: str | None = None) -> Floor:
    """A desk over `queue_url` (default: a new SQLite file in `tmp`)."""
    queue_path = tmp / "queue.sqlite3"
    agents_path = tmp / "agents.sqlite3"
    store = AgentStore(agents_path, hasher=FAST_HASH)
    for name, (role, skills) in AGENTS.items():
        store.add(name, role, skills, PASSWORD)
    queue = open_queue(queue_url or queue_path)
    return Floor(build_desk(queue, flow, store, lease_s=lease_s), queue, queue_path,
                 agents_path)


def handoff(call_id: str, queue: str = "general", lang: str = "en", *,
            heard: tuple[str, ...] = ("I lost my card",), reason: str = "low_confidence",
            slots: tuple[Slot, ...] = ()) -> Handoff:
    priority = Priority.URGENT if queue == "fraud" else Priority.NORMAL
    return Handoff(call_id=call_id, queue=queue, priority=priority, reason=reason,
                   lang=lang,  # type: ignore[arg-type]
                   heard=heard, candidates=(Candidate("card_loss", 0.62),
                                            Candidate("card_retained", 0.41)),
                   path=("root", "card_loss"), slots=slots, intent="card_loss")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)
