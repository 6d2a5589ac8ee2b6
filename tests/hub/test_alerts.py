"""hub.alerts: when admins get a SYSTEM_ALERT, as pure rules (no hub, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts import AlertRules, CounterLook, QueueLook
from hub.site_config import AlertThresholds

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def rules(**thresholds: float) -> AlertRules:
    return AlertRules(AlertThresholds(**thresholds), [1, 2], START)  # type: ignore[arg-type]


def counter(counter_id: int = 1, status: str = "active") -> CounterLook:
    return CounterLook(counter_id, f"Quầy thử {counter_id}", status)


def line(waiting: int, queue_id: int = 2) -> QueueLook:
    return QueueLook(queue_id, "Tư pháp - Hộ tịch", waiting, (2, 5), (2, 5))


def test_an_open_counter_without_an_officer_is_alerted_once_after_the_threshold():
    r = rules(counter_offline_minutes=5)
    assert r.counters_unattended([counter(1), counter(2)], START + timedelta(minutes=4, seconds=59)) == []
    alerts = r.counters_unattended([counter(1), counter(2)], START + timedelta(minutes=5))
    assert [(a.alert_type, a.counter_id, a.severity) for a in alerts] == [
        ("counter_offline", 1, "warning"), ("counter_offline", 2, "warning")]
    assert alerts[0].message == "Quầy 1 (Quầy thử 1) không có cán bộ kết nối trong 5 phút"
    # Not again while nothing changes.
    assert r.counters_unattended([counter(1), counter(2)], START + timedelta(hours=1)) == []


def test_an_officer_present_silences_the_counter_and_leaving_starts_the_wait_again():
    r = rules(counter_offline_minutes=5)
    r.officer_arrived(1)
    r.officer_arrived(1)  # two consoles for one counter
    assert r.officer_connected(1) and not r.officer_connected(2)
    later = START + timedelta(minutes=10)
    assert [a.counter_id for a in r.counters_unattended([counter(1), counter(2)], later)] == [2]
    r.officer_left(1, later)
    assert r.officer_connected(1), "one of the two consoles is still there"
    r.officer_left(1, later)
    assert not r.officer_connected(1)
    assert r.counters_unattended([counter(1)], later + timedelta(minutes=4)) == []
    assert [a.counter_id for a in r.counters_unattended([counter(1)], later + timedelta(minutes=5))] == [1]


def test_a_paused_counter_needs_no_officer_and_is_alerted_again_after_reopening():
    r = rules(counter_offline_minutes=5)
    later = START + timedelta(minutes=6)
    assert r.counters_unattended([counter(1, status="paused")], later) == []
    assert len(r.counters_unattended([counter(1)], later)) == 1
    r.counter_status_changed(1, "paused")
    assert len(r.counters_unattended([counter(1)], later + timedelta(minutes=1))) == 1


def test_a_long_queue_is_alerted_once_per_queue_when_it_crosses_the_threshold_and_again_after_it_shrank():
    r = rules(high_queue=3)
    assert r.queue_length(line(3)) is None
    alert = r.queue_length(line(4))
    assert alert is not None and alert.alert_type == "high_queue" and alert.counter_id == 2
    assert alert.message == "Hàng chờ Tư pháp - Hộ tịch (quầy 2, 5) có 4 người chờ, vượt ngưỡng 3"
    assert r.queue_length(line(9)) is None
    assert r.queue_length(line(4, queue_id=3)) is not None, "another queue is its own alert"
    assert r.queue_length(line(3)) is None
    assert r.queue_length(line(4)) is not None
    r.day_rolled()
    assert r.queue_length(line(5)) is not None, "a new day alerts afresh"


def test_device_problems_are_told_once_and_their_recovery_once():
    r = rules()
    fault = r.device_status("kiosk-001", "kiosk-001 (sảnh)", "printer", "fault", "paper_out", "Máy in hết giấy")
    assert fault is not None and fault.severity == "critical"
    assert fault.message == "kiosk-001 (sảnh): máy in: Máy in hết giấy"
    assert r.device_status("kiosk-001", "kiosk-001 (sảnh)", "printer", "fault", "paper_out", "Máy in hết giấy") is None
    worse = r.device_status("kiosk-001", "kiosk-001", "printer", "warning", "paper_low", "")
    assert worse is not None and worse.severity == "warning" and worse.message.endswith("paper_low")
    # Another device's identical problem is its own alert.
    assert r.device_status("kiosk-002", "kiosk-002", "printer", "warning", "paper_low", "") is not None
    ok = r.device_status("kiosk-001", "kiosk-001", "printer", "ok", "ok", "")
    assert ok is not None and ok.severity == "info" and "đã hoạt động bình thường trở lại" in ok.message
    assert r.device_status("kiosk-001", "kiosk-001", "printer", "ok", "ok", "") is None
