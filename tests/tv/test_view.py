"""The TV's view model (tv_node.view): what is on screen, from the hub mirror and the hub's clock. No pygame.

The mirror is built the way the TV builds it: the hub's messages folded in by
protocol.client.apply_message, in the order the hub sends them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from msgspec.structs import replace as struct_replace

from protocol import messages as m
from protocol.client import HubState, apply_message
from tv_node.view import (
    CONNECTION_LOST_TEXT,
    NO_SHOW_TEXT,
    PAUSED_TEXT,
    PRIORITY_TEXT,
    Banner,
    CallCard,
    Desk,
    build_view,
    clock_texts,
)

# 07:05:09 UTC is 14:05:09 in Hà Nội, a Tuesday.
T0 = datetime(2025, 11, 25, 7, 5, 9, tzinfo=UTC)
DISPLAY = 10
NAMES = {1: "Văn phòng đăng ký đất đai", 2: "Tư pháp - Hộ tịch", 3: "Đăng ký kinh doanh", 5: "Tư pháp - Hộ tịch"}
QUEUE_NAMES = {1: "Đất đai", 2: "Tư pháp - Hộ tịch", 3: "Đăng ký kinh doanh"}
# counter id -> (own queues, backup queues), as in the hub's sample site: line 2 has counters 2 and 5.
SERVES = {1: ((1,), ()), 2: ((2,), ()), 3: ((3,), (2,)), 5: ((2,), ())}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return m.utc_timestamp(at(seconds))


def ticket(number: int, queue_id: int, *, priority: bool = False, label: str = "") -> m.CurrentTicket:
    return m.CurrentTicket(ticket_id=number, ticket_number=number, queue_id=queue_id, priority=priority,
                           called_at=None, ticket_label=label or str(number))


def counter(counter_id: int, current: m.CurrentTicket | None = None, status: str = "active",
            reason: str = "", name: str | None = None) -> m.CounterState:
    own, backup = SERVES[counter_id]
    return m.CounterState(counter_id=counter_id, counter_name=name or NAMES[counter_id], status=status,
                          reason=reason, changed_by="", status_changed_at=None, procedures=[],
                          current_number=current.ticket_number if current else None, waiting_count=0,
                          next_numbers=[], average_wait_time=5, counter_number=counter_id, queue_ids=list(own),
                          backup_queue_ids=list(backup), current_ticket=current)


def line(queue_id: int, upcoming: tuple[int, ...] = (), priority_waiting: int = 0, prefix: str = "") -> m.QueueInfo:
    return m.QueueInfo(queue_id=queue_id, queue_name=QUEUE_NAMES[queue_id],
                       counter_ids=[c for c, (own, _) in SERVES.items() if queue_id in own],
                       backup_counter_ids=[c for c, (_, backup) in SERVES.items() if queue_id in backup],
                       waiting_count=len(upcoming), priority_waiting_count=priority_waiting,
                       next_numbers=list(upcoming), average_wait_time=5, prefix=prefix)


def hall_counters() -> list[m.CounterState]:
    return [counter(1, ticket(12, 1)), counter(2, ticket(2004, 2)), counter(3), counter(5, ticket(2003, 2))]


def hall_queues() -> list[m.QueueInfo]:
    return [line(1, (13, 14)), line(2, (2005, 2006), priority_waiting=1), line(3)]


def snapshot(*, server_time: float = 0.0, counters=None, queues=None, calls=(), announcements=(),
             zone="Asia/Ho_Chi_Minh", site="Trung tâm Phục vụ hành chính công",
             display_counters=()) -> m.Snapshot:
    return m.Snapshot(m.SnapshotPayload(
        site_name=site, server_time=ts(server_time), service_day="2025-11-25", timezone=zone,
        display_duration=DISPLAY, counters=hall_counters() if counters is None else list(counters),
        announcements=list(announcements), recent_calls=list(calls),
        queues=hall_queues() if queues is None else list(queues), display_counters=list(display_counters)))


def record(number: int, counter_id: int, seconds: float) -> m.CallRecord:
    name = NAMES[counter_id]
    return m.CallRecord(ticket_number=number, counter_id=counter_id, counter_name=name,
                        announcement_text=f"Mời khách hàng số {number} đến quầy số {counter_id}", timestamp=ts(seconds))


def notice(message: str, priority: str, sent: float, duration: int = 60, **fields) -> m.AnnouncementOutPayload:
    return m.AnnouncementOutPayload(message=message, priority=priority, duration=duration, target_displays=[],
                                    timestamp=ts(sent), expires_at=ts(sent + duration), **fields)


def connected(message: m.Snapshot, local: float = 0.0) -> HubState:
    """The mirror right after registering: CONNECTION_ACK, then the SNAPSHOT, with our clock at ``local``."""
    state = apply_message(HubState(), m.ConnectionAck(m.ConnectionAckPayload(
        client_id="tv-1", server_time=message.payload.server_time, connected_clients=1)),
        local_time=at(local).timestamp())
    return apply_message(state, message, local_time=at(local).timestamp())


def queue_update(state: HubState, counter_id: int, current: m.CurrentTicket | None,
                 lines: dict[int, tuple[int, ...]], seconds: float) -> HubState:
    """The QUEUE_UPDATE a Version 2 hub sends: the counter's current ticket and each line it serves."""
    own, backup = SERVES[counter_id]
    return apply_message(state, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=counter_id, current_number=current.ticket_number if current else None, waiting_count=0,
        next_numbers=[], average_wait_time=5, counter_name=NAMES[counter_id], status="active",
        queue_ids=[*own, *backup], current_ticket=current,
        queues=[m.QueueLine(queue_id=q, waiting_count=len(n), priority_waiting_count=0, next_numbers=list(n),
                            average_wait_time=5) for q, n in lines.items()])), local_time=at(seconds).timestamp())


def call(state: HubState, number: int, counter_id: int, seconds: float, *, queue_id: int | None = None,
         priority: bool = False, announcement_first: bool = True, name: str | None = None) -> HubState:
    """A call as the hub sends it: TICKET_ANNOUNCEMENT, then CALL_TICKET (the first version: the other way round)."""
    name = name or NAMES[counter_id]
    queue_id = queue_id or SERVES[counter_id][0][0]
    spoken = m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=number, counter_id=counter_id, counter_name=name,
        announcement_text=f"Mời khách hàng số {number} đến quầy số {counter_id}", audio_url=None,
        display_duration=DISPLAY, counter_number=counter_id, queue_id=queue_id, queue_name=QUEUE_NAMES[queue_id],
        priority=priority, ticket_label=str(number)))
    called = m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=number, counter_id=counter_id, counter_name=name,
        called_by=m.CalledBy(user_id=1, username="canbo", full_name=None), timestamp=ts(seconds),
        ticket_id=number, queue_id=queue_id, queue_name=QUEUE_NAMES[queue_id], priority=priority,
        counter_number=counter_id, ticket_label=str(number)))
    for message in ((spoken, called) if announcement_first else (called, spoken)):
        state = apply_message(state, message, local_time=at(seconds).timestamp())
    return state


def ticket_updated(state: HubState, number: int, counter_id: int, action: str, status: str, seconds: float, *,
                   queue_id: int | None = None, from_queue_id: int | None = None) -> HubState:
    queue_id = queue_id or SERVES[counter_id][0][0]
    return apply_message(state, m.TicketUpdated(m.TicketUpdatedPayload(
        ticket_id=number, ticket_number=number, queue_id=queue_id, counter_id=counter_id, status=status,
        priority=False, action=action, by="canbo", timestamp=ts(seconds), queue_name=QUEUE_NAMES[queue_id],
        ticket_label=str(number), from_queue_id=from_queue_id, from_counter_id=counter_id)),
        local_time=at(seconds).timestamp())


def rows(state: HubState, seconds: float):
    return {row.queue_id: row for row in build_view(state, at(seconds)).rows}


# --- the hall ---------------------------------------------------------------------------------


def test_site_name_clock_in_the_site_zone_and_one_row_per_line_of_citizens():
    view = build_view(connected(snapshot()), at(0))
    assert view.site_name == "Trung tâm Phục vụ hành chính công"
    assert (view.clock_text, view.date_text) == ("14:05:09", "Thứ Ba, 25/11/2025")
    assert [(r.queue_id, r.name, r.counters_text, r.next_numbers, r.waiting_count) for r in view.rows] == [
        (1, "Đất đai", "Quầy 1", ("13", "14"), 2),
        (2, "Tư pháp - Hộ tịch", "Quầy 2, 5", ("2005", "2006"), 2),
        (3, "Đăng ký kinh doanh", "Quầy 3", (), 0)]
    assert not any(r.paused or r.called for r in view.rows)
    assert view.has_state and not view.connection_lost
    assert view.calls == () and view.last_call is None and view.announcements == ()


def test_a_line_served_by_two_counters_is_one_row_with_both_desks_and_one_count():
    row = rows(connected(snapshot()), 0)[2]
    assert row.desks == (Desk(2, 2, "2004", False), Desk(5, 5, "2003", False))
    assert (row.waiting_count, row.priority_waiting_count) == (2, 1)
    # Counter 3 helps line 2 only when its own line is empty: listed under its own line, not here.
    assert row.counters_text == "Quầy 2, 5"


def test_a_backup_counter_serving_another_lines_ticket_shows_in_that_lines_row():
    state = queue_update(connected(snapshot()), 3, ticket(2005, 2), {3: (), 2: (2006,)}, seconds=1)
    by_queue = rows(state, 1)
    assert [(d.counter_id, d.serving) for d in by_queue[2].desks] == [(2, "2004"), (5, "2003"), (3, "2005")]
    assert by_queue[3].desks == ()  # its own line's row says nobody is being served there
    assert by_queue[3].counters_text == "Quầy 3"
    assert by_queue[2].next_numbers == ("2006",)


def test_labels_with_the_queues_prefix_and_the_counters_painted_number():
    queues = [line(1, (13, 14), prefix="A"), line(2), line(3)]
    numbered = struct_replace(counter(1, ticket(12, 1, label="A12")), counter_number=7)
    counters = [numbered, counter(2), counter(3), counter(5)]
    row = rows(connected(snapshot(counters=counters, queues=queues)), 0)[1]
    assert row.desks[0].serving == "A12" and row.desks[0].number == 7
    assert row.next_numbers == ("A13", "A14") and row.counters_text == "Quầy 7"


def test_the_clock_is_the_hubs_clock_not_the_tvs():
    # The TV's own clock is an hour and a half behind (a Pi without a clock battery, before NTP).
    state = connected(snapshot(server_time=0.0), local=-5400.0)
    assert round(state.server_time_offset) == 5400
    # build_view without a time uses state.hub_now(): the hub's time, in the site's zone.
    before = state.hub_now()
    view = build_view(state)
    after = state.hub_now()
    assert view.clock_text in {clock_texts(before, "Asia/Ho_Chi_Minh")[0], clock_texts(after, "Asia/Ho_Chi_Minh")[0]}
    local_clock = clock_texts(datetime.now(UTC), "Asia/Ho_Chi_Minh")[0]
    assert view.clock_text != local_clock


def test_the_clock_follows_the_site_zone_and_turns_the_date_at_local_midnight():
    late = datetime(2025, 11, 25, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Hà Nội
    assert clock_texts(late, "Asia/Ho_Chi_Minh") == ("23:59:59", "Thứ Ba, 25/11/2025")
    assert clock_texts(late + timedelta(seconds=1), "Asia/Ho_Chi_Minh") == ("00:00:00", "Thứ Tư, 26/11/2025")
    assert clock_texts(late, "Europe/Paris")[0] == "17:59:59"
    # An unknown zone name falls back to Việt Nam's rather than failing the screen.
    assert clock_texts(late, "Nowhere/Atlantis")[0] == "23:59:59"


def status(state: HubState, counter_id: int, value: str, reason: str = "") -> HubState:
    return apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=counter_id, counter_name=NAMES[counter_id], status=value, reason=reason,
        changed_by="canbo", timestamp=ts(1), affected_tickets=1)))


def test_a_line_whose_counters_are_all_closed_shows_paused_with_the_reason():
    state = status(connected(snapshot()), 1, "paused", "Nghỉ trưa")
    state = status(state, 3, "offline")
    by_queue = rows(state, 2)
    assert (by_queue[1].paused, by_queue[1].reason) == (True, "Nghỉ trưa")
    assert (by_queue[3].paused, by_queue[3].reason) == (True, "")
    assert not by_queue[2].paused
    assert PAUSED_TEXT == "Tạm dừng"
    assert not rows(status(state, 1, "active"), 4)[1].paused


def test_one_closed_counter_of_a_shared_line_is_paused_at_its_desk_only():
    by_queue = rows(status(connected(snapshot()), 5, "paused", "Đi họp"), 2)
    assert not by_queue[2].paused
    assert [(d.counter_id, d.paused) for d in by_queue[2].desks] == [(2, False), (5, True)]


def test_a_hub_of_the_first_version_gives_a_row_per_counter():
    old = m.CounterState(counter_id=4, counter_name="Bảo hiểm xã hội", status="active", reason="", changed_by="",
                         status_changed_at=None, procedures=[], current_number=4001, waiting_count=2,
                         next_numbers=[4002, 4003], average_wait_time=5)
    view = build_view(connected(snapshot(counters=[old], queues=[])), at(0))
    assert [(r.queue_id, r.name, r.counters_text, r.desks, r.next_numbers) for r in view.rows] == [
        (4, "Bảo hiểm xã hội", "Quầy 4", (Desk(4, 4, "4001", False),), ("4002", "4003"))]


# --- calls ------------------------------------------------------------------------------------


def test_a_call_says_the_counters_number_and_is_highlighted_for_display_duration():
    state = call(connected(snapshot()), 2005, 2, seconds=1.0)
    state = queue_update(state, 2, ticket(2005, 2), {2: (2006,)}, seconds=1.0)
    fresh = build_view(state, at(1.1))
    assert fresh.calls == (CallCard(2005, 2, "Tư pháp - Hộ tịch", 2, "2005", flash=True),)
    assert {r.queue_id: r.called for r in fresh.rows} == {1: False, 2: True, 3: False}
    assert [d.called for d in fresh.rows[1].desks] == [True, False]
    # The opening blink alternates every half second, then the highlight stays steady.
    assert [build_view(state, at(1 + age)).calls[0].flash for age in (0.2, 0.7, 1.2, 3.7, 4.5, 9.0)] == \
        [True, False, True, False, False, False]
    assert build_view(state, at(1 + DISPLAY - 0.01)).calls[0].ticket_number == 2005
    over = build_view(state, at(1 + DISPLAY))
    assert over.calls == ()
    assert not any(r.called for r in over.rows)
    assert over.last_call == CallCard(2005, 2, "Tư pháp - Hộ tịch", 2, "2005")


def test_a_priority_call_is_marked():
    state = call(connected(snapshot()), 2005, 5, seconds=1.0, priority=True)
    state = queue_update(state, 5, ticket(2005, 2, priority=True), {2: (2006,)}, seconds=1.0)
    card = build_view(state, at(1.5)).calls[0]
    assert (card.label, card.counter_number, card.priority) == ("2005", 5, True)
    assert rows(state, 1.5)[2].desks[1].priority
    assert PRIORITY_TEXT == "ƯU TIÊN"


def test_a_call_and_its_announcement_are_one_call_whichever_comes_first():
    for announcement_first in (True, False):
        state = call(connected(snapshot()), 2005, 2, seconds=1.0, announcement_first=announcement_first)
        assert len(state.calls) == len(state.recent_calls) == 1, announcement_first
        only = state.calls[0]
        assert (only.timestamp, only.counter_number, only.queue_id) == (ts(1.0), 2, 2)
        assert only.announcement_text == "Mời khách hàng số 2005 đến quầy số 2"
        assert state.recent_calls[0].timestamp == ts(1.0)


def test_calls_close_together_are_all_shown_newest_first_and_a_recall_once():
    state = connected(snapshot())
    state = call(state, 13, 1, seconds=1.0)
    state = call(state, 2005, 2, seconds=2.0)
    state = call(state, 2006, 5, seconds=3.0)
    view = build_view(state, at(4))
    assert [(c.label, c.counter_number) for c in view.calls] == [("2006", 5), ("2005", 2), ("13", 1)]
    # 13 has had its time, the others not yet.
    assert [c.ticket_number for c in build_view(state, at(11.5)).calls] == [2006, 2005]
    recalled = call(state, 2005, 2, seconds=5.0)
    assert [c.ticket_number for c in build_view(recalled, at(5.5)).calls] == [2005, 2006, 13]
    # The recall restarts its time: it outlives the first call of 2005.
    assert [c.ticket_number for c in build_view(recalled, at(13.5)).calls] == [2005]


def test_a_call_timestamped_a_little_ahead_of_our_clock_estimate_counts_as_just_made():
    state = connected(snapshot(calls=[record(2004, 2, seconds=0.3)]))
    assert [c.ticket_number for c in build_view(state, at(0.0)).calls] == [2004]


def test_a_snapshots_call_takes_its_priority_and_label_from_the_counters_current_ticket():
    counters = [counter(1), counter(2, ticket(2004, 2, priority=True, label="B2004")), counter(3), counter(5)]
    state = connected(snapshot(counters=counters, calls=[record(2004, 2, 0.0), record(12, 1, -1.0)]))
    cards = build_view(state, at(1)).calls
    assert [(c.label, c.priority, c.counter_number) for c in cards] == [("B2004", True, 2), ("12", False, 1)]


# --- the serving lifecycle: TICKET_UPDATED ----------------------------------------------------


def test_a_finish_clears_the_counters_number_and_ends_its_call_at_once():
    state = call(connected(snapshot()), 2005, 2, seconds=1.0)
    state = queue_update(state, 2, ticket(2005, 2), {2: (2006,)}, seconds=1.0)
    assert rows(state, 2)[2].desks[0].serving == "2005"
    finished = ticket_updated(state, 2005, 2, "finish", "done", seconds=3.0)
    # The mirror takes the ticket off counter 2 itself: right even before the QUEUE_UPDATE that follows.
    assert finished.counters[2].current_number is None and finished.counters[2].current_ticket is None
    view = build_view(finished, at(3.1))
    assert view.calls == ()
    assert view.rows[1].desks[0] == Desk(2, 2, None, False)
    assert finished.counters[5].current_number == 2003  # the other desk of the line is untouched


def test_calling_the_next_ticket_ends_the_previous_call_of_that_counter():
    state = call(connected(snapshot()), 13, 1, seconds=1.0)
    state = queue_update(state, 1, ticket(13, 1), {1: (14,)}, seconds=1.0)
    # The hub: TICKET_ANNOUNCEMENT, CALL_TICKET, TICKET_UPDATED (13 finished), QUEUE_UPDATE.
    state = call(state, 14, 1, seconds=3.0)
    state = ticket_updated(state, 13, 1, "finish", "done", seconds=3.0)
    state = queue_update(state, 1, ticket(14, 1), {1: ()}, seconds=3.0)
    view = build_view(state, at(3.5))
    assert [c.ticket_number for c in view.calls] == [14]
    assert view.rows[0].desks[0].serving == "14" and view.rows[0].desks[0].called


def test_a_no_show_leaves_the_desk_marked_absent_for_display_duration():
    state = queue_update(connected(snapshot()), 5, ticket(2007, 2), {2: (2005, 2006)}, seconds=1.0)
    state = ticket_updated(state, 2007, 5, "no_show", "no_show", seconds=4.0)
    state = queue_update(state, 5, None, {2: (2005, 2006)}, seconds=4.0)
    desk = rows(state, 5)[2].desks[1]
    assert (desk.counter_id, desk.serving, desk.no_show) == (5, None, "2007")
    assert NO_SHOW_TEXT == "Vắng mặt"
    assert rows(state, 4 + DISPLAY)[2].desks[1].no_show is None
    # The counter calls someone else: the mark goes at once.
    state = call(state, 2005, 5, seconds=6.0)
    state = queue_update(state, 5, ticket(2005, 2), {2: (2006,)}, seconds=6.0)
    assert rows(state, 6.5)[2].desks[1] == Desk(5, 5, "2005", False, called=True)


def test_a_transferred_ticket_leaves_its_counter_and_shows_in_its_new_line():
    state = queue_update(connected(snapshot()), 1, ticket(12, 1), {1: (13, 14)}, seconds=1.0)
    state = ticket_updated(state, 12, 1, "transfer", "waiting", seconds=2.0, queue_id=3, from_queue_id=1)
    # Then a QUEUE_UPDATE for counter 1 and for counter 3, whose line the ticket joined.
    state = queue_update(state, 1, None, {1: (13, 14)}, seconds=2.0)
    state = queue_update(state, 3, None, {3: (12,), 2: (2005, 2006)}, seconds=2.0)
    by_queue = rows(state, 2.5)
    assert by_queue[1].desks[0].serving is None and by_queue[1].desks[0].no_show is None
    assert by_queue[3].next_numbers == ("12",) and by_queue[3].waiting_count == 1


def test_an_update_for_another_ticket_leaves_the_counter_alone():
    state = ticket_updated(connected(snapshot()), 2001, 2, "return", "waiting", seconds=1.0)
    assert state.counters[2].current_number == 2004
    assert rows(state, 1.5)[2].desks[0].serving == "2004"


# --- a TV of some counters only ----------------------------------------------------------------


def test_a_tv_of_some_counters_shows_their_lines_and_calls_only():
    state = connected(snapshot(display_counters=(2, 5)))
    state = call(state, 13, 1, seconds=1.0)
    state = call(state, 2005, 2, seconds=2.0)
    view = build_view(state, at(2.5))
    assert [(r.queue_id, r.counters_text) for r in view.rows] == [(2, "Quầy 2, 5")]
    assert [c.ticket_number for c in view.calls] == [2005]
    state = call(state, 14, 1, seconds=3.0)
    assert build_view(state, at(3.5)).last_call.ticket_number == 2005  # counter 1 is another room's
    # Every other TV sees every line.
    assert len(build_view(replace(state, display_counters=()), at(3.5)).rows) == 3


def test_a_counter_of_the_room_serving_another_rooms_line_shows_that_line():
    state = connected(snapshot(display_counters=(3,)))
    assert [r.queue_id for r in build_view(state, at(0)).rows] == [3]
    state = queue_update(state, 3, ticket(2005, 2), {3: (), 2: (2006,)}, seconds=1.0)
    by_queue = rows(state, 1)
    assert list(by_queue) == [2, 3]
    assert [d.counter_id for d in by_queue[2].desks] == [3]  # not the other room's counters 2 and 5
    assert by_queue[2].counters_text == ""


# --- announcements ----------------------------------------------------------------------------


def test_announcements_are_shown_for_their_duration_high_priority_first():
    old_low = notice("Bãi xe phía sau đã đầy", "low", sent=-10)
    medium = notice("Quầy 2 làm việc cả sáng thứ Bảy", "medium", sent=-5)
    high = notice("Hệ thống tạm ngừng cấp số lúc 16 giờ 30", "high", sent=-4, duration=20)
    newer_medium = notice("Xin giữ trật tự", "medium", sent=-1)
    # In the order the hub keeps them: oldest first.
    state = connected(snapshot(announcements=[old_low, medium, high, newer_medium]))
    view = build_view(state, at(0))
    assert view.announcements == (Banner("Hệ thống tạm ngừng cấp số lúc 16 giờ 30", "high"),
                                  Banner("Xin giữ trật tự", "medium"),
                                  Banner("Quầy 2 làm việc cả sáng thứ Bảy", "medium"),
                                  Banner("Bãi xe phía sau đã đầy", "low"))
    # The high one ends 16 s from now; the others 50 s and later.
    assert [b.priority for b in build_view(state, at(16)).announcements] == ["medium", "medium", "low"]
    assert build_view(state, at(60)).announcements == ()


def test_an_announcement_without_expires_at_ends_duration_seconds_after_it_was_sent():
    lone = m.AnnouncementOutPayload(message="Chú ý", priority="medium", duration=30, target_displays=[],
                                    timestamp=ts(0))
    state = connected(snapshot(announcements=[lone]))
    assert build_view(state, at(29)).announcements == (Banner("Chú ý", "medium"),)
    assert build_view(state, at(30)).announcements == ()


# --- the connection ---------------------------------------------------------------------------


def test_before_the_first_snapshot_the_screen_says_it_is_connecting():
    view = build_view(HubState(), at(0))
    assert not view.has_state
    assert (view.clock_text, view.date_text) == ("", "")  # the TV's own clock is not to be trusted
    assert not view.connection_lost  # nothing known yet: nothing to mark as stale
    assert view.rows == ()


def test_a_lost_hub_keeps_the_last_state_with_a_mark():
    state = call(connected(snapshot(announcements=[notice("Chú ý", "high", sent=0)])), 2005, 2, seconds=1.0)
    before = build_view(state, at(2))
    lost = build_view(replace(state, connected=False), at(2))
    assert lost.connection_lost and not before.connection_lost
    assert CONNECTION_LOST_TEXT == "Mất kết nối"
    assert replace(lost, connection_lost=False) == before


def test_a_reconnect_snapshot_restores_calls_still_within_their_time_and_active_announcements():
    state = connected(snapshot())
    state = replace(call(state, 13, 1, seconds=1.0), connected=False)
    # While the TV was cut off: 2005 called at 20 s, 14 at 30 s; an announcement at 25 s;
    # counter 3 paused. The TV reconnects at 35 s and gets the SNAPSHOT.
    back = snapshot(server_time=35.0,
                    counters=[counter(1, ticket(14, 1)), counter(2, ticket(2005, 2)),
                              counter(3, status="paused", reason="Hết giờ làm việc"), counter(5)],
                    calls=[record(14, 1, 30.0), record(2005, 2, 20.0), record(13, 1, 1.0)],
                    announcements=[notice("Quầy 3 tạm nghỉ", "high", sent=25.0)])
    state = apply_message(state, m.ConnectionAck(m.ConnectionAckPayload(
        client_id="tv-1", server_time=ts(35.0), connected_clients=2)), local_time=at(35).timestamp())
    state = apply_message(state, back, local_time=at(35).timestamp())
    view = build_view(state, at(35.5))
    assert not view.connection_lost
    # 14 (5 s old) is still highlighted; 2005 (15 s) and 13 (34 s) have had their time.
    assert [c.ticket_number for c in view.calls] == [14]
    assert view.last_call.ticket_number == 14
    assert {r.queue_id: r.called for r in view.rows} == {1: True, 2: False, 3: False}
    assert view.announcements == (Banner("Quầy 3 tạm nghỉ", "high"),)
    assert (view.rows[2].paused, view.rows[2].reason) == (True, "Hết giờ làm việc")


def test_text_is_drawn_precomposed():
    decomposed = unicodedata.normalize("NFD", "Tư pháp - Hộ tịch")
    queues = [line(1), struct_replace(line(2), queue_name=decomposed), line(3)]
    state = connected(snapshot(queues=queues, counters=[counter(1), counter(2, name=decomposed), counter(3),
                                                        counter(5)]))
    state = call(state, 2005, 2, seconds=0.0, name=decomposed)
    view = build_view(state, at(0.5))
    assert view.rows[1].name == "Tư pháp - Hộ tịch" != decomposed
    assert view.calls[0].counter_name == "Tư pháp - Hộ tịch"
