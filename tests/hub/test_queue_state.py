"""The pure queue, without sockets or a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.queue_state import (
    CALLED,
    DONE,
    EXPIRED,
    WAITING,
    HallQueue,
    QueueError,
    minutes_up,
)
from hub.site_config import sample_site

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


@pytest.fixture
def queue() -> HallQueue:
    site = sample_site()
    return HallQueue(site, T0.astimezone(site.tz).date())


def issue(queue: HallQueue, at: datetime, counter_id: int = 1, request_id: str | None = None):
    return queue.issue_ticket(at, code=f"code-{queue.next_ticket_id}", counter_id=counter_id, request_id=request_id)


def test_numbers_count_per_counter_from_the_configured_start(queue):
    site = queue.site
    start_2 = site.counter(2).start_number
    assert [issue(queue, T0).ticket.number for _ in range(3)] == [1, 2, 3]
    assert issue(queue, T0, counter_id=2).ticket.number == start_2
    assert issue(queue, T0).ticket.number == 4
    assert [t.ticket_id for t in queue.waiting_tickets(1)] == [1, 2, 3, 5]


def test_procedure_names_the_counter(queue):
    issued = queue.issue_ticket(T0, code="c", procedure_id=202)
    assert issued.ticket.counter_id == 2
    assert issued.ticket.procedure_name == queue.site.procedure(202).name
    with pytest.raises(QueueError) as err:
        queue.issue_ticket(T0, code="d", procedure_id=202, counter_id=1)
    assert err.value.code == "COUNTER_NOT_FOUND"
    with pytest.raises(QueueError) as err:
        queue.issue_ticket(T0, code="e", counter_id=99)
    assert err.value.code == "COUNTER_NOT_FOUND"


def test_same_request_id_gives_the_same_ticket(queue):
    first = issue(queue, T0, request_id="kiosk-1-abc")
    again = issue(queue, T0 + timedelta(seconds=5), request_id="kiosk-1-abc")
    assert again.created is False and again.ticket is first.ticket
    assert queue.queue_view(1).waiting_count == 1
    assert queue.next_ticket_id == 2


def test_call_next_serves_in_order_and_closes_the_previous(queue):
    for _ in range(3):
        issue(queue, T0)
    first = queue.call(T0 + timedelta(minutes=1), 1, None, "officer01")
    assert first.ticket.number == 1 and first.closed is None and not first.recall
    assert first.ticket.status == CALLED
    second = queue.call(T0 + timedelta(minutes=4), 1, None, "officer01")
    assert second.ticket.number == 2
    assert second.closed is first.ticket and first.ticket.status == DONE
    view = queue.queue_view(1)
    assert (view.current_number, view.waiting_count, view.next_numbers) == (2, 1, [3])


def test_recall_and_call_out_of_order(queue):
    for _ in range(3):
        issue(queue, T0)
    queue.call(T0, 1, None, "o")
    recall = queue.call(T0 + timedelta(seconds=30), 1, 1, "o")
    assert recall.recall and recall.closed is None and recall.ticket.call_count == 2
    jump = queue.call(T0 + timedelta(minutes=1), 1, 3, "o")
    assert jump.ticket.number == 3 and jump.closed.number == 1 and not jump.recall
    assert queue.queue_view(1).next_numbers == [2]
    # A ticket already served can be called back.
    back = queue.call(T0 + timedelta(minutes=2), 1, 1, "o")
    assert back.recall and back.ticket.status == CALLED and back.closed.number == 3
    with pytest.raises(QueueError) as err:
        queue.call(T0, 1, 77, "o")
    assert err.value.code == "TICKET_NOT_FOUND"


def test_empty_queue_and_paused_counter_refuse_and_change_nothing(queue):
    with pytest.raises(QueueError) as err:
        queue.call(T0, 1, None, "o")
    assert err.value.code == "QUEUE_EMPTY"
    issue(queue, T0)
    changed = queue.set_status(T0, 1, "paused", "Nghỉ trưa", "admin")
    assert changed.affected_tickets == 1
    with pytest.raises(QueueError) as err:
        queue.call(T0, 1, None, "o")
    assert err.value.code == "COUNTER_PAUSED"
    with pytest.raises(QueueError) as err:
        issue(queue, T0)
    assert err.value.code == "COUNTER_PAUSED"
    assert queue.queue_view(1).waiting_count == 1
    queue.set_status(T0, 1, "active", "ignored when active", "admin")
    assert queue.counters[1].reason == ""


def test_wait_estimate_uses_the_default_until_service_times_are_measured(queue):
    default = queue.site.default_service_minutes
    for _ in range(4):
        issue(queue, T0)
    assert queue.queue_view(1).average_wait_minutes == minutes_up(4 * default * 60)
    # Two services of 2 minutes each.
    queue.call(T0, 1, None, "o")
    queue.call(T0 + timedelta(minutes=2), 1, None, "o")
    queue.call(T0 + timedelta(minutes=4), 1, None, "o")
    assert queue.average_service_seconds(1) == pytest.approx(120)
    fifth = issue(queue, T0 + timedelta(minutes=4))
    assert fifth.people_ahead == 1 and fifth.estimated_wait_minutes == 2
    assert queue.queue_view(1).average_wait_minutes == 4


def test_stats(queue):
    for _ in range(3):
        issue(queue, T0)
    issue(queue, T0, counter_id=2)
    queue.call(T0 + timedelta(minutes=10), 1, None, "o")
    queue.call(T0 + timedelta(minutes=12), 1, None, "o")
    queue.set_status(T0, 3, "paused", "", "admin")
    stats = queue.stats()
    assert stats.total_tickets_today == 4
    assert stats.served_today == 1
    assert stats.waiting_total == 2
    assert stats.active_counters == len(queue.site.counters) - 1
    assert stats.average_wait_minutes == 11  # waits of 10 and 12 minutes
    assert stats.busiest_counter[0] in (1, 2) and stats.busiest_counter[2] == 1


def test_day_turns_at_local_midnight(queue):
    tz = queue.site.tz
    before = datetime(2026, 11, 25, 23, 59, 30, tzinfo=tz)
    after = datetime(2026, 11, 26, 0, 0, 5, tzinfo=tz)
    queue.roll_day_if_needed(before)
    for _ in range(2):
        issue(queue, before)
    queue.call(before, 1, None, "o")
    assert queue.roll_day_if_needed(before + timedelta(seconds=10)) is None
    rolled = queue.roll_day_if_needed(after)
    assert rolled is not None and rolled.service_day == date(2026, 11, 26)
    assert {t.status for t in rolled.expired} == {EXPIRED} and len(rolled.expired) == 2
    fresh = issue(queue, after)
    assert fresh.ticket.number == queue.site.counter(1).start_number
    assert fresh.ticket.ticket_id == 3  # ids never repeat
    assert queue.queue_view(1).current_number is None
    # 23:59 in Hà Nội is 16:59 UTC: the day is local, not UTC.
    assert queue.service_day_at(datetime(2026, 11, 26, 16, 59, tzinfo=UTC)) == date(2026, 11, 26)
    assert queue.service_day_at(datetime(2026, 11, 26, 17, 1, tzinfo=UTC)) == date(2026, 11, 27)


def test_restore_rebuilds_the_same_queue(queue):
    for _ in range(4):
        issue(queue, T0)
    queue.call(T0 + timedelta(minutes=3), 1, None, "o")
    queue.call(T0 + timedelta(minutes=5), 1, None, "o")
    tickets = list(queue.tickets_by_number.values())
    restored = HallQueue(queue.site, queue.service_day, next_ticket_id=queue.next_ticket_id)
    restored.restore_tickets(tickets)
    assert restored.queue_view(1) == queue.queue_view(1)
    assert restored.stats() == queue.stats()
    assert issue(restored, T0).ticket.number == 5


def test_withdraw_forgets_an_unsaved_ticket(queue):
    issued = issue(queue, T0, request_id="r1")
    queue.withdraw(issued.ticket)
    assert queue.queue_view(1).waiting_count == 0
    assert "r1" not in queue.tickets_by_request
    assert issued.ticket.status == WAITING  # nobody was told of it
