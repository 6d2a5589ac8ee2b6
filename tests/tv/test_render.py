"""The TV's drawing (tv_node.render): dirty regions, layouts that scale, text inside its regions, the ticker.

Drawn on plain pygame surfaces: no window is needed. The font, its
Vietnamese letters, the text cache, fitting and wrapping are the display
package's, tested in tests/display.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from display.fonts import find_fonts  # noqa: E402
from display.text_cache import TextCache  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.client import apply_message  # noqa: E402
from tv_node.render import TvRenderer  # noqa: E402
from tv_node.sample import SAMPLE_NOW, sample_state  # noqa: E402
from tv_node.view import PAUSED_TEXT, TvView, build_view  # noqa: E402

SIZES = [(1920, 1080), (1280, 720)]


@pytest.fixture(scope="module")
def fonts() -> TextCache:
    return TextCache(find_fonts())


def pixels(surface: pygame.Surface) -> bytes:
    return pygame.image.tobytes(surface, "RGBA")  # antialiased text is all in the alpha


def later(seconds: float) -> datetime:
    return SAMPLE_NOW + timedelta(seconds=seconds)


# --- dirty regions ----------------------------------------------------------------------------


def hall_timeline() -> Iterator[tuple[str, TvView, float]]:
    """(label, view, ticker time): the screen through a working afternoon."""
    idle = sample_state(calls_ago=(40.0,))
    yield "idle", build_view(idle, later(0)), 0.0
    yield "clock ticks", build_view(idle, later(1)), 1.0
    called = sample_state(calls_ago=(0.1, 40.0))
    yield "a call", build_view(called, later(0.1)), 1.1
    yield "blink", build_view(called, later(0.7)), 1.7
    queue = apply_message(called, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=None, waiting_count=2, next_numbers=[4001, 4002], average_wait_time=3)))
    yield "a ticket at counter 4", build_view(queue, later(0.7)), 1.7
    paused = apply_message(queue, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai", status="paused", reason="Nghỉ trưa",
        changed_by="canbo", timestamp=m.utc_timestamp(later(1)), affected_tickets=3)))
    yield "a pause", build_view(paused, later(1.2)), 2.2
    announced = sample_state(calls_ago=(0.1, 40.0), announcements=(("Chú ý: quầy 1 tạm nghỉ", "high"),))
    yield "an announcement", build_view(announced, later(2)), 3.0
    long_text = "Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì định kỳ. Xin cảm ơn quý khách đã kiên nhẫn chờ!"
    ticker = sample_state(calls_ago=(0.1, 40.0), announcements=((long_text, "medium"),))
    yield "a ticker", build_view(ticker, later(3)), 4.0
    yield "the ticker moves", build_view(ticker, later(3)), 4.5
    lost = replace(ticker, connected=False)
    yield "the hub is lost", build_view(lost, later(12)), 5.0
    yield "more counters", build_view(sample_state(counters=6), later(13)), 6.0
    yield "back", build_view(sample_state(), later(14)), 7.0


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_redrawing_only_what_changed_gives_the_same_screen_as_a_full_redraw(fonts, size):
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    for label, view, now in hall_timeline():
        renderer.draw(view, now)
        fresh = pygame.Surface(size)
        TvRenderer(fresh, fonts).draw(view, now)
        assert pixels(screen) == pixels(fresh), f"after {label}, the screen differs from a full redraw"


def test_a_frame_redraws_only_the_regions_whose_part_of_the_view_changed(fonts):
    screen = pygame.Surface((1920, 1080))
    renderer = TvRenderer(screen, fonts)
    idle = sample_state(calls_ago=(40.0,))
    assert renderer.draw(build_view(idle, later(0)), 0.0) == [screen.get_rect()]  # the first frame: everything
    assert renderer.draw(build_view(idle, later(0.5)), 0.5) == []  # nothing changed
    assert renderer.draw(build_view(idle, later(1)), 1.0) == [renderer.region("clock")]
    queue = apply_message(idle, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=None, waiting_count=2, next_numbers=[4001, 4002], average_wait_time=3)))
    assert renderer.draw(build_view(queue, later(1.2)), 1.2) == [renderer.region("row:4")]
    called = apply_message(queue, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=4001, counter_id=4, counter_name="Bảo hiểm xã hội", timestamp=m.utc_timestamp(later(1.3)),
        called_by=m.CalledBy(user_id=1, username="canbo", full_name=None))))
    called = apply_message(called, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=4001, waiting_count=1, next_numbers=[4002], average_wait_time=3)))
    changed = renderer.draw(build_view(called, later(1.4)), 1.4)
    assert sorted(map(tuple, changed)) == sorted(map(tuple, [renderer.region("call"), renderer.region("row:4")]))
    assert renderer.placements("4001")  # drawn (in the call panel and on the row)
    assert {p.region for p in renderer.placements("4001")} == {"call", "row:4"}
    lost = replace(called, connected=False)
    assert renderer.draw(build_view(lost, later(1.45)), 1.45) == [renderer.region("mark")]
    assert renderer.placements("Mất kết nối")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("counters", [1, 4, 12])
def test_text_stays_inside_its_region_at_every_size(fonts, size, counters):
    state = sample_state(counters=counters, calls_ago=(0.5, 2.0, 3.0),
                         announcements=(("Quầy 3 tạm nghỉ đến 14 giờ 30", "high"),))
    state = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai và tài sản gắn liền với đất của tỉnh",
        status="paused", reason="Cán bộ đi tập huấn nghiệp vụ tại Sở Tài nguyên và Môi trường cả ngày",
        changed_by="canbo", timestamp=m.utc_timestamp(SAMPLE_NOW), affected_tickets=3)))
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    renderer.draw(build_view(state, later(1)), 0.0)
    placed = renderer.placements()
    assert len({p.region for p in placed}) >= 4 + counters
    for piece in placed:
        region = renderer.region(piece.region)
        assert region.contains(piece.rect), f"{piece.text!r} sticks out of {piece.region} at {size}"
    # Counter 1 paused here; counter 3 is paused in the sample hall.
    assert [p.region for p in renderer.placements(PAUSED_TEXT)] == ["row:1", "row:3"][:1 + (counters >= 3)]


def test_the_layout_scales_with_the_screen(fonts):
    regions = {}
    for size in SIZES:
        renderer = TvRenderer(pygame.Surface(size), fonts)
        renderer.draw(build_view(sample_state(), later(0)), 0.0)
        regions[size] = {name: renderer.region(name) for name in ("call", "clock", "row:1", "banner")}
        number = renderer.placements("2014")[0]
        regions[size]["number size"] = number.size
    big, small = regions[(1920, 1080)], regions[(1280, 720)]
    for name in ("call", "clock", "row:1", "banner"):
        for attribute in ("x", "y", "width", "height"):
            assert abs(getattr(small[name], attribute) - getattr(big[name], attribute) * 2 / 3) <= 2, (name, attribute)
    assert abs(small["number size"] - big["number size"] * 2 / 3) <= 3


def test_the_banner_scrolls_only_when_its_text_does_not_fit(fonts):
    screen = pygame.Surface((1280, 720))
    renderer = TvRenderer(screen, fonts)
    short = build_view(sample_state(announcements=(("Chú ý", "high"),)), later(1))
    renderer.draw(short, 0.0)
    assert not renderer.animating
    assert renderer.draw(short, 0.5) == []
    long_text = ("Từ ngày 01/12, bộ phận Tư pháp - Hộ tịch làm việc cả sáng thứ Bảy; "
                 "quý khách vui lòng lấy số trước 11 giờ")
    ticker = build_view(sample_state(announcements=((long_text, "medium"),)), later(1))
    renderer.draw(ticker, 0.0)
    assert renderer.animating
    assert renderer.draw(ticker, 0.5) == [renderer.region("banner")]
    first = renderer.placements(long_text)[0].rect.x
    renderer.draw(ticker, 1.0)
    assert renderer.placements(long_text)[0].rect.x < first  # moving left


def test_a_counter_name_too_long_for_its_row_wraps_evenly_never_before_a_dash(fonts):
    renderer = TvRenderer(pygame.Surface((1920, 1080)), fonts)
    renderer.draw(build_view(sample_state(), later(0)), 0.0)
    names = [p.text for p in renderer.placements() if p.region == "row:2" and not p.text[0].isdigit()
             and not p.text.startswith("Đang chờ")]
    assert names == ["Tư pháp -", "Hộ tịch"]  # not "Tư pháp" / "- Hộ tịch"
