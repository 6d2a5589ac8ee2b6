"""The printed ticket, drawn as a 1-bit image with Pillow.

Thermal printers' code pages have no Vietnamese, so the whole ticket is one
raster image exactly as wide as the paper (``paper_width_dots``): the site's
name, the number (``ticket_label``: the queue's prefix and the number) in
large type, for a priority ticket the framed "ƯU TIÊN" mark and the reason
(:func:`priority_mark`), the procedure, the queue and every counter serving
it ("Quầy 2, 5 – Tư pháp - Hộ tịch"), the date and time
of issue by the hub's clock in the hall's time zone, the people ahead and the
estimated wait, a QR code of the ticket's status page when the site has a
public address, and a footer. Sizes are given for 80 mm paper (576 dots) and
scaled for narrower rolls. Text is NFC-normalised and wrapped evenly
(:mod:`display.wrap`) as on the screen, with Pillow as the ruler.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from display.fit import largest_fitting
from display.fonts import FontFiles
from display.vietnamese import nfc
from display.wrap import balanced_lines, greedy_lines
from kiosk_node.i18n import Language, counters_label, priority_reason, text
from kiosk_node.model import Ticket

# Pillow and qrcode are imported where a ticket is drawn, in the kiosk's printer thread (its first
# job renders a sample ticket): the kiosk's screen does not wait for them at start-up.
if TYPE_CHECKING:
    from PIL import Image, ImageFont

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
# Sizes below are for this width; other papers scale them.
REFERENCE_WIDTH = 576
BLACK, WHITE = 0, 255


@dataclass(frozen=True)
class TicketContext:
    """What a ticket needs beyond the ticket itself: the site and the printer."""

    site_name: str
    width: int
    fonts: FontFiles
    public_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE


@functools.lru_cache(maxsize=64)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size)


def local_time(moment: datetime, zone: str) -> datetime:
    """``moment`` in the hall's time zone (Asia/Ho_Chi_Minh when the zone is unknown)."""
    # Here, not at the top: no clock is shown and no ticket printed before the hub has said its zone.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        tz = ZoneInfo(zone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(DEFAULT_TIMEZONE)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz)


def status_url(public_url: str | None, ticket_code: str | None) -> str | None:
    """The ticket's status page, or None when the site has no public address (or the ticket no code)."""
    if not public_url or not ticket_code:
        return None
    return f"{public_url.rstrip('/')}/t/{ticket_code}"


def qr_image(data: str, size: int) -> Image.Image:
    """A QR code of ``data``, at most ``size`` dots square, with crisp modules (whole dots each)."""
    import qrcode
    from PIL import Image

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    small = Image.new("L", (modules, modules), WHITE)
    small.putdata([BLACK if dark else WHITE for row in matrix for dark in row])
    box = max(1, size // modules)
    return small.resize((modules * box, modules * box), Image.Resampling.NEAREST)


class _Pen:
    """Draws centred lines down a tall canvas, keeping track of where the next one goes."""

    def __init__(self, width: int, scale: float, fonts: FontFiles):
        self.width = width
        self.scale = scale
        self.fonts = fonts
        self.margin = _margin(width)
        from PIL import Image, ImageDraw

        self.image = Image.new("L", (width, round(2400 * scale) + 600), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.y = self.margin

    def font(self, size: float, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(self.fonts.face(bold), max(8, round(size * self.scale)))

    def space(self, points: float) -> None:
        self.y += round(points * self.scale)

    def wrap(self, words: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
        """As few lines as fit ``width``, made as even as possible (no lone last word); one more where that
        keeps a common word whole (paper is not short of room)."""
        def measure(line: str) -> float:
            return self.draw.textlength(line, font=font)

        return balanced_lines(words, width, measure, max_lines=len(greedy_lines(words, width, measure)) + 1)

    def paragraph(self, words: str, size: float, bold: bool = False) -> None:
        font = self.font(size, bold)
        ascent, descent = font.getmetrics()
        for line in self.wrap(nfc(words), font, self.width - 2 * self.margin):
            self.draw.text((self.width // 2, self.y), line, font=font, fill=BLACK, anchor="ma")
            self.y += ascent + descent

    def rule(self, thickness: float = 2, dashed: bool = False) -> None:
        height = max(1, round(thickness * self.scale))
        left, right = self.margin, self.width - self.margin
        if dashed:
            dash = round(10 * self.scale)
            for x in range(left, right, 2 * dash):
                self.draw.rectangle((x, self.y, min(x + dash, right) - 1, self.y + height - 1), fill=BLACK)
        else:
            self.draw.rectangle((left, self.y, right - 1, self.y + height - 1), fill=BLACK)
        self.y += height

    def big_number(self, number: str) -> None:
        """The number as large as fits the paper, its ink box placed exactly at the pen."""
        room = self.width - 2 * self.margin
        size = largest_fitting(lambda size: self.draw.textlength(number, font=self.font(size, bold=True)) <= room,
                               250.0, 40.0)
        font = self.font(size, bold=True)
        # Whole dots (Pillow's types say float; a FreeType font's box is in whole pixels).
        left, top, right, bottom = (int(edge) for edge in font.getbbox(number, anchor="ma"))
        self.draw.text((self.width // 2, self.y - top), number, font=font, fill=BLACK, anchor="ma")
        self.y += bottom - top

    def banner(self, words: str, size: float) -> None:
        """White text on a black band: for what must not be missed (a test print)."""
        font = self.font(size, bold=True)
        ascent, descent = font.getmetrics()
        lines = self.wrap(nfc(words), font, self.width - 4 * self.margin)
        pad = round(8 * self.scale)
        height = len(lines) * (ascent + descent) + 2 * pad
        self.draw.rectangle((self.margin, self.y, self.width - self.margin - 1, self.y + height - 1), fill=BLACK)
        self.y += pad
        for line in lines:
            self.draw.text((self.width // 2, self.y), line, font=font, fill=WHITE, anchor="ma")
            self.y += ascent + descent
        self.y += pad

    def picture(self, picture: Image.Image) -> None:
        self.image.paste(picture, ((self.width - picture.width) // 2, self.y))
        self.y += picture.height

    def finish(self) -> Image.Image:
        from PIL import Image

        used = self.image.crop((0, 0, self.width, self.y + self.margin))
        return _threshold(used).convert("1", dither=Image.Dither.NONE)


def _threshold(image: Image.Image) -> Image.Image:
    # Thermal printers have no grey: threshold the anti-aliased text, no dithering (crisper letters).
    return image.point(lambda v: 255 if v >= 128 else 0)


def priority_mark(reason: str | None, context: TicketContext, language: Language = "vi") -> Image.Image:
    """The priority ticket's mark: "ƯU TIÊN" in large bold black on white in a thick black frame, the reason
    below it; as wide as the ticket's text, black and white only (grey "L" values 0 and 255).

    Black on white rather than white on black: a solid band costs a thermal
    head heat and paper, and fades first; a frame and big letters stand out
    as much to an officer glancing at the ticket.
    """
    from PIL import Image, ImageDraw

    scale = _scale(context.width)

    def font(size: float) -> ImageFont.FreeTypeFont:
        return _font(context.fonts.face(True), max(8, round(size * scale)))

    ruler = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = context.width - 2 * _margin(context.width)
    frame = max(3, round(6 * scale))
    pad = round(12 * scale)
    room = width - 2 * (frame + pad)
    mark_words = text("priority_mark", language)
    mark = font(largest_fitting(lambda size: ruler.textlength(mark_words, font=font(size)) <= room, 96.0, 24.0))
    reason_words = nfc(text("ticket_priority_reason", language, reason=priority_reason(reason, language)))
    reason_font = font(30)
    reason_lines = balanced_lines(reason_words, room, lambda line: ruler.textlength(line, font=reason_font))
    left, top, right, bottom = (int(edge) for edge in mark.getbbox(mark_words, anchor="ma"))
    ascent, descent = reason_font.getmetrics()
    height = 2 * frame + 3 * pad + (bottom - top) + len(reason_lines) * (ascent + descent)
    image = Image.new("L", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), fill=BLACK)
    draw.rectangle((frame, frame, width - 1 - frame, height - 1 - frame), fill=WHITE)
    y = frame + pad
    draw.text((width // 2, y - top), mark_words, font=mark, fill=BLACK, anchor="ma")
    y += bottom - top + pad
    for line in reason_lines:
        draw.text((width // 2, y), line, font=reason_font, fill=BLACK, anchor="ma")
        y += ascent + descent
    return _threshold(image)


def _margin(width: int) -> int:
    return round(18 * width / REFERENCE_WIDTH)


def _scale(width: int) -> float:
    # Text shrinks less than the paper: 58 mm tickets must still be readable at arm's length.
    return (width / REFERENCE_WIDTH) ** 0.5


def render_ticket(ticket: Ticket, context: TicketContext, language: Language = "vi", *,
                  test_print: bool = False) -> Image.Image:
    """The ticket as a 1-bit image ``context.width`` dots wide (black ink = 0)."""
    pen = _Pen(context.width, _scale(context.width), context.fonts)
    if test_print:
        pen.banner(text("ticket_test", language), 24)
        pen.space(10)
    pen.paragraph(context.site_name, 28, bold=True)
    pen.space(10)
    pen.rule()
    pen.space(14)
    pen.paragraph(text("ticket_heading", language), 26)
    pen.space(12)
    pen.big_number(ticket.shown_label)
    pen.space(22)
    if ticket.priority:
        pen.picture(priority_mark(ticket.priority_reason, context, language))
        pen.space(18)
    pen.paragraph(ticket.procedure_name, 28, bold=True)
    pen.space(6)
    pen.paragraph(counters_label(ticket.counter_numbers, ticket.queue_name, language), 26)
    pen.space(14)
    pen.rule(dashed=True)
    pen.space(12)
    issued = local_time(ticket.created_at, context.timezone)
    pen.paragraph(text("ticket_date", language, date=issued.strftime("%d/%m/%Y"), time=issued.strftime("%H:%M")), 24)
    pen.paragraph(text("ticket_ahead", language, n=ticket.people_ahead), 24)
    if ticket.wait_minutes > 0:
        pen.paragraph(text("ticket_wait", language, m=ticket.wait_minutes), 24)
    else:
        pen.paragraph(text("ticket_no_wait", language), 24)
    url = status_url(context.public_url, ticket.ticket_code)
    if url is not None:
        pen.space(16)
        pen.picture(qr_image(url, round(200 * pen.scale)))
        pen.space(6)
        pen.paragraph(text("ticket_qr", language), 20)
    pen.space(12)
    pen.rule(dashed=True)
    pen.space(10)
    pen.paragraph(text("ticket_footer", language), 20)
    return pen.finish()


def sample_ticket(now: datetime) -> Ticket:
    """The ticket ``qms-kiosk print-test`` prints."""
    return Ticket(number=123, queue_id=1, queue_name="Hàng chờ mẫu", counter_numbers=(1, 2),
                  procedure_name="Đăng ký khai sinh (in thử)", created_at=now, people_ahead=4, wait_minutes=20,
                  ticket_code="in-thu-0000")
