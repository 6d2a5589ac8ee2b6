"""``/metrics`` in the Prometheus text format, read from the hub's live state at scrape time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hub.readout import HubReadout

CONTENT_TYPE = CONTENT_TYPE_LATEST


class HubMetrics:
    """Plain counters the hub bumps on its hot path (no locks: the event loop is one thread)."""

    def __init__(self, hub: HubReadout):
        self._hub = hub
        self.connections_total = 0
        self.frames_in = 0
        self.frames_out = 0
        self.tickets_issued = 0
        self.calls = 0
        self.messages: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def count_message(self, message_type: str) -> None:
        self.messages[message_type] += 1

    def count_error(self, code: str) -> None:
        self.errors[code] += 1

    def render(self) -> str:
        return generate_latest(self._registry).decode()

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        clients = GaugeMetricFamily("qms_connected_clients", "Registered clients by type", labels=["client_type"])
        for client_type, members in hub.clients.audience.items():
            clients.add_metric([client_type], len(members))
        yield clients
        yield GaugeMetricFamily("qms_connections", "Open WebSocket connections", value=len(hub.clients.sessions))
        yield CounterMetricFamily("qms_connections", "WebSocket connections accepted", value=self.connections_total)
        yield CounterMetricFamily("qms_frames_received", "Frames received", value=self.frames_in)
        yield CounterMetricFamily("qms_frames_sent", "Frames sent (one per recipient)", value=self.frames_out)
        yield CounterMetricFamily("qms_tickets_issued", "Tickets issued durably", value=self.tickets_issued)
        yield CounterMetricFamily("qms_calls", "Tickets called", value=self.calls)
        messages = CounterMetricFamily("qms_messages", "Valid messages received by type", labels=["type"])
        for message_type, count in sorted(self.messages.items()):
            messages.add_metric([message_type], count)
        yield messages
        errors = CounterMetricFamily("qms_errors", "ERROR answers by code", labels=["error_code"])
        for code, count in sorted(self.errors.items()):
            errors.add_metric([code], count)
        yield errors
        if hub.queue is not None:
            waiting = GaugeMetricFamily("qms_waiting_tickets", "Tickets waiting by queue", labels=["queue_id"])
            for queue_id, line in hub.queue.queues.items():
                waiting.add_metric([str(queue_id)], line.waiting_count)
            yield waiting
        if hub.store is not None:
            yield CounterMetricFamily("qms_store_commits", "Database transactions committed", value=hub.store.commits)
            yield GaugeMetricFamily("qms_store_healthy", "1 if the last commit succeeded", value=int(hub.store.healthy))
        shipper = hub.shipper
        if shipper is not None and shipper.status.enabled:
            status = shipper.status
            yield GaugeMetricFamily("qms_central_pending_events", "Events not yet confirmed by the province's database",
                                    value=status.pending_events)
            yield GaugeMetricFamily("qms_central_lag_seconds", "Age of the oldest event not yet shipped",
                                    value=status.lag_seconds(hub.clock.now()))
            yield CounterMetricFamily("qms_central_shipped_events", "Events shipped since the hub started",
                                      value=status.shipped_events)
            yield CounterMetricFamily("qms_central_failures", "Failed shipping attempts since the hub started",
                                      value=status.failures)
