"""The TV's drawing (tv_node.render): dirty regions, layouts that scale, text inside its regions, the ticker,
the call panel's counter number and priority mark, rows by line of citizens, the glyphs of every text drawn.

Drawn on plain pygame surfaces: no window is needed. The font, its
Vietnamese letters, the text cache, fitting and wrapping are the display
package's, tested in tests/display.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from display.fonts import find_fonts, missing_glyphs  # noqa: E402
from display.text_cache import TextCache  # noqa: E402
from display.vietnamese import required_characters  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.client import apply_message  # noqa: E402
from tv_node.render import PRIORITY, TvRenderer  # noqa: E402
from tv_node.sample import SAMPLE_NOW, no_show_state, sample_state  # noqa: E402
from tv_node.view import NO_SHOW_TEXT, PAUSED_TEXT, PRIORITY_TEXT, TvView, build_view  # noqa: E402

SIZES = [(1920, 1080), (1280, 720)]


@pytest.fixture(scope="module")
def fonts() -> TextCache:
    return TextCache(find_fonts())


def pixels(surface: pygame.Surface) -> bytes:
    return pygame.image.tobytes(surface, "RGBA")  # antialiased text is all in the alpha


def later(seconds: float) -> datetime:
    return SAMPLE_NOW + timedelta(seconds=seconds)


def line_update(counter_id: int, current: int | None, queue_id: int, upcoming: list[int], *,
                priority: bool = False) -> m.QueueUpdate:
    """A Version 2 QUEUE_UPDATE: the counter's current ticket and its line."""
    ticket = m.CurrentTicket(ticket_id=current, ticket_number=current, queue_id=queue_id, priority=priority,
                             called_at=None, ticket_label=str(current)) if current is not None else None
    return m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=counter_id, current_number=current, waiting_count=len(upcoming), next_numbers=upcoming,
        average_wait_time=3, queue_ids=[queue_id], current_ticket=ticket,
        queues=[m.QueueLine(queue_id=queue_id, waiting_count=len(upcoming), priority_waiting_count=0,
                            next_numbers=upcoming, average_wait_time=3)]))


def drawn_in(renderer: TvRenderer, region: str) -> list[str]:
    return [p.text for p in renderer.placements() if p.region == region]


# --- dirty regions ----------------------------------------------------------------------------


def hall_timeline() -> Iterator[tuple[str, TvView, float]]:
    """(label, view, ticker time): the screen through a working afternoon."""
    idle = sample_state(calls_ago=(40.0,))
    yield "idle", build_view(idle, later(0)), 0.0
    yield "clock ticks", build_view(idle, later(1)), 1.0
    called = sample_state(calls_ago=(0.1, 40.0))
    yield "a call", build_view(called, later(0.1)), 1.1
    yield "blink", build_view(called, later(0.7)), 1.7
    queue = apply_message(called, line_update(4, None, 4, [4001, 4002]))
    yield "a ticket for line 4", build_view(queue, later(0.7)), 1.7
    paused = apply_message(queue, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai", status="paused", reason="Nghỉ trưa",
        changed_by="canbo", timestamp=m.utc_timestamp(later(1)), affected_tickets=3)))
    yield "a pause", build_view(paused, later(1.2)), 2.2
    yield "a no-show", build_view(no_show_state(), later(1.3)), 2.3
    announced = sample_state(calls_ago=(0.1, 40.0), announcements=(("Chú ý: quầy 1 tạm nghỉ", "high"),))
    yield "an announcement", build_view(announced, later(2)), 3.0
    long_text = "Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì định kỳ. Xin cảm ơn quý khách đã kiên nhẫn chờ!"
    ticker = sample_state(calls_ago=(0.1, 40.0), announcements=((long_text, "medium"),))
    yield "a ticker", build_view(ticker, later(3)), 4.0
    yield "the ticker moves", build_view(ticker, later(3)), 4.5
    lost = replace(ticker, connected=False)
    yield "the hub is lost", build_view(lost, later(12)), 5.0
    yield "more lines", build_view(sample_state(queues=6), later(13)), 6.0
    yield "a room's counters only", build_view(sample_state(display_counters=(2, 5)), later(13.5)), 6.5
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
    queue = apply_message(idle, line_update(4, None, 4, [4001, 4002]))
    assert renderer.draw(build_view(queue, later(1.2)), 1.2) == [renderer.region("row:4")]
    called = apply_message(queue, m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=4001, counter_id=4, counter_name="Bảo hiểm xã hội", announcement_text="", audio_url=None,
        display_duration=10, counter_number=4, queue_id=4, ticket_label="4001")), local_time=later(1.3).timestamp())
    called = apply_message(called, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=4001, counter_id=4, counter_name="Bảo hiểm xã hội", timestamp=m.utc_timestamp(later(1.3)),
        called_by=m.CalledBy(user_id=1, username="canbo", full_name=None), counter_number=4, queue_id=4,
        ticket_label="4001")))
    called = apply_message(called, line_update(4, 4001, 4, [4002]))
    changed = renderer.draw(build_view(called, later(1.4)), 1.4)
    assert sorted(map(tuple, changed)) == sorted(map(tuple, [renderer.region("call"), renderer.region("row:4")]))
    assert {p.region for p in renderer.placements("4001")} == {"call", "row:4"}
    assert renderer.placements("ĐẾN QUẦY SỐ 4")
    # The counter finishes: its row changes, and the call is over.
    finished = apply_message(called, m.TicketUpdated(m.TicketUpdatedPayload(
        ticket_id=4001, ticket_number=4001, queue_id=4, counter_id=4, status="done", priority=False,
        action="finish", by="canbo", timestamp=m.utc_timestamp(later(1.5)), from_counter_id=4)))
    changed = renderer.draw(build_view(finished, later(1.6)), 1.6)
    assert sorted(map(tuple, changed)) == sorted(map(tuple, [renderer.region("call"), renderer.region("row:4")]))
    assert {p.region for p in renderer.placements("4001")} == {"call"}  # "SỐ VỪA GỌI": the last call, quietly
    assert renderer.placements("SỐ VỪA GỌI")
    lost = replace(finished, connected=False)
    assert renderer.draw(build_view(lost, later(1.65)), 1.65) == [renderer.region("mark")]
    assert renderer.placements("Mất kết nối")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("queues", [1, 4, 10, 12])
def test_text_stays_inside_its_region_at_every_size(fonts, size, queues):
    state = sample_state(queues=queues, calls_ago=(0.5, 2.0, 3.0),
                         announcements=(("Quầy 3 tạm nghỉ đến 14 giờ 30", "high"),))
    state = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai và tài sản gắn liền với đất của tỉnh",
        status="paused", reason="Cán bộ đi tập huấn nghiệp vụ tại Sở Tài nguyên và Môi trường cả ngày",
        changed_by="canbo", timestamp=m.utc_timestamp(SAMPLE_NOW), affected_tickets=3)))
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    renderer.draw(build_view(state, later(1)), 0.0)
    placed = renderer.placements()
    assert len({p.region for p in placed}) >= 4 + queues
    for piece in placed:
        region = renderer.region(piece.region)
        assert region.contains(piece.rect), f"{piece.text!r} sticks out of {piece.region} at {size}"
    # Line 1's only counter paused here; line 3's only counter is paused in the sample hall.
    assert [p.region for p in renderer.placements(PAUSED_TEXT)] == ["row:1", "row:3"][:1 + (queues >= 3)]


def test_the_layout_scales_with_the_screen(fonts):
    regions = {}
    for size in SIZES:
        renderer = TvRenderer(pygame.Surface(size), fonts)
        renderer.draw(build_view(sample_state(), later(0)), 0.0)
        regions[size] = {name: renderer.region(name) for name in ("call", "clock", "row:1", "banner")}
        number = [p for p in renderer.placements("2014") if p.region == "call"][0]
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


def test_a_line_name_too_long_for_its_row_wraps_evenly_never_before_a_dash(fonts):
    state = sample_state()
    queues = dict(state.queues)
    queues[2] = replace(queues[2], name="Tư pháp - Hộ tịch - Chứng thực")
    renderer = TvRenderer(pygame.Surface((1280, 720)), fonts)
    renderer.draw(build_view(replace(state, queues=queues), later(0)), 0.0)
    names = [t for t in drawn_in(renderer, "row:2") if t[0].isalpha() and not t.startswith(("Đang chờ", "Quầy"))]
    assert len(names) == 2 and " ".join(names) == "Tư pháp - Hộ tịch - Chứng thực"
    assert not any(name.startswith("-") for name in names)


# --- what the panel and the rows say ----------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_call_panel_says_the_counters_number_its_name_and_marks_a_priority_call(fonts, size):
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    # The sample hall: 2014, a priority ticket, just called to counter 2; 13 called to counter 1 before.
    renderer.draw(build_view(sample_state(), later(0.6)), 0.0)
    panel = drawn_in(renderer, "call")
    assert panel[:4] == ["MỜI KHÁCH HÀNG SỐ", PRIORITY_TEXT, "2014", "ĐẾN QUẦY SỐ 2"]
    assert "Tư pháp - Hộ tịch" in panel
    # The earlier call, by counter number; not a priority one.
    assert [t for t in panel if t in ("13", "Quầy 1")] == ["13", "Quầy 1"]
    assert panel.count(PRIORITY_TEXT) == 1
    # The mark is drawn on its own colour, inside the number box, above the number.
    mark = renderer.placements(PRIORITY_TEXT)[0]
    number = [p for p in renderer.placements("2014") if p.region == "call"][0]
    assert mark.rect.bottom <= number.rect.top + 2
    assert screen.get_at((mark.rect.left - 2, mark.rect.centery))[:3] == PRIORITY


def test_an_earlier_priority_call_is_marked_in_the_list(fonts):
    renderer = TvRenderer(pygame.Surface((1920, 1080)), fonts)
    # Counter 1 called after counter 2's priority ticket: 2014 goes to the list, marked.
    state = sample_state(calls_ago=(5.0,))
    state = apply_message(state, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=13, counter_id=1, counter_name="Văn phòng đăng ký đất đai",
        timestamp=m.utc_timestamp(later(0)), called_by=m.CalledBy(user_id=1, username="canbo", full_name=None),
        counter_number=1, queue_id=1, ticket_label="13")))
    renderer.draw(build_view(state, later(0.6)), 0.0)
    panel = drawn_in(renderer, "call")
    assert panel[:3] == ["MỜI KHÁCH HÀNG SỐ", "13", "ĐẾN QUẦY SỐ 1"]
    earlier = panel.index("2014")
    assert panel[earlier:earlier + 3] == ["2014", PRIORITY_TEXT, "Quầy 2"]
    assert panel.count(PRIORITY_TEXT) == 1  # 13 is no priority ticket


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_line_served_by_two_counters_is_one_row_with_both_desks(fonts, size):
    renderer = TvRenderer(pygame.Surface(size), fonts)
    renderer.draw(build_view(sample_state(), later(0.6)), 0.0)
    row = drawn_in(renderer, "row:2")
    assert row[:2] == ["Tư pháp - Hộ tịch", "Quầy 2, 5"]
    # Counter 2's badge and number, then counter 5's, then the line's next numbers and count.
    assert row[2:6] == ["2", "2014", "5", "2012"]
    # As many next numbers as fit the column (two at these sizes), then the count.
    assert row[6:] == ["2015  2016", "Đang chờ: 9 (1 ưu tiên)"]
    assert not [p for p in renderer.placements() if p.region == "row:5"]  # no row of its own for counter 5
    desks = {p.text: p.rect for p in renderer.placements() if p.region == "row:2"}
    assert desks["2014"].bottom <= desks["2012"].top  # one above the other


def test_a_no_show_is_shown_at_its_desk(fonts):
    renderer = TvRenderer(pygame.Surface((1920, 1080)), fonts)
    renderer.draw(build_view(no_show_state(), later(0.6)), 0.0)
    row = drawn_in(renderer, "row:2")
    assert f"2012 {NO_SHOW_TEXT}" in row and "2012" not in row


# --- glyphs ---------------------------------------------------------------------------------


def every_scene() -> Iterator[TvView]:
    yield build_view(sample_state(), later(0.6))
    yield build_view(no_show_state(), later(0.6))
    yield build_view(sample_state(queues=12, calls_ago=(0.5, 2.0, 3.0, 4.0)), later(1))
    yield build_view(sample_state(calls_ago=(40.0,), connected=False,
                                  announcements=(("Quầy 2 chuyển lên tầng 2", "high"),)), later(1))
    partial = apply_message(sample_state(), m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=5, counter_name="Tư pháp - Hộ tịch", status="paused", reason="Đi họp", changed_by="canbo",
        timestamp=m.utc_timestamp(SAMPLE_NOW), affected_tickets=0)))
    yield build_view(partial, later(1))
    yield build_view(sample_state(calls_ago=()), later(1))
    yield build_view(replace(sample_state(), service_day="", counters={}), later(1))  # connecting


def test_every_text_the_board_draws_has_its_glyphs_in_the_font(fonts):
    screen = pygame.Surface((1920, 1080))
    drawn: set[str] = set()
    for view in every_scene():
        renderer = TvRenderer(screen, fonts)
        renderer.draw(view, 0.0)
        drawn |= {p.text for p in renderer.placements()}
    # The new words are all there: the panel, the mark, the rows' titles are in the background.
    assert {"ĐẾN QUẦY SỐ 2", PRIORITY_TEXT, "Quầy 2, 5", f"2012 {NO_SHOW_TEXT}", PAUSED_TEXT,
            "Đang kết nối tới máy chủ…", "SỐ VỪA GỌI"} <= drawn
    characters = set("".join(drawn)) | set("".join(("HÀNG CHỜ", "ĐANG PHỤC VỤ", "SỐ TIẾP THEO")))
    assert all(unicodedata.is_normalized("NFC", t) for t in drawn)
    assert characters <= set(required_characters()), characters - set(required_characters())
    for face in {fonts.files.regular, fonts.files.face(bold=True)}:
        assert missing_glyphs(face, sorted(characters)) == [], face
