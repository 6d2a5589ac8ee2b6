"""Draws a :class:`~kiosk_node.model.View` with pygame and maps taps back to actions.

Everything is laid out from the screen's size, so the official 7" 800x480
touchscreen, 1024x600 panels and 1920x1080 monitors, landscape or portrait,
all get large type: sizes are in units of ``min(width, height) / 480``. A
rotated kiosk is drawn upright on a canvas of the rotated size and turned onto
the screen; taps are turned back the same way (:class:`display.rotation.Rotation`).

The home screen is the model's menu: tiles for the fields, a field's
procedures or the priority reasons, "‹ Quay lại" above them once inside, and
at the top the wide priority entry below them. Type on a tile is never
smaller than :attr:`KioskUI.tile_type_min` (24 px on the 7" screen, for
elderly citizens): when the tiles do not all fit at that size they go on
pages ("Trang sau ›") instead of shrinking (:meth:`KioskUI._plan`).

Drawing happens only when the view changes (the app compares views), and
rendered text is cached (:class:`display.text_cache.TextCache`), so an idle
kiosk costs almost nothing. Type sizes are fitted to their boxes and long
names wrapped evenly, common words kept whole, by :mod:`display.fit` and
:mod:`display.wrap`. Every text drawn is listed in :attr:`KioskUI.texts`
with its size and place (support tools and tests read what is on screen).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pygame

from display.fit import fit_lines, largest_fitting
from display.fonts import FontFiles
from display.rotation import Rotation
from display.screenshot import save_png
from display.text_cache import Color, TextCache
from display.wrap import ellipsize, words_split
from kiosk_node import i18n
from kiosk_node.model import PRIORITY_REASONS, View
from protocol import messages as m

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
# The priority flow's colour (white on it: 7.6:1), unlike any queue's and unlike the amber of faults.
PRIORITY: Color = (150, 50, 0)
# One colour per queue (by id), dark enough for white text and for text on white.
QUEUE_COLORS: tuple[Color, ...] = (
    (0, 92, 160), (160, 32, 32), (16, 110, 60), (110, 60, 150), (176, 80, 0), (0, 110, 110), (120, 84, 40),
)
# Rendered texts kept: a long-running kiosk sees many numbers and clocks.
TEXT_CACHE_SIZE = 2000
# The smallest type on a tile: 24 px (the 7" 800x480 screen, for elderly citizens), and on larger screens,
# which are larger to look at too, 16 units. Tiles go on more pages rather than go smaller.
TILE_TYPE_MIN_PX = 24
TILE_TYPE_MIN_UNITS = 16
# The largest type of a tile's name, and of a priority reason's.
TILE_TYPE_MAX = 30
REASON_TYPE_MAX = 34
# A tile is never taller than this (units: a few tiles stay together in the middle), nor narrower than
# this many times the smallest type (a title of a few words a line), and a title is at most so many lines.
TILE_MAX_HEIGHT = 230
TILE_MIN_WIDTH_EMS = 9
TITLE_MAX_LINES = 4
# Grids tried for the home screen's tiles: up to this many columns and rows a page.
MOST_COLUMNS = 5
MOST_ROWS = 5


@dataclass(frozen=True)
class ProcedureAction:
    procedure_id: int


@dataclass(frozen=True)
class FieldAction:
    field_id: int


@dataclass(frozen=True)
class ReasonAction:
    reason: m.PriorityReason


@dataclass(frozen=True)
class Button:
    # "language", "next_page", "previous_page", "back", "priority", "reprint", "done", "dismiss"
    name: str


Action = ProcedureAction | FieldAction | ReasonAction | Button


@dataclass(frozen=True)
class DrawnText:
    """One line of text on the screen: what, at which size (pixels), and where on the upright canvas."""

    text: str
    size: int
    rect: pygame.Rect


CardKind = Literal["procedure", "field", "reason"]


@dataclass(frozen=True)
class _Card:
    """One tile of the home screen: a procedure, a field or a priority reason."""

    kind: CardKind
    action: Action
    title: str
    # What goes under the title, longest first: the first that fits the tile is drawn.
    footers: tuple[str, ...]
    accent: Color


@dataclass(frozen=True)
class _Plan:
    """How the home screen's tiles are laid out: a grid per page, the tile size, the pager."""

    columns: int
    rows: int
    tile_w: int
    tile_h: int
    paged: bool

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


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
        # Every line of text on the screen now (see DrawnText).
        self.texts: list[DrawnText] = []
        self.page = 0
        self.pages = 1
        # The view on screen now (None before the first frame).
        self.shown: View | None = None
        self._last: tuple[View, int] | None = None
        # The menu level the page number belongs to: another level starts at its first page.
        self._menu_key: tuple | None = None
        self._plans: dict[tuple, _Plan] = {}

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
        self._plans.clear()

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

    def actions(self) -> list[Action]:
        """What can be tapped now, in drawing order."""
        return [action for _, action in self.regions]

    def turn_page(self, step: int) -> None:
        self.page = (self.page + step) % max(1, self.pages)
        self._last = None

    # --- drawing -------------------------------------------------------------------------------------

    def draw(self, view: View) -> bool:
        """Draw ``view`` if it (or the page) changed since the last call; whether anything was drawn."""
        menu_key = (view.screen, view.level, view.field_name, view.priority_flow, view.priority_reason)
        if view.screen != "home" or menu_key != self._menu_key:
            self.page = 0
        self._menu_key = menu_key
        if self._last == (view, self.page):
            return False
        assert self.canvas is not None and self.display is not None, "open() first"
        self.regions = []
        self.texts = []
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
        save_png(self.canvas, path)

    # --- pieces ------------------------------------------------------------------------------------------

    def _u(self, value: float) -> int:
        return max(1, round(value * self.unit))

    @property
    def tile_type_min(self) -> int:
        """The smallest type on a tile on this screen, in pixels."""
        return max(TILE_TYPE_MIN_PX, self._u(TILE_TYPE_MIN_UNITS))

    def _line(self, line: str, size: int, color: Color, bold: bool = False, **where: int | tuple[int, int]
              ) -> pygame.Rect:
        """One line of text placed by a pygame.Rect keyword (``topleft=``, ``center=``, ...); its rect."""
        assert self.canvas is not None
        surface = self.text.render(line, size, color, bold)
        rect = surface.get_rect(**where)
        self.canvas.blit(surface, rect)
        self.texts.append(DrawnText(line, size, rect))
        return rect

    def _paragraph(self, text: str, size: int, color: Color, top: int, width: int, *, bold: bool = False,
                   center_x: int | None = None, left: int | None = None, max_lines: int = 4) -> int:
        """Wrapped lines from ``top``; the y below them."""
        # Up to max_lines lines where that keeps a common word whole ("tài sản", not "tài" / "sản").
        lines = self.text.lines(text, size, width, bold, max_lines=max_lines)[:max_lines]
        step = self.text.line_height(size, bold)
        for line in lines:
            if center_x is not None:
                self._line(line, size, color, bold, midtop=(center_x, top))
            else:
                self._line(line, size, color, bold, topleft=(left or 0, top))
            top += step
        return top

    def _lines_in(self, lines: Sequence[str], size: int, color: Color, bold: bool, box: pygame.Rect, *,
                  center_x: bool = False, center_y: bool = False) -> None:
        """``lines`` in ``box``: from its top or in its middle, each from its left or centred."""
        step = self.text.line_height(size, bold)
        top = box.top + ((box.height - step * len(lines)) // 2 if center_y else 0)
        for line in lines:
            if center_x:
                self._line(line, size, color, bold, midtop=(box.centerx, top))
            else:
                self._line(line, size, color, bold, topleft=(box.left, top))
            top += step

    def _button(self, rect: pygame.Rect, label: str, action: Action, *, fill: Color, color: Color,
                outline: Color | None = None, size: int | None = None, smallest: int | None = None) -> None:
        assert self.canvas is not None
        radius = self._u(10)
        pygame.draw.rect(self.canvas, fill, rect, border_radius=radius)
        if outline is not None:
            pygame.draw.rect(self.canvas, outline, rect, width=max(2, self._u(2)), border_radius=radius)
        size = size or self._u(20)
        label_size, lines = fit_lines(self.text, label, rect.width - self._u(16), rect.height, size,
                                      smallest or self._u(12), bold=True, max_lines=1)
        self._line(lines[0], label_size, color, True, center=rect.center)
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
                clock_w = self.text.width(clock_text, self._u(22), True)
                if right - clock_w - self._u(16) - margin >= 0.45 * width:
                    break
            drawn = self._line(clock_text, self._u(22), PAPER, True, midright=(right, height // 2))
            right -= drawn.width + self._u(16)
        size, lines = fit_lines(self.text, view.site_name, right - margin, height - self._u(8), self._u(28),
                                self._u(16), bold=True, max_lines=2)
        step = self.text.line_height(size, True)
        top = (height - step * len(lines)) // 2
        for line in lines:
            self._line(line, size, PAPER, True, topleft=(margin, top))
            top += step
        return height

    # --- the home screen: the menus ----------------------------------------------------------------------

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
            self._line(lines[0], size, INK, True, center=(width // 2, top + band // 2))
            top += band
        top = self._title_row(view, top, margin)
        bottom = height - margin
        if view.offers_priority:
            bottom = self._priority_entry(view, bottom, margin) - gap
        cards = self._cards(view)
        if not cards:
            self.pages = 1
            middle = top + (bottom - top) // 2 - self._u(40)
            below = self._paragraph(i18n.text("no_counters", language), self._u(30), INK, middle,
                                    width - 4 * margin, bold=True, center_x=width // 2)
            self._paragraph(i18n.text("no_counters_hint", language), self._u(20), MUTED, below + self._u(8),
                            width - 4 * margin, center_x=width // 2)
            return
        area = pygame.Rect(margin, top, width - 2 * margin, bottom - top)
        plan = self._plan(cards, area, language)
        self.pages = math.ceil(len(cards) / plan.per_page)
        self.page = min(self.page, self.pages - 1)
        if plan.paged:
            pager_h = self._u(56)
            area.height -= pager_h + gap
            self._pager(view, pygame.Rect(margin, area.bottom + gap, area.width, pager_h))
        shown = cards[self.page * plan.per_page:(self.page + 1) * plan.per_page]
        used_rows = math.ceil(len(shown) / plan.columns)
        # Few tiles: together in the middle rather than stretched over the screen.
        offset = max(0, (area.height - (used_rows * plan.tile_h + (used_rows - 1) * gap)) // 2)
        rects = []
        for index in range(len(shown)):
            row, column = divmod(index, plan.columns)
            rects.append(pygame.Rect(area.left + column * (plan.tile_w + gap),
                                     area.top + offset + row * (plan.tile_h + gap), plan.tile_w, plan.tile_h))
        # One size for every title on the page: tiles of mixed type sizes look untidy.
        title_size = min(self._title_size(card, rect) for card, rect in zip(shown, rects, strict=True))
        for card, rect in zip(shown, rects, strict=True):
            self._card(card, rect, title_size)

    def _title_row(self, view: View, top: int, margin: int) -> int:
        """What this level of the menu is, and "‹ Quay lại" inside it; the y below."""
        assert self.canvas is not None
        width, _ = self.size
        language = view.language
        row_h = self._u(56)
        fill, ink = (PRIORITY, PAPER) if view.priority_flow else (BACKDROP, INK)
        pygame.draw.rect(self.canvas, fill, (0, top, width, row_h))
        left = margin
        if view.can_go_back:
            label = i18n.text("back", language)
            button_w = max(self._u(150), self.text.width(label, self._u(22), True) + self._u(32))
            rect = pygame.Rect(margin, top + self._u(6), button_w, row_h - self._u(12))
            self._button(rect, label, Button("back"), fill=PAPER, color=NAVY, outline=NAVY, size=self._u(22))
            left = rect.right + self._u(14)
        title = self._title(view)
        size, lines = fit_lines(self.text, title, width - margin - left, row_h - self._u(4), self._u(24),
                                self._u(15), bold=True, max_lines=2, keep_words=True)
        box = pygame.Rect(left, top, width - margin - left, row_h)
        self._lines_in(lines, size, ink, True, box, center_x=not view.can_go_back, center_y=True)
        return top + row_h

    def _title(self, view: View) -> str:
        language = view.language
        if view.level == "reasons":
            return i18n.text("priority_question", language)
        if view.level == "fields":
            prompt = i18n.text("touch_field", language)
        elif view.field_name:
            prompt = view.field_name
        else:
            prompt = i18n.text("touch_prompt", language)
        if not view.priority_flow:
            return prompt
        chosen = i18n.text("priority_flow", language,
                           reason=i18n.priority_reason(view.priority_reason, language))
        step = view.field_name or i18n.text("choose_field" if view.level == "fields" else "choose_procedure",
                                            language)
        return f"{chosen} · {step}"

    def _priority_entry(self, view: View, bottom: int, margin: int) -> int:
        """The wide "Ưu tiên: ..." button along the bottom; its top."""
        width, _ = self.size
        pad = self._u(10)
        words = i18n.text("priority_entry", view.language)
        room = width - 2 * margin - 2 * pad
        smallest = self.tile_type_min
        # As many lines as the words need at the smallest type, one more if that keeps one whole.
        needed = len(self.text.lines(words, smallest, room, True))
        lines = self.text.lines(words, smallest, room, True, max_lines=needed + 1)
        height = max(self._u(60), len(lines) * self.text.line_height(smallest, True) + 2 * pad)
        rect = pygame.Rect(margin, bottom - height, width - 2 * margin, height)
        assert self.canvas is not None
        pygame.draw.rect(self.canvas, PRIORITY, rect, border_radius=self._u(12))
        size, fitted = fit_lines(self.text, words, room, height - 2 * pad, self._u(26), smallest, bold=True,
                                 max_lines=len(lines), keep_words=True)
        self._lines_in(fitted, size, PAPER, True, rect.inflate(-2 * pad, -2 * pad), center_x=True, center_y=True)
        self.regions.append((rect, Button("priority")))
        return rect.top

    def _cards(self, view: View) -> list[_Card]:
        language = view.language
        if view.level == "reasons":
            return [_Card("reason", ReasonAction(reason), i18n.priority_reason(reason, language), (), PRIORITY)
                    for reason in PRIORITY_REASONS]
        cards = [_Card("field", FieldAction(f.field_id), f.name,
                       (i18n.field_procedures(len(f.procedure_ids), language) + " ›", "›"), NAVY)
                 for f in view.fields]
        for tile in view.tiles:
            where = i18n.counters_label(tile.counter_numbers, tile.queue_name, language, short=True)
            status = i18n.tile_status(tile.waiting_count, tile.wait_minutes, language)
            waiting = i18n.tile_status(tile.waiting_count, 0, language)
            cards.append(_Card("procedure", ProcedureAction(tile.procedure_id), tile.procedure_name,
                               (f"{where} · {status}", f"{where} · {waiting}", where),
                               QUEUE_COLORS[(tile.queue_id - 1) % len(QUEUE_COLORS)]))
        return cards

    # --- tiles ----------------------------------------------------------------------------------------------

    def _inner(self, card: _Card, rect: pygame.Rect) -> tuple[pygame.Rect, pygame.Rect | None]:
        """Where a tile's title goes, and its footer line (None for a reason's tile)."""
        pad = self._u(10)
        bar = self._u(10) if card.kind != "reason" else 0
        inner = pygame.Rect(rect.left + bar + pad, rect.top + pad, rect.width - bar - 2 * pad, rect.height - 2 * pad)
        if card.kind == "reason":
            return inner, None
        footer_h = self.text.line_height(self.tile_type_min, True)
        title = pygame.Rect(inner.left, inner.top, inner.width, inner.height - footer_h - self._u(4))
        return title, pygame.Rect(inner.left, inner.bottom - footer_h, inner.width, footer_h)

    def _fits(self, card: _Card, width: int, height: int) -> bool:
        """Whether the tile's title fits a tile this size whole, at the smallest type or larger."""
        box, _ = self._inner(card, pygame.Rect(0, 0, width, height))
        if box.width <= 0 or box.height <= 0:
            return False
        size = self.tile_type_min
        lines = self.text.lines(card.title, size, box.width, True)
        return len(lines) <= TITLE_MAX_LINES and len(lines) * self.text.line_height(size, True) <= box.height \
            and all(self.text.width(line, size, True) <= box.width for line in lines)

    def _splits(self, card: _Card, width: int, height: int) -> int:
        """The common words the tile's title splits at the smallest type in a tile this size."""
        box, _ = self._inner(card, pygame.Rect(0, 0, width, height))
        size = self.tile_type_min
        room = max(1, min(TITLE_MAX_LINES, box.height // self.text.line_height(size, True)))
        return words_split(self.text.lines(card.title, size, box.width, True, max_lines=room))

    def _plan(self, cards: list[_Card], area: pygame.Rect, language: i18n.Language) -> _Plan:
        """The grid for these tiles in ``area``: every title whole at the smallest type or larger, on as few
        pages as that allows, then with the fewest words split, then as large as possible (about twice as
        wide as tall)."""
        key = (tuple((c.kind, c.title) for c in cards), area.size, language)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._search(cards, area)
            if len(self._plans) > 64:
                self._plans.pop(next(iter(self._plans)))
        return plan

    def _search(self, cards: list[_Card], area: pygame.Rect) -> _Plan:
        gap = self._u(10)
        cap = self._u(TILE_MAX_HEIGHT)
        options: list[tuple[tuple, _Plan]] = []
        for paged in (False, True):
            height = area.height - (self._u(56) + gap if paged else 0)
            for columns in range(1, min(len(cards), MOST_COLUMNS) + 1):
                for rows in range(1, MOST_ROWS + 1):
                    per_page = columns * rows
                    if (per_page < len(cards)) != paged or (not paged and per_page - columns >= len(cards)):
                        continue  # a pager only when needed; no empty row on a single page
                    tile_w = (area.width - (columns - 1) * gap) // columns
                    tile_h = min(cap, (height - (rows - 1) * gap) // rows)
                    if tile_w < TILE_MIN_WIDTH_EMS * self.tile_type_min or tile_h <= 0:
                        continue
                    pages = math.ceil(len(cards) / per_page)
                    empty = pages * per_page - len(cards)
                    rank = (pages, -min(tile_w, tile_h * 2.2), empty)
                    options.append((rank, _Plan(columns, rows, tile_w, tile_h, paged)))
        fitting = [(rank, plan) for rank, plan in sorted(options, key=lambda option: option[0])
                   if all(self._fits(card, plan.tile_w, plan.tile_h) for card in cards)]
        if fitting:
            # Of the grids with the fewest pages, the one splitting the fewest titles' words ("bảo | hiểm").
            pages = fitting[0][0][0]
            return min((plan for rank, plan in fitting if rank[0] == pages),
                       key=lambda plan: sum(self._splits(card, plan.tile_w, plan.tile_h) for card in cards))
        # A screen too small for anything: one tile a page, its title cut to fit.
        height = area.height - self._u(56) - gap if len(cards) > 1 else area.height
        return _Plan(1, 1, area.width, min(cap, height), len(cards) > 1)

    def _title_size(self, card: _Card, rect: pygame.Rect) -> int:
        box, _ = self._inner(card, rect)
        smallest = self.tile_type_min
        largest = self._u(REASON_TYPE_MAX if card.kind == "reason" else TILE_TYPE_MAX)
        max_lines = max(1, min(TITLE_MAX_LINES, box.height // self.text.line_height(smallest, True)))
        size, _ = fit_lines(self.text, card.title, box.width, box.height, largest, smallest, bold=True,
                            max_lines=max_lines, keep_words=True)
        return size

    def _card(self, card: _Card, rect: pygame.Rect, title_size: int) -> None:
        assert self.canvas is not None
        radius = self._u(12)
        pygame.draw.rect(self.canvas, PAPER, rect, border_radius=radius)
        box, footer_box = self._inner(card, rect)
        if card.kind == "reason":
            pygame.draw.rect(self.canvas, card.accent, rect, width=max(3, self._u(4)), border_radius=radius)
        else:
            pygame.draw.rect(self.canvas, TILE_EDGE, rect, width=max(2, self._u(2)), border_radius=radius)
            bar = pygame.Rect(rect.left, rect.top, self._u(10), rect.height)
            pygame.draw.rect(self.canvas, card.accent, bar, border_top_left_radius=radius,
                             border_bottom_left_radius=radius)
        max_lines = max(1, min(TITLE_MAX_LINES, box.height // self.text.line_height(title_size, True)))
        size, lines = fit_lines(self.text, card.title, box.width, box.height, title_size, title_size, bold=True,
                                max_lines=max_lines, keep_words=True)
        reason = card.kind == "reason"
        self._lines_in(lines, size, INK, True, box, center_x=reason, center_y=reason)
        if footer_box is not None and card.footers:
            footer_size = self.tile_type_min
            footer = next((f for f in card.footers if self.text.width(f, footer_size, True) <= footer_box.width),
                          None)
            if footer is None:
                footer = ellipsize(card.footers[-1], footer_box.width,
                                   lambda line: self.text.width(line, footer_size, True))
            color = card.accent if card.kind == "procedure" else MUTED
            self._line(footer, footer_size, color, True, topleft=footer_box.topleft)
        self.regions.append((rect, card.action))

    def _pager(self, view: View, rect: pygame.Rect) -> None:
        button_w = min(self._u(220), rect.width // 3)
        language = view.language
        self._button(pygame.Rect(rect.left, rect.top, button_w, rect.height), i18n.text("previous_page", language),
                     Button("previous_page"), fill=PAPER, color=NAVY, outline=NAVY, size=self._u(22))
        self._button(pygame.Rect(rect.right - button_w, rect.top, button_w, rect.height),
                     i18n.text("next_page", language), Button("next_page"), fill=NAVY, color=PAPER, size=self._u(22))
        self._line(i18n.text("page", language, page=self.page + 1, pages=self.pages), self._u(20), MUTED, True,
                   center=rect.center)

    # --- the other screens ----------------------------------------------------------------------------------

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

    def _number(self, label: str, center_x: int, top: int, max_width: int, max_height: int, color: Color) -> int:
        """The ticket's number as large as fits; the y below it."""
        assert self.canvas is not None
        size = largest_fitting(lambda size: self.text.width(label, size, True) <= max_width
                               and self.text.font(size, True).get_ascent() <= max_height, max_height, 20)
        surface = self.text.render(label, size, color, True)
        # Digits have no descenders: trim the font's descent so the number sits tight.
        ascent = self.text.font(size, True).get_ascent()
        self.canvas.blit(surface, (center_x - surface.get_width() // 2, top), pygame.Rect(0, 0, surface.get_width(),
                                                                                            ascent))
        self.texts.append(DrawnText(label, size, pygame.Rect(center_x - surface.get_width() // 2, top,
                                                             surface.get_width(), ascent)))
        return top + ascent

    def _priority_chip(self, ticket_reason: str | None, language: i18n.Language, center_x: int, top: int,
                       max_width: int) -> int:
        """"ƯU TIÊN · Người cao tuổi" in the priority colour, for a priority ticket; the y below it."""
        assert self.canvas is not None
        words = f"{i18n.text('priority_mark', language)} · {i18n.priority_reason(ticket_reason, language)}"
        size, lines = fit_lines(self.text, words, max_width - self._u(24), self._u(40), self._u(24), self._u(16),
                                bold=True, max_lines=1)
        label_w = self.text.width(lines[0], size, True)
        chip = pygame.Rect(0, 0, label_w + self._u(24), self.text.line_height(size, True) + self._u(8))
        chip.midtop = (center_x, top)
        pygame.draw.rect(self.canvas, PRIORITY, chip, border_radius=self._u(8))
        self._line(lines[0], size, PAPER, True, center=chip.center)
        return chip.bottom

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
        number_h = round(height * ((0.26 if portrait else 0.30) - (0.08 if ticket.priority else 0)))
        top = self._number(ticket.shown_label, width // 2, top, width - 2 * margin, number_h, NAVY) + self._u(12)
        if ticket.priority:
            top = self._priority_chip(ticket.priority_reason, language, width // 2, top, width - 2 * margin)
            top += self._u(6)
        top = self._paragraph(ticket.procedure_name, self._u(24), INK, top, width - 2 * margin, bold=True,
                              center_x=width // 2, max_lines=2)
        accent = QUEUE_COLORS[(ticket.queue_id - 1) % len(QUEUE_COLORS)]
        top = self._paragraph(i18n.counters_label(ticket.counter_numbers, ticket.queue_name, language),
                              self._u(24), accent, top + self._u(4), width - 2 * margin, bold=True,
                              center_x=width // 2, max_lines=2)
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
        self._line(lines[0], size, PAPER, True, midleft=(self._u(16), band.centery))
        if view.countdown is not None:
            self._line(i18n.text("returning", language, s=view.countdown), self._u(16), MUTED,
                       midbottom=(width // 2, band.top - self._u(8)))
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
        self._line(lines[0], size, INK, True, center=(width // 2, band_h // 2))
        top = band_h + self._u(14)
        top = self._paragraph(i18n.text("fault_ticket_kept", language), self._u(26), INK, top, width - 2 * margin,
                              bold=True, center_x=width // 2, max_lines=1)
        top = self._number(ticket.shown_label, width // 2, top + self._u(4), width - 2 * margin,
                           round(height * 0.2), NAVY) + self._u(10)
        accent = QUEUE_COLORS[(ticket.queue_id - 1) % len(QUEUE_COLORS)]
        top = self._paragraph(i18n.counters_label(ticket.counter_numbers, ticket.queue_name, language),
                              self._u(22), accent, top, width - 2 * margin, bold=True, center_x=width // 2,
                              max_lines=2)
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
        self._line("!", self._u(60), INK, True, center=center)
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
