"""The reports over HTTP on a real hub's database, after two scripted service days (tests/support/report_day.py).

Every number below is worked out by hand from the script's timeline (minutes
in the hall's time): waits T1 10, T2 20, T4 8, T5 5, T6 30 (T3, T7 never
called); service T1 6, T2 3 (absent), T4 10 (a recall does not restart it),
T5 10 (at counter 3, after its transfer), T6 4 (called again after it was put
back); ratings T1 4 at counter 1, T4 2 at counter 5, T5 3 at counter 3.
P90 interpolates between ranks: [5, 8, 20] gives 8 + 0.8 x 12 = 17.6.
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import io
import json
import threading
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook
from support.report_day import play_two_days, start_report_hall

from hub.http_routes import CONTENT_SECURITY_POLICY

COLUMNS = ("issued", "served", "no_show", "transferred", "wait_mean_min", "wait_p90_min", "service_mean_min",
           "service_p90_min", "ratings", "rating_mean")
NONE = (None, None, None, None)
# key -> (label, issued, served, no_show, transferred, wait mean, wait p90, service mean, service p90, ratings,
#         rating mean, {score: count})
TOTAL = ("Tổng cộng", 7, 4, 1, 1, 14.6, 26.0, 6.6, 10.0, 3, 3.0, {2: 1, 3: 1, 4: 1})
EXPECTED = {
    "queue": {
        # Arrival (issued, wait) where the number was taken; the end (served, service) where it ended: T5 was
        # taken in queue 2 and served in queue 3, where its rating counts too.
        1: ("Đất đai", 3, 2, 0, 0, 20.0, 28.0, 5.0, 5.8, 1, 4.0, {4: 1}),
        2: ("Tư pháp - Hộ tịch", 3, 1, 1, 1, 11.0, 17.6, 6.5, 9.3, 1, 2.0, {2: 1}),
        3: ("Đăng ký kinh doanh", 0, 1, 0, 0, None, None, 10.0, 10.0, 1, 3.0, {3: 1}),
        4: ("Bảo hiểm xã hội", 1, 0, 0, 0, *NONE, 0, None, {}),
    },
    "field": {
        # Everything of a ticket with its procedure's field.
        1: ("Đất đai - Nhà ở", 3, 2, 0, 0, 20.0, 28.0, 5.0, 5.8, 1, 4.0, {4: 1}),
        2: ("Tư pháp - Hộ tịch", 3, 2, 1, 1, 11.0, 17.6, 7.7, 10.0, 2, 2.5, {2: 1, 3: 1}),
        3: ("Kinh doanh - Bảo hiểm", 1, 0, 0, 0, *NONE, 0, None, {}),
    },
    "counter": {
        # Issued = first called there (T5 at counter 2, T4 at 5 despite its recall, T6 at 1 before and after
        # its return); served, absent, service time and rating where it ended; the transfer where it was made.
        1: ("Quầy 1 · Văn phòng đăng ký đất đai", 2, 2, 0, 0, 20.0, 28.0, 5.0, 5.8, 1, 4.0, {4: 1}),
        2: ("Quầy 2 · Tư pháp - Hộ tịch", 2, 0, 1, 1, 12.5, 18.5, 3.0, 3.0, 0, None, {}),
        3: ("Quầy 3 · Đăng ký kinh doanh", 0, 1, 0, 0, None, None, 10.0, 10.0, 1, 3.0, {3: 1}),
        4: ("Quầy 4 · Bảo hiểm xã hội", 0, 0, 0, 0, *NONE, 0, None, {}),
        5: ("Quầy 5 · Tư pháp - Hộ tịch", 1, 1, 0, 0, 8.0, 8.0, 10.0, 10.0, 1, 2.0, {2: 1}),
        None: ("Chưa được gọi", 2, 0, 0, 0, *NONE, 0, None, {}),
    },
    "officer": {
        # In the order of their names.
        "canbo3": ("Lê Thị Hoa (canbo3)", 0, 1, 0, 0, None, None, 10.0, 10.0, 1, 3.0, {3: 1}),
        "canbo1": ("Nguyễn Thị Lan (canbo1)", 2, 2, 0, 0, 20.0, 28.0, 5.0, 5.8, 1, 4.0, {4: 1}),
        "canbo5": ("Phạm Minh Đức (canbo5)", 1, 1, 0, 0, 8.0, 8.0, 10.0, 10.0, 1, 2.0, {2: 1}),
        "canbo2": ("Trần Văn Bình (canbo2)", 2, 0, 1, 1, 12.5, 18.5, 3.0, 3.0, 0, None, {}),
        None: ("Chưa được gọi", 2, 0, 0, 0, *NONE, 0, None, {}),
    },
    "day": {
        "2026-11-24": ("Thứ Ba, 24/11/2026", 3, 1, 1, 0, 15.0, 19.0, 4.5, 5.7, 1, 4.0, {4: 1}),
        "2026-11-25": ("Thứ Tư, 25/11/2026", 4, 3, 0, 1, 14.3, 25.6, 8.0, 10.0, 2, 2.5, {2: 1, 3: 1}),
    },
    "hour": {
        8: ("08:00–09:00", 6, 4, 1, 1, 14.6, 26.0, 6.6, 10.0, 3, 3.0, {2: 1, 3: 1, 4: 1}),
        9: ("09:00–10:00", 1, 0, 0, 0, *NONE, 0, None, {}),
    },
}


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def _get(port: int, path: str, token: str | None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


async def get(hall, path: str, role: str | None = "leader", token: str | None = None) -> Answer:
    if token is None and role is not None:
        token = hall.token(role)
    # In a thread: the hub serving the request runs on this test's event loop.
    return await asyncio.to_thread(_get, hall.hub.port, path, token)


def as_expected(row: dict) -> tuple:
    counts = {int(score): n for score, n in row["rating_counts"].items() if n}
    return (row["label"], *(row[c] for c in COLUMNS), counts)


@pytest.fixture
async def two_days(tmp_path):
    scripted = await start_report_hall(tmp_path / "data")
    try:
        yield await play_two_days(scripted)
    finally:
        await scripted.hall.close_all()
        await scripted.hub.stop()


async def test_every_grouping_of_the_two_days_as_worked_out_by_hand(two_days):
    for by, expected in EXPECTED.items():
        answer = await get(two_days.hall, f"/api/reports?from=2026-11-24&to=2026-11-25&by={by}")
        assert answer.status == 200, answer.body
        body = answer.json()
        assert (body["from"], body["to"], body["by"]) == ("2026-11-24", "2026-11-25", by)
        assert [row["key"] for row in body["rows"]] == list(expected), by
        for row in body["rows"]:
            assert as_expected(row) == expected[row["key"]], (by, row["key"])
        assert as_expected(body["total"]) == TOTAL, by
        # Each fact is counted once, where it happened: every count column adds up to the total.
        for column in ("issued", "served", "no_show", "transferred", "ratings"):
            assert sum(row[column] for row in body["rows"]) == body["total"][column], (by, column)
    # Waits 5, 8, 10, 20, 30 minutes: [5, 10) twice, then one each in [10, 15), [20, 30) and [30, 45).
    assert [(bar["from_min"], bar["count"]) for bar in body["wait_distribution"]] == [
        (0, 0), (5, 2), (10, 1), (15, 0), (20, 1), (30, 1), (45, 0), (60, 0)]
    assert body["wait_distribution"][-1]["to_min"] is None


async def test_a_range_counts_only_the_tickets_of_its_service_days(two_days):
    body = (await get(two_days.hall, "/api/reports?from=2026-11-25&to=2026-11-25&by=queue")).json()
    rows = {row["key"]: as_expected(row) for row in body["rows"]}
    assert rows == {
        1: ("Đất đai", 1, 1, 0, 0, 30.0, 30.0, 4.0, 4.0, 0, None, {}),
        2: ("Tư pháp - Hộ tịch", 2, 1, 0, 1, 6.5, 7.7, 10.0, 10.0, 1, 2.0, {2: 1}),
        3: ("Đăng ký kinh doanh", 0, 1, 0, 0, None, None, 10.0, 10.0, 1, 3.0, {3: 1}),
        4: ("Bảo hiểm xã hội", 1, 0, 0, 0, *NONE, 0, None, {}),
    }
    # A day with nothing: every queue listed, all zero.
    empty = (await get(two_days.hall, "/api/reports?from=2026-11-01&to=2026-11-23&by=day")).json()
    assert len(empty["rows"]) == 23 and all(row["issued"] == 0 for row in empty["rows"])
    assert empty["total"]["issued"] == 0 and empty["total"]["wait_mean_min"] is None


async def test_a_period_is_read_with_the_hubs_clock(two_days):
    # The hub's clock stands on Wednesday 25/11/2026: this week began on Monday 23/11.
    week = (await get(two_days.hall, "/api/reports?period=this_week&by=day")).json()
    assert (week["from"], week["to"]) == ("2026-11-23", "2026-11-25")
    assert [row["issued"] for row in week["rows"]] == [0, 3, 4]
    month = (await get(two_days.hall, "/api/reports")).json()
    assert (month["from"], month["to"], month["by"]) == ("2026-11-01", "2026-11-25", "queue")
    today = (await get(two_days.hall, "/api/reports?period=today&by=hour")).json()
    assert [(row["key"], row["issued"]) for row in today["rows"]] == [(8, 3), (9, 1)]


async def test_the_csv_has_a_bom_vietnamese_headers_and_the_same_numbers(two_days):
    answer = await get(two_days.hall, "/api/reports.csv?from=2026-11-24&to=2026-11-25&by=counter")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == \
        'attachment; filename="bao-cao-quay-2026-11-24-den-2026-11-25.csv"'
    assert answer.body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.body[3:].decode("utf-8"))))
    assert rows[0][:4] == ["Mã", "Quầy", "Vé tiếp nhận (gọi lần đầu)", "Đã phục vụ"]
    assert rows[0][-4:] == ["Rất hài lòng (4)", "Hài lòng (3)", "Chưa hài lòng (2)", "Không hài lòng (1)"]
    by_label = {row[1]: row for row in rows[1:]}
    assert by_label["Quầy 2 · Tư pháp - Hộ tịch"] == [
        "2", "Quầy 2 · Tư pháp - Hộ tịch", "2", "0", "1", "1", "12.5", "18.5", "3.0", "3.0", "0", "", "0", "0", "0",
        "0"]
    assert by_label["Quầy 5 · Tư pháp - Hộ tịch"][10:] == ["1", "2.0", "0", "0", "1", "0"]
    assert by_label["Chưa được gọi"][:3] == ["", "Chưa được gọi", "2"]
    assert rows[-1][1:12] == ["Tổng cộng", "7", "4", "1", "1", "14.6", "26.0", "6.6", "10.0", "3", "3.0"]
    assert len(rows) == 1 + 6 + 1


async def test_the_excel_file_opens_with_the_numbers_formats_and_a_sheet_per_grouping(two_days):
    answer = await get(two_days.hall, "/api/reports.xlsx?from=2026-11-24&to=2026-11-25&by=officer")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="bao-cao-can-bo-2026-11-24-den-2026-11-25.xlsx"' in answer.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(answer.body))
    assert book.sheetnames == ["Theo cán bộ", "Thời gian chờ", "Định nghĩa"]
    sheet = book["Theo cán bộ"]
    assert sheet["A1"].value == "Báo cáo theo cán bộ từ 24/11/2026 đến 25/11/2026"
    assert sheet["A2"].value == "Trung tâm Phục vụ hành chính công tỉnh"
    header = [cell.value for cell in sheet[5]]
    assert header[:3] == ["Mã", "Cán bộ", "Vé tiếp nhận (gọi lần đầu)"]
    lines = {row[1].value: row for row in sheet.iter_rows(min_row=6)}
    lan = lines["Nguyễn Thị Lan (canbo1)"]
    assert [cell.value for cell in lan[:12]] == ["canbo1", "Nguyễn Thị Lan (canbo1)", 2, 2, 0, 0, 20, 28, 5, 5.8, 1, 4]
    # Minutes with one decimal, the rating mean with two, counts as whole numbers; an empty mean stays empty.
    assert (lan[6].number_format, lan[11].number_format, lan[2].number_format) == ("0.0", "0.00", "#,##0")
    assert lines["Lê Thị Hoa (canbo3)"][6].value is None
    total = lines["Tổng cộng"]
    assert [cell.value for cell in total[2:12]] == [7, 4, 1, 1, 14.6, 26, 6.6, 10, 3, 3]
    assert total[2].font.b
    assert sheet.column_dimensions["B"].width >= 30 and sheet.freeze_panes == "C6"
    assert len(sheet._charts) == 1
    waits = book["Thời gian chờ"]
    assert [(row[0].value, row[1].value) for row in waits.iter_rows(min_row=5, max_row=7)] == [
        ("0–5 phút", 0), ("5–10 phút", 2), ("10–15 phút", 1)]
    definitions = {row[0].value: row[1].value for row in book["Định nghĩa"].iter_rows(min_row=3)}
    assert "lần gọi đầu tiên" in definitions["wait"] and "PERCENTILE.INC" in definitions["p90"]

    every = await get(two_days.hall, "/api/reports.xlsx?from=2026-11-24&to=2026-11-25&by=all")
    book = load_workbook(io.BytesIO(every.body))
    assert book.sheetnames == ["Theo hàng chờ", "Theo lĩnh vực", "Theo quầy", "Theo cán bộ", "Theo ngày",
                               "Theo giờ", "Thời gian chờ", "Định nghĩa"]
    hours = {row[0].value: row[2].value for row in book["Theo giờ"].iter_rows(min_row=6) if row[0].value}
    assert hours == {8: 6, 9: 1}
    assert 'filename="bao-cao-tat-ca-2026-11-24-den-2026-11-25.xlsx"' in every.headers["Content-Disposition"]


async def test_only_leaders_and_admins_get_reports(two_days):
    for path in ("/api/reports", "/api/reports.csv", "/api/reports.xlsx"):
        nobody = await get(two_days.hall, path, role=None)
        assert nobody.status == 401 and nobody.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Cần đăng nhập" in nobody.json()["message"]
        forged = await get(two_days.hall, path, token="eyJhbGciOiJIUzI1NiJ9.e30.not-signed")
        assert forged.status == 401
        for role in ("officer", "kiosk", "tv", "counter"):
            refused = await get(two_days.hall, path, role=role)
            assert refused.status == 403, (path, role)
            assert refused.json() == {"error": "forbidden", "message": "Chỉ quản trị viên hoặc lãnh đạo được xem "
                                                                       "(admins and leaders only)"}
            assert b"canbo" not in refused.body
        for role in ("leader", "admin"):
            allowed = await get(two_days.hall, path, role=role)
            assert allowed.status == 200, (path, role)
            assert allowed.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert allowed.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("query", "code", "vietnamese"), [
    ("from=2026-13-01&to=2026-11-25", "bad_date", "Ngày không hợp lệ"),
    ("from=25/11/2026", "bad_date", "Ngày không hợp lệ"),
    ("from=2026-11-25&to=2026-11-1", "bad_date", "Ngày không hợp lệ"),
    ("from=2026-11-25&to=2026-11-24", "bad_range", "sau ngày kết thúc"),
    ("from=2025-10-21&to=2026-11-25", "range_too_long", "tối đa 400 ngày"),
    ("by=procedure", "bad_grouping", "Cách nhóm không hợp lệ"),
    ("by=all", "bad_grouping", "Cách nhóm không hợp lệ"),
    ("period=forever", "bad_period", "Khoảng thời gian không hợp lệ"),
    ("period=today&from=2026-11-01", "bad_range", "không chọn cả hai"),
])
async def test_a_bad_request_gets_a_400_that_says_why_in_vietnamese_and_english(hall, query, code, vietnamese):
    answer = await get(hall, f"/api/reports?{query}")
    assert answer.status == 400
    body = answer.json()
    assert body["error"] == code
    assert vietnamese in body["message"] and "(" in body["message"], body
    assert (await get(hall, f"/api/reports.csv?{query}")).status == 400


async def test_four_hundred_days_are_allowed_and_computed_off_the_event_loop(two_days, monkeypatch):
    from hub import report_workbook, reports

    threads: dict[str, str] = {}

    def watched(name, fn):
        def run(*args, **kwargs):
            threads[name] = threading.current_thread().name
            return fn(*args, **kwargs)
        return run

    monkeypatch.setattr(reports, "build_reports", watched("query", reports.build_reports))
    monkeypatch.setattr(report_workbook, "report_workbook", watched("xlsx", report_workbook.report_workbook))
    # 2025-10-22 .. 2026-11-25 is 400 days, both ends counted: the longest report there is.
    answer = await get(two_days.hall, "/api/reports?from=2025-10-22&to=2026-11-25&by=day")
    assert answer.status == 200 and len(answer.json()["rows"]) == 400
    assert answer.json()["total"]["issued"] == 7
    assert (await get(two_days.hall, "/api/reports.xlsx?from=2025-10-22&to=2026-11-25&by=all")).status == 200
    loop_thread = threading.current_thread().name
    assert set(threads) == {"query", "xlsx"} and loop_thread not in threads.values(), threads
