"""Every text the kiosk shows or prints, Vietnamese first, English second.

Procedure, field, queue and counter names come from the hub in Vietnamese and
are shown as they are in both languages. Numbers of minutes and people are
formatted here so the plural and the "no wait" cases read naturally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")

_TEXTS: dict[str, tuple[str, str]] = {
    # home
    "touch_prompt": ("Chạm vào thủ tục bạn cần để lấy số thứ tự", "Touch the service you need to get a number"),
    "touch_field": ("Chạm vào lĩnh vực bạn cần để lấy số thứ tự", "Touch the area of service you need"),
    "choose_procedure": ("Chọn thủ tục", "Choose the service"),
    "choose_field": ("Chọn lĩnh vực", "Choose the area of service"),
    "field_procedures": ("{n} thủ tục", "{n} services"),
    "field_one_procedure": ("1 thủ tục", "1 service"),
    "back": ("‹ Quay lại", "‹ Back"),
    "counters": ("Quầy {numbers} – {name}", "Counters {numbers} – {name}"),
    "counters_short": ("Quầy {numbers}", "Counters {numbers}"),
    "one_counter": ("Quầy {numbers} – {name}", "Counter {numbers} – {name}"),
    "one_counter_short": ("Quầy {numbers}", "Counter {numbers}"),
    # priority
    "priority_entry": ("Ưu tiên: người cao tuổi, người khuyết tật, phụ nữ mang thai, trẻ em, người có công",
                       "Priority: older people, people with disabilities, pregnant women, children, "
                       "people of merit"),
    "priority_question": ("Bạn thuộc đối tượng ưu tiên nào?", "Which priority applies to you?"),
    "priority_flow": ("Ưu tiên – {reason}", "Priority – {reason}"),
    "priority_mark": ("ƯU TIÊN", "ƯU TIÊN"),
    "priority_ticket": ("Vé ưu tiên – {reason}", "Priority ticket – {reason}"),
    "reason_elderly": ("Người cao tuổi", "Older person"),
    "reason_disability": ("Người khuyết tật", "Person with a disability"),
    "reason_pregnant": ("Phụ nữ mang thai", "Pregnant woman"),
    "reason_child": ("Trẻ em", "Child"),
    "reason_merit": ("Người có công", "Person of merit"),
    "reason_other": ("Đối tượng ưu tiên khác", "Other priority"),
    "waiting": ("{n} người chờ", "{n} waiting"),
    "wait_minutes": ("~{m} phút", "~{m} min"),
    "no_wait": ("Không phải chờ", "No wait"),
    "no_counters": ("Hiện chưa có quầy nào tiếp nhận hồ sơ", "No counter is open right now"),
    "no_counters_hint": ("Xin vui lòng chờ hoặc hỏi cán bộ hướng dẫn", "Please wait or ask a member of staff"),
    "language_button": ("English", "Tiếng Việt"),
    "next_page": ("Trang sau ›", "More ›"),
    "previous_page": ("‹ Trang trước", "‹ Back"),
    "page": ("Trang {page}/{pages}", "Page {page}/{pages}"),
    # printing
    "printing": ("Đang in vé…", "Printing your ticket…"),
    "printing_hint": ("Xin vui lòng chờ trong giây lát", "Please wait a moment"),
    # result
    "your_number": ("Số của bạn:", "Your number:"),
    "people_ahead": ("Trước bạn có {n} người", "{n} people ahead of you"),
    "one_ahead": ("Trước bạn có 1 người", "1 person ahead of you"),
    "you_are_next": ("Bạn là người tiếp theo", "You are next"),
    "estimated_wait": ("Thời gian chờ dự kiến: khoảng {m} phút", "Estimated wait: about {m} minutes"),
    "take_ticket": ("Mời bạn nhận vé bên dưới", "Please take your ticket below"),
    "returning": ("Màn hình sẽ trở về sau {s} giây", "Returning to the start in {s} s"),
    "done": ("Xong", "Done"),
    # refused by the hub
    "refused_paused": ("Quầy phục vụ thủ tục này vừa tạm dừng tiếp nhận",
                       "The counters for this service have just stopped taking tickets"),
    "refused_gone": ("Thủ tục này hiện không tiếp nhận", "This service is not available now"),
    "refused_other": ("Chưa lấy được số thứ tự", "Could not get a number"),
    "refused_hint": ("Xin vui lòng chọn thủ tục khác hoặc hỏi cán bộ hướng dẫn",
                     "Please choose another service or ask a member of staff"),
    # hub unreachable
    "unreachable": ("Hệ thống tạm gián đoạn, xin vui lòng chờ",
                    "The system is temporarily unavailable, please wait"),
    "unreachable_hint": ("Đang kết nối lại…", "Reconnecting…"),
    "unreachable_pending": ("Vé của bạn sẽ được in ngay khi hệ thống hoạt động trở lại",
                            "Your ticket will be printed as soon as the system is back"),
    # printer problems
    "fault_no_printer": ("Không tìm thấy máy in", "No printer found"),
    "fault_offline": ("Máy in không hoạt động", "The printer is offline"),
    "fault_paper_out": ("Máy in hết giấy", "The printer is out of paper"),
    "fault_cover_open": ("Nắp máy in đang mở", "The printer cover is open"),
    "fault_timeout": ("Máy in không phản hồi", "The printer does not respond"),
    "fault_error": ("Máy in gặp lỗi", "The printer has a fault"),
    "fault_paper_low": ("Máy in sắp hết giấy", "The printer is running out of paper"),
    "advice_no_printer": ("Cán bộ: kiểm tra dây cáp và nguồn điện của máy in.",
                          "Staff: check the printer's cable and power."),
    "advice_offline": ("Cán bộ: bật máy in và kiểm tra dây kết nối.",
                       "Staff: switch the printer on and check its cable."),
    "advice_paper_out": ("Cán bộ: thay cuộn giấy mới cho máy in.", "Staff: load a new paper roll."),
    "advice_cover_open": ("Cán bộ: đóng nắp máy in cho khít.", "Staff: close the printer cover firmly."),
    "advice_timeout": ("Cán bộ: tắt máy in, bật lại rồi thử in lại.",
                       "Staff: switch the printer off and on, then retry."),
    "advice_error": ("Cán bộ: tắt máy in, bật lại rồi thử in lại.",
                     "Staff: switch the printer off and on, then retry."),
    "advice_paper_low": ("Cán bộ: chuẩn bị thay cuộn giấy.", "Staff: get a new paper roll ready."),
    "fault_ticket_kept": ("Số của bạn vẫn được giữ:", "Your number is kept:"),
    "fault_remember": ("Xin ghi nhớ số này và đến quầy khi được gọi, hoặc báo cán bộ hướng dẫn.",
                       "Please remember this number and go to the counter when it is called, or ask staff."),
    "reprint": ("In lại vé", "Print again"),
    "home_fault_banner": ("{problem}: vé không in được, số thứ tự sẽ hiện trên màn hình",
                          "{problem}: tickets cannot be printed, your number will be shown on screen"),
    # ticket
    "ticket_heading": ("SỐ THỨ TỰ", "YOUR NUMBER"),
    "ticket_date": ("Ngày {date} lúc {time}", "{date} at {time}"),
    "ticket_ahead": ("Số người trước bạn: {n}", "People ahead of you: {n}"),
    "ticket_wait": ("Thời gian chờ dự kiến: khoảng {m} phút", "Estimated wait: about {m} minutes"),
    "ticket_no_wait": ("Thời gian chờ dự kiến: không phải chờ", "Estimated wait: none"),
    "ticket_qr": ("Quét mã để theo dõi lượt của bạn", "Scan to follow your turn"),
    "ticket_footer": ("Vui lòng giữ vé và chú ý số được gọi trên màn hình. Xin cảm ơn!",
                      "Please keep this ticket and watch the screens for your number. Thank you!"),
    "ticket_test": ("IN THỬ – VÉ KHÔNG CÓ GIÁ TRỊ", "TEST PRINT – NOT A VALID TICKET"),
    "ticket_priority_reason": ("{reason}", "Priority – {reason}"),
}

# Every text's key (tests check each one's characters against the font).
TEXT_KEYS: tuple[str, ...] = tuple(_TEXTS)
PRINTER_PROBLEMS = ("no_printer", "offline", "paper_out", "cover_open", "timeout", "error", "paper_low")


def text(key: str, language: Language = "vi", **values: object) -> str:
    """The text ``key`` in ``language``, with ``values`` filled in."""
    vi, en = _TEXTS[key]
    template = en if language == "en" else vi
    return template.format(**values) if values else template


def people_ahead(n: int, language: Language) -> str:
    if n <= 0:
        return text("you_are_next", language)
    if n == 1:
        return text("one_ahead", language)
    return text("people_ahead", language, n=n)


def tile_status(waiting: int, minutes: int, language: Language) -> str:
    """A tile's queue in a few words: "3 người chờ · ~15 phút", or "Không phải chờ"."""
    if waiting <= 0:
        return text("no_wait", language)
    if minutes <= 0:
        return text("waiting", language, n=waiting)
    return f"{text('waiting', language, n=waiting)} · {text('wait_minutes', language, m=minutes)}"


def counters_label(numbers: Sequence[int], queue_name: str, language: Language, *, short: bool = False) -> str:
    """Where a queue is served: "Quầy 2, 5 – Tư pháp - Hộ tịch" (``short``: "Quầy 2, 5")."""
    key = ("one_counter" if len(numbers) == 1 else "counters") + ("_short" if short else "")
    return text(key, language, numbers=", ".join(str(n) for n in numbers), name=queue_name)


def priority_reason(reason: str | None, language: Language) -> str:
    """A priority in words ("Người cao tuổi"); an unknown one is "other"."""
    key = f"reason_{reason}"
    return text(key if key in _TEXTS else "reason_other", language)


def field_procedures(n: int, language: Language) -> str:
    return text("field_one_procedure", language) if n == 1 else text("field_procedures", language, n=n)


def problem_title(code: str, language: Language = "vi") -> str:
    """A printer problem in a few words ("Máy in hết giấy")."""
    key = f"fault_{code}"
    return text(key if key in _TEXTS else "fault_error", language)


def problem_advice(code: str, language: Language = "vi") -> str:
    """What staff should do about a printer problem."""
    key = f"advice_{code}"
    return text(key if key in _TEXTS else "advice_error", language)


def refusal(error_code: str, language: Language) -> str:
    """Why the hub did not issue a ticket, for a citizen."""
    if error_code == "COUNTER_PAUSED":
        return text("refused_paused", language)
    if error_code == "COUNTER_NOT_FOUND":
        return text("refused_gone", language)
    return text("refused_other", language)
