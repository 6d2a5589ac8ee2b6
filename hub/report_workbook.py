"""The Excel workbook of a report (openpyxl): a sheet per grouping, the wait distribution, the definitions.

Imported only when a workbook is asked for (the HTTP route imports it on first use):
openpyxl is heavy to import. The columns, their headers and formats are
``hub.report_files``' (the CSV has the same).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from hub.report_files import COUNT_FORMAT, cell_text, columns, row_cells
from hub.reports import COLUMN_DEFINITIONS_VI, GROUPING_VI, Report

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")
_THIN = Side(style="thin", color="8EA3BE")
_HEADER_BORDER = Border(top=_THIN, bottom=_THIN, left=_THIN, right=_THIN)
_TOTAL_BORDER = Border(top=Side(style="medium", color="1F3B63"))
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")
# Sheet names: at most 31 characters, none of []:*?/\ (Excel's rules).
_SHEET_NAMES = {
    "queue": "Theo hàng chờ", "field": "Theo lĩnh vực", "counter": "Theo quầy", "officer": "Theo cán bộ",
    "day": "Theo ngày", "hour": "Theo giờ", "site": "Theo trung tâm",
}
HEADER_ROW = 5


def _report_sheet(sheet: Worksheet, report: Report, made_at: datetime) -> None:
    cols = columns(report.by)
    sheet["A1"] = f"{report.title} {report.range_text}"
    sheet["A1"].font = _TITLE
    sheet["A2"] = report.site_name
    sheet["A3"] = f"Lập lúc {made_at.strftime('%H:%M %d/%m/%Y')} (giờ {report.timezone}). Định nghĩa các cột: " \
                  "xem trang «Định nghĩa»."
    for index, (_, header, _, width) in enumerate(cols, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index, value=header)
        cell.font, cell.fill, cell.border, cell.alignment = _BOLD, _HEADER_FILL, _HEADER_BORDER, _WRAP
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.row_dimensions[HEADER_ROW].height = 45
    rows = [*report.rows, report.total]
    for offset, row in enumerate(rows, start=1):
        at = HEADER_ROW + offset
        for index, value in enumerate(row_cells(row, report.by), start=1):
            cell = sheet.cell(row=at, column=index, value=cell_text(value))
            number_format = cols[index - 1][2]
            if number_format is not None:
                cell.number_format = number_format
            if row is report.total:
                cell.font, cell.border = _BOLD, _TOTAL_BORDER
    # The groups' names and the header stay in view while scrolling.
    sheet.freeze_panes = f"C{HEADER_ROW + 1}"
    if report.rows:
        sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(cols))}{HEADER_ROW + len(report.rows)}"
        _bar_chart(sheet, report, len(rows) + HEADER_ROW + 2)


def _bar_chart(sheet: Worksheet, report: Report, anchor_row: int) -> None:
    """Tickets taken and served per group, drawn by Excel itself from the table above."""
    chart = BarChart()
    chart.type = "col"
    chart.title = f"Số vé theo {GROUPING_VI[report.by]}"
    chart.y_axis.title = "Số vé"
    chart.height, chart.width = 8, max(16, min(40, 2 + len(report.rows)))
    last = HEADER_ROW + len(report.rows)
    data = Reference(sheet, min_col=3, max_col=4, min_row=HEADER_ROW, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=2, min_row=HEADER_ROW + 1, max_row=last))
    sheet.add_chart(chart, f"B{anchor_row}")


def _wait_sheet(sheet: Worksheet, report: Report) -> None:
    sheet["A1"] = f"Phân bố thời gian chờ {report.range_text}"
    sheet["A1"].font = _TITLE
    sheet["A2"] = "Số vé đã được gọi, theo thời gian từ lúc lấy số đến lần gọi đầu tiên."
    sheet.cell(row=4, column=1, value="Thời gian chờ").font = _BOLD
    sheet.cell(row=4, column=2, value="Số vé").font = _BOLD
    for offset, bar in enumerate(report.wait_distribution, start=5):
        sheet.cell(row=offset, column=1, value=bar.label)
        sheet.cell(row=offset, column=2, value=bar.count).number_format = COUNT_FORMAT
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 10
    chart = BarChart()
    chart.type = "col"
    chart.title = "Phân bố thời gian chờ"
    chart.legend = None
    last = 4 + len(report.wait_distribution)
    chart.add_data(Reference(sheet, min_col=2, min_row=4, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=5, max_row=last))
    sheet.add_chart(chart, "D4")


def _definitions_sheet(sheet: Worksheet) -> None:
    sheet["A1"] = "Định nghĩa các cột"
    sheet["A1"].font = _TITLE
    for offset, (name, text) in enumerate(COLUMN_DEFINITIONS_VI.items(), start=3):
        sheet.cell(row=offset, column=1, value=name).font = _BOLD
        cell = sheet.cell(row=offset, column=2, value=text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 14
    sheet.column_dimensions["B"].width = 100


def report_workbook(reports: Sequence[Report], made_at: datetime) -> bytes:
    """A workbook with a sheet per report (one per grouping), the wait distribution and the definitions."""
    if not reports:
        raise ValueError("no report to write")
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for report in reports:
        _report_sheet(book.create_sheet(_SHEET_NAMES[report.by]), report, made_at)
    _wait_sheet(book.create_sheet("Thời gian chờ"), reports[0])
    _definitions_sheet(book.create_sheet("Định nghĩa"))
    book.properties.title = f"{reports[0].title} {reports[0].range_text}"
    book.properties.creator = reports[0].site_name
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
