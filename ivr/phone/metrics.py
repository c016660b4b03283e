"""`/metrics` of `ivr serve` in the Prometheus text format (prometheus-client).

    ivr_calls_in_progress                     calls the driver is running now
    ivr_calls_total{outcome}                  calls ended: node, handoff, hangup (or error)
    ivr_transfers_total{result}               transferred | transfer_failed
    ivr_decisions_total{kind}                 turn decisions: accept, confirm, reprompt, dtmf, …
    ivr_decision_latency_seconds              end of speech → decision, per spoken turn
    ivr_queue_waiting{queue}                  handoff records waiting (queue.stats() at scrape)
    ivr_queue_taken{queue}                    handoff records taken by an agent

Labels carry only outcome kinds and queue names: never words, numbers or keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ivr.call import CallResult
from ivr.errors import UsageError

__all__ = ["LATENCY_BUCKETS", "ServeMetrics"]

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0)
"""Seconds; 0.4 is the issue's p95 target for end of speech → decision."""


class _QueueDepth(Collector):
    """Reads the handoff queue's counts when scraped (a failing queue gives no samples)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily("ivr_queue_waiting", "Handoff records waiting for an "
                                    "agent, per queue", labels=["queue"])
        taken = GaugeMetricFamily("ivr_queue_taken", "Handoff records taken by an agent, "
                                  "per queue", labels=["queue"])
        try:
            stats = self.queue.stats()
        except Exception as exc:  # a scrape must not fail because the queue did
            log.warning("metrics: queue stats failed: %s", type(exc).__name__)
            return
        for counts in stats.queues:
            waiting.add_metric([counts.queue], counts.waiting)
            taken.add_metric([counts.queue], counts.taken)
        yield waiting
        yield taken


class ServeMetrics:
    """The metrics of one `ivr serve` process (own registry: tests may make several)."""

    def __init__(self, queue: Any = None) -> None:
        self.registry = CollectorRegistry()
        self.in_progress = Gauge("ivr_calls_in_progress", "Calls in progress",
                                 registry=self.registry)
        self.calls = Counter("ivr_calls", "Calls ended, by outcome", ["outcome"],
                             registry=self.registry)
        self.transfers = Counter("ivr_transfers", "Blind transfers (REFER), by result",
                                 ["result"], registry=self.registry)
        self.decisions = Counter("ivr_decisions", "Turn decisions, by kind", ["kind"],
                                 registry=self.registry)
        self.latency = Histogram("ivr_decision_latency_seconds",
                                 "End of the caller's speech to the decision, per turn",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        if queue is not None and hasattr(queue, "stats"):
            self.registry.register(_QueueDepth(queue))
        self._server: Any = None

    def observe(self, what: str, result: CallResult | None) -> None:
        """The driver's hook: "start" when a call begins, "end" with its result."""
        if what == "start":
            self.in_progress.inc()
            return
        self.in_progress.dec()
        if result is None:  # the call failed before it had a result
            self.calls.labels("error").inc()
            return
        self.calls.labels(result.outcome.type).inc()
        for turn in result.turns:
            self.decisions.labels(turn.decision).inc()
        for seconds in result.latencies:
            self.latency.observe(seconds)
        for event in result.trace:
            if event.kind in ("transferred", "transfer_failed"):
                self.transfers.labels(event.kind).inc()

    def serve(self, host: str, port: int) -> int:
        """Serve `/metrics` over HTTP on a thread; the port listened on."""
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise UsageError(f"cannot serve --metrics on {host}:{port}: "
                             f"{exc.strerror or exc}") from None
        bound: int = self._server.server_address[1]
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
