"""``qms-hub report`` as a real subprocess on the scripted days' database, while the hub serves and after it stopped.

The command reads qms.db read-only (the monthly timer runs it beside the hub):
the same numbers as the hub's /api/reports, as CSV, Excel or JSON.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json

import pytest
from openpyxl import load_workbook
from support.hub_process import qms_hub_async
from support.report_day import play_two_days, start_report_hall


@pytest.fixture
async def two_days(tmp_path):
    scripted = await start_report_hall(tmp_path / "data")
    try:
        yield await play_two_days(scripted)
    finally:
        await scripted.hall.close_all()
        await scripted.hub.stop()


def _csv_over_http(port: int, token: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", "/api/reports.csv?from=2026-11-24&to=2026-11-25&by=officer",
                           headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().read()
    finally:
        connection.close()


async def test_the_cli_writes_what_the_hub_answers_while_the_hub_runs(two_days, tmp_path):
    data_dir = two_days.hub.data_dir
    out = tmp_path / "officers.csv"
    code, stdout, stderr = await qms_hub_async("--data-dir", data_dir, "report", "--from", "2026-11-24", "--to",
                                               "2026-11-25", "--by", "officer", "--format", "csv", "--out", out)
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    over_http = await asyncio.to_thread(_csv_over_http, two_days.hub.port, two_days.hall.token("leader"))
    assert out.read_bytes() == over_http
    assert out.read_bytes().startswith(b"\xef\xbb\xbf") and "Nguyễn Thị Lan (canbo1)".encode() in over_http
    # The hub is still serving, and its database was only read.
    kiosk = await two_days.hall.client("kiosk", client_id="kiosk-after")
    await kiosk.send("TICKET_CREATED", {"queue_id": 1, "request_id": "after-report"})
    assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == 2


async def test_a_month_in_excel_into_a_folder_a_sheet_per_grouping(two_days, tmp_path):
    folder = tmp_path / "monthly"
    folder.mkdir()
    code, stdout, stderr = await qms_hub_async("--data-dir", two_days.hub.data_dir, "report", "--month", "2026-11",
                                               "--out", folder)
    assert code == 0, stderr
    made = folder / "bao-cao-tat-ca-2026-11-01-den-2026-11-30.xlsx"
    assert [p.name for p in folder.iterdir()] == [made.name]
    book = load_workbook(io.BytesIO(made.read_bytes()))
    assert book.sheetnames[:6] == ["Theo hàng chờ", "Theo lĩnh vực", "Theo quầy", "Theo cán bộ", "Theo ngày",
                                   "Theo giờ"]
    days = book["Theo ngày"]
    assert days["A1"].value == "Báo cáo theo ngày từ 01/11/2026 đến 30/11/2026"
    issued = {row[0].value: row[2].value for row in days.iter_rows(min_row=6) if row[0].value}
    assert len(issued) == 30 and issued["2026-11-24"] == 3 and issued["2026-11-25"] == 4
    assert sum(issued.values()) == 7


async def test_json_to_standard_output_after_the_hub_stopped(two_days):
    await two_days.hall.close_all()
    await two_days.hub.stop()
    code, stdout, stderr = await qms_hub_async("--data-dir", two_days.hub.data_dir, "report", "--from", "2026-11-25",
                                               "--to", "2026-11-25", "--by", "counter", "--format", "json",
                                               "--out", "-")
    assert code == 0, stderr
    body = json.loads(stdout)
    assert (body["from"], body["to"], body["by"]) == ("2026-11-25", "2026-11-25", "counter")
    rows = {row["key"]: (row["issued"], row["served"], row["transferred"]) for row in body["rows"]}
    assert rows == {1: (1, 1, 0), 2: (1, 0, 1), 3: (0, 1, 0), 4: (0, 0, 0), 5: (1, 1, 0), None: (1, 0, 0)}


@pytest.mark.parametrize(("args", "said"), [
    (("--by", "all", "--format", "csv"), "--by all"),
    (("--from", "2026-11-30", "--to", "2026-11-01", "--by", "day"), "sau ngày kết thúc"),
    (("--month", "2026-11", "--from", "2026-11-01"), "not both"),
    (("--month", "11/2026"), "Tháng không hợp lệ"),
    (("--from", "2024-01-01", "--to", "2026-01-01"), "tối đa 400 ngày"),
])
async def test_refusals_name_the_problem(tmp_path, args, said):
    code, _, stderr = await qms_hub_async("--data-dir", tmp_path, "report", *args, "--out", tmp_path / "x")
    assert code == 2 and said in stderr, stderr
    assert not (tmp_path / "x").exists()


async def test_no_database_is_refused_without_making_one(tmp_path):
    code, _, stderr = await qms_hub_async("--data-dir", tmp_path, "report", "--month", "2026-11", "--out", tmp_path)
    assert code == 2 and "qms.db" in stderr, stderr
    assert list(tmp_path.iterdir()) == []
