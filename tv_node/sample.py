"""A sample hall for pictures and measurements: the documentation's screenshots and bench/tv_frame.py.

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

COUNTERS = (
    (1, "Văn phòng đăng ký đất đai"),
    (2, "Tư pháp - Hộ tịch"),
    (3, "Đăng ký kinh doanh"),
    (4, "Bảo hiểm xã hội"),
)
MORE_COUNTERS = (
    (5, "Thuế - Lệ phí trước bạ"),
    (6, "Xây dựng - Quy hoạch"),
    (7, "Lao động - Thương binh và Xã hội"),
    (8, "Giáo dục và Đào tạo"),
    (9, "Y tế"),
    (10, "Tài nguyên và Môi trường"),
    (11, "Công an - Cư trú"),
    (12, "Trả kết quả"),
)


def _counter(counter_id: int, name: str, current: int | None, upcoming: list[int], waiting: int,
             status: str = "active", reason: str = "") -> m.CounterState:
    return m.CounterState(counter_id=counter_id, counter_name=name, status=status, reason=reason, changed_by="",
                          status_changed_at=None, procedures=[], current_number=current, waiting_count=waiting,
                          next_numbers=upcoming, average_wait_time=6)


def sample_state(now: datetime = SAMPLE_NOW, *, calls_ago: tuple[float, ...] = (1.0, 5.0),
                 announcements: tuple[tuple[str, str], ...] = (), counters: int = 4,
                 connected: bool = True) -> HubState:
    """The hall at ``now`` (hub time): counter 3 paused, calls made ``calls_ago`` seconds ago (newest first).

    ``announcements`` are (message, priority) pairs, sent a second ago for ten minutes.
    """
    names = (COUNTERS + MORE_COUNTERS)[:counters]
    rows = []
    for counter_id, name in names:
        base = counter_id * 1000 if counter_id > 1 else 0
        if counter_id == 3:
            rows.append(_counter(3, name, 3001, [3002, 3003], 6, "paused", "Cán bộ đi họp, quay lại lúc 14 giờ 30"))
        elif counter_id == 4:
            rows.append(_counter(4, name, None, [4001], 1))
        else:
            current = base + 12 + counter_id
            rows.append(_counter(counter_id, name, current, [current + 1, current + 2, current + 3], 7))
    called = [(row, row.current_number) for row in rows if row.current_number is not None and row.status == "active"]
    # Fewer calls than called counters: the counters called longest ago are left out.
    recent = [
        m.CallRecord(ticket_number=number, counter_id=row.counter_id, counter_name=row.counter_name,
                     announcement_text="", timestamp=m.utc_timestamp(now - timedelta(seconds=ago)))
        for ago, (row, number) in zip(calls_ago, [called[1], called[0], *called[2:]] if len(called) > 1 else called,
                                      strict=False)
    ]
    notices = [
        m.AnnouncementOutPayload(message=message, priority=priority, duration=600, target_displays=[],
                                 announcement_id=i + 1, timestamp=m.utc_timestamp(now - timedelta(seconds=1)),
                                 expires_at=m.utc_timestamp(now + timedelta(seconds=599)))
        for i, (message, priority) in enumerate(announcements)
    ]
    snapshot = m.Snapshot(m.SnapshotPayload(
        site_name=SITE_NAME, server_time=m.utc_timestamp(now), service_day=now.date().isoformat(),
        timezone="Asia/Ho_Chi_Minh", display_duration=10, counters=rows, announcements=notices,
        recent_calls=recent))
    state = apply_message(HubState(), snapshot, local_time=now.timestamp())
    return replace(state, connected=connected)


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
        "call": (sample_state(), 0.6),
        "call-flash": (sample_state(calls_ago=(0.2, 5.0)), 0.0),
        "announcement": (sample_state(calls_ago=(40.0,), announcements=(
            ("Từ ngày 01/12, bộ phận Tư pháp - Hộ tịch làm việc cả sáng thứ Bảy", "medium"),
            ("Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì. Xin cảm ơn quý khách!", "high"),
        )), 0.0),
        "offline": (sample_state(calls_ago=(40.0,), connected=False), 0.0),
        "morning": (sample_state(calls_ago=()), 0.0),
        "12-counters": (sample_state(counters=12, calls_ago=(2.0, 6.0, 8.0)), 0.6),
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
