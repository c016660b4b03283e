"""`GET /metrics`: the desk's figures in Prometheus text format (prometheus-client).

One registry per desk (no global state): queue depth per queue and status, read from the queue
when scraped; takes, closes (per disposition), releases, transfers and failed logins counted by
this process; the live page streams open now. Labels are queue names, statuses and
dispositions only: no caller text, no agent names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..handoff import QueueStats

__all__ = ["CONTENT_TYPE", "DeskMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format."""


class _Depth(Collector):
    """Queue depth, read from the queue at each scrape."""

    def __init__(self, stats: Callable[[], QueueStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("ivr_desk_queue_depth", "Callers in a queue, by status",
                                  labels=["queue", "status"])
        oldest = GaugeMetricFamily("ivr_desk_queue_oldest_wait_seconds",
                                   "Age of the oldest waiting caller", labels=["queue"])
        for c in self._stats().queues:
            depth.add_metric([c.queue, "waiting"], c.waiting)
            depth.add_metric([c.queue, "taken"], c.taken)
            oldest.add_metric([c.queue], c.oldest_waiting_seconds or 0.0)
        yield depth
        yield oldest


class DeskMetrics:
    """The desk's counters and gauges, and their text for a scrape.

    Args:
        stats: Reads the queue's figures (called at each scrape, in a worker thread).
    """

    def __init__(self, stats: Callable[[], QueueStats]) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they only add noise to a scrape
        self.registry = CollectorRegistry()
        self.takes = Counter("ivr_desk_takes", "Callers taken by agents at this desk",
                             registry=self.registry)
        self.closes = Counter("ivr_desk_closes", "Callers closed by agents at this desk",
                              ["disposition"], registry=self.registry)
        self.releases = Counter("ivr_desk_releases", "Callers released back to their queue",
                                registry=self.registry)
        self.transfers = Counter("ivr_desk_transfers", "Callers transferred to another queue",
                                 registry=self.registry)
        self.login_failures = Counter("ivr_desk_login_failures",
                                      "Failed or throttled logins", registry=self.registry)
        self.sse_clients = Gauge("ivr_desk_sse_clients", "Live page streams open now",
                                 registry=self.registry)
        self.registry.register(_Depth(stats))

    def text(self) -> bytes:
        """The Prometheus text of every metric (reads the queue: call in a worker thread)."""
        return generate_latest(self.registry)
