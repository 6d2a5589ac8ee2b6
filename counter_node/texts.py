"""Every fixed text the counter display shows a citizen, in Vietnamese (NFC, every diacritic).

Kept in one place so the glyph test can check each against the font the
display draws with, and so the wording is reviewed once. Texts that come from
the hub (counter and officer names, a pause reason) are drawn as sent.
"""

from __future__ import annotations

# The four choices, best first, as PROTOCOL.md names them (score 4 .. 1).
SCORE_LABELS: dict[int, str] = {
    4: "Rất hài lòng",
    3: "Hài lòng",
    2: "Chưa hài lòng",
    1: "Không hài lòng",
}
SCORES: tuple[int, ...] = (4, 3, 2, 1)
# Where a text breaks when it needs two lines: between words, never inside one ("hài lòng", "đánh giá").
SCORE_LINES: dict[int, tuple[str, ...]] = {
    4: ("Rất", "hài lòng"),
    3: ("Hài lòng",),
    2: ("Chưa", "hài lòng"),
    1: ("Không", "hài lòng"),
}

COUNTER = "Quầy số {number}"
SERVING = "Đang phục vụ số"
IDLE = "Kính chào quý khách"
IDLE_HINT = "Mời quý khách theo dõi số thứ tự trên màn hình"
OFFICER = "Cán bộ: {name}"
ASK = "Quý khách vui lòng đánh giá chất lượng phục vụ"
ASK_LINES = ("Quý khách vui lòng đánh giá", "chất lượng phục vụ")
ASK_TICKET = "Số {label}"
SECONDS_LEFT = "{seconds} giây"
THANKS = "Cảm ơn quý khách!"
THANKS_CHOICE = "Quý khách đã chọn: {label}"
PAUSED = "Tạm dừng"
CLOSED = "Ngừng phục vụ"
REASON = "Lý do: {reason}"
PAUSED_HINT = "Quý khách vui lòng chờ trong giây lát"
OFFLINE = "Mất kết nối"
OFFLINE_HINT = "Đang kết nối lại với máy chủ…"
WAITING_RATINGS = "{count} đánh giá sẽ được gửi khi có kết nối"
CONNECTING = "Đang kết nối tới máy chủ…"


def every_text() -> list[str]:
    """Each text as drawn with sample values in its placeholders (the glyph test draws these)."""
    samples = {"number": "12", "name": "Nguyễn Thị Ánh Tuyết", "label": "A2001", "seconds": "30",
               "reason": "Nghỉ trưa", "count": "3"}
    fixed = [COUNTER, SERVING, IDLE, IDLE_HINT, OFFICER, ASK, ASK_TICKET, SECONDS_LEFT, THANKS, PAUSED, CLOSED,
             REASON, PAUSED_HINT, OFFLINE, OFFLINE_HINT, WAITING_RATINGS, CONNECTING]
    texts = [text.format(**samples) for text in fixed]
    texts += list(SCORE_LABELS.values())
    texts += [THANKS_CHOICE.format(label=label) for label in SCORE_LABELS.values()]
    return texts
