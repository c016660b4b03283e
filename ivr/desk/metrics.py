"""`GET /metrics`: the desk's figures in Prometheus text format (prometheus-client).

One registry per desk (no global state): queue depth per queue and status, and the window's
call figures from the outcome log (calls per outcome kind, containment, transfers per reason,
navigation accuracy and its label count, calls per busiest node), read when scraped; takes,
closes (per disposition), releases, transfers and failed logins counted by this process; the
live page streams open now. Labels are queue names, statuses, dispositions, outcome kinds,
handoff reasons and node ids only: no caller text, no agent names.
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
from ..handoff.outcome_figures import CallFigures

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


class _Calls(Collector):
    """The window's call figures, read from the outcome log at each scrape."""

    def __init__(self, figures: Callable[[], CallFigures]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self._figures()
        window = f"{f.window_s:g}"
        calls = GaugeMetricFamily("ivr_desk_window_calls", "Calls that ended in the window, "
                                  "by outcome", labels=["kind", "window_s"])
        for kind, n in f.by_kind:
            calls.add_metric([kind, window], n)
        transfers = GaugeMetricFamily("ivr_desk_window_transfers", "Calls handed to a human in "
                                      "the window, by reason", labels=["reason", "window_s"])
        for reason, n in f.transfers:
            transfers.add_metric([reason, window], n)
        nodes = GaugeMetricFamily("ivr_desk_window_node_calls", "Calls that ended at a node in "
                                  "the window (the busiest)", labels=["node", "window_s"])
        for node, n in f.busiest:
            nodes.add_metric([node, window], n)
        yield calls
        yield transfers
        yield nodes
        for name, text, value in (
            ("ivr_desk_window_containment_ratio", "Contained calls / calls in the window",
             f.containment),
            ("ivr_desk_window_navigation_accuracy", "Labelled calls that reached their expected "
             "node / labelled calls in the window", f.navigation_accuracy),
            ("ivr_desk_window_labelled_calls", "Calls with a QA label in the window",
             float(f.labelled)),
        ):
            if value is not None:  # no calls, no labels: no sample (not a false 0)
                gauge = GaugeMetricFamily(name, text, labels=["window_s"])
                gauge.add_metric([window], value)
                yield gauge


class DeskMetrics:
    """The desk's counters and gauges, and their text for a scrape.

    Args:
        stats: Reads the queue's figures (called at each scrape, in a worker thread).
        calls: Reads the window's call figures (likewise); None: not exported.
    """

    def __init__(self, stats: Callable[[], QueueStats],
                 calls: Callable[[], CallFigures] | None = None) -> None:
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
        if calls is not None:
            self.registry.register(_Calls(calls))

    def text(self) -> bytes:
        """The Prometheus text of every metric (reads the queue: call in a worker thread)."""
        return generate_latest(self.registry)
