"""Draws a :class:`~tv_node.view.TvView` with pygame, redrawing only what changed.

The screen is cut into regions (site name, connection mark, clock, the call
panel, one region per counter row, the announcement banner). Each region
remembers the part of the view it last drew; a frame repaints a region only
when that part changed, from a background painted once per layout, and
returns the rectangles it touched so the caller updates just those on the
display. An idle hall costs one clock repaint a second.

Everything is laid out in proportions of the screen and scaled fonts, so
1920x1080 and 1280x720 (and other sizes) look alike.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402 - after the environment setting above

from tv_node.fonts import FontChoice  # noqa: E402
from tv_node.view import (  # noqa: E402
    CONNECTING_TEXT,
    CONNECTION_LOST_TEXT,
    PAUSED_TEXT,
    Banner,
    CallCard,
    CounterRow,
    TvView,
)

Color = tuple[int, int, int]

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
LOST: Color = (205, 30, 40)
BANNER: dict[str, Color] = {"high": (175, 18, 30), "medium": (150, 80, 0), "low": (20, 74, 140)}
BANNER_TEXT: dict[str, Color] = {"high": (255, 235, 60), "medium": TEXT, "low": TEXT}
FOOTER: Color = (9, 30, 60)

DESIGN_WIDTH, DESIGN_HEIGHT = 1920, 1080
# Ticker speed, in design pixels a second (scaled with the screen).
TICKER_SPEED = 140.0
TICKER_GAP = "     •     "
TEXT_CACHE_SIZE = 512
# Rows shorter than this (design pixels) put name, numbers and status on one line.
COMPACT_ROW = 105

WELCOME_LINES = ("Xin mời quý khách", "lấy số thứ tự", "và theo dõi màn hình")
FOOTER_TEXT = "Quý khách vui lòng giữ phiếu và chú ý lời mời đến quầy"


@dataclass(frozen=True)
class Placement:
    """A piece of text as drawn in the last frame: where, how big, in what colour (for tests and support)."""

    text: str
    rect: pygame.Rect
    size: int
    bold: bool
    color: Color
    region: str


class FontBook:
    """Fonts by size and face, and rendered text, both cached: text is the costly part of a frame."""

    def __init__(self, choice: FontChoice):
        if not pygame.font.get_init():
            pygame.font.init()
        self.choice = choice
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._texts: OrderedDict[tuple[str, int, bool, Color], pygame.Surface] = OrderedDict()

    def font(self, size: int, bold: bool = False) -> pygame.font.Font:
        size = max(6, int(size))
        key = (size, bold)
        font = self._fonts.get(key)
        if font is None:
            path = self.choice.bold if bold and self.choice.bold is not None else self.choice.regular
            font = pygame.font.Font(str(path), size)
            if bold and self.choice.bold is None:
                font.set_bold(True)
            self._fonts[key] = font
        return font

    def render(self, text: str, size: int, bold: bool, color: Color) -> pygame.Surface:
        key = (text, max(6, int(size)), bold, color)
        surface = self._texts.get(key)
        if surface is None:
            surface = self.font(size, bold).render(text, True, color)
            self._texts[key] = surface
            if len(self._texts) > TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(key)
        return surface

    def width(self, text: str, size: int, bold: bool) -> int:
        return self.font(size, bold).size(text)[0]

    def fit_size(self, text: str, bold: bool, max_size: int, max_width: int, min_size: int) -> int:
        """The largest size up to ``max_size`` at which ``text`` fits ``max_width`` (at least ``min_size``)."""
        size = int(max_size)
        width = self.width(text, size, bold)
        while width > max_width and size > min_size:
            size = max(int(min_size), min(size - 1, int(size * max_width / width)))
            width = self.width(text, size, bold)
        return size

    def ellipsize(self, text: str, size: int, bold: bool, max_width: int) -> str:
        if self.width(text, size, bold) <= max_width:
            return text
        low, high = 0, len(text)
        while low < high:  # the longest prefix that fits with the ellipsis
            middle = (low + high + 1) // 2
            if self.width(text[:middle].rstrip() + "…", size, bold) <= max_width:
                low = middle
            else:
                high = middle - 1
        return text[:low].rstrip() + "…"

    def wrap(self, text: str, size: int, bold: bool, max_width: int, max_lines: int) -> list[str]:
        """Greedy word wrap into at most ``max_lines`` lines; the last one ellipsized if text is left."""
        words = text.split()
        if max_lines >= 2 and len(words) > 1 and self.width(" ".join(words), size, bold) > max_width:
            # Two lines of even length read better than a full line and a stray word.
            best: tuple[int, list[str]] | None = None
            for cut in range(1, len(words)):
                if words[cut] in ("-", "–", "—", "/"):
                    continue  # a line never starts with a dash
                pair = [" ".join(words[:cut]), " ".join(words[cut:])]
                widest = max(self.width(line, size, bold) for line in pair)
                if widest <= max_width and (best is None or widest < best[0]):
                    best = (widest, pair)
            if best is not None:
                return best[1]
        lines: list[str] = []
        current = ""
        for index, word in enumerate(words):
            trial = f"{current} {word}" if current else word
            if self.width(trial, size, bold) <= max_width or not current:
                current = trial
                continue
            lines.append(current)
            current = word
            if len(lines) == max_lines - 1:
                current = " ".join(words[index:])
                break
        if current:
            lines.append(current)
        lines = lines[:max_lines]
        return [self.ellipsize(line, size, bold, max_width) for line in lines]

    def fit_lines(self, text: str, bold: bool, max_size: int, max_width: int, max_height: int,
                  max_lines: int, min_size: int, prefer_one_line: bool = True) -> tuple[int, list[str]]:
        """The largest size whose wrapped lines fit the box, and those lines.

        One line is preferred while it can stay at least 80% of ``max_size``: a
        name broken in two reads worse than a slightly smaller one.
        """
        single = self.fit_size(text, bold, max_size, max_width, min_size)
        if prefer_one_line and single >= 0.8 * max_size and self.width(text, single, bold) <= max_width \
                and self.font(single, bold).get_linesize() <= max_height:
            return single, [text]
        size = int(max_size)
        while True:
            lines = self.wrap(text, size, bold, max_width, max_lines)
            height = len(lines) * self.font(size, bold).get_linesize()
            complete = " ".join(lines) == " ".join(text.split())
            if (height <= max_height and complete) or size <= min_size:
                if height > max_height:
                    lines = lines[: max(1, max_height // self.font(size, bold).get_linesize())]
                return size, lines
            size = max(int(min_size), int(size * 0.92))


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
    # Column edges inside a row: badge, name, serving, next (x offsets from the row's left).
    columns: tuple[int, int, int, int]


def compute_layout(width: int, height: int, counters: int) -> Layout:
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
    count = max(1, counters)
    row_h = min(px(190), (available - gap * (count - 1)) // count)
    rows = tuple(pygame.Rect(table_left, rows_top + i * (row_h + gap), table_w, row_h) for i in range(counters))
    badge = min(row_h, px(110))
    columns = (0, badge + px(20), round(table_w * 0.45), round(table_w * 0.68))
    banner = pygame.Rect(0, height - banner_h, width, banner_h)
    return Layout(width, height, s, header, site, mark, clock, main, call, table_header, rows, banner, columns)


class TvRenderer:
    """Draws views onto ``surface``; :meth:`draw` returns the rectangles that changed."""

    def __init__(self, surface: pygame.Surface, fonts: FontBook):
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
        self._regions_cache: list[tuple[str, pygame.Rect, Any, Callable[[str, pygame.Rect], None]]] = []

    # --- public --------------------------------------------------------------------------------

    def draw(self, view: TvView, now: float = 0.0, *, full: bool = False) -> list[pygame.Rect]:
        """Bring the surface up to ``view``; ``now`` (monotonic seconds) drives the ticker.

        Returns the changed rectangles (the whole screen after a full redraw), empty when nothing changed.
        """
        size = self.surface.get_size()
        layout_key = (size, len(view.counters), view.has_state)
        if full or layout_key != self._layout_key:
            self._layout_key = layout_key
            self.layout = compute_layout(size[0], size[1], len(view.counters))
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
        """Where a region is (``call``, ``clock``, ``mark``, ``site``, ``banner``, ``row:<counter_id>``)."""
        for region_name, rect, _, _ in self._regions_cache:
            if region_name == name:
                return rect
        raise KeyError(name)

    def placements(self, text: str | None = None) -> list[Placement]:
        """The text drawn as of the last frame (all of it, or the pieces equal to ``text``)."""
        every = [p for pieces in self._placements.values() for p in pieces]
        return every if text is None else [p for p in every if p.text == text]

    # --- regions -------------------------------------------------------------------------------

    def _regions(self, view: TvView, now: float):
        layout = self.layout
        assert layout is not None
        regions: list[tuple[str, pygame.Rect, Any, Callable[[str, pygame.Rect], None]]] = [
            ("site", layout.site, view.site_name, lambda n, r: self._paint_site(n, r, view)),
            ("mark", layout.mark, view.connection_lost, lambda n, r: self._paint_mark(n, r, view)),
            ("clock", layout.clock, (view.clock_text, view.date_text), lambda n, r: self._paint_clock(n, r, view)),
        ]
        if not view.has_state:
            regions.append(("call", layout.main, None, lambda n, r: self._paint_connecting(n, r)))
        else:
            regions.append(("call", layout.call, (view.calls, view.last_call),
                            lambda n, r: self._paint_call(n, r, view)))
            for row, rect in zip(view.counters, layout.rows):
                regions.append((f"row:{row.counter_id}", rect, row,
                                lambda n, r, row=row: self._paint_row(n, r, row)))
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
        surface = self.fonts.render(text, size, bold, color)
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
            titles = (("QUẦY", layout.columns[0]), ("ĐANG PHỤC VỤ", layout.columns[2]),
                      ("SỐ TIẾP THEO", layout.columns[3]))
            for title, x in titles:
                rendered = self.fonts.render(title, size, True, MUTED)
                background.blit(rendered, rendered.get_rect(left=head.left + x + self._px_for(layout, 16),
                                                             centery=head.centery))
        return background

    @staticmethod
    def _px_for(layout: Layout, value: float) -> int:
        return max(1, round(value * layout.scale))

    # --- header --------------------------------------------------------------------------------

    def _paint_site(self, name: str, rect: pygame.Rect, view: TvView) -> None:
        title = view.site_name or "Hệ thống xếp hàng"
        size, lines = self.fonts.fit_lines(title, True, self._px(58), rect.width, rect.height - self._px(20),
                                           2, self._px(30))
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
            size = min(self.fonts.fit_size(line, True, self._px(52), inner.width, self._px(20))
                       for line in WELCOME_LINES)
            line_h = round(self.fonts.font(size, True).get_linesize() * 1.2)
            top = inner.centery - line_h * len(WELCOME_LINES) // 2
            for i, line in enumerate(WELCOME_LINES):
                self._text(name, line, size, True, TEXT, centerx=inner.centerx, top=top + i * line_h)

    def _number_box_height(self, inner: pygame.Rect) -> int:
        return round(inner.height * 0.42)

    def _paint_current_call(self, name: str, inner: pygame.Rect, call: CallCard, *, live: bool) -> int:
        """The newest call, big; returns the bottom of what it drew."""
        title = "MỜI KHÁCH HÀNG SỐ" if live else "SỐ VỪA GỌI"
        title_size = self.fonts.fit_size(title, True, self._px(48), inner.width, self._px(20))
        title_rect = self._text(name, title, title_size, True, TEXT if live else MUTED, centerx=inner.centerx,
                                top=inner.top)
        box = pygame.Rect(inner.left, title_rect.bottom + self._px(14), inner.width, self._number_box_height(inner))
        number = str(call.ticket_number)
        if live:
            # The opening blink swaps the colours; afterwards the number stays yellow on dark red.
            fill, ink = ((NUMBER, NUMBER_ON_LIGHT) if call.flash else ((120, 16, 24), NUMBER))
            pygame.draw.rect(self.surface, fill, box, border_radius=self._px(22))
            pygame.draw.rect(self.surface, NUMBER, box, width=self._px(6), border_radius=self._px(22))
        else:
            ink = TEXT
            pygame.draw.rect(self.surface, DIM, box, width=self._px(3), border_radius=self._px(22))
        size = self.fonts.fit_size(number, True, round(box.height * 0.95), box.width - self._px(40), self._px(40))
        self._text(name, number, size, True, ink, centerx=box.centerx, centery=box.centery)
        label_rect = self._text(name, "ĐẾN QUẦY", self._px(34), True, MUTED, centerx=inner.centerx,
                                top=box.bottom + self._px(18))
        room = pygame.Rect(inner.left, label_rect.bottom + self._px(4), inner.width,
                           self._px(150))
        size, lines = self.fonts.fit_lines(call.counter_name, True, self._px(60), room.width, room.height, 2,
                                           self._px(28))
        line_h = self.fonts.font(size, True).get_linesize()
        for i, line in enumerate(lines):
            self._text(name, line, size, True, TEXT if live else MUTED, centerx=inner.centerx,
                       top=room.top + i * line_h)
        return room.top + max(len(lines), 1) * line_h

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
        for i, call in enumerate(calls[:count]):
            y = top + i * line_h
            number = str(call.ticket_number)
            number_size = self._px(56)
            number_rect = self._text(name, number, number_size, True, NUMBER, left=inner.left,
                                     centery=y + line_h // 2)
            arrow_x = inner.left + max(number_rect.width, self.fonts.width("8888", number_size, True)) + self._px(18)
            self._arrow(arrow_x, y + line_h // 2)
            name_left = arrow_x + self._px(48)
            size = self._px(36)
            label = self.fonts.ellipsize(call.counter_name, size, True, inner.right - name_left)
            self._text(name, label, size, True, TEXT, left=name_left, centery=y + line_h // 2)

    def _arrow(self, x: int, y: int) -> None:
        # Drawn, not a glyph: not every Vietnamese-complete font has the arrows block.
        w, h = self._px(30), self._px(26)
        pygame.draw.polygon(self.surface, MUTED, [(x, y - h // 6), (x + w // 2, y - h // 6), (x + w // 2, y - h // 2),
                                                  (x + w, y), (x + w // 2, y + h // 2), (x + w // 2, y + h // 6),
                                                  (x, y + h // 6)])

    # --- counter rows --------------------------------------------------------------------------

    def _paint_row(self, name: str, rect: pygame.Rect, row: CounterRow) -> None:
        assert self.layout is not None
        radius = self._px(12)
        if row.called:
            pygame.draw.rect(self.surface, ROW_CALLED, rect, border_radius=radius)
            pygame.draw.rect(self.surface, NUMBER, rect, width=self._px(4), border_radius=radius)
        # Many counters make short rows: then everything goes on one line, as big as the row allows.
        compact = rect.height < self._px(COMPACT_ROW)
        badge_x, name_x, serving_x, next_x = (rect.left + c for c in self.layout.columns)
        pad = max(2, round(rect.height * 0.1)) if compact else self._px(14)
        text_color = TEXT if not row.paused else MUTED
        # The counter's number in a square badge.
        side = min(rect.height - 2 * pad, self._px(96))
        badge = pygame.Rect(badge_x + pad, 0, side, side)
        badge.centery = rect.centery
        pygame.draw.rect(self.surface, NUMBER if not row.paused else DIM, badge, border_radius=max(2, side // 8))
        badge_text = str(row.counter_id)
        size = self.fonts.fit_size(badge_text, True, round(side * 0.62), side - max(2, side // 8), 6)
        self._text(name, badge_text, size, True, NUMBER_ON_LIGHT, centerx=badge.centerx, centery=badge.centery)

        name_w = serving_x - name_x - pad
        if compact:
            size = self.fonts.fit_size(row.name, True, round(rect.height * 0.42), name_w, round(rect.height * 0.3))
            self._text(name, self.fonts.ellipsize(row.name, size, True, name_w), size, True, text_color,
                       left=name_x, centery=rect.centery)
        else:
            # One size for every row's name (from the row height), so the table reads evenly; long names wrap.
            size, lines = self.fonts.fit_lines(row.name, True, min(self._px(42), round(rect.height * 0.29)), name_w,
                                               rect.height - 2 * pad, 2, self._px(18), prefer_one_line=False)
            line_h = self.fonts.font(size, True).get_linesize()
            top = rect.centery - line_h * len(lines) // 2
            for i, line in enumerate(lines):
                self._text(name, line, size, True, text_color, left=name_x, top=top + i * line_h)

        # Serving: the biggest thing in the row.
        serving = str(row.serving) if row.serving is not None else "—"
        # Room for the pill a called number sits on.
        serving_w = next_x - serving_x - 2 * pad - self._px(32)
        size = self.fonts.fit_size(serving, True, min(self._px(92), round(rect.height * (0.72 if compact else 0.62))),
                                   serving_w, 8)
        color = DIM if row.paused else (NUMBER if row.serving is not None else MUTED)
        if row.called:
            pill = pygame.Rect(serving_x + pad - self._px(8), 0, self.fonts.width(serving, size, True) + self._px(32),
                               min(rect.height - 2 * self._px(4), self.fonts.font(size, True).get_height()))
            pill.centery = rect.centery
            pygame.draw.rect(self.surface, NUMBER, pill, border_radius=self._px(10))
            self._text(name, serving, size, True, NUMBER_ON_LIGHT, centerx=pill.centerx, centery=rect.centery)
        else:
            self._text(name, serving, size, True, color, left=serving_x + pad, centery=rect.centery)

        # Next numbers, or why the counter is closed.
        next_w = rect.right - next_x - 2 * pad
        box = pygame.Rect(next_x + pad, rect.top + pad, next_w, rect.height - 2 * pad)
        if row.paused:
            if compact:
                self._paint_paused_line(name, box, row)
            else:
                self._paint_paused(name, box, row)
            return
        size = round(rect.height * 0.42) if compact else min(self._px(44), round(rect.height * 0.32))
        numbers = [str(n) for n in row.next_numbers]
        shown = ""
        for count in range(len(numbers), 0, -1):  # as many as fit
            candidate = "  ".join(numbers[:count])
            if self.fonts.width(candidate, size, True) <= next_w:
                shown = candidate
                break
        if compact:
            self._text(name, shown or "—", size, True, TEXT if shown else MUTED, left=box.left, centery=rect.centery)
            return
        waiting_size = min(self._px(28), round(rect.height * 0.2))
        waiting = f"Đang chờ: {row.waiting_count}"
        number_h = self.fonts.font(size, True).get_height()
        waiting_h = self.fonts.font(waiting_size, False).get_height()
        top = rect.centery - (number_h + waiting_h) // 2
        self._text(name, shown or "—", size, True, TEXT if shown else MUTED, left=box.left, top=top)
        self._text(name, self.fonts.ellipsize(waiting, waiting_size, False, next_w), waiting_size, False, MUTED,
                   left=box.left, top=top + number_h)

    def _paint_paused_line(self, name: str, box: pygame.Rect, row: CounterRow) -> None:
        size = round(box.height * 0.55)
        drawn = self._text(name, PAUSED_TEXT, size, True, PAUSED, left=box.left, centery=box.centery)
        room = box.right - drawn.right - self._px(12)
        if row.reason and room > self._px(40):
            reason_size = round(size * 0.8)
            self._text(name, self.fonts.ellipsize(row.reason, reason_size, False, room), reason_size, False, MUTED,
                       left=drawn.right + self._px(12), centery=box.centery)

    def _paint_paused(self, name: str, box: pygame.Rect, row: CounterRow) -> None:
        size = min(self._px(44), round(box.height * 0.42))
        title_h = self.fonts.font(size, True).get_height()
        reason_lines: list[str] = []
        reason_size = min(self._px(28), round(box.height * 0.24))
        if row.reason:
            reason_size, reason_lines = self.fonts.fit_lines(row.reason, False, reason_size, box.width,
                                                             box.height - title_h, 2, self._px(14))
        reason_h = self.fonts.font(reason_size, False).get_linesize()
        top = box.centery - (title_h + reason_h * len(reason_lines)) // 2
        self._text(name, PAUSED_TEXT, size, True, PAUSED, left=box.left, top=top)
        for i, line in enumerate(reason_lines):
            self._text(name, line, reason_size, False, MUTED, left=box.left, top=top + title_h + i * reason_h)

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
            size = self.fonts.fit_size(FOOTER_TEXT, False, self._px(34), rect.width - self._px(80), self._px(16))
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
