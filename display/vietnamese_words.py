"""Common Vietnamese words of two or three syllables, so that line breaking keeps them on one line.

Vietnamese writes every syllable as a word of its own ("bảo hiểm" is one word
written as two), so a wrap that breaks at every space happily leaves "bảo" at
the end of one line and "hiểm" at the start of the next, which reads badly and,
for a citizen reading slowly, wrongly. :func:`word_spans` finds the words of
:data:`COMMON_WORDS` in a run of syllables and :func:`break_costs` says how
many of them a line break at each space would split; :mod:`display.wrap`
breaks where that is least. The list is small on purpose: the words of
procedure names, fields, counters and the screens' own texts in a public
service centre. A word missing from it is wrapped like any other syllables.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# Lower case, NFC, one space between syllables. A word may hold another ("hộ kinh doanh" holds
# "kinh doanh"): breaking inside both costs more than breaking inside one ("hộ | kinh doanh").
COMMON_WORDS: tuple[str, ...] = (
    # procedures and fields
    "đăng ký", "thủ tục", "hành chính", "đất đai", "nhà ở", "tài sản", "gắn liền", "sử dụng", "quyền sử dụng",
    "giấy chứng nhận", "chứng nhận", "giấy phép", "cấp đổi", "cấp lại", "cấp phép", "thay đổi", "nội dung",
    "bảo hiểm", "xã hội", "y tế", "thất nghiệp", "hưu trí", "trợ cấp", "chế độ", "giải quyết", "một lần",
    "tư pháp", "hộ tịch", "khai sinh", "khai tử", "kết hôn", "hôn nhân", "tình trạng", "con nuôi", "nhận cha",
    "quốc tịch", "lý lịch", "chứng thực", "bản sao", "bản chính", "chữ ký", "hợp đồng", "giao dịch",
    "kinh doanh", "hộ kinh doanh", "doanh nghiệp", "thành lập", "giải thể", "tạm ngừng", "chi nhánh",
    "đầu tư", "dự án", "xây dựng", "quy hoạch", "môi trường", "tài nguyên", "nông nghiệp", "giao thông",
    "vận tải", "lái xe", "phương tiện", "cư trú", "thường trú", "tạm trú", "căn cước", "công dân", "hộ chiếu",
    "lệ phí", "tài chính", "kho bạc", "lao động", "việc làm", "thương binh", "liệt sĩ",
    "có công", "bảo trợ", "hộ nghèo", "chính sách", "giáo dục", "đào tạo", "văn bằng",
    "văn hóa", "thể thao", "du lịch", "thông tin", "truyền thông", "khoa học", "công nghệ", "công thương",
    "chuyển nhượng", "thừa kế", "tặng cho", "thế chấp", "tách thửa", "hợp thửa", "đo đạc", "bản đồ",
    "bồi thường", "hỗ trợ", "tái định cư", "xác nhận", "khiếu nại", "tố cáo",
    # counters and the hall
    "văn phòng", "trung tâm", "phục vụ", "tiếp nhận", "kết quả", "hồ sơ", "cán bộ",
    "hướng dẫn", "một cửa", "ủy ban", "nhân dân",
    # the kiosk's own words
    "ưu tiên", "cao tuổi", "khuyết tật", "phụ nữ", "mang thai", "trẻ em",
    "lĩnh vực", "quay lại", "trang sau", "trang trước", "số thứ tự", "thứ tự", "thời gian", "dự kiến",
    "hệ thống", "máy in", "kết nối", "tạm dừng", "giây lát", "màn hình", "chú ý", "theo dõi", "vui lòng",
    "cảm ơn", "khách hàng", "gián đoạn", "hoạt động",
    # the counter display's rating
    "hài lòng", "rất hài lòng", "chưa hài lòng", "không hài lòng", "đánh giá", "chất lượng", "quý khách",
    "mất kết nối",
)


def _fold(syllable: str) -> str:
    """A syllable as the list spells it: NFC, lower case, without the punctuation around it."""
    return unicodedata.normalize("NFC", syllable).lower().strip(".,;:!?()[]\"'“”‘’…")


@lru_cache(maxsize=1)
def _words() -> tuple[frozenset[tuple[str, ...]], int]:
    words = frozenset(tuple(_fold(s) for s in word.split()) for word in COMMON_WORDS)
    return words, max(len(w) for w in words)


# A syllable ending in one of these ends a word there: "đai," never joins what follows.
_WORD_END = (",", ".", ";", ":", "!", "?", ")", "-", "–", "—", "/")


def word_spans(syllables: Sequence[str]) -> list[tuple[int, int]]:
    """Every common word in ``syllables``, as ``(start, end)`` index ranges (end exclusive), in order.

    Words may overlap or nest ("hộ kinh doanh" holds "kinh doanh"). A
    syllable may carry punctuation ("đai," or "pháp -"): a word never runs on
    past a syllable that ends in punctuation.
    """
    words, longest = _words()
    # The syllable itself, without a dash kept with it ("pháp -" is "pháp").
    folded = [_fold(s).split(" ")[0] for s in syllables]
    ends_word = [s.rstrip().endswith(_WORD_END) for s in syllables]
    spans: list[tuple[int, int]] = []
    for start in range(len(syllables)):
        for end in range(start + 2, min(start + longest, len(syllables)) + 1):
            if ends_word[end - 2]:
                break  # the syllable before the last ends in punctuation: no word goes on past it
            if tuple(folded[start:end]) in words:
                spans.append((start, end))
    return spans


def break_costs(syllables: Sequence[str]) -> list[int]:
    """For each gap before ``syllables[i]`` (index ``i``, 1 and up; index 0 is 0): how many common words
    breaking the line there splits. "hộ | kinh doanh" splits one word, "hộ kinh | doanh" two."""
    costs = [0] * len(syllables)
    for start, end in word_spans(syllables):
        for gap in range(start + 1, end):
            costs[gap] += 1
    return costs
