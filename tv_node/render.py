"""Draws a :class:`~tv_node.view.TvView` with pygame, redrawing only what changed.

The screen is cut into regions (site name, connection mark, clock, the call
panel, one region per row, the announcement banner). A row is a line of
citizens: its name and counters ("Quầy 2, 5"), each desk serving it (the
counter's number in a badge, the number it serves), the next numbers and how
many wait. Each region
remembers the part of the view it last drew; a frame repaints a region only
when that part changed, from a background painted once per layout, and
returns the rectangles it touched so the caller updates just those on the
display. An idle hall costs one clock repaint a second.

Everything is laid out in proportions of the screen and scaled fonts, so
1920x1080 and 1280x720 (and other sizes) look alike. Rendered text is cached
(:class:`display.text_cache.TextCache`); sizes are fitted and long names
wrapped evenly by :mod:`display.fit` and :mod:`display.wrap`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402 - after the environment setting above

from display.fit import fit_lines, fit_width  # noqa: E402
from display.text_cache import Color, TextCache  # noqa: E402
from display.wrap import ellipsize  # noqa: E402
from tv_node.view import (  # noqa: E402
    CONNECTING_TEXT,
    CONNECTION_LOST_TEXT,
    NO_SHOW_TEXT,
    PAUSED_TEXT,
    PRIORITY_TEXT,
    Banner,
    CallCard,
    Desk,
    QueueRow,
    TvView,
)

# High contrast on a dark hall screen: white and yellow on deep blue.
BACKGROUND: Color = (5, 20, 42)
HEADER: Color = (9, 44, 92)
HEADER_RULE: Color = (255, 200, 0)
PANEL: Color = (11, 33, 66)
ROW: Color = (14, 40, 78)
ROW_ALT: Color = (11, 33, 66)
ROW_CALLED: Color = (70, 56, 0)
TEXT: Color = (255, 255, 255)
MUTED: Color = (165, 185, 212)
DIM: Color = (110, 128, 155)
NUMBER: Color = (255, 210, 0)
NUMBER_ON_LIGHT: Color = (20, 20, 20)
PAUSED: Color = (255, 150, 50)
# Priority tickets' mark: a colour nothing else on the board uses.
PRIORITY: Color = (0, 150, 80)
LOST: Color = (205, 30, 40)
BANNER: dict[str, Color] = {"high": (175, 18, 30), "medium": (150, 80, 0), "low": (20, 74, 140)}
BANNER_TEXT: dict[str, Color] = {"high": (255, 235, 60), "medium": TEXT, "low": TEXT}
FOOTER: Color = (9, 30, 60)

DESIGN_WIDTH, DESIGN_HEIGHT = 1920, 1080
# Ticker speed, in design pixels a second (scaled with the screen).
TICKER_SPEED = 140.0
TICKER_GAP = "     •     "
# A name stays on one line while that line can be this share of its largest size (else it wraps in two).
ONE_LINE = 0.8
# Rows shorter than this (design pixels) put name, numbers and status on one line.
COMPACT_ROW = 105
# The column titles of the table: the line of citizens, the counters serving it now, who is next.
COLUMN_TITLES = ("HÀNG CHỜ", "ĐANG PHỤC VỤ", "SỐ TIẾP THEO")

WELCOME_LINES = ("Xin mời quý khách", "lấy số thứ tự", "và theo dõi màn hình")
FOOTER_TEXT = "Quý khách vui lòng giữ phiếu và chú ý lời mời đến quầy"


# Paints one region: called with the region's name and rectangle, the surface clipped to it.
Painter = Callable[[str, pygame.Rect], None]
# A region: its name, where it is, the part of the view it shows (compared frame to frame), its painter.
Region = tuple[str, pygame.Rect, Any, Painter]


@dataclass(frozen=True)
class Placement:
    """A piece of text as drawn in the last frame: where, how big, in what colour (for tests and support)."""

    text: str
    rect: pygame.Rect
    size: int
    bold: bool
    color: Color
    region: str


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    scale: float
    header: pygame.Rect
    site: pygame.Rect
    mark: pygame.Rect
    clock: pygame.Rect
    main: pygame.Rect
    call: pygame.Rect
    table_header: pygame.Rect
    rows: tuple[pygame.Rect, ...]
    banner: pygame.Rect
    # Column edges inside a row: name, serving, next (x offsets from the row's left).
    columns: tuple[int, int, int]


def compute_layout(width: int, height: int, row_count: int) -> Layout:
    s = min(width / DESIGN_WIDTH, height / DESIGN_HEIGHT)

    def px(value: float) -> int:
        return max(1, round(value * s))

    header_h = round(height * 0.12)
    banner_h = round(height * 0.10)
    margin = px(24)
    header = pygame.Rect(0, 0, width, header_h)
    clock_w = px(360)
    mark_w = px(300)
    clock = pygame.Rect(width - margin - clock_w, 0, clock_w, header_h)
    mark = pygame.Rect(clock.left - mark_w - px(12), 0, mark_w, header_h)
    site = pygame.Rect(margin, 0, mark.left - margin - px(12), header_h)
    main = pygame.Rect(0, header_h, width, height - header_h - banner_h)
    call = pygame.Rect(margin, main.top + margin, round(width * 0.35), main.height - 2 * margin)
    table_left = call.right + margin
    table_w = width - margin - table_left
    table_header = pygame.Rect(table_left, call.top, table_w, px(56))
    rows_top = table_header.bottom + px(8)
    available = call.bottom - rows_top
    gap = px(10)
    count = max(1, row_count)
    row_h = min(px(190), (available - gap * (count - 1)) // count)
    rows = tuple(pygame.Rect(table_left, rows_top + i * (row_h + gap), table_w, row_h) for i in range(row_count))
    # Short rows put a line's name on one line: give it more of the row.
    name_share = 0.42 if row_h < px(COMPACT_ROW) else 0.38
    columns = (0, round(table_w * name_share), round(table_w * 0.70))
    banner = pygame.Rect(0, height - banner_h, width, banner_h)
    return Layout(width, height, s, header, site, mark, clock, main, call, table_header, rows, banner, columns)


class TvRenderer:
    """Draws views onto ``surface``; :meth:`draw` returns the rectangles that changed."""

    def __init__(self, surface: pygame.Surface, fonts: TextCache):
        self.surface = surface
        self.fonts = fonts
        self.layout: Layout | None = None
        self._background: pygame.Surface | None = None
        self._layout_key: Any = None
        self._drawn: dict[str, Any] = {}
        self._placements: dict[str, list[Placement]] = {}
        # Set while the banner scrolls: the frame loop then runs fast enough for smooth motion.
        self.animating = False
        # Frames drawn in full and regions repainted since start (diagnostics, bench).
        self.full_redraws = 0
        self.region_redraws = 0
        self._regions_cache: list[Region] = []

    # --- public --------------------------------------------------------------------------------

    def draw(self, view: TvView, now: float = 0.0, *, full: bool = False) -> list[pygame.Rect]:
        """Bring the surface up to ``view``; ``now`` (monotonic seconds) drives the ticker.

        Returns the changed rectangles (the whole screen after a full redraw), empty when nothing changed.
        """
        size = self.surface.get_size()
        layout_key = (size, len(view.rows), view.has_state)
        if full or layout_key != self._layout_key:
            self._layout_key = layout_key
            self.layout = compute_layout(size[0], size[1], len(view.rows))
            self._background = self._paint_background(self.layout, view)
            self._drawn.clear()
            full = True
        assert self.layout is not None and self._background is not None
        if full:
            self.surface.blit(self._background, (0, 0))
            self._placements.clear()  # regions of the old layout may be gone
        changed: list[pygame.Rect] = []
        self.animating = False
        for name, rect, key, painter in self._regions(view, now):
            if not full and self._drawn.get(name) == key:
                continue
            self._drawn[name] = key
            self._placements[name] = []
            if not full:
                self.surface.blit(self._background, rect, rect)
            clip = self.surface.get_clip()
            self.surface.set_clip(rect)
            try:
                painter(name, rect)
            finally:
                self.surface.set_clip(clip)
            self.region_redraws += 1
            changed.append(rect)
        if full:
            self.full_redraws += 1
            return [self.surface.get_rect()]
        return changed

    def region(self, name: str) -> pygame.Rect:
        """Where a region is (``call``, ``clock``, ``mark``, ``site``, ``banner``, ``row:<queue_id>``)."""
        for region_name, rect, _, _ in self._regions_cache:
            if region_name == name:
                return rect
        raise KeyError(name)

    def placements(self, text: str | None = None) -> list[Placement]:
        """The text drawn as of the last frame (all of it, or the pieces equal to ``text``)."""
        every = [p for pieces in self._placements.values() for p in pieces]
        return every if text is None else [p for p in every if p.text == text]

    # --- regions -------------------------------------------------------------------------------

    def _regions(self, view: TvView, now: float) -> list[Region]:
        layout = self.layout
        assert layout is not None

        def row_painter(row: QueueRow) -> Painter:
            return lambda n, r: self._paint_row(n, r, row)

        regions: list[Region] = [
            ("site", layout.site, view.site_name, lambda n, r: self._paint_site(n, r, view)),
            ("mark", layout.mark, view.connection_lost, lambda n, r: self._paint_mark(n, r, view)),
            ("clock", layout.clock, (view.clock_text, view.date_text), lambda n, r: self._paint_clock(n, r, view)),
        ]
        if not view.has_state:
            regions.append(("call", layout.main, None, lambda n, r: self._paint_connecting(n, r)))
        else:
            regions.append(("call", layout.call, (view.calls, view.last_call),
                            lambda n, r: self._paint_call(n, r, view)))
            # The layout has one row per line of citizens (it is made again when their number changes).
            for row, rect in zip(view.rows, layout.rows, strict=True):
                regions.append((f"row:{row.queue_id}", rect, row, row_painter(row)))
        banner_key = self._banner_key(view.announcements, layout.banner, now)
        regions.append(("banner", layout.banner, banner_key,
                        lambda n, r: self._paint_banner(n, r, view.announcements, banner_key)))
        self._regions_cache = regions
        return regions

    # --- painting helpers ---------------------------------------------------------------------

    def _px(self, value: float) -> int:
        assert self.layout is not None
        return max(1, round(value * self.layout.scale))

    def _text(self, region: str, text: str, size: int, bold: bool, color: Color, *,
              left: int | None = None, right: int | None = None, centerx: int | None = None,
              top: int | None = None, centery: int | None = None, bottom: int | None = None) -> pygame.Rect:
        surface = self.fonts.render(text, size, color, bold)
        rect = surface.get_rect()
        if left is not None:
            rect.left = left
        if right is not None:
            rect.right = right
        if centerx is not None:
            rect.centerx = centerx
        if top is not None:
            rect.top = top
        if centery is not None:
            rect.centery = centery
        if bottom is not None:
            rect.bottom = bottom
        self.surface.blit(surface, rect)
        self._placements.setdefault(region, []).append(Placement(text, rect, int(size), bold, color, region))
        return rect

    def _paint_background(self, layout: Layout, view: TvView) -> pygame.Surface:
        background = pygame.Surface((layout.width, layout.height)).convert() if pygame.display.get_surface() \
            else pygame.Surface((layout.width, layout.height))
        background.fill(BACKGROUND)
        background.fill(HEADER, layout.header)
        background.fill(HEADER_RULE, pygame.Rect(0, layout.header.bottom - self._px_for(layout, 5),
                                                 layout.width, self._px_for(layout, 5)))
        background.fill(FOOTER, layout.banner)
        if view.has_state:
            radius = self._px_for(layout, 18)
            pygame.draw.rect(background, PANEL, layout.call, border_radius=radius)
            for index, rect in enumerate(layout.rows):
                pygame.draw.rect(background, ROW if index % 2 == 0 else ROW_ALT, rect,
                                 border_radius=self._px_for(layout, 12))
            # The column titles never change: part of the background.
            size = self._px_for(layout, 28)
            head = layout.table_header
            for title, x in zip(COLUMN_TITLES, layout.columns, strict=True):
                rendered = self.fonts.render(title, size, MUTED, True)
                background.blit(rendered, rendered.get_rect(left=head.left + x + self._px_for(layout, 16),
                                                             centery=head.centery))
        return background

    @staticmethod
    def _px_for(layout: Layout, value: float) -> int:
        return max(1, round(value * layout.scale))

    # --- header --------------------------------------------------------------------------------

    def _paint_site(self, name: str, rect: pygame.Rect, view: TvView) -> None:
        title = view.site_name or "Hệ thống xếp hàng"
        size, lines = fit_lines(self.fonts, title, rect.width, rect.height - self._px(20), self._px(58), self._px(30),
                                bold=True, max_lines=2, one_line=ONE_LINE)
        line_h = self.fonts.font(size, True).get_linesize()
        top = rect.centery - line_h * len(lines) // 2
        for i, line in enumerate(lines):
            self._text(name, line, size, True, TEXT, left=rect.left, top=top + i * line_h)

    def _paint_mark(self, name: str, rect: pygame.Rect, view: TvView) -> None:
        if not view.connection_lost:
            return
        size = self._px(30)
        label_w = self.fonts.width(CONNECTION_LOST_TEXT, size, True)
        dot = self._px(10)
        pill = pygame.Rect(0, 0, label_w + dot * 2 + self._px(52), self._px(58))
        pill.midright = (rect.right, rect.centery)
        pygame.draw.rect(self.surface, LOST, pill, border_radius=pill.height // 2)
        pygame.draw.circle(self.surface, TEXT, (pill.left + self._px(22) + dot, pill.centery), dot)
        self._text(name, CONNECTION_LOST_TEXT, size, True, TEXT, left=pill.left + self._px(30) + dot * 2,
                   centery=pill.centery)

    def _paint_clock(self, name: str, rect: pygame.Rect, view: TvView) -> None:
        if not view.clock_text:
            return
        time_size = self._px(66)
        date_size = self._px(26)
        time_h = self.fonts.font(time_size, True).get_height()
        date_h = self.fonts.font(date_size, False).get_height()
        top = rect.centery - (time_h + date_h) // 2
        self._text(name, view.clock_text, time_size, True, TEXT, right=rect.right, top=top)
        self._text(name, view.date_text, date_size, False, MUTED, right=rect.right, top=top + time_h)

    # --- the call panel ------------------------------------------------------------------------

    def _paint_connecting(self, name: str, rect: pygame.Rect) -> None:
        self._text(name, CONNECTING_TEXT, self._px(54), True, TEXT, centerx=rect.centerx, centery=rect.centery)

    def _paint_call(self, name: str, rect: pygame.Rect, view: TvView) -> None:
        pad = self._px(28)
        inner = rect.inflate(-2 * pad, -2 * pad)
        if view.calls:
            bottom = self._paint_current_call(name, inner, view.calls[0], live=True)
            self._paint_earlier_calls(name, inner, view.calls[1:], bottom + self._px(24))
        elif view.last_call is not None:
            self._paint_current_call(name, inner, view.last_call, live=False)
        else:
            # One size for both lines: the one the longer line fits at.
            size = min(fit_width(self.fonts, line, inner.width, self._px(52), self._px(20), bold=True)
                       for line in WELCOME_LINES)
            line_h = round(self.fonts.font(size, True).get_linesize() * 1.2)
            top = inner.centery - line_h * len(WELCOME_LINES) // 2
            for i, line in enumerate(WELCOME_LINES):
                self._text(name, line, size, True, TEXT, centerx=inner.centerx, top=top + i * line_h)

    def _number_box_height(self, inner: pygame.Rect) -> int:
        return round(inner.height * 0.42)

    def _paint_current_call(self, name: str, inner: pygame.Rect, call: CallCard, *, live: bool) -> int:
        """The newest call, big: the number, "ĐẾN QUẦY SỐ 2", the counter's name; returns the bottom drawn."""
        title = "MỜI KHÁCH HÀNG SỐ" if live else "SỐ VỪA GỌI"
        title_size = fit_width(self.fonts, title, inner.width, self._px(48), self._px(20), bold=True)
        title_rect = self._text(name, title, title_size, True, TEXT if live else MUTED, centerx=inner.centerx,
                                top=inner.top)
        box = pygame.Rect(inner.left, title_rect.bottom + self._px(14), inner.width, self._number_box_height(inner))
        if live:
            # The opening blink swaps the colours; afterwards the number stays yellow on dark red.
            fill, ink = ((NUMBER, NUMBER_ON_LIGHT) if call.flash else ((120, 16, 24), NUMBER))
            pygame.draw.rect(self.surface, fill, box, border_radius=self._px(22))
            pygame.draw.rect(self.surface, NUMBER, box, width=self._px(6), border_radius=self._px(22))
        else:
            ink = TEXT
            pygame.draw.rect(self.surface, DIM, box, width=self._px(3), border_radius=self._px(22))
        number_area = box
        if call.priority:
            # The mark sits in the box's top edge, so the eye meets it with the number.
            tag = self._tag(name, PRIORITY_TEXT, round(box.height * 0.2), centerx=box.centerx,
                            top=box.top + self._px(12))
            number_area = pygame.Rect(box.left, tag.bottom, box.width, box.bottom - tag.bottom)
        size = fit_width(self.fonts, call.label, box.width - self._px(40), round(number_area.height * 0.95),
                         self._px(40), bold=True)
        self._text(name, call.label, size, True, ink, centerx=number_area.centerx, centery=number_area.centery)
        where = f"ĐẾN QUẦY SỐ {call.counter_number}"
        where_size = fit_width(self.fonts, where, inner.width, self._px(66), self._px(24), bold=True)
        where_rect = self._text(name, where, where_size, True, NUMBER if live else MUTED, centerx=inner.centerx,
                                top=box.bottom + self._px(14))
        room = pygame.Rect(inner.left, where_rect.bottom + self._px(2), inner.width, self._px(110))
        size, lines = fit_lines(self.fonts, call.counter_name, room.width, room.height, self._px(44), self._px(24),
                                bold=True, max_lines=2, one_line=ONE_LINE)
        line_h = self.fonts.font(size, True).get_linesize()
        for i, line in enumerate(lines):
            self._text(name, line, size, True, TEXT if live else MUTED, centerx=inner.centerx,
                       top=room.top + i * line_h)
        return room.top + max(len(lines), 1) * line_h

    def _tag(self, region: str, label: str, height: int, **where: int) -> pygame.Rect:
        """A pill with ``label`` (the priority mark), placed by ``where`` (as :meth:`_text`); its rectangle."""
        size = max(6, round(height * 0.62))
        width = self.fonts.width(label, size, True) + height
        pill = pygame.Rect(0, 0, width, height)
        for attribute, value in where.items():
            setattr(pill, attribute, value)
        pygame.draw.rect(self.surface, PRIORITY, pill, border_radius=height // 2)
        self._text(region, label, size, True, TEXT, centerx=pill.centerx, centery=pill.centery)
        return pill

    def _paint_earlier_calls(self, name: str, inner: pygame.Rect, calls: Sequence[CallCard], top: int) -> None:
        """The other calls still within their time, newest first, one line each, as many as fit."""
        if not calls:
            return
        line_h = self._px(72)
        count = max(0, min(len(calls), (inner.bottom - top) // line_h))
        if count == 0:
            return
        pygame.draw.line(self.surface, DIM, (inner.left, top - self._px(8)), (inner.right, top - self._px(8)),
                         self._px(2))
        number_size = self._px(56)
        number_w = max(self.fonts.width(call.label, number_size, True) for call in calls[:count])
        number_w = max(number_w, self.fonts.width("8888", number_size, True))
        for i, call in enumerate(calls[:count]):
            middle = top + i * line_h + line_h // 2
            self._text(name, call.label, number_size, True, NUMBER, left=inner.left, centery=middle)
            arrow_x = inner.left + number_w + self._px(18)
            self._arrow(arrow_x, middle)
            right = inner.right
            if call.priority:
                right = self._tag(name, PRIORITY_TEXT, self._px(40), right=inner.right, centery=middle).left \
                    - self._px(12)
            where_left = arrow_x + self._px(48)
            size = self._px(40)
            where = ellipsize(f"Quầy {call.counter_number}", right - where_left, self.fonts.measure(size, True))
            drawn = self._text(name, where, size, True, TEXT, left=where_left, centery=middle)
            # The counter's name after its number, as much of it as there is room for.
            name_left = drawn.right + self._px(14)
            name_size = self._px(30)
            if right - name_left > self.fonts.width("Tư…", name_size):
                label = ellipsize(call.counter_name, right - name_left, self.fonts.measure(name_size))
                self._text(name, label, name_size, False, MUTED, left=name_left, centery=middle)

    def _arrow(self, x: int, y: int) -> None:
        # Drawn, not a glyph: not every Vietnamese-complete font has the arrows block.
        w, h = self._px(30), self._px(26)
        pygame.draw.polygon(self.surface, MUTED, [(x, y - h // 6), (x + w // 2, y - h // 6), (x + w // 2, y - h // 2),
                                                  (x + w, y), (x + w // 2, y + h // 2), (x + w // 2, y + h // 6),
                                                  (x, y + h // 6)])

    # --- counter rows --------------------------------------------------------------------------

    def _paint_row(self, name: str, rect: pygame.Rect, row: QueueRow) -> None:
        """One line of citizens: its name and counters, the desks serving it, the next numbers and the count."""
        assert self.layout is not None
        radius = self._px(12)
        if row.called:
            pygame.draw.rect(self.surface, ROW_CALLED, rect, border_radius=radius)
            pygame.draw.rect(self.surface, NUMBER, rect, width=self._px(4), border_radius=radius)
        # Many lines make short rows: then everything goes on one line, as big as the row allows.
        compact = rect.height < self._px(COMPACT_ROW)
        name_x, serving_x, next_x = (rect.left + c for c in self.layout.columns)
        pad = max(2, round(rect.height * 0.1)) if compact else self._px(14)
        text_color = TEXT if not row.paused else MUTED

        name_left = name_x + self._px(16)
        name_w = serving_x - name_left - pad
        if compact:
            size = fit_width(self.fonts, row.name, name_w, round(rect.height * 0.42), round(rect.height * 0.3),
                             bold=True)
            self._text(name, ellipsize(row.name, name_w, self.fonts.measure(size, True)), size, True, text_color,
                       left=name_left, centery=rect.centery)
        else:
            # Under the name, the counters serving the line ("Quầy 2, 5"): where its numbers are called to.
            counters_size = min(self._px(30), round(rect.height * 0.2))
            counters_h = self.fonts.font(counters_size, True).get_linesize() if row.counters_text else 0
            # One size for every row's name (from the row height), so the table reads evenly; long names wrap.
            size, lines = fit_lines(self.fonts, row.name, name_w, rect.height - 2 * pad - counters_h,
                                    min(self._px(42), round(rect.height * 0.27)), self._px(18), bold=True,
                                    max_lines=2)
            line_h = self.fonts.font(size, True).get_linesize()
            top = rect.centery - (line_h * len(lines) + counters_h) // 2
            for i, line in enumerate(lines):
                self._text(name, line, size, True, text_color, left=name_left, top=top + i * line_h)
            if row.counters_text:
                label = ellipsize(row.counters_text, name_w, self.fonts.measure(counters_size, True))
                self._text(name, label, counters_size, True, NUMBER if not row.paused else DIM, left=name_left,
                           top=top + len(lines) * line_h)

        desks = pygame.Rect(serving_x + pad, rect.top + pad, next_x - serving_x - 2 * pad, rect.height - 2 * pad)
        self._paint_desks(name, desks, row, compact)

        # Next numbers, or why the line is closed.
        next_w = rect.right - next_x - 2 * pad
        box = pygame.Rect(next_x + pad, rect.top + pad, next_w, rect.height - 2 * pad)
        if row.paused:
            if compact:
                self._paint_paused_line(name, box, row)
            else:
                self._paint_paused(name, box, row)
            return
        size = round(rect.height * 0.42) if compact else min(self._px(44), round(rect.height * 0.32))
        shown = ""
        for count in range(len(row.next_numbers), 0, -1):  # as many as fit
            candidate = "  ".join(row.next_numbers[:count])
            if self.fonts.width(candidate, size, True) <= next_w:
                shown = candidate
                break
        if compact:
            self._text(name, shown or "—", size, True, TEXT if shown else MUTED, left=box.left, centery=rect.centery)
            return
        waiting_size = min(self._px(28), round(rect.height * 0.2))
        waiting = f"Đang chờ: {row.waiting_count}"
        if row.priority_waiting_count:
            waiting += f" ({row.priority_waiting_count} ưu tiên)"
        number_h = self.fonts.font(size, True).get_height()
        waiting_h = self.fonts.font(waiting_size, False).get_height()
        top = rect.centery - (number_h + waiting_h) // 2
        self._text(name, shown or "—", size, True, TEXT if shown else MUTED, left=box.left, top=top)
        waiting_size = fit_width(self.fonts, waiting, next_w, waiting_size, self._px(20))
        self._text(name, ellipsize(waiting, next_w, self.fonts.measure(waiting_size, False)), waiting_size, False,
                   MUTED, left=box.left, top=top + number_h)

    @staticmethod
    def _desk_text(desk: Desk, row: QueueRow) -> tuple[str, Color, bool]:
        """What a desk shows after its badge, its colour, and whether it is a number (drawn at the numbers' size).

        The number it serves; else "2012 Vắng mặt" for a ticket just marked absent, "Tạm dừng" for one closed
        counter of a line still open (a line with every counter closed says so in its last column), or a dash.
        """
        if desk.serving is not None:
            return desk.serving, DIM if desk.paused else NUMBER, True
        if desk.no_show is not None:
            return f"{desk.no_show} {NO_SHOW_TEXT}", PAUSED, False
        if desk.paused and not row.paused:
            return PAUSED_TEXT, PAUSED, False
        return "—", DIM if desk.paused else MUTED, True

    def _paint_desks(self, name: str, box: pygame.Rect, row: QueueRow, compact: bool) -> None:
        """Each desk serving the line, badge and number, in the grid that lets the numbers be largest."""
        if not row.desks:
            size = round(box.height * 0.5) if compact else min(self._px(60), round(box.height * 0.4))
            self._text(name, "—", size, True, MUTED, left=box.left, centery=box.centery)
            return
        texts = [self._desk_text(desk, row) for desk in row.desks]
        # Numbers are sized as if four digits at least, so the rows' numbers come out alike.
        widest = ["8888", *(label for label, _, number in texts if number)]
        gap = self._px(14)
        best: tuple[int, int, int, int] | None = None  # size, lines, columns, badge side
        for lines in range(1, (1 if compact else len(row.desks)) + 1):
            columns = -(-len(row.desks) // lines)
            line_h = (box.height - gap * (lines - 1)) // lines
            cell_w = (box.width - gap * (columns - 1)) // columns
            side = min(self._px(84), round(line_h * (0.8 if compact or lines > 1 else 0.72)))
            # Room for the badge, and for the pill a called number sits on.
            room = cell_w - side - self._px(14) - self._px(24)
            largest = min(self._px(92), round(line_h * (0.72 if compact else 0.62 if lines == 1 else 0.8)))
            if room <= 0 or largest < 6:
                continue
            size = min(fit_width(self.fonts, label, room, largest, 6, bold=True) for label in widest)
            if best is None or size > best[0]:
                best = (size, lines, columns, side)
        if best is None:
            return
        size, lines, columns, side = best
        line_h = (box.height - gap * (lines - 1)) // lines
        cell_w = (box.width - gap * (columns - 1)) // columns
        for index, (desk, (label, color, number)) in enumerate(zip(row.desks, texts, strict=True)):
            line, column = divmod(index, columns)
            cell = pygame.Rect(box.left + column * (cell_w + gap), box.top + line * (line_h + gap), cell_w, line_h)
            badge = pygame.Rect(cell.left, 0, side, side)
            badge.centery = cell.centery
            pygame.draw.rect(self.surface, NUMBER if not desk.paused else DIM, badge,
                             border_radius=max(2, side // 8))
            badge_text = str(desk.number)
            badge_size = fit_width(self.fonts, badge_text, side - max(2, side // 6), round(side * 0.62), 6,
                                   bold=True)
            self._text(name, badge_text, badge_size, True, NUMBER_ON_LIGHT, centerx=badge.centerx,
                       centery=badge.centery)
            left = badge.right + self._px(14)
            if desk.called and desk.serving is not None:
                pill = pygame.Rect(left, 0, self.fonts.width(label, size, True) + self._px(24),
                                   min(cell.height, self.fonts.font(size, True).get_height()))
                pill.centery = cell.centery
                pygame.draw.rect(self.surface, NUMBER, pill, border_radius=self._px(10))
                self._text(name, label, size, True, NUMBER_ON_LIGHT, centerx=pill.centerx, centery=cell.centery)
                continue
            text_size = size
            if not number:
                # Words ("2012 Vắng mặt", "Tạm dừng") smaller than the numbers, as large as the cell allows;
                # where "2012 Vắng mặt" would be too small to read, "Vắng mặt" alone.
                room = cell.right - left
                words = label
                for words in ([label, NO_SHOW_TEXT] if desk.no_show is not None else [label]):
                    text_size = fit_width(self.fonts, words, room, round(size * 0.7), 6, bold=True)
                    if text_size >= size * 0.45:
                        break
                label = ellipsize(words, room, self.fonts.measure(text_size, True))
            self._text(name, label, text_size, True, color, left=left, centery=cell.centery)

    def _paint_paused_line(self, name: str, box: pygame.Rect, row: QueueRow) -> None:
        size = round(box.height * 0.55)
        drawn = self._text(name, PAUSED_TEXT, size, True, PAUSED, left=box.left, centery=box.centery)
        room = box.right - drawn.right - self._px(12)
        if row.reason and room > self._px(40):
            reason_size = round(size * 0.8)
            self._text(name, ellipsize(row.reason, room, self.fonts.measure(reason_size, False)), reason_size, False,
                       MUTED, left=drawn.right + self._px(12), centery=box.centery)

    def _paint_paused(self, name: str, box: pygame.Rect, row: QueueRow) -> None:
        size = min(self._px(44), round(box.height * 0.42))
        title_h = self.fonts.font(size, True).get_height()
        reason_lines: list[str] = []
        reason_size = min(self._px(28), round(box.height * 0.24))
        if row.reason:
            reason_size, reason_lines = fit_lines(self.fonts, row.reason, box.width, box.height - title_h, reason_size,
                                                  self._px(14), max_lines=2, one_line=ONE_LINE)
        reason_h = self.fonts.font(reason_size, False).get_linesize()
        top = box.centery - (title_h + reason_h * len(reason_lines)) // 2
        self._text(name, PAUSED_TEXT, size, True, PAUSED, left=box.left, top=top)
        for i, line in enumerate(reason_lines):
            self._text(name, line, reason_size, False, MUTED, left=box.left, top=top + i * reason_h + title_h)

    # --- the banner ----------------------------------------------------------------------------

    def _banner_parts(self, banners: Sequence[Banner], rect: pygame.Rect) -> tuple[int, int, int]:
        """Text size, the left edge of the text area, and its width."""
        size = self._px(44)
        label_w = self.fonts.width("THÔNG BÁO", self._px(30), True) + self._px(56)
        left = rect.left + label_w + self._px(20)
        return size, left, rect.right - self._px(24) - left

    def _banner_key(self, banners: tuple[Banner, ...], rect: pygame.Rect, now: float) -> Any:
        if not banners:
            return ()
        size, _, width = self._banner_parts(banners, rect)
        total = sum(self.fonts.width(b.message, size, True) for b in banners) \
            + self.fonts.width(TICKER_GAP, size, True) * (len(banners) - 1)
        if total <= width:
            return (banners, None)
        # Scrolling: the offset (whole pixels) is part of the key, so the banner repaints as it moves.
        self.animating = True
        loop = total + self.fonts.width(TICKER_GAP, size, True)
        return (banners, int(now * TICKER_SPEED * self.layout.scale) % loop)  # type: ignore[union-attr]

    def _paint_banner(self, name: str, rect: pygame.Rect, banners: tuple[Banner, ...], key: Any) -> None:
        if not banners:
            size = fit_width(self.fonts, FOOTER_TEXT, rect.width - self._px(80), self._px(34), self._px(16), bold=False)
            self._text(name, FOOTER_TEXT, size, False, MUTED, centerx=rect.centerx, centery=rect.centery)
            return
        top_priority = banners[0].priority
        self.surface.fill(BANNER.get(top_priority, BANNER["medium"]), rect)
        size, left, width = self._banner_parts(banners, rect)
        label_size = self._px(30)
        label = pygame.Rect(rect.left + self._px(20), 0, left - rect.left - self._px(40), self._px(60))
        label.centery = rect.centery
        pygame.draw.rect(self.surface, TEXT, label, border_radius=self._px(10))
        self._text(name, "THÔNG BÁO", label_size, True, BANNER.get(top_priority, BANNER["medium"]),
                   centerx=label.centerx, centery=label.centery)
        offset = key[1]
        clip = self.surface.get_clip()
        area = pygame.Rect(left, rect.top, width, rect.height)
        self.surface.set_clip(area.clip(clip))
        try:
            gap_w = self.fonts.width(TICKER_GAP, size, True)
            # Scrolling text is drawn twice in a row so the loop has no hole.
            repeats = 1 if offset is None else 2
            x = left - (offset or 0)
            for _ in range(repeats):
                for i, banner in enumerate(banners):
                    color = BANNER_TEXT.get(banner.priority, TEXT)
                    drawn = self._text(name, banner.message, size, True, color, left=x, centery=rect.centery)
                    x = drawn.right
                    if i < len(banners) - 1 or offset is not None:
                        x += gap_w
        finally:
            self.surface.set_clip(clip)
