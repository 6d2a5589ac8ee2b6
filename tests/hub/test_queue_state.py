"""The pure queue (PROTOCOL.md Version 2), without sockets or a database.

Every change is planned, then applied (as the hub does after the commit) or
released (as after a failed commit), so these tests also show that a plan
alone changes nothing anyone can see.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from hub.queue_state import (
    DONE,
    EXPIRED,
    NO_SHOW,
    WAITING,
    Change,
    HallQueue,
    QueueError,
    minutes_up,
)
from hub.site_config import CounterConfig, Procedure, QueueConfig, SiteConfig, sample_site

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


def hall(site: SiteConfig | None = None) -> HallQueue:
    site = site or sample_site()
    return HallQueue(site, T0.astimezone(site.tz).date())


@pytest.fixture
def queue() -> HallQueue:
    return hall()


def applied(queue: HallQueue, change: Change) -> Change:
    queue.apply(change)
    return change


def issue(queue: HallQueue, at: datetime = T0, *, procedure_id: int | None = None, counter_id: int | None = None,
          queue_id: int | None = None, priority: bool = False, request_id: str | None = None,
          kiosk: str = "kiosk-001"):
    if procedure_id is None and counter_id is None and queue_id is None:
        counter_id = 1
    change = queue.plan_issue(at, code=f"code-{queue.next_ticket_id:04d}xx", procedure_id=procedure_id,
                              counter_id=counter_id, queue_id=queue_id, priority=priority,
                              priority_reason="elderly" if priority else None, request_id=request_id,
                              kiosk_id=kiosk)
    return applied(queue, change).ticket


def call(queue: HallQueue, counter_id: int, at: datetime = T0, **kw):
    return applied(queue, queue.plan_call(at, counter_id, actor="canbo", **kw))


def numbers_called(queue: HallQueue, counter_id: int, times: int, at: datetime = T0) -> list[int | None]:
    called = []
    for _ in range(times):
        change = call(queue, counter_id, at)
        called.append(change.ticket.number if change.kind != "queue_empty" else None)
    return called


# --- numbering ---------------------------------------------------------------------------------


def test_numbers_count_per_queue_from_the_queues_start(queue):
    start_2 = queue.site.queue(2).start_number
    assert [issue(queue).number for _ in range(3)] == [1, 2, 3]
    assert issue(queue, procedure_id=201).number == start_2
    assert issue(queue, counter_id=5).number == start_2 + 1, "counter 5 serves queue 2: one numbering"
    assert issue(queue).number == 4
    assert [t.ticket_id for t in queue.waiting_tickets(1)] == [1, 2, 3, 6]


def test_a_request_names_a_procedure_a_queue_or_a_seed_counter(queue):
    by_procedure = issue(queue, procedure_id=202)
    assert (by_procedure.queue_id, by_procedure.procedure_name) == (2, queue.site.procedure(202).name)
    assert issue(queue, queue_id=4).procedure_name == queue.site.procedures_of(4)[0].name
    assert issue(queue, counter_id=3).queue_id == 3, "a counter alone means its first queue"
    for bad in ({"procedure_id": 999}, {"queue_id": 99}, {"counter_id": 99},
                {"procedure_id": 202, "queue_id": 1}, {"procedure_id": 202, "counter_id": 1}):
        with pytest.raises(QueueError) as err:
            queue.plan_issue(T0, code="x", **bad)
        assert err.value.code == "COUNTER_NOT_FOUND", bad


def test_a_plan_changes_nothing_until_it_is_applied_and_a_release_leaves_no_trace(queue):
    issue(queue)
    before = (queue.next_ticket_id, queue.queues[1].next_number, queue.queue_view(1))
    change = queue.plan_issue(T0, code="doomedcode", counter_id=1, request_id="r-1", kiosk_id="kiosk-001")
    assert queue.queue_view(1).waiting_count == 1 and queue.find_request("kiosk-001", "r-1") is None
    queue.release(change)  # the commit failed
    assert (queue.next_ticket_id, queue.queues[1].next_number, queue.queue_view(1)) == before
    assert issue(queue, request_id="r-1").number == 2, "the number is given again: nobody was told of it"


def test_request_ids_belong_to_their_kiosk(queue):
    first = issue(queue, request_id="k-7f3a", kiosk="kiosk-001")
    assert queue.find_request("kiosk-001", "k-7f3a") is first
    assert queue.find_request("kiosk-002", "k-7f3a") is None
    assert issue(queue, request_id="k-7f3a", kiosk="kiosk-002") is not first


# --- who is called next ----------------------------------------------------------------------------


def test_two_counters_share_one_line_longest_waiting_first(queue):
    for _ in range(4):
        issue(queue, queue_id=2)
    assert call(queue, 2).ticket.number == 2001
    assert call(queue, 5).ticket.number == 2002
    assert call(queue, 2).ticket.number == 2003, "2's call closes 2001 and takes the next of the shared line"
    assert queue.ticket_by_number(2001).status == DONE
    assert queue.queue_view(5).current_number == 2002 and queue.queue_view(2).waiting_count == 1


def test_a_ticket_is_never_current_at_two_counters_even_when_they_plan_at_once(queue):
    issue(queue, queue_id=2)
    issue(queue, queue_id=2)
    # Both counters decide before either commit is done (the hub's commits run side by side).
    at_2 = queue.plan_call(T0, 2, actor="a")
    at_5 = queue.plan_call(T0, 5, actor="b")
    assert at_2.ticket.number == 2001 and at_5.ticket.number == 2002
    queue.apply(at_5)
    queue.release(at_2)  # counter 2's write failed: its ticket waits again, first in line
    assert queue.ticket_by_number(2001).status == WAITING
    assert [t.number for t in queue.waiting_tickets(2)] == [2001]
    assert call(queue, 2).ticket.number == 2001


def test_priority_first_but_never_more_than_the_streak_in_a_row(queue):
    site = dataclasses.replace(sample_site(), priority_streak=2)
    queue = hall(site)
    for _ in range(2):
        issue(queue, queue_id=1)
    for _ in range(4):
        issue(queue, queue_id=1, priority=True)
    # Normal 1, 2 waited longest; priority 3..6 go first, two in a row, then a normal one.
    assert numbers_called(queue, 1, 6) == [3, 4, 1, 5, 6, 2]


def test_the_backup_queue_is_served_only_when_the_own_queues_are_empty(queue):
    issue(queue, queue_id=2)  # 2001: counter 3's backup queue
    issue(queue, queue_id=3)  # 3001: counter 3's own
    assert numbers_called(queue, 3, 3) == [3001, 2001, None]
    assert queue.ticket_by_number(2001).counter_id == 3


def test_a_counter_with_several_queues_takes_the_longest_waiting_across_them():
    site = dataclasses.replace(sample_site(), counters=(
        CounterConfig(id=1, name="Một cửa", queue_ids=(1, 2, 3, 4)),
        *sample_site().counters[1:],
    ))
    queue = hall(site)
    issue(queue, queue_id=3)
    issue(queue, queue_id=1)
    issue(queue, queue_id=2)
    assert numbers_called(queue, 1, 4) == [3001, 1, 2001, None]


def test_calling_with_nobody_waiting_still_closes_the_current_ticket(queue):
    issue(queue)
    call(queue, 1)
    empty = queue.plan_call(T0 + timedelta(minutes=4), 1, actor="canbo")
    assert empty.kind == "queue_empty" and empty.closed is not None and empty.closed.status == DONE
    queue.apply(empty)
    assert queue.counters[1].current is None and queue.ticket_by_number(1).status == DONE
    assert queue.plan_call(T0, 1, actor="canbo").closed is None, "nothing left to close"


def test_recall_and_call_a_given_number(queue):
    for _ in range(3):
        issue(queue)
    call(queue, 1)
    recall = call(queue, 1, ticket_number=1)
    assert recall.recall and recall.ticket.call_count == 2 and queue.counters[1].current.number == 1
    out_of_order = call(queue, 1, ticket_number=3)
    assert out_of_order.ticket.number == 3 and out_of_order.closed.number == 1
    assert [t.number for t in queue.waiting_tickets(1)] == [2]
    with pytest.raises(QueueError) as err:
        queue.plan_call(T0, 1, ticket_number=2001, actor="canbo")
    assert err.value.code == "TICKET_NOT_FOUND", "a number of a queue this counter does not serve"


def test_a_paused_counter_refuses_calls_and_a_queue_with_no_open_counter_refuses_tickets(queue):
    applied(queue, queue.plan_status(T0, 1, "paused", "Đi họp", "admin"))
    with pytest.raises(QueueError) as err:
        queue.plan_call(T0, 1, actor="canbo")
    assert err.value.code == "COUNTER_PAUSED"
    with pytest.raises(QueueError) as err:
        queue.plan_issue(T0, code="x", queue_id=1)
    assert err.value.code == "COUNTER_PAUSED"
    applied(queue, queue.plan_status(T0, 2, "paused", "Nghỉ trưa", "admin"))
    assert issue(queue, queue_id=2).number == 2001, "counter 5 still serves queue 2"


def test_choosing_the_next_ticket_is_logarithmic_with_thousands_waiting():
    """5,000 waiting across 20 queues: each call reads a few line heads (no scan of the line)."""
    queues = tuple(QueueConfig(id=q, name=f"Hàng {q}", start_number=q * 1000) for q in range(1, 21))
    site = dataclasses.replace(
        sample_site(), queues=queues, fields=(),
        procedures=tuple(Procedure(id=q, name=f"Thủ tục {q}", queue_id=q) for q in range(1, 21)),
        counters=tuple(CounterConfig(id=c, name=f"Quầy {c}", queue_ids=(c, c % 20 + 1)) for c in range(1, 21)))
    queue = hall(site)
    for i in range(5000):
        issue(queue, queue_id=i % 20 + 1, priority=i % 7 == 0)
    reads = 0
    original = queue._head

    def counting(lines):
        nonlocal reads
        lines = list(lines)
        reads += len(lines)
        return original(lines)

    queue._head = counting  # type: ignore[method-assign]
    call(queue, 1)
    assert reads <= 4, "two own queues: a priority and a normal head each"


# --- the officer's actions ---------------------------------------------------------------------------


def test_finish_and_no_show_close_the_current_ticket_and_a_no_show_can_return_first_in_line(queue):
    for _ in range(3):
        issue(queue)
    call(queue, 1)
    applied(queue, queue.plan_action(T0, 1, "no_show", actor="canbo"))
    assert queue.ticket_by_number(1).status == NO_SHOW and queue.counters[1].current is None
    with pytest.raises(QueueError) as err:
        queue.plan_action(T0, 1, "finish", actor="canbo")
    assert err.value.code == "TICKET_NOT_FOUND", "nothing being served"
    call(queue, 1)
    applied(queue, queue.plan_action(T0, 1, "finish", actor="canbo"))
    assert queue.ticket_by_number(2).status == DONE and queue.served_today == 1
    returned = applied(queue, queue.plan_action(T0, 1, "return", actor="canbo", ticket_number=1))
    assert returned.ticket.status == WAITING
    assert [t.number for t in queue.waiting_tickets(1)] == [1, 3], "a late citizen goes first"
    with pytest.raises(QueueError) as err:
        queue.plan_action(T0, 1, "return", actor="canbo", ticket_number=3)
    assert err.value.code == "INVALID_MESSAGE", "only a no-show returns"


def test_a_transfer_keeps_the_number_and_goes_ahead_of_later_tickets_of_the_new_queue(queue):
    issue(queue, queue_id=2)  # 2001, issued before it
    first = issue(queue, queue_id=1)  # ticket 1
    issue(queue, queue_id=1)
    later = issue(queue, queue_id=2)  # 2002, issued after it
    call(queue, 1)
    moved = applied(queue, queue.plan_action(T0, 1, "transfer", actor="canbo", to_counter_id=5)).ticket
    assert (moved.ticket_id, moved.number, moved.queue_id, moved.status) == (first.ticket_id, 1, 2, WAITING)
    assert moved.transfers == 1 and moved.origin_queue_id == 1
    assert [t.number for t in queue.waiting_tickets(2)] == [2001, 1, later.number]
    with pytest.raises(QueueError):
        queue.plan_action(T0, 1, "transfer", actor="canbo", to_queue_id=99)


def test_service_times_feed_the_wait_estimate_per_queue_divided_by_its_open_counters(queue):
    minutes = queue.site.default_service_minutes
    for _ in range(4):
        issue(queue, queue_id=2)
    assert queue.estimate_wait_minutes(2, 4) == minutes_up(4 * minutes * 60 / 2), "two counters serve queue 2"
    call(queue, 2, T0)
    applied(queue, queue.plan_action(T0 + timedelta(minutes=2), 2, "finish", actor="canbo"))
    assert queue.average_service_seconds(2) == 120
    assert queue.estimate_wait_minutes(2, 3) == 3  # 3 x 2 min over 2 counters
    applied(queue, queue.plan_status(T0, 5, "paused", "Nghỉ", "admin"))
    assert queue.estimate_wait_minutes(2, 3) == 6
    assert queue.average_service_seconds(1) == minutes * 60, "other queues keep the default"


# --- the day -----------------------------------------------------------------------------------------


def test_the_day_turns_at_local_midnight_and_what_was_open_expires(queue):
    issue(queue)
    issue(queue)
    call(queue, 1)
    midnight = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 00:00 on the 26th in Hà Nội
    assert queue.plan_roll_day(midnight - timedelta(seconds=1)) is None
    change = queue.plan_roll_day(midnight)
    assert {t.status for t in change.tickets} == {EXPIRED} and len(change.events) == 2
    assert queue.service_day.day == 25, "nothing changes before it is applied"
    queue.apply(change)
    assert queue.service_day.day == 26 and queue.tickets == {} and queue.counters[1].current is None
    assert issue(queue, midnight).number == 1


def test_a_clock_put_right_carries_the_days_tickets_over_with_their_numbers(queue):
    issue(queue)
    issue(queue)
    call(queue, 1)
    corrected = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    queue.apply(queue.plan_roll_day(corrected, keep_tickets=True))
    assert queue.service_day.day == 26
    assert queue.counters[1].current.number == 1 and [t.number for t in queue.waiting_tickets(1)] == [2]
    assert issue(queue, corrected).number == 3


def test_restore_rebuilds_the_same_queue_in_ticket_order_whatever_the_clock_said(queue):
    a = issue(queue, T0)
    b = issue(queue, T0 - timedelta(minutes=10))  # the clock stepped back between them
    issue(queue, queue_id=2, priority=True)
    call(queue, 5)
    applied(queue, queue.plan_action(T0, 5, "no_show", actor="canbo"))
    applied(queue, queue.plan_action(T0, 5, "return", actor="canbo", ticket_number=2001))
    issue(queue, queue_id=2)
    call(queue, 2)
    again = HallQueue(queue.site, queue.service_day)
    again.restore_tickets([dataclasses.replace(t) for t in queue.tickets.values()])
    assert [t.ticket_id for t in again.waiting_tickets(1)] == [a.ticket_id, b.ticket_id]
    def lines(q: HallQueue) -> list:
        # Wait estimates aside: a re-called ticket's earlier service is not in the tickets table.
        return [dataclasses.replace(q.queue_view(c), average_wait_minutes=0) for c in q.counters]

    assert lines(again) == lines(queue)
    assert again.counters[2].current.number == queue.counters[2].current.number
    assert again.queues[2].next_number == queue.queues[2].next_number and again.next_ticket_id == queue.next_ticket_id
    assert again.plan_call(T0, 5, actor="x").ticket.number == queue.plan_call(T0, 5, actor="x").ticket.number


def test_stats(queue):
    for _ in range(3):
        issue(queue, queue_id=2)
    issue(queue)
    call(queue, 2, T0 + timedelta(minutes=6))
    stats = queue.stats()
    assert (stats.total_tickets_today, stats.waiting_total, stats.served_today) == (4, 3, 0)
    assert stats.average_wait_minutes == 6 and stats.busiest_counter[0] == 2
    assert stats.active_counters == len(queue.site.counters)
