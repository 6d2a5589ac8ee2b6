"""Draws a counter display :class:`~counter_node.model.View` with pygame and maps taps back to scores.

Laid out from the screen's size in units of ``min(width, height) / 480``, so
the 7" 800x480 touchscreen and 1024x600 panels (landscape) both get large
type; every text is fitted to its box (:mod:`display.fit`) and drawn from a
cache (:class:`display.text_cache.TextCache`). A frame draws only when the
view changed. Each text drawn is remembered (:attr:`CounterUI.drawn`) with
where it went, for the tests and the glyph check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pygame

from counter_node import texts
from counter_node.faces import SCORE_COLORS, draw_face
from counter_node.model import View
from display.fit import fit_lines, fit_width
from display.fonts import FontFiles
from display.screenshot import save_png
from display.text_cache import Color, TextCache

NAVY: Color = (10, 52, 110)
INK: Color = (20, 24, 28)
MUTED: Color = (55, 65, 75)
PAPER: Color = (255, 255, 255)
BACKDROP: Color = (232, 237, 243)
LIGHT_ON_DARK: Color = (215, 225, 235)
SLATE: Color = (33, 43, 54)
AMBER: Color = (255, 193, 7)
THANKS_GREEN: Color = (16, 110, 55)
TEXT_CACHE_SIZE = 600
WINDOW_SIZE = (800, 480)


@dataclass(frozen=True)
class DrawnText:
    text: str
    size: int
    color: Color
    bold: bool
    rect: pygame.Rect


class CounterUI:
    """The display's screen: :meth:`draw` a view, :meth:`hit` a tap (a score, or None)."""

    def __init__(self, fonts: FontFiles, size: tuple[int, int] = (0, 0), *, fullscreen: bool = False,
                 title: str = "qms-counter"):
        self.fonts = fonts
        self.requested_size = size
        self.fullscreen = fullscreen
        self.title = title
        self.canvas: pygame.Surface | None = None
        self.text = TextCache(fonts, capacity=TEXT_CACHE_SIZE)
        self.regions: list[tuple[pygame.Rect, int]] = []
        self.drawn: list[DrawnText] = []
        # The view on screen now (None before the first frame).
        self.shown: View | None = None
        self.draws = 0

    # --- the window ------------------------------------------------------------------------------

    def open(self) -> None:
        pygame.display.init()
        pygame.font.init()
        size = self.requested_size
        if not size[0] or not size[1]:
            # Full screen at 0x0 takes the screen's own resolution.
            size = (0, 0) if self.fullscreen else WINDOW_SIZE
        self.canvas = pygame.display.set_mode(size, pygame.FULLSCREEN if self.fullscreen else 0)
        pygame.display.set_caption(self.title)
        if self.fullscreen:
            pygame.mouse.set_visible(False)
        # Only what the display reacts to: fewer wake-ups for SDL's event queue.
        pygame.event.set_blocked(None)
        pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN, pygame.MOUSEBUTTONDOWN, pygame.FINGERDOWN,
                                  pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE, pygame.USEREVENT])

    def close(self) -> None:
        if self.canvas is not None:
            pygame.display.quit()
            self.canvas = None

    @property
    def size(self) -> tuple[int, int]:
        assert self.canvas is not None, "open() first"
        return self.canvas.get_size()

    @property
    def unit(self) -> float:
        return min(self.size) / 480

    def invalidate(self) -> None:
        """Draw again at the next :meth:`draw` (the window was exposed)."""
        self.shown = None

    # --- taps ------------------------------------------------------------------------------------

    def hit(self, position: tuple[float, float]) -> int | None:
        """The score whose choice is at ``position`` on the screen now, if any."""
        for rect, score in self.regions:
            if rect.collidepoint(position):
                return score
        return None

    def center_of(self, score: int) -> tuple[int, int]:
        """Where to tap for ``score`` (tests, the technician's check)."""
        for rect, candidate in self.regions:
            if candidate == score:
                return rect.center
        raise LookupError(f"score {score} is not on screen")

    def texts_shown(self) -> list[str]:
        return [d.text for d in self.drawn]

    # --- drawing ---------------------------------------------------------------------------------

    def draw(self, view: View) -> bool:
        """Draw ``view`` unless it is on screen already; whether anything was drawn."""
        if view == self.shown:
            return False
        assert self.canvas is not None, "open() first"
        self.regions = []
        self.drawn = []
        {
            "idle": self._idle,
            "serving": self._serving,
            "asking": self._asking,
            "thanks": self._thanks,
            "paused": self._paused,
            "offline": self._offline,
        }[view.screen](view)
        pygame.display.flip()
        self.shown = view
        self.draws += 1
        return True

    def screenshot(self, path: str | os.PathLike[str]) -> None:
        """The screen as a PNG, replaced atomically (a support tool may be reading it)."""
        assert self.canvas is not None
        save_png(self.canvas, path)

    # --- pieces ----------------------------------------------------------------------------------

    def _u(self, value: float) -> int:
        return max(1, round(value * self.unit))

    def _line(self, line: str, size: int, color: Color, bold: bool = False, **where: tuple[int, int]) -> pygame.Rect:
        """One line placed by a pygame.Rect keyword (``midtop=``, ``center=``, ...); its rect."""
        assert self.canvas is not None
        surface = self.text.render(line, size, color, bold)
        rect = surface.get_rect(**where)
        self.canvas.blit(surface, rect)
        self.drawn.append(DrawnText(line, size, color, bold, rect))
        return rect

    def _block(self, text: str, box: pygame.Rect, largest: int, smallest: int, color: Color, *,
               bold: bool = False, max_lines: int = 2) -> int:
        """``text`` fitted into ``box`` (wrapped, centred across and down); the y below its last line."""
        size, lines = fit_lines(self.text, text, box.width, box.height, largest, smallest, bold=bold,
                                max_lines=max_lines, one_line=0.8)
        step = self.text.line_height(size, bold)
        top = box.top + (box.height - step * len(lines)) // 2
        for line in lines:
            self._line(line, size, color, bold, midtop=(box.centerx, top))
            top += step
        return top

    def _header(self, view: View, *, fill: Color = NAVY, color: Color = PAPER) -> int:
        """The counter's number and name across the top; the header's height."""
        assert self.canvas is not None
        width, _ = self.size
        height = self._u(72)
        pygame.draw.rect(self.canvas, fill, (0, 0, width, height))
        margin = self._u(20)
        number = texts.COUNTER.format(number=view.counter_number)
        size = fit_width(self.text, number, width // 2 - margin, self._u(40), self._u(20), bold=True)
        left = self._line(number, size, color, True, midleft=(margin, height // 2))
        if view.counter_name:
            box = pygame.Rect(left.right + self._u(24), self._u(6), width - left.right - self._u(24) - margin,
                              height - self._u(12))
            name_size, lines = fit_lines(self.text, view.counter_name, box.width, box.height, self._u(30),
                                         self._u(14), max_lines=2, one_line=0.7)
            step = self.text.line_height(name_size)
            top = box.top + (box.height - step * len(lines)) // 2
            for line in lines:
                self._line(line, name_size, LIGHT_ON_DARK if fill == NAVY else color,
                           topright=(box.right, top))
                top += step
        return height

    def _officer_footer(self, view: View) -> int:
        """The officer's name along the bottom, when the hub sent one; the footer's height (0 without)."""
        assert self.canvas is not None
        if not view.officer_name:
            return 0
        width, height = self.size
        footer = self._u(56)
        pygame.draw.rect(self.canvas, BACKDROP, (0, height - footer, width, footer))
        text = texts.OFFICER.format(name=view.officer_name)
        size = fit_width(self.text, text, width - self._u(40), self._u(28), self._u(14))
        self._line(text, size, INK, False, center=(width // 2, height - footer // 2))
        return footer

    # --- screens ---------------------------------------------------------------------------------

    def _idle(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(PAPER)
        top = self._header(view)
        bottom = height - self._officer_footer(view)
        margin = self._u(30)
        middle = top + (bottom - top) // 2
        self._block(texts.IDLE, pygame.Rect(margin, top + self._u(20), width - 2 * margin, middle - top - self._u(10)),
                    self._u(56), self._u(24), NAVY, bold=True)
        self._block(texts.IDLE_HINT, pygame.Rect(margin, middle + self._u(10), width - 2 * margin,
                                                 bottom - middle - self._u(30)),
                    self._u(28), self._u(16), MUTED)

    def _serving(self, view: View) -> None:
        assert self.canvas is not None and view.ticket_label is not None
        width, height = self.size
        self.canvas.fill(PAPER)
        top = self._header(view)
        bottom = height - self._officer_footer(view)
        margin = self._u(30)
        caption = self._u(30)
        label_top = self._line(texts.SERVING, caption, MUTED, False, midtop=(width // 2, top + self._u(16))).bottom
        # The number as large as the space allows: it is read from across the counter.
        room = bottom - label_top - self._u(16)
        size = fit_width(self.text, view.ticket_label, width - 2 * margin, int(room / 1.05), self._u(40), bold=True)
        self._line(view.ticket_label, size, NAVY, True, center=(width // 2, label_top + room // 2))

    def _asking(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(BACKDROP)
        top = self._header(view)
        margin = self._u(16)
        prompt_box = pygame.Rect(margin, top + self._u(8), width - 2 * margin - self._u(150), self._u(74))
        prompt_size = self._two_line_size(texts.ASK, texts.ASK_LINES, prompt_box.size, self._u(30), self._u(16))
        self._lines_in(self._lines_at(texts.ASK, texts.ASK_LINES, prompt_size, prompt_box.width), prompt_size,
                       INK, prompt_box)
        side_left = prompt_box.right + self._u(10)
        side = pygame.Rect(side_left, prompt_box.top, width - margin - side_left, prompt_box.height)
        if view.rating_label:
            self._line(texts.ASK_TICKET.format(label=view.rating_label), self._u(24), INK, True,
                       topright=(side.right, side.top + self._u(6)))
        if view.seconds_left is not None:
            self._line(texts.SECONDS_LEFT.format(seconds=view.seconds_left), self._u(20), MUTED, False,
                       bottomright=(side.right, side.bottom - self._u(4)))
        area = pygame.Rect(margin, prompt_box.bottom + self._u(10), width - 2 * margin,
                           height - prompt_box.bottom - self._u(10) - margin)
        gap = self._u(12)
        button_width = (area.width - gap * (len(texts.SCORES) - 1)) // len(texts.SCORES)
        label_height = self._u(86)
        label_box = (button_width - self._u(16), label_height - self._u(8))
        # One type size for the four labels, the largest at which each fits (in one line or its two).
        label_size = min(self._two_line_size(texts.SCORE_LABELS[score], texts.SCORE_LINES[score], label_box,
                                             self._u(28), self._u(14)) for score in texts.SCORES)
        for index, score in enumerate(texts.SCORES):
            rect = pygame.Rect(area.left + index * (button_width + gap), area.top, button_width, area.height)
            self._choice(rect, score, label_height, label_size)

    def _choice(self, rect: pygame.Rect, score: int, label_height: int, label_size: int) -> None:
        assert self.canvas is not None
        pygame.draw.rect(self.canvas, SCORE_COLORS[score], rect, border_radius=self._u(16))
        diameter = min(rect.width - self._u(24), rect.height - label_height - self._u(24))
        face = draw_face(score, diameter)
        self.canvas.blit(face, face.get_rect(midtop=(rect.centerx, rect.top + self._u(16))))
        box = pygame.Rect(rect.left + self._u(8), rect.bottom - label_height, rect.width - self._u(16),
                          label_height - self._u(8))
        lines = self._lines_at(texts.SCORE_LABELS[score], texts.SCORE_LINES[score], label_size, box.width)
        self._lines_in(lines, label_size, PAPER, box)
        self.regions.append((rect, score))

    def _two_line_size(self, text: str, lines: tuple[str, ...], box: tuple[int, int], largest: int,
                       smallest: int) -> int:
        """The largest bold size at which ``text`` fits ``box`` on one line, or as its ``lines``."""
        width, height = box
        size = fit_width(self.text, text, width, largest, smallest, bold=True)
        while size > smallest and self.text.line_height(size, True) > height:
            size -= 1
        if len(lines) > 1:
            split = min(fit_width(self.text, line, width, largest, smallest, bold=True) for line in lines)
            while split > smallest and len(lines) * self.text.line_height(split, True) > height:
                split -= 1
            size = max(size, split)
        return size

    def _lines_at(self, text: str, lines: tuple[str, ...], size: int, width: int) -> list[str]:
        """``text`` on one line when it fits at ``size``, else broken as ``lines`` says."""
        return [text] if self.text.width(text, size, True) <= width else list(lines)

    def _lines_in(self, lines: list[str], size: int, color: Color, box: pygame.Rect) -> None:
        """Bold ``lines`` centred across and down ``box``."""
        step = self.text.line_height(size, True)
        top = box.top + (box.height - step * len(lines)) // 2
        for line in lines:
            self._line(line, size, color, True, midtop=(box.centerx, top))
            top += step

    def _thanks(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(THANKS_GREEN)
        top = self._header(view)
        margin = self._u(30)
        diameter = self._u(150)
        if view.chosen is not None:
            face = draw_face(view.chosen, diameter)
            self.canvas.blit(face, face.get_rect(midtop=(width // 2, top + self._u(22))))
        below = top + self._u(22) + diameter + self._u(10)
        end = self._block(texts.THANKS, pygame.Rect(margin, below, width - 2 * margin, self._u(80)), self._u(60),
                          self._u(28), PAPER, bold=True, max_lines=1)
        if view.chosen is not None:
            choice = texts.THANKS_CHOICE.format(label=texts.SCORE_LABELS[view.chosen])
            self._block(choice, pygame.Rect(margin, end + self._u(6), width - 2 * margin, height - end - margin),
                        self._u(28), self._u(16), LIGHT_ON_DARK)

    def _paused(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(AMBER)
        top = self._header(view)
        bottom = height - self._officer_footer(view)
        margin = self._u(30)
        title = texts.CLOSED if view.status == "offline" else texts.PAUSED
        end = self._block(title, pygame.Rect(margin, top + self._u(30), width - 2 * margin, self._u(110)),
                          self._u(96), self._u(40), INK, bold=True, max_lines=1)
        if view.reason:
            end = self._block(texts.REASON.format(reason=view.reason),
                              pygame.Rect(margin, end + self._u(10), width - 2 * margin, self._u(80)),
                              self._u(32), self._u(16), INK)
        self._block(texts.PAUSED_HINT, pygame.Rect(margin, end + self._u(10), width - 2 * margin,
                                                   max(self._u(30), bottom - end - self._u(30))),
                    self._u(26), self._u(14), INK)

    def _offline(self, view: View) -> None:
        assert self.canvas is not None
        width, height = self.size
        self.canvas.fill(SLATE)
        top = self._header(view, fill=SLATE, color=LIGHT_ON_DARK)
        margin = self._u(30)
        title = texts.CONNECTING if view.connecting else texts.OFFLINE
        end = self._block(title, pygame.Rect(margin, top + self._u(40), width - 2 * margin, self._u(110)),
                          self._u(72) if not view.connecting else self._u(44), self._u(28), PAPER, bold=True)
        if not view.connecting:
            end = self._block(texts.OFFLINE_HINT, pygame.Rect(margin, end + self._u(10), width - 2 * margin,
                                                              self._u(60)),
                              self._u(28), self._u(16), LIGHT_ON_DARK)
        if view.waiting_ratings:
            self._block(texts.WAITING_RATINGS.format(count=view.waiting_ratings),
                        pygame.Rect(margin, end + self._u(20), width - 2 * margin, self._u(70)),
                        self._u(26), self._u(14), AMBER, bold=True)
