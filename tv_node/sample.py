"""A sample hall for pictures and measurements: the documentation's screenshots and bench/tv_frame.py.

The hall is the hub's built-in sample site (hub/sample_site.toml): four lines of
citizens, five counters, line 2 (Tư pháp - Hộ tịch) served by counters 2 and 5,
counter 3 helping it when its own line is empty. ``queues=10`` adds six more
lines, one counter each, for a big hall.

``python -m tv_node.sample docs/screenshots`` writes ``tv-*.png`` at 1920x1080 and 1280x720.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from protocol import messages as m
from protocol.client import HubState, apply_message

SITE_NAME = "Trung tâm Phục vụ hành chính công tỉnh"
# 14:05:09 in Hà Nội: an afternoon in the hall.
SAMPLE_NOW = datetime(2025, 11, 25, 7, 5, 9, tzinfo=UTC)
PAUSE_REASON = "Cán bộ đi họp, quay lại lúc 14 giờ 30"

# (queue id, name, first number of the day), as in hub/sample_site.toml.
QUEUES = (
    (1, "Đất đai", 1),
    (2, "Tư pháp - Hộ tịch", 2001),
    (3, "Đăng ký kinh doanh", 3001),
    (4, "Bảo hiểm xã hội", 4001),
)
MORE_QUEUES = (
    (5, "Thuế - Lệ phí trước bạ", 5001),
    (6, "Xây dựng - Quy hoạch", 6001),
    (7, "Lao động - Thương binh và Xã hội", 7001),
    (8, "Giáo dục và Đào tạo", 8001),
    (9, "Tài nguyên và Môi trường", 9001),
    (10, "Công an - Cư trú", 10001),
    (11, "Y tế", 11001),
    (12, "Trả kết quả", 12001),
)
# (counter id, name, own queues, backup queues), as in hub/sample_site.toml.
COUNTERS = (
    (1, "Văn phòng đăng ký đất đai", (1,), ()),
    (2, "Tư pháp - Hộ tịch", (2,), ()),
    (3, "Đăng ký kinh doanh", (3,), (2,)),
    (4, "Bảo hiểm xã hội", (4,), ()),
    (5, "Tư pháp - Hộ tịch", (2,), ()),
)


def _ticket(number: int, queue_id: int, *, priority: bool = False) -> m.CurrentTicket:
    return m.CurrentTicket(ticket_id=number, ticket_number=number, queue_id=queue_id, priority=priority,
                           called_at=None, ticket_label=str(number))


def sample_state(now: datetime = SAMPLE_NOW, *, calls_ago: tuple[float, ...] = (1.0, 5.0),
                 announcements: tuple[tuple[str, str], ...] = (), queues: int = 4,
                 connected: bool = True, display_counters: tuple[int, ...] = ()) -> HubState:
    """The hall at ``now`` (hub time), as the hub's SNAPSHOT describes it.

    Counter 2 serves the priority ticket 2014, counter 5 serves 2012 of the same
    line, counter 1 serves 13, counter 3 is paused, counter 4 waits for 4001.
    Calls were made ``calls_ago`` seconds ago (newest first): to counter 2, then
    counter 1, then the others. ``announcements`` are (message, priority) pairs,
    sent a second ago for ten minutes. ``queues``: 1 to 12 lines (from 5 on, one
    new counter each).
    """
    lines = (QUEUES + MORE_QUEUES)[:queues]
    kept = {queue_id for queue_id, _, _ in lines}
    desks = [(cid, name, tuple(q for q in own if q in kept), tuple(q for q in backup if q in kept))
             for cid, name, own, backup in COUNTERS]
    desks = [desk for desk in desks if desk[2]]
    desks += [(queue_id + 1, name, (queue_id,), ()) for queue_id, name, _ in lines if queue_id > 4]

    serving: dict[int, m.CurrentTicket] = {1: _ticket(13, 1), 2: _ticket(2014, 2, priority=True),
                                           3: _ticket(3005, 3), 5: _ticket(2012, 2)}
    for queue_id, _, first in lines:
        if queue_id > 4:
            serving[queue_id + 1] = _ticket(first + 11 + queue_id, queue_id)
    waiting = {1: [14, 15, 16], 2: [2015, 2016, 2017], 3: [3006, 3007], 4: [4001]}
    for queue_id, _, _first in lines:
        if queue_id > 4:
            upcoming = serving[queue_id + 1].ticket_number + 1
            waiting[queue_id] = [upcoming, upcoming + 1, upcoming + 2]

    queue_infos = [
        m.QueueInfo(queue_id=queue_id, queue_name=name,
                    counter_ids=[d[0] for d in desks if queue_id in d[2]],
                    backup_counter_ids=[d[0] for d in desks if queue_id in d[3]],
                    waiting_count=9 if queue_id == 2 else len(waiting[queue_id]) + (4 if queue_id != 4 else 0),
                    priority_waiting_count=1 if queue_id == 2 else 0, next_numbers=waiting[queue_id],
                    average_wait_time=6)
        for queue_id, name, _ in lines
    ]
    counters = []
    for counter_id, name, own, backup in desks:
        current = serving.get(counter_id)
        paused = counter_id == 3
        first_queue = next(q for q in queue_infos if q.queue_id == own[0])
        counters.append(m.CounterState(
            counter_id=counter_id, counter_name=name, status="paused" if paused else "active",
            reason=PAUSE_REASON if paused else "", changed_by="", status_changed_at=None, procedures=[],
            current_number=current.ticket_number if current else None, waiting_count=first_queue.waiting_count,
            next_numbers=first_queue.next_numbers, average_wait_time=6, officer_connected=not paused,
            counter_number=counter_id, queue_ids=list(own), backup_queue_ids=list(backup), current_ticket=current))

    called = [c for c in counters if c.current_ticket is not None and c.status == "active"]
    order = sorted(called, key=lambda c: {2: 0, 1: 1}.get(c.counter_id, 2))
    # Fewer calls than called counters: the counters called longest ago are left out.
    recent = [
        m.CallRecord(ticket_number=c.current_number or 0, counter_id=c.counter_id, counter_name=c.counter_name,
                     announcement_text="", timestamp=m.utc_timestamp(now - timedelta(seconds=ago)))
        for ago, c in zip(calls_ago, order, strict=False)
    ]
    notices = [
        m.AnnouncementOutPayload(message=message, priority=priority, duration=600, target_displays=[],
                                 announcement_id=i + 1, timestamp=m.utc_timestamp(now - timedelta(seconds=1)),
                                 expires_at=m.utc_timestamp(now + timedelta(seconds=599)))
        for i, (message, priority) in enumerate(announcements)
    ]
    snapshot = m.Snapshot(m.SnapshotPayload(
        site_name=SITE_NAME, server_time=m.utc_timestamp(now), service_day=now.date().isoformat(),
        timezone="Asia/Ho_Chi_Minh", display_duration=10, counters=counters, announcements=notices,
        recent_calls=recent, queues=queue_infos, display_counters=list(display_counters)))
    state = apply_message(HubState(), snapshot, local_time=now.timestamp())
    return replace(state, connected=connected)


def no_show_state(now: datetime = SAMPLE_NOW) -> HubState:
    """The sample hall a few seconds after counter 5 marked 2012 absent (and counter 2's call, 2014)."""
    state = sample_state(now, calls_ago=(3.0,))
    update = m.TicketUpdated(m.TicketUpdatedPayload(
        ticket_id=2012, ticket_number=2012, queue_id=2, counter_id=5, status="no_show", priority=False,
        action="no_show", by="canbo05", timestamp=m.utc_timestamp(now - timedelta(seconds=2)),
        queue_name="Tư pháp - Hộ tịch", ticket_label="2012", from_counter_id=5))
    return apply_message(state, update, local_time=now.timestamp())


def write_screenshots(directory: Path) -> list[Path]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from display.fonts import find_fonts
    from display.text_cache import TextCache
    from tv_node.render import TvRenderer
    from tv_node.view import build_view

    pygame.display.init()
    pygame.display.set_mode((64, 64))
    fonts = TextCache(find_fonts())
    scenes = {
        # A priority citizen called to counter 2; line 2 is served by counters 2 and 5.
        "call": (sample_state(), 0.6),
        "call-flash": (sample_state(calls_ago=(0.2, 5.0)), 0.0),
        "no-show": (no_show_state(), 0.6),
        "announcement": (sample_state(calls_ago=(40.0,), announcements=(
            ("Từ ngày 01/12, bộ phận Tư pháp - Hộ tịch làm việc cả sáng thứ Bảy", "medium"),
            ("Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì. Xin cảm ơn quý khách!", "high"),
        )), 0.0),
        "offline": (sample_state(calls_ago=(40.0,), connected=False), 0.0),
        "morning": (sample_state(calls_ago=()), 0.0),
        "10-queues": (sample_state(queues=10, calls_ago=(2.0, 6.0, 8.0)), 0.6),
        # The TV of a second room, which shows counters 2 and 5 only.
        "room": (sample_state(display_counters=(2, 5), calls_ago=(2.0, 4.0)), 0.6),
    }
    written = []
    directory.mkdir(parents=True, exist_ok=True)
    for size in ((1920, 1080), (1280, 720)):
        for scene, (state, after) in scenes.items():
            surface = pygame.Surface(size)
            view = build_view(state, SAMPLE_NOW + timedelta(seconds=after))
            TvRenderer(surface, fonts).draw(view, 0.0)
            path = directory / f"tv-{size[0]}x{size[1]}-{scene}.png"
            pygame.image.save(surface, str(path))
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(written_path)
