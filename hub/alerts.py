"""When admins get a SYSTEM_ALERT: the rules, with no I/O.

Officer presence (a counter open with no officer connected for too long), a
long queue (per queue, however many counters serve it), and device problems, each alerted once until it clears, so a
device that re-reports after reconnecting or a queue that stays long does not
repeat the alert. Every method takes the moment it acts at and returns the
alerts to raise; the hub sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.site_config import AlertThresholds

# DEVICE_STATUS components as admins read them in a SYSTEM_ALERT.
DEVICE_COMPONENT_NAMES = {"printer": "máy in", "gpio": "nút bấm và đèn (GPIO)", "display": "màn hình"}


@dataclass(frozen=True)
class Alert:
    alert_type: str
    counter_id: int | None
    message: str
    severity: str


@dataclass(frozen=True)
class CounterLook:
    """What the rules need to know of a counter."""

    counter_id: int
    name: str
    status: str


@dataclass(frozen=True)
class QueueLook:
    """What the rules need to know of a queue: its length and the counters (by number) that serve it."""

    queue_id: int
    name: str
    waiting: int
    counter_ids: tuple[int, ...]
    counter_numbers: tuple[int, ...]


class AlertRules:
    """The alerting state of one hall: who is present, what was alerted already."""

    def __init__(self, thresholds: AlertThresholds, counter_ids: Iterable[int], now: datetime):
        self.thresholds = thresholds
        self._officers_at: dict[int, int] = {}
        # Counters with no officer connected, since when (every counter, at start).
        self._absent_since: dict[int, datetime] = dict.fromkeys(counter_ids, now)
        self._offline_alerted: set[int] = set()
        self._high_queue_alerted: set[int] = set()
        # (device, component) -> (status, code) of each device problem admins were alerted to.
        self._device_problems: dict[tuple[str, str], tuple[str, str]] = {}

    # --- officer presence ------------------------------------------------------------

    def officer_connected(self, counter_id: int) -> bool:
        return self._officers_at.get(counter_id, 0) > 0

    def officer_arrived(self, counter_id: int) -> None:
        self._officers_at[counter_id] = self._officers_at.get(counter_id, 0) + 1
        self._absent_since.pop(counter_id, None)
        self._offline_alerted.discard(counter_id)

    def officer_left(self, counter_id: int, now: datetime) -> None:
        left = self._officers_at.get(counter_id, 1) - 1
        self._officers_at[counter_id] = left
        if left <= 0:
            self._absent_since[counter_id] = now

    def counters_unattended(self, counters: Iterable[CounterLook], now: datetime) -> list[Alert]:
        """Active counters that have had no officer for the threshold, each alerted once until one arrives."""
        minutes = self.thresholds.counter_offline_minutes
        limit = timedelta(minutes=minutes)
        alerts = []
        for counter in counters:
            since = self._absent_since.get(counter.counter_id)
            if since is None or counter.status != "active" or counter.counter_id in self._offline_alerted:
                continue
            if now - since >= limit:
                self._offline_alerted.add(counter.counter_id)
                alerts.append(Alert(
                    "counter_offline", counter.counter_id,
                    f"Quầy {counter.counter_id} ({counter.name}) không có cán bộ kết nối trong {minutes:g} phút",
                    "warning",
                ))
        return alerts

    def counter_status_changed(self, counter_id: int, status: str) -> None:
        if status != "active":
            # Alert again if it is opened later and still nobody comes.
            self._offline_alerted.discard(counter_id)

    # --- queue length --------------------------------------------------------------------

    def queue_length(self, queue: QueueLook) -> Alert | None:
        """An alert when a queue first grows past the threshold; quiet again once it is back under.

        One alert per queue, however many counters serve it; its ``counter_id`` is the queue's
        first counter (a seed console shows an alert by counter).
        """
        threshold = self.thresholds.high_queue
        if queue.waiting > threshold and queue.queue_id not in self._high_queue_alerted:
            self._high_queue_alerted.add(queue.queue_id)
            counters = ", ".join(map(str, queue.counter_numbers))
            return Alert("high_queue", queue.counter_ids[0] if queue.counter_ids else None,
                         f"Hàng chờ {queue.name} (quầy {counters}) có {queue.waiting} người chờ, "
                         f"vượt ngưỡng {threshold}", "warning")
        if queue.waiting <= threshold:
            self._high_queue_alerted.discard(queue.queue_id)
        return None

    def day_rolled(self) -> None:
        self._high_queue_alerted.clear()

    # --- devices ---------------------------------------------------------------------------

    def device_status(self, device: str, where: str, component: str, status: str, code: str,
                      message: str) -> Alert | None:
        """A device's report: an alert for a new problem or for a recovery; None for a problem already told."""
        key = (device, component)
        previous = self._device_problems.get(key)
        component_name = DEVICE_COMPONENT_NAMES[component]
        if status == "ok":
            if previous is None:
                return None
            del self._device_problems[key]
            return Alert("system_error", None, f"{where}: {component_name} đã hoạt động bình thường trở lại", "info")
        if previous == (status, code):
            return None  # the same problem again (a device re-reports after reconnecting): one alert is enough
        self._device_problems[key] = (status, code)
        return Alert("system_error", None, f"{where}: {component_name}: {message or code}",
                     "critical" if status == "fault" else "warning")
