"""Draws a :class:`~kiosk_node.model.View` with pygame and maps taps back to actions.

Everything is laid out from the screen's size, so the official 7" 800x480
touchscreen, 1024x600 panels and 1920x1080 monitors, landscape or portrait,
all get large type: sizes are in units of ``min(width, height) / 480``. A
rotated kiosk is drawn upright on a canvas of the rotated size and turned onto
the screen; taps are turned back the same way (:class:`display.rotation.Rotation`).

Drawing happens only when the view changes (the app compares views), and
rendered text is cached (:class:`display.text_cache.TextCache`), so an idle
kiosk costs almost nothing. Type sizes are fitted to their boxes and long
names wrapped evenly by :mod:`display.fit` and :mod:`display.wrap`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pygame

from display.fit import fit_lines, largest_fitting
from display.fonts import FontFiles
from display.rotation import Rotation
from display.text_cache import Color, TextCache
from kiosk_node import i18n
from kiosk_node.model import Tile, View

# High contrast: near-black on white, white on deep blue; every pair passes WCAG AAA (7:1) for body text.
NAVY: Color = (10, 52, 110)
NAVY_DARK: Color = (6, 36, 80)
INK: Color = (20, 24, 28)
MUTED: Color = (55, 65, 75)
PAPER: Color = (255, 255, 255)
BACKDROP: Color = (232, 237, 243)
TILE_EDGE: Color = (150, 165, 180)
AMBER: Color = (255, 193, 7)
SLATE: Color = (33, 43, 54)
LIGHT_ON_DARK: Color = (215, 225, 235)
GREEN: Color = (20, 110, 55)
# One colour per counter (by id), dark enough for white text and for text on white.
COUNTER_COLORS: tuple[Color, ...] = (
    (0, 92, 160), (160, 32, 32), (16, 110, 60), (110, 60, 150), (176, 80, 0), (0, 110, 110), (120, 84, 40),
)
# Rendered texts kept: a long-running kiosk sees many numbers and clocks.
TEXT_CACHE_SIZE = 2000


@dataclass(frozen=True)
class ProcedureAction:
    procedure_id: int


@dataclass(frozen=True)
class Button:
    name: str  # "language", "next_page", "previous_page", "reprint", "done", "dismiss"


Action = ProcedureAction | Button


def grid(count: int, width: int, height: int, gap: int, min_width: int, min_height: int) -> tuple[int, int]:
    """Columns and rows per page for ``count`` tiles: all on one page when they fit, as large as possible.

    Tiles are best about twice as wide as tall (a procedure name of two or
    three lines and a status line). When even the best grid would make tiles
    smaller than the minimum, the most that fit at the minimum go on a page.
    """
    if count <= 0:
        return 1, 1
    best: tuple[float, int, int] | None = None
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        tile_w = (width - (columns - 1) * gap) / columns
        tile_h = (height - (rows - 1) * gap) / rows
        if tile_w < min_width or tile_h < min_height:
            continue
        score = min(tile_w, tile_h * 2.2)
        if best is None or score > best[0]:
            best = (score, columns, rows)
    if best is not None:
        return best[1], best[2]
    columns = max(1, min(count, (width + gap) // (min_width + gap)))
    rows = max(1, (height + gap) // (min_height + gap))
    return columns, rows


@dataclass(frozen=True)
class _TileLayout:
    rect: pygame.Rect
    tile: Tile
    inner: pygame.Rect
    name_box: pygame.Rect
    max_lines: int
    name_size: int
    counter_size: int
    counter: str
    status_size: int
    status: str
    bar_width: int


class KioskUI:
    """The kiosk's screen: :meth:`draw` a view, :meth:`hit` a tap."""

    def __init__(self, fonts: FontFiles, size: tuple[int, int] = (0, 0), *, rotation: int = 0,
                 fullscreen: bool = False, title: str = "QMS kiosk"):
        self.fonts = fonts
        self.requested_size = size
        self.rotation_degrees = rotation
        self.fullscreen = fullscreen
        self.title = title
        self.display: pygame.Surface | None = None
        self.canvas: pygame.Surface | None = None
        self.rotation = Rotation(rotation, size)
        self.text = TextCache(fonts, capacity=TEXT_CACHE_SIZE)
        self.regions: list[tuple[pygame.Rect, Action]] = []
        self.page = 0
        self.pages = 1
        # The view on screen now (None before the first frame).
        self.shown: View | None = None
        self._last: tuple[View, int] | None = None

    # --- the window --------------------------------------------------------------------------------

    def open(self) -> None:
        pygame.display.init()
        pygame.font.init()
        flags = pygame.FULLSCREEN if self.fullscreen else 0
        size = self.requested_size
        if size == (0, 0) and not self.fullscreen:
            size = (1024, 600)
        self.display = pygame.display.set_mode(size, flags)
        pygame.display.set_caption(self.title)
        if self.fullscreen:
            pygame.mouse.set_visible(False)
        # Only what the kiosk reacts to: fewer wake-ups for SDL's event queue.
        pygame.event.set_blocked(None)
        pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN, pygame.MOUSEBUTTONDOWN, pygame.FINGERDOWN,
                                  pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE, pygame.USEREVENT])
        physical = self.display.get_size()
        self.rotation = Rotation(self.rotation_degrees, physical)
        self.canvas = self.display if self.rotation_degrees == 0 else pygame.Surface(self.rotation.logical)

    def close(self) -> None:
        if self.display is not None:
            pygame.display.quit()
            self.display = self.canvas = None

    @property
    def size(self) -> tuple[int, int]:
        """The upright canvas's size."""
        return self.rotation.logical

    @property
    def unit(self) -> float:
        width, height = self.size
        return min(width, height) / 480

    def invalidate(self) -> None:
        """Draw again at the next :meth:`draw` even if the view is the same (the window was exposed)."""
        self._last = None

    # --- taps ------------------------------------------------------------------------------------------

    def hit(self, physical: tuple[float, float]) -> Action | None:
        x, y = self.rotation.to_logical(*physical)
        for rect, action in reversed(self.regions):
            if rect.collidepoint(x, y):
                return action
        return None

    def center_of(self, action: Action) -> tuple[int, int]:
        """Where on the physical screen to tap for ``action`` (tests, the bench)."""
        for rect, candidate in self.regions:
            if candidate == action:
                x, y = self.rotation.to_physical(*rect.center)
                return int(x), int(y)
        raise LookupError(f"{action} is not on screen")

    def turn_page(self, step: int) -> None:
        self.page = (self.page + step) % max(1, self.pages)
        self._last = None

    # --- drawing -------------------------------------------------------------------------------------

    def draw(self, view: View) -> bool:
        """Draw ``view`` if it (or the page) changed since the last call; whether anything was drawn."""
        if view.screen != "home":
            self.page = 0
        if self._last == (view, self.page):
            return False
        assert self.canvas is not None and self.display is not None, "open() first"
        self.regions = []
        {
            "home": self._home,
            "printing": self._printing,
            "result": self._result,
            "print_failed": self._print_failed,
            "refused": self._refused,
            "unreachable": self._unreachable,
        }[view.screen](view)
        if self.canvas is not self.display:
            self.display.blit(self.rotation.turn(self.canvas), (0, 0))
        pygame.display.flip()
        self._last = (view, self.page)
        self.shown = view
        return True

    def screenshot(self, path: str | os.PathLike) -> None:
        """The upright canvas as a PNG, replaced atomically (a support tool may be reading it)."""
        assert self.canvas is not None
        path = Path(path)
        temporary = path.with_name(path.stem + ".tmp.png")
        pygame.image.save(self.canvas, os.fspath(temporary))
        os.replace(temporary, path)

    # --- pieces ------------------------------------------------------------------------------------------

    def _u(self, value: float) -> int:
        return max(1, round(value * self.unit))

    def _blit_center(self, surface: pygame.Surface, center_x: int, top: int) -> None:
        assert self.canvas is not None
        self.canvas.blit(surface, (center_x - surface.get_width() // 2, top))

    def _paragraph(self, text: str, size: int, color: Color, top: int, width: int, *, bold: bool = False,
                   center_x: int | None = None, left: int | None = None, max_lines: int = 4) -> int:
        """Wrapped lines from ``top``; the y below them."""
        assert self.canvas is not None
        lines = self.text.lines(text, size, width, bold)[:max_lines]
        step = self.text.line_height(size, bold)
        for line in lines:
            surface = self.text.render(line, size, color, bold)
            if center_x is not None:
                self._blit_center(surface, center_x, top)
            else:
                self.canvas.blit(surface, (left or 0, top))
            top += step
        return top

    def _button(self, rect: pygame.Rect, label: str, action: Action, *, fill: Color, color: Color,
                outline: Color | None = None, size: int | None = None) -> None:
        assert self.canvas is not None
        radius = self._u(10)
        pygame.draw.rect(self.canvas, fill, rect, border_radius=radius)
        if outline is not None:
            pygame.draw.rect(self.canvas, outline, rect, width=max(2, self._u(2)), border_radius=radius)
        size = size or self._u(20)
        label_size, lines = fit_lines(self.text, label, rect.width - self._u(16), rect.height, size, self._u(12),
                                      bold=True, max_lines=1)
        surface = self.text.render(lines[0], label_size, color, True)
        self.canvas.blit(surface, surface.get_rect(center=rect.center))
        self.regions.append((rect, action))

    def _header(self, view: View, with_language: bool) -> int:
        """The site's name, the hub's clock and (at home) the language button; the header's height."""
        assert self.canvas is not None
        width, _ = self.size
        height = self._u(64)
        pygame.draw.rect(self.canvas, NAVY, (0, 0, width, height))
        margin = self._u(16)
        right = width - margin
        if with_language:
            label = i18n.text("language_button", view.language)
            button_w = max(self._u(130), self.text.width(label, self._u(20), True) + self._u(28))
            rect = pygame.Rect(right - button_w, self._u(10), button_w, height - self._u(20))
            self._button(rect, label, Button("language"), fill=NAVY_DARK, color=PAPER, outline=PAPER)
            right = rect.left - self._u(16)
        if view.clock:
            # A narrow (portrait) screen keeps the time and drops the date: the site's name needs the room.
            for clock_text in (view.clock, view.clock.split(" · ")[0]):
                clock = self.text.render(clock_text, self._u(22), PAPER, True)
                if right - clock.get_width() - self._u(16) - margin >= 0.45 * width:
                    break
            self.canvas.blit(clock, clock.get_rect(midright=(right, height // 2)))
            right -= clock.get_width() + self._u(16)
        size, lines = fit_lines(self.text, view.site_name, right - margin, height - self._u(8), self._u(28),
                                self._u(16), bold=True, max_lines=2)
        step = self.text.line_height(size, True)
        top = (height - step * len(lines)) // 2
        for line in lines:
            self.canvas.blit(self.text.render(line, size, PAPER, True), (margin, top))
            top += step
        return height

    # --- screens -------------------------------------------------------------------------------------------

    def _home(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        language = view.language
        self.canvas.fill(BACKDROP)
        top = self._header(view, with_language=True)
        margin, gap = self._u(12), self._u(10)
        if view.printer_problem is not None:
            problem = i18n.problem_title(view.printer_problem, language)
            words = i18n.text("home_fault_banner", language, problem=problem) if view.printer_fault else problem
            band = self._u(40)
            pygame.draw.rect(self.canvas, AMBER, (0, top, width, band))
            size, lines = fit_lines(self.text, words, width - 2 * margin, band, self._u(18), self._u(12), bold=True,
                                    max_lines=1)
            surface = self.text.render(lines[0], size, INK, True)
            self.canvas.blit(surface, surface.get_rect(center=(width // 2, top + band // 2)))
            top += band
        prompt_h = self._u(46)
        size, lines = fit_lines(self.text, i18n.text("touch_prompt", language), width - 2 * margin, prompt_h,
                                self._u(22), self._u(14), bold=True, max_lines=1)
        surface = self.text.render(lines[0], size, INK, True)
        self.canvas.blit(surface, surface.get_rect(center=(width // 2, top + prompt_h // 2)))
        top += prompt_h
        if not view.tiles:
            self.pages = 1
            middle = top + (height - top) // 2 - self._u(40)
            below = self._paragraph(i18n.text("no_counters", language), self._u(30), INK, middle,
                                    width - 4 * margin, bold=True, center_x=width // 2)
            self._paragraph(i18n.text("no_counters_hint", language), self._u(20), MUTED, below + self._u(8),
                            width - 4 * margin, center_x=width // 2)
            return
        area = pygame.Rect(margin, top, width - 2 * margin, height - top - margin)
        columns, rows = grid(len(view.tiles), area.width, area.height, gap, self._u(190), self._u(96))
        per_page = columns * rows
        self.pages = math.ceil(len(view.tiles) / per_page)
        self.page = min(self.page, self.pages - 1)
        if self.pages > 1:
            pager_h = self._u(56)
            area.height -= pager_h + gap
            columns, rows = grid(per_page, area.width, area.height, gap, self._u(190), self._u(96))
            per_page = columns * rows
            self.pages = math.ceil(len(view.tiles) / per_page)
            self.page = min(self.page, self.pages - 1)
            self._pager(view, pygame.Rect(margin, area.bottom + gap, area.width, pager_h))
        shown = view.tiles[self.page * per_page:(self.page + 1) * per_page]
        tile_w = (area.width - (columns - 1) * gap) // columns
        tile_h = min((area.height - (rows - 1) * gap) // rows, self._u(230))
        used_rows = math.ceil(len(shown) / columns)
        # Few tiles: keep them together in the middle rather than stretched over the screen.
        offset = (area.height - (used_rows * tile_h + (used_rows - 1) * gap)) // 2 if tile_h == self._u(230) else 0
        rects = []
        for index in range(len(shown)):
            row, column = divmod(index, columns)
            rects.append(pygame.Rect(area.left + column * (tile_w + gap), area.top + offset + row * (tile_h + gap),
                                     tile_w, tile_h))
        layouts = [self._tile_layout(rect, tile, language) for rect, tile in zip(rects, shown, strict=True)]
        # One size for every name on the page: tiles of mixed type sizes look untidy.
        name_size = min(layout.name_size for layout in layouts)
        for layout in layouts:
            self._tile(layout, name_size)

    def _tile_layout(self, rect: pygame.Rect, tile: Tile, language: i18n.Language) -> _TileLayout:
        bar_w, pad = self._u(10), self._u(10)
        inner = pygame.Rect(rect.left + bar_w + pad, rect.top + pad, rect.width - bar_w - 2 * pad,
                            rect.height - 2 * pad)
        small = max(self._u(13), min(self._u(16), round(rect.height * 0.11)))
        counter = i18n.counter_label(tile.counter_id, tile.counter_name, language)
        status = i18n.tile_status(tile.waiting_count, tile.wait_minutes, language)
        counter_size, counter_lines = fit_lines(self.text, counter, inner.width, self.text.line_height(small, True),
                                                small, self._u(12.5), bold=True, max_lines=1)
        status_size, status_lines = fit_lines(self.text, status, inner.width, self.text.line_height(small, True),
                                              small, self._u(12.5), bold=True, max_lines=1)
        footer = self.text.line_height(counter_size, True) + self.text.line_height(status_size, True)
        name_box = pygame.Rect(inner.left, inner.top, inner.width, inner.height - footer - self._u(6))
        smallest = self._u(14)
        max_lines = max(2, min(4, name_box.height // self.text.line_height(smallest, True)))
        name_size, _ = fit_lines(self.text, tile.procedure_name, name_box.width, name_box.height, self._u(26),
                                 smallest, bold=True, max_lines=max_lines)
        return _TileLayout(rect, tile, inner, name_box, max_lines, name_size, counter_size, counter_lines[0],
                           status_size, status_lines[0], bar_w)

    def _tile(self, layout: _TileLayout, name_size: int) -> None:
        assert self.canvas is not None
        rect, tile, inner = layout.rect, layout.tile, layout.inner
        radius = self._u(12)
        accent = COUNTER_COLORS[(tile.counter_id - 1) % len(COUNTER_COLORS)]
        pygame.draw.rect(self.canvas, PAPER, rect, border_radius=radius)
        pygame.draw.rect(self.canvas, TILE_EDGE, rect, width=max(2, self._u(2)), border_radius=radius)
        bar = pygame.Rect(rect.left, rect.top, layout.bar_width, rect.height)
        pygame.draw.rect(self.canvas, accent, bar, border_top_left_radius=radius, border_bottom_left_radius=radius)
        size, lines = fit_lines(self.text, tile.procedure_name, layout.name_box.width, layout.name_box.height,
                                name_size, name_size, bold=True, max_lines=layout.max_lines)
        top = inner.top
        for line in lines:
            self.canvas.blit(self.text.render(line, size, INK, True), (inner.left, top))
            top += self.text.line_height(size, True)
        bottom = inner.bottom - self.text.line_height(layout.counter_size, True) \
            - self.text.line_height(layout.status_size, True)
        self.canvas.blit(self.text.render(layout.counter, layout.counter_size, accent, True), (inner.left, bottom))
        bottom += self.text.line_height(layout.counter_size, True)
        self.canvas.blit(self.text.render(layout.status, layout.status_size, MUTED, True), (inner.left, bottom))
        self.regions.append((rect, ProcedureAction(tile.procedure_id)))

    def _pager(self, view: View, rect: pygame.Rect) -> None:
        assert self.canvas is not None
        button_w = min(self._u(220), rect.width // 3)
        language = view.language
        self._button(pygame.Rect(rect.left, rect.top, button_w, rect.height), i18n.text("previous_page", language),
                     Button("previous_page"), fill=PAPER, color=NAVY, outline=NAVY)
        self._button(pygame.Rect(rect.right - button_w, rect.top, button_w, rect.height),
                     i18n.text("next_page", language), Button("next_page"), fill=NAVY, color=PAPER)
        label = self.text.render(i18n.text("page", language, page=self.page + 1, pages=self.pages), self._u(18),
                                 MUTED, True)
        self.canvas.blit(label, label.get_rect(center=rect.center))

    def _printing(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(NAVY)
        unit = self.unit
        # A ticket coming out of a slot: recognisable without reading.
        slot = pygame.Rect(0, 0, round(150 * unit), round(14 * unit))
        slot.midtop = (width // 2, round(height * 0.22))
        pygame.draw.rect(self.canvas, NAVY_DARK, slot.inflate(round(20 * unit), round(20 * unit)),
                         border_radius=self._u(8))
        paper = pygame.Rect(0, 0, round(110 * unit), round(90 * unit))
        paper.midtop = (width // 2, slot.centery)
        pygame.draw.rect(self.canvas, PAPER, paper, border_bottom_left_radius=self._u(6),
                         border_bottom_right_radius=self._u(6))
        for i in range(3):
            line = pygame.Rect(paper.left + self._u(16), paper.top + self._u(24 + 20 * i),
                               paper.width - self._u(32) - (self._u(24) if i == 2 else 0), self._u(8))
            pygame.draw.rect(self.canvas, TILE_EDGE, line, border_radius=self._u(3))
        pygame.draw.rect(self.canvas, SLATE, slot, border_radius=self._u(4))
        top = paper.bottom + self._u(28)
        top = self._paragraph(i18n.text("printing", view.language), self._u(48), PAPER, top, width - self._u(40),
                              bold=True, center_x=width // 2, max_lines=2)
        top += self._u(10)
        self._paragraph(i18n.text("printing_hint", view.language), self._u(24), LIGHT_ON_DARK, top,
                        width - self._u(40), center_x=width // 2, max_lines=2)

    def _number(self, number: int, center_x: int, top: int, max_width: int, max_height: int, color: Color) -> int:
        """The ticket number as large as fits; the y below it."""
        text = str(number)
        assert self.canvas is not None
        size = largest_fitting(lambda size: self.text.width(text, size, True) <= max_width
                               and self.text.font(size, True).get_ascent() <= max_height, max_height, 20)
        surface = self.text.render(text, size, color, True)
        # Digits have no descenders: trim the font's descent so the number sits tight.
        ascent = self.text.font(size, True).get_ascent()
        self.canvas.blit(surface, (center_x - surface.get_width() // 2, top), pygame.Rect(0, 0, surface.get_width(),
                                                                                            ascent))
        return top + ascent

    def _result(self, view: View) -> None:
        assert self.canvas is not None and view.ticket is not None
        width, height = self.size
        language, ticket = view.language, view.ticket
        self.canvas.fill(PAPER)
        top = self._header(view, with_language=False)
        margin = self._u(20)
        portrait = height > width
        top += self._u(14)
        top = self._paragraph(i18n.text("your_number", language), self._u(30), INK, top, width - 2 * margin,
                              bold=True, center_x=width // 2, max_lines=1)
        number_h = round(height * (0.26 if portrait else 0.30))
        top = self._number(ticket.number, width // 2, top, width - 2 * margin, number_h, NAVY) + self._u(12)
        top = self._paragraph(ticket.procedure_name, self._u(24), INK, top, width - 2 * margin, bold=True,
                              center_x=width // 2, max_lines=2)
        accent = COUNTER_COLORS[(ticket.counter_id - 1) % len(COUNTER_COLORS)]
        top = self._paragraph(i18n.counter_label(ticket.counter_id, ticket.counter_name, language), self._u(24),
                              accent, top + self._u(4), width - 2 * margin, bold=True, center_x=width // 2,
                              max_lines=2)
        top = self._paragraph(i18n.people_ahead(ticket.people_ahead, language), self._u(21), MUTED,
                              top + self._u(8), width - 2 * margin, center_x=width // 2, max_lines=1)
        if ticket.wait_minutes > 0:
            self._paragraph(i18n.text("estimated_wait", language, m=ticket.wait_minutes), self._u(21), MUTED, top,
                            width - 2 * margin, center_x=width // 2, max_lines=2)
        band_h = self._u(64)
        band = pygame.Rect(0, height - band_h, width, band_h)
        pygame.draw.rect(self.canvas, GREEN, band)
        done = pygame.Rect(0, 0, self._u(130), band_h - self._u(16))
        done.midright = (width - self._u(12), band.centery)
        take = i18n.text("take_ticket", language) + " ↓"
        size, lines = fit_lines(self.text, take, done.left - 2 * self._u(12), band_h, self._u(26), self._u(14),
                                bold=True, max_lines=1)
        surface = self.text.render(lines[0], size, PAPER, True)
        self.canvas.blit(surface, surface.get_rect(midleft=(self._u(16), band.centery)))
        if view.countdown is not None:
            note = self.text.render(i18n.text("returning", language, s=view.countdown), self._u(16), MUTED)
            self.canvas.blit(note, note.get_rect(midbottom=(width // 2, band.top - self._u(8))))
        # A tap anywhere dismisses; the button says so.
        self.regions.append((pygame.Rect(0, 0, width, height), Button("dismiss")))
        self._button(done, i18n.text("done", language), Button("done"), fill=PAPER, color=GREEN)

    def _print_failed(self, view: View) -> None:
        assert self.canvas is not None and view.ticket is not None
        width, height = self.size
        language, ticket = view.language, view.ticket
        self.canvas.fill(PAPER)
        margin = self._u(20)
        problem = view.printer_problem or "error"
        band_h = self._u(72)
        pygame.draw.rect(self.canvas, AMBER, (0, 0, width, band_h))
        size, lines = fit_lines(self.text, "⚠ " + i18n.problem_title(problem, language), width - 2 * margin, band_h,
                                self._u(34), self._u(18), bold=True, max_lines=1)
        surface = self.text.render(lines[0], size, INK, True)
        self.canvas.blit(surface, surface.get_rect(center=(width // 2, band_h // 2)))
        top = band_h + self._u(14)
        top = self._paragraph(i18n.text("fault_ticket_kept", language), self._u(26), INK, top, width - 2 * margin,
                              bold=True, center_x=width // 2, max_lines=1)
        top = self._number(ticket.number, width // 2, top + self._u(4), width - 2 * margin,
                           round(height * 0.2), NAVY) + self._u(10)
        accent = COUNTER_COLORS[(ticket.counter_id - 1) % len(COUNTER_COLORS)]
        top = self._paragraph(i18n.counter_label(ticket.counter_id, ticket.counter_name, language), self._u(22),
                              accent, top, width - 2 * margin, bold=True, center_x=width // 2, max_lines=2)
        top = self._paragraph(i18n.text("fault_remember", language), self._u(19), INK, top + self._u(8),
                              width - 2 * margin, center_x=width // 2, max_lines=3)
        self._paragraph(i18n.problem_advice(problem, language), self._u(17), MUTED, top + self._u(6),
                        width - 2 * margin, center_x=width // 2, max_lines=2)
        button_h = self._u(62)
        button_w = min(self._u(260), (width - 3 * margin) // 2)
        bottom = height - margin - button_h
        self._button(pygame.Rect(width // 2 - margin // 2 - button_w, bottom, button_w, button_h),
                     i18n.text("reprint", language), Button("reprint"), fill=NAVY, color=PAPER, size=self._u(22))
        self._button(pygame.Rect(width // 2 + margin // 2, bottom, button_w, button_h), i18n.text("done", language),
                     Button("done"), fill=PAPER, color=NAVY, outline=NAVY, size=self._u(22))

    def _refused(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        language = view.language
        self.canvas.fill(PAPER)
        top = self._header(view, with_language=False)
        center = (width // 2, top + round((height - top) * 0.3))
        radius = self._u(42)
        pygame.draw.circle(self.canvas, AMBER, center, radius)
        mark = self.text.render("!", self._u(60), INK, True)
        self.canvas.blit(mark, mark.get_rect(center=center))
        below = center[1] + radius + self._u(20)
        below = self._paragraph(i18n.refusal(view.refused_code, language), self._u(32), INK, below,
                                width - self._u(60), bold=True, center_x=width // 2, max_lines=2)
        self._paragraph(i18n.text("refused_hint", language), self._u(22), MUTED, below + self._u(10),
                        width - self._u(60), center_x=width // 2, max_lines=3)
        self.regions.append((pygame.Rect(0, 0, width, height), Button("dismiss")))

    def _unreachable(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(SLATE)
        margin = self._u(30)
        if view.site_name:
            self._paragraph(view.site_name, self._u(22), LIGHT_ON_DARK, self._u(20), width - 2 * margin,
                            bold=True, center_x=width // 2, max_lines=2)
        other: i18n.Language = "en" if view.language == "vi" else "vi"
        blocks = [
            (i18n.text("unreachable", view.language), self._u(40), PAPER, True),
            (i18n.text("unreachable", other), self._u(22), LIGHT_ON_DARK, False),
        ]
        if view.request_pending:
            blocks.append((i18n.text("unreachable_pending", view.language), self._u(24), AMBER, True))
        blocks.append((i18n.text("unreachable_hint", view.language), self._u(20), LIGHT_ON_DARK, False))
        heights = [len(self.text.lines(words, size, width - 2 * margin, bold)[:3]) * self.text.line_height(size, bold)
                   for words, size, _, bold in blocks]
        gap = self._u(18)
        top = (height - sum(heights) - gap * (len(blocks) - 1)) // 2
        for (words, size, color, bold), block_h in zip(blocks, heights, strict=True):
            self._paragraph(words, size, color, top, width - 2 * margin, bold=bold, center_x=width // 2,
                            max_lines=3)
            top += block_h + gap
