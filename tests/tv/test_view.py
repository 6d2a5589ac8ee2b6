"""The TV's view model (tv_node.view): what is on screen, from the hub mirror and the hub's clock. No pygame."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from protocol import messages as m
from protocol.client import HubState, apply_message
from tv_node.view import (
    CONNECTION_LOST_TEXT,
    PAUSED_TEXT,
    Banner,
    CallCard,
    build_view,
    clock_texts,
)

# 07:05:09 UTC is 14:05:09 in Hà Nội, a Tuesday.
T0 = datetime(2025, 11, 25, 7, 5, 9, tzinfo=UTC)
DISPLAY = 10


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return m.utc_timestamp(at(seconds))


def counter(counter_id: int, name: str, current: int | None = None, upcoming: tuple[int, ...] = (),
            status: str = "active", reason: str = "") -> m.CounterState:
    return m.CounterState(counter_id=counter_id, counter_name=name, status=status, reason=reason, changed_by="",
                          status_changed_at=None, procedures=[], current_number=current,
                          waiting_count=len(upcoming), next_numbers=list(upcoming), average_wait_time=5)


COUNTERS = [counter(1, "Văn phòng đăng ký đất đai", 12, (13, 14)), counter(2, "Tư pháp - Hộ tịch", 2004, (2005,)),
            counter(3, "Đăng ký kinh doanh")]


def snapshot(*, server_time: float = 0.0, counters=None, calls=(), announcements=(), zone="Asia/Ho_Chi_Minh",
             site="Trung tâm Phục vụ hành chính công") -> m.Snapshot:
    return m.Snapshot(m.SnapshotPayload(
        site_name=site, server_time=ts(server_time), service_day="2025-11-25", timezone=zone,
        display_duration=DISPLAY, counters=list(COUNTERS if counters is None else counters),
        announcements=list(announcements), recent_calls=list(calls)))


def record(number: int, counter_id: int, seconds: float) -> m.CallRecord:
    name = {1: "Văn phòng đăng ký đất đai", 2: "Tư pháp - Hộ tịch", 3: "Đăng ký kinh doanh"}[counter_id]
    return m.CallRecord(ticket_number=number, counter_id=counter_id, counter_name=name,
                        announcement_text=f"Mời khách hàng số {number} đến quầy {name}", timestamp=ts(seconds))


def notice(message: str, priority: str, sent: float, duration: int = 60, **fields) -> m.AnnouncementOutPayload:
    return m.AnnouncementOutPayload(message=message, priority=priority, duration=duration, target_displays=[],
                                    timestamp=ts(sent), expires_at=ts(sent + duration), **fields)


def connected(message: m.Snapshot, local: float = 0.0) -> HubState:
    """The mirror right after registering: CONNECTION_ACK, then the SNAPSHOT, with our clock at ``local``."""
    state = apply_message(HubState(), m.ConnectionAck(m.ConnectionAckPayload(
        client_id="tv-1", server_time=message.payload.server_time, connected_clients=1)),
        local_time=at(local).timestamp())
    return apply_message(state, message, local_time=at(local).timestamp())


def call(state: HubState, number: int, counter_id: int, seconds: float) -> HubState:
    """CALL_TICKET then TICKET_ANNOUNCEMENT at hub time ``seconds``, as the hub sends a call."""
    name = state.counters[counter_id].name
    state = apply_message(state, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=number, counter_id=counter_id, counter_name=name,
        called_by=m.CalledBy(user_id=1, username="canbo", full_name=None), timestamp=ts(seconds))),
        local_time=at(seconds).timestamp())
    return apply_message(state, m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=number, counter_id=counter_id, counter_name=name,
        announcement_text=f"Mời khách hàng số {number} đến quầy {name}", audio_url=None,
        display_duration=DISPLAY)), local_time=at(seconds).timestamp())


# --- the hall ---------------------------------------------------------------------------------


def test_site_name_clock_in_the_site_zone_and_one_row_per_counter():
    view = build_view(connected(snapshot()), at(0))
    assert view.site_name == "Trung tâm Phục vụ hành chính công"
    assert (view.clock_text, view.date_text) == ("14:05:09", "Thứ Ba, 25/11/2025")
    assert [(r.counter_id, r.name, r.serving, r.next_numbers) for r in view.counters] == [
        (1, "Văn phòng đăng ký đất đai", 12, (13, 14)), (2, "Tư pháp - Hộ tịch", 2004, (2005,)),
        (3, "Đăng ký kinh doanh", None, ())]
    assert not any(r.paused or r.called for r in view.counters)
    assert view.has_state and not view.connection_lost
    assert view.calls == () and view.last_call is None and view.announcements == ()


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


def test_a_paused_or_offline_counter_shows_paused_with_its_reason():
    state = connected(snapshot())
    state = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=2, counter_name="Tư pháp - Hộ tịch", status="paused", reason="Nghỉ trưa",
        changed_by="canbo", timestamp=ts(1), affected_tickets=1)))
    state = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=3, counter_name="Đăng ký kinh doanh", status="offline", reason="",
        changed_by="hub", timestamp=ts(1), affected_tickets=0)))
    rows = {r.counter_id: r for r in build_view(state, at(2)).counters}
    assert (rows[2].paused, rows[2].reason) == (True, "Nghỉ trưa")
    assert (rows[3].paused, rows[3].reason) == (True, "")
    assert not rows[1].paused
    assert PAUSED_TEXT == "Tạm dừng"
    resumed = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=2, counter_name="Tư pháp - Hộ tịch", status="active", reason="",
        changed_by="canbo", timestamp=ts(3), affected_tickets=0)))
    assert not {r.counter_id: r for r in build_view(resumed, at(4)).counters}[2].paused


# --- calls ------------------------------------------------------------------------------------


def test_a_call_is_highlighted_for_display_duration_then_stays_as_the_last_call():
    state = call(connected(snapshot()), 2005, 2, seconds=1.0)
    state = apply_message(state, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=2, current_number=2005, waiting_count=0, next_numbers=[], average_wait_time=5)))
    fresh = build_view(state, at(1.1))
    assert fresh.calls == (CallCard(2005, 2, "Tư pháp - Hộ tịch", flash=True),)
    assert {r.counter_id: r.called for r in fresh.counters} == {1: False, 2: True, 3: False}
    # The opening blink alternates every half second, then the highlight stays steady.
    assert [build_view(state, at(1 + age)).calls[0].flash for age in (0.2, 0.7, 1.2, 3.7, 4.5, 9.0)] == \
        [True, False, True, False, False, False]
    assert build_view(state, at(1 + DISPLAY - 0.01)).calls[0].ticket_number == 2005
    over = build_view(state, at(1 + DISPLAY))
    assert over.calls == ()
    assert not any(r.called for r in over.counters)
    assert over.last_call == CallCard(2005, 2, "Tư pháp - Hộ tịch")


def test_calls_close_together_are_all_shown_newest_first_and_a_recall_once():
    state = connected(snapshot())
    state = call(state, 13, 1, seconds=1.0)
    state = call(state, 2005, 2, seconds=2.0)
    state = call(state, 14, 1, seconds=3.0)
    view = build_view(state, at(4))
    assert [(c.ticket_number, c.counter_id) for c in view.calls] == [(14, 1), (2005, 2), (13, 1)]
    # 13 has had its time, the others not yet.
    assert [c.ticket_number for c in build_view(state, at(11.5)).calls] == [14, 2005]
    recalled = call(state, 2005, 2, seconds=5.0)
    assert [c.ticket_number for c in build_view(recalled, at(5.5)).calls] == [2005, 14, 13]
    # The recall restarts its time: it outlives the first call of 2005.
    assert [c.ticket_number for c in build_view(recalled, at(13.5)).calls] == [2005]


def test_a_call_timestamped_a_little_ahead_of_our_clock_estimate_counts_as_just_made():
    state = connected(snapshot(calls=[record(2005, 2, seconds=0.3)]))
    assert [c.ticket_number for c in build_view(state, at(0.0)).calls] == [2005]


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
    assert view.counters == ()


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
    paused = counter(3, "Đăng ký kinh doanh", status="paused", reason="Hết giờ làm việc")
    back = snapshot(server_time=35.0,
                    counters=[counter(1, "Văn phòng đăng ký đất đai", 14, ()),
                              counter(2, "Tư pháp - Hộ tịch", 2005, ()), paused],
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
    assert {r.counter_id: r.called for r in view.counters} == {1: True, 2: False, 3: False}
    assert view.announcements == (Banner("Quầy 3 tạm nghỉ", "high"),)
    assert [(r.paused, r.reason) for r in view.counters][2] == (True, "Hết giờ làm việc")


def test_text_is_drawn_precomposed():
    decomposed = unicodedata.normalize("NFD", "Tư pháp - Hộ tịch")
    state = connected(snapshot(counters=[counter(2, decomposed, 1)]))
    view = build_view(state, at(0))
    assert view.counters[0].name == "Tư pháp - Hộ tịch"
    assert view.counters[0].name != decomposed
