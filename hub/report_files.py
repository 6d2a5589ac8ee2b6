"""Reports as files a centre hands in: CSV (UTF-8 with a BOM, for Excel) and an Excel workbook.

Pure: a :class:`hub.reports.Report` in, bytes out. This module holds the
columns both files share and the CSV; the workbook is
``hub.report_workbook`` (openpyxl), which the hub imports the first time one
is asked for: openpyxl, and numpy which it imports, would otherwise add some
150 ms and 20 MiB to every hub's start for a file asked for a few times a
month.
The headers are Vietnamese; the definitions behind them are in
hub/reports.py (and on the workbook's "Định nghĩa" sheet).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from hub.reports import SCORES_VI, Report, ReportRow

COUNT_FORMAT = "#,##0"
MINUTES_FORMAT = "0.0"
RATING_FORMAT = "0.00"

# The first column is the group, named for the grouping.
GROUP_HEADERS_VI = {
    "queue": "Hàng chờ", "field": "Lĩnh vực", "counter": "Quầy", "officer": "Cán bộ", "day": "Ngày",
    "hour": "Giờ lấy số", "site": "Trung tâm",
}


def _issued_header(by: str) -> str:
    # Counters and officers take tickets out of the line; they do not issue them.
    return "Vé tiếp nhận (gọi lần đầu)" if by in ("counter", "officer") else "Số vé lấy"


def columns(by: str) -> list[tuple[str, str, str | None, float]]:
    """(row field, header, Excel number format, column width) for each column of a report grouped ``by``."""
    return [
        ("key", "Mã", None, 12),
        ("label", GROUP_HEADERS_VI[by], None, 38 if by in ("counter", "officer", "queue", "field", "site") else 22),
        ("issued", _issued_header(by), COUNT_FORMAT, 14),
        ("served", "Đã phục vụ", COUNT_FORMAT, 12),
        ("no_show", "Vắng mặt", COUNT_FORMAT, 11),
        ("transferred", "Chuyển đi", COUNT_FORMAT, 11),
        ("wait_mean_min", "Chờ trung bình (phút)", MINUTES_FORMAT, 13),
        ("wait_p90_min", "Chờ P90 (phút)", MINUTES_FORMAT, 11),
        ("service_mean_min", "Phục vụ trung bình (phút)", MINUTES_FORMAT, 13),
        ("service_p90_min", "Phục vụ P90 (phút)", MINUTES_FORMAT, 11),
        ("ratings", "Lượt đánh giá", COUNT_FORMAT, 11),
        ("rating_mean", "Điểm hài lòng TB (1–4)", RATING_FORMAT, 13),
        *((f"score_{score}", f"{SCORES_VI[score]} ({score})", COUNT_FORMAT, 12) for score in (4, 3, 2, 1)),
    ]


def row_cells(row: ReportRow, by: str) -> list[Any]:
    values = row.as_json()
    out: list[Any] = []
    for name, *_ in columns(by):
        if name.startswith("score_"):
            out.append(row.rating_counts[name.removeprefix("score_")])
        else:
            out.append(values[name])
    return out


# A cell starting with one of these is a formula to Excel: a username like "=HYPERLINK(...)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# --- CSV ---------------------------------------------------------------------------------------------------


def report_csv(report: Report) -> bytes:
    """The report's rows and its total line as CSV, UTF-8 with a BOM so Excel reads the Vietnamese right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _, header, _, _ in columns(report.by)])
    for row in [*report.rows, report.total]:
        writer.writerow(["" if value is None else cell_text(value) for value in row_cells(row, report.by)])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
