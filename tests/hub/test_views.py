"""hub.views: the messages the hub sends, built from a queue and a site with no hub, socket or database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from hub import views
from hub.auth import Identity
from hub.queue_state import HallQueue
from hub.site_config import sample_site
from protocol import messages as m

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
OFFICER = Identity(role="officer", client_id=None, user_id=7, username="canbo1", full_name="Nguyễn Thị Lan",
                   counter_id=2, expires_at=NOW + timedelta(hours=1))


def hall(**site_fields: object) -> tuple:
    site = dataclasses.replace(sample_site(), **site_fields)
    queue = HallQueue(site, date(2026, 11, 25))
    return site, queue


def issue(queue: HallQueue, counter_id: int, n: int, minutes_ago: float = 10, priority: bool = False) -> list:
    changes = []
    for i in range(n):
        change = queue.plan_issue(NOW - timedelta(minutes=minutes_ago), code=f"code{counter_id}x{i}xxxx",
                                  counter_id=counter_id, request_id=f"r{counter_id}-{i}", kiosk_id="kiosk-001",
                                  priority=priority)
        queue.apply(change)
        changes.append(change)
    return changes


def call(queue: HallQueue, counter_id: int):
    change = queue.plan_call(NOW, counter_id, actor="canbo1")
    queue.apply(change)
    return change


def test_a_queue_update_carries_the_counter_its_numbers_and_the_wait():
    site, queue = hall(next_numbers_count=2, default_service_minutes=4)
    issue(queue, 2, 3)
    call(queue, 2)
    update = views.queue_update(site, queue, 2)
    assert m.message_type(update) == "QUEUE_UPDATE"
    p = update.payload
    assert (p.counter_id, p.current_number, p.waiting_count, p.next_numbers) == (2, 2001, 2, [2002, 2003])
    # Two counters (2 and 5) serve queue 2: two waiting at 4 minutes each take 4 minutes.
    assert p.average_wait_time == 4 and p.counter_name == site.counter(2).name and p.status == "active"
    assert p.queue_ids == [2] and [(q.queue_id, q.waiting_count) for q in p.queues] == [(2, 2)]
    assert p.current_ticket is not None and p.current_ticket.ticket_number == 2001
    backup = views.queue_update(site, queue, 3).payload
    assert (backup.queue_ids, backup.backup_queue_ids) == ([3], [2])
    assert [q.queue_id for q in backup.queues] == [3, 2] and backup.waiting_count == 0, "a backup is shown, not counted"


def test_an_admin_snapshot_has_the_extras_and_a_tv_snapshot_has_none():
    site, queue = hall(announcement_template="Xin mời số {number} tới {counter_name}")
    issue(queue, 1, 2)
    shown = [m.AnnouncementOutPayload(message="Tất cả TV", priority="low", duration=60, target_displays=[]),
             m.AnnouncementOutPayload(message="Chỉ TV sảnh", priority="low", duration=60, target_displays=["tv-sanh"])]
    alert = m.SystemAlertPayload(alert_type="high_queue", counter_id=1, message="x", severity="warning",
                                 timestamp=m.utc_timestamp(NOW))

    def build(client_type: str, client_id: str) -> m.SnapshotPayload:
        return views.snapshot(
            site, queue, NOW,
            counters=views.counter_states(site, queue, lambda counter_id: counter_id == 1),
            announcements=views.announcements_for(client_type, client_id, shown),
            recent_calls=[], admin=client_type == "admin",
            clients=lambda: [views.client_info("tv-sanh", "tv", "sảnh", None, NOW)],
            alerts=[alert], stats=lambda: views.stats(queue, NOW),
        ).payload

    admin = build("admin", "admin-001")
    assert admin.stats is not None and admin.stats.total_tickets_today == 2
    assert [c.client_id for c in admin.clients] == ["tv-sanh"] and admin.alerts == [alert]
    assert [a.message for a in admin.announcements] == ["Tất cả TV", "Chỉ TV sảnh"]
    assert admin.announcement_template == "Xin mời số {number} tới {counter_name}"
    assert [c.officer_connected for c in admin.counters] == [True, False, False, False, False]
    assert [(q.queue_id, q.counter_ids, q.waiting_count) for q in admin.queues][:2] == [(1, [1], 2), (2, [2, 5], 0)]
    assert [f.field_id for f in admin.fields] == [1, 2, 3] and admin.priority_streak == 3
    other_tv = build("tv", "tv-khac")
    assert other_tv.stats is None and other_tv.clients == [] and other_tv.alerts == []
    assert [a.message for a in other_tv.announcements] == ["Tất cả TV"]
    assert [a.message for a in build("tv", "tv-sanh").announcements] == ["Tất cả TV", "Chỉ TV sảnh"]
    assert build("kiosk", "kiosk-001").announcements == []
    assert other_tv.counters[0].waiting_count == 2 and other_tv.counters[0].procedures[0].procedure_id == 101


def test_only_the_requesting_kiosk_gets_the_request_id_and_the_secret_code():
    site, queue = hall()
    ticket = issue(queue, 5, 1, priority=True)[0].ticket
    mine = views.ticket_created(site, ticket, 0, 0, for_requester=True).payload
    theirs = views.ticket_created(site, ticket, 0, 0, for_requester=False).payload
    assert mine.request_id == "r5-0" and mine.ticket_code == ticket.code
    assert theirs.request_id is None and theirs.ticket_code is None
    # Waiting, it names its queue's first counter (seed clients draw that) and every counter serving it.
    assert (mine.ticket_number, mine.counter_id, mine.counter_ids, mine.queue_id) == (2001, 2, [2, 5], 2)
    assert mine.priority and mine.priority_reason == "other" and mine.status == "waiting"


def test_a_call_names_the_officer_and_speaks_the_sites_template():
    site, queue = hall(announcement_template="Mời số {number} đến quầy {counter_number}, {queue_name}")
    issue(queue, 2, 1)
    called = call(queue, 5)
    announcement, call_out = views.call_messages(site, called, OFFICER, NOW)
    assert call_out.payload.called_by == m.CalledBy(user_id=7, username="canbo1", full_name="Nguyễn Thị Lan")
    assert call_out.payload.recall is False and call_out.payload.timestamp == "2026-11-25T02:30:00.000Z"
    assert (call_out.payload.counter_id, call_out.payload.counter_number) == (5, 5)
    assert announcement.payload.announcement_text == "Mời số 2001 đến quầy 5, Tư pháp - Hộ tịch"
    assert announcement.payload.audio_url is None and announcement.payload.display_duration == site.display_duration
    assert views.call_record(site, called.ticket).announcement_text == "Mời số 2001 đến quầy 5, Tư pháp - Hộ tịch"


def test_announcements_past_their_time_are_no_longer_shown():
    def ending(minutes: int) -> m.AnnouncementOutPayload:
        return m.AnnouncementOutPayload(message=f"{minutes}", priority="low", duration=60, target_displays=[],
                                        expires_at=m.utc_timestamp(NOW + timedelta(minutes=minutes)))

    assert [a.message for a in views.still_showing([ending(-1), ending(0), ending(1)], NOW)] == ["1"]


def test_an_error_names_the_request_it_answers():
    request = m.decode_client_message(
        '{"type":"TICKET_CREATED","payload":{"counter_id":9,"request_id":"k1-42"}}')
    error = views.error("COUNTER_NOT_FOUND", "Không có quầy 9", NOW, request).payload
    assert (error.message_type, error.request_id, error.error_code) == ("TICKET_CREATED", "k1-42", "COUNTER_NOT_FOUND")
    bare = views.error("INVALID_MESSAGE", "bad", NOW, "PING", "x").payload
    assert (bare.message_type, bare.request_id) == ("PING", "x")
