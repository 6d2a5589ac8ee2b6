"""SYSTEM_ALERT for admins and leaders: the alert rules applied to the live hall, and the recent alerts kept.

The rules (``hub.alerts``) decide; this sends what they decide to the
admins, logs it, and keeps the last alerts for the SNAPSHOT of an admin
console that connects later.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from msgspec import Struct

from hub.alerts import Alert, AlertRules, CounterLook, QueueLook
from hub.clock import Clock
from hub.event_log import log_event
from hub.queue_state import CounterRuntime, HallQueue
from protocol import messages as m

RECENT_ALERTS_KEPT = 50


def look(runtime: CounterRuntime) -> CounterLook:
    return CounterLook(runtime.config.id, runtime.config.name, runtime.status)


def queue_look(queue: HallQueue, queue_id: int) -> QueueLook:
    serving = queue.site.counters_serving(queue_id)
    return QueueLook(queue_id, queue.queues[queue_id].config.name, queue.queues[queue_id].waiting_count,
                     tuple(c.id for c in serving), tuple(c.number for c in serving))


class AlertFeed:
    def __init__(self, rules: AlertRules, clock: Clock, to_admins: Callable[[Struct], None]):
        self.rules = rules
        self._clock = clock
        self._to_admins = to_admins
        self.recent: deque[m.SystemAlertPayload] = deque(maxlen=RECENT_ALERTS_KEPT)

    def raise_alert(self, alert: Alert | None) -> None:
        if alert is None:
            return
        payload = m.SystemAlertPayload(alert_type=alert.alert_type, counter_id=alert.counter_id, message=alert.message,
                                       severity=alert.severity, timestamp=m.utc_timestamp(self._clock.now()))
        self.recent.append(payload)
        log_event("alert." + alert.alert_type, logging.WARNING, counter_id=alert.counter_id, severity=alert.severity,
                  message=alert.message)
        self._to_admins(m.SystemAlert(payload))

    def system_error(self, text: str) -> None:
        self.raise_alert(Alert("system_error", None, text, "critical"))

    def check_queue_length(self, queue: HallQueue, queue_id: int) -> None:
        self.raise_alert(self.rules.queue_length(queue_look(queue, queue_id)))

    def check_unattended(self, queue: HallQueue) -> None:
        looks = [look(runtime) for runtime in queue.counters.values()]
        for alert in self.rules.counters_unattended(looks, self._clock.now()):
            self.raise_alert(alert)
