"""The floor as the desk sees it: which queues and callers an agent may see, and their actions.

Skills decide everything an agent sees: a queue is theirs when their skills include all the
skills the flow gives it (`Flow.queue_skills`), and a caller is theirs when the caller's
language is one of the agent's language skills. The queue itself enforces the lease (two
agents never hold one caller); the desk computes the queues and languages and passes them to
`take`. Every call into the queue is blocking: the web handlers run them in worker threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..flow import Flow
from ..handoff import DEFAULT_LEASE_S, AuditEvent, HandoffQueue, QueuedHandoff
from ..handoff.outcome_figures import DEFAULT_TOP, DEFAULT_WINDOW_S, CallFigures, call_figures
from .agents import Agent

__all__ = ["DISPOSITIONS", "Floor", "Snapshot"]

DISPOSITIONS = ("resolved", "callback", "fraud_confirmed", "fraud_cleared", "wrong_queue",
                "caller_hung_up")
"""How an agent may close a call: a fixed list, so no free text (caller data) reaches the
audit trail."""


@dataclass(frozen=True)
class Snapshot:
    """Every waiting and held record at one moment (one read for every open page)."""

    at: float
    """Unix time of the read."""
    waiting: tuple[QueuedHandoff, ...]
    """Waiting records, in serving order."""
    taken: tuple[QueuedHandoff, ...]
    """Records held by agents."""
    calls: int = 0
    """The outcome log's version: grows with every call an engine finished."""

    def key(self) -> tuple[object, ...]:
        """What changed between two snapshots (ids, states, holders, calls ended; not ages)."""
        return (self.calls, *((q.handoff.call_id, q.status, q.taken_by or "")
                              for q in (*self.waiting, *self.taken)))


class Floor:
    """One queue and one flow, shared by every page of the desk.

    Args:
        queue: The human queue the engines file into.
        flow: The flow whose queues, skills and labels the desk shows.
        lease_s: How long a take or a renewal holds a caller.
        clock: Source of Unix time.
    """

    def __init__(self, queue: HandoffQueue, flow: Flow, *, lease_s: float = DEFAULT_LEASE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.flow = flow
        self.lease_s = lease_s
        self.clock = clock

    # -- what an agent may see -----------------------------------------------------------------

    def queues_for(self, agent: Agent) -> tuple[str, ...]:
        """The flow's queues whose skills the agent has, in the flow's order (a supervisor
        sees every queue)."""
        if agent.role == "supervisor":
            return tuple(self.flow.queues)
        return tuple(q for q in self.flow.queues
                     if self.flow.queue_skills.get(q, frozenset()) <= agent.skills)

    def may_see(self, agent: Agent, queue: str) -> bool:
        """Whether `queue` is one of the agent's queues."""
        return queue in self.queues_for(agent)

    def may_serve(self, agent: Agent, record: QueuedHandoff) -> bool:
        """Whether the agent may take this caller: their queue and their language."""
        h = record.handoff
        return self.may_see(agent, h.queue) and (agent.role == "supervisor"
                                                 or h.lang in agent.langs)

    def waiting_for(self, agent: Agent, snap: Snapshot,
                    queue: str | None = None) -> list[QueuedHandoff]:
        """The waiting callers the agent may take (in one of their queues, or all of them)."""
        return [q for q in snap.waiting if self.may_serve(agent, q)
                and (queue is None or q.handoff.queue == queue)]

    def held_by(self, agent: Agent, snap: Snapshot) -> list[QueuedHandoff]:
        """The callers the agent holds now."""
        return [q for q in snap.taken if q.taken_by == agent.name]

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Every waiting and held record now (expired leases first go back in line)."""
        self.queue.expire()
        return Snapshot(self.clock(), tuple(self.queue.list(None, "waiting")),
                        tuple(self.queue.list(None, "taken")), self.queue.outcomes.version())

    def record(self, call_id: str) -> QueuedHandoff | None:
        """One record by call id (any status), or None."""
        return self.queue.get(call_id)

    def history(self, call_id: str) -> list[AuditEvent]:
        """One call's audit trail, oldest first."""
        return self.queue.history(call_id)

    def audit(self, since: float, limit: int = 5000) -> list[AuditEvent]:
        """The floor's audit trail since `since`, oldest first."""
        return self.queue.audit(since, limit)

    def calls(self, window_s: float = DEFAULT_WINDOW_S, top: int = DEFAULT_TOP) -> CallFigures:
        """What the engines did with the calls that ended in the last `window_s` seconds
        (containment, transfers by reason, navigation accuracy, the `top` busiest nodes),
        from the outcome log beside the queue."""
        since = self.clock() - window_s
        return call_figures(self.queue.outcomes.since(since), window_s=window_s, top=top)

    # -- acting --------------------------------------------------------------------------------

    def take_next(self, agent: Agent, queue: str | None = None) -> QueuedHandoff | None:
        """Claim the next caller among the agent's queues (or one of them) in their
        languages; None when nobody waits for them."""
        queues = self.queues_for(agent)
        if queue is not None:
            queues = tuple(q for q in queues if q == queue)
        if not queues:
            return None
        langs = None if agent.role == "supervisor" else agent.langs
        return self.queue.take(list(queues), agent.name, langs=langs, lease_s=self.lease_s)

    def renew(self, agent: Agent, call_id: str) -> bool:
        """Hold the caller for another lease; False once the agent no longer holds them."""
        return self.queue.renew(call_id, agent.name, self.lease_s)

    def release(self, agent: Agent, call_id: str) -> bool:
        """Back to waiting, at their place in line."""
        return self.queue.release(call_id, agent.name)

    def transfer(self, agent: Agent, call_id: str, queue: str) -> bool:
        """To another of the flow's queues (waiting there); False for an unknown queue."""
        if queue not in self.flow.queues:
            return False
        return self.queue.transfer(call_id, agent.name, queue)

    def close(self, agent: Agent, call_id: str, disposition: str) -> bool:
        """Done, with one of `DISPOSITIONS`; False for another disposition."""
        if disposition not in DISPOSITIONS:
            return False
        return self.queue.done(call_id, agent.name, disposition)
