"""The report page (/reports) in headless Chromium: the scripted days' figures, three charts drawn by the
vendored Chart.js under the strict CSP, the CSV and Excel downloads, a custom range, who may use it, and
screenshots of a busy month (docs/screenshots/reports-*.png with QMS_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from selenium.webdriver.support.ui import Select
from support import HallHarness, start_hub
from support.browser import (
    ADMIN_PASSWORD,
    DESKTOP,
    PHONE,
    ROOT,
    Page,
    add_person,
    admin_page,
    hall_with,
)
from support.report_day import play_two_days, start_report_hall

from bench.report_speed import generate, officer_names, working_days
from hub.clock import ManualClock
from hub.http_routes import CONSOLE_DIR, CONTENT_SECURITY_POLICY
from hub.site_config import sample_site

pytestmark = pytest.mark.slow

LEADER_PASSWORD = "mật-khẩu-lãnh-đạo"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHARTS = ("chart-hours", "chart-waits", "chart-ratings")


async def leader_on_reports(browser, hall: HallHarness) -> Page:
    await add_person(hall, "lanhdao", LEADER_PASSWORD, "leader", None, "Đỗ Thị Minh")
    page = await browser.open(hall, "/reports")
    await page.login("lanhdao", LEADER_PASSWORD)
    await page.wait_text("#user-name", "Đỗ Thị Minh")
    return page


async def shown(page: Page, ready: str) -> None:
    """Wait until the table shows the report ``by|from|to`` (reports.js sets it once everything is drawn)."""
    await page.wait(f"report {ready}", lambda: page.driver.execute_script(
        "return document.getElementById('report-table').dataset.ready") == ready)


async def choose_grouping(page: Page, by: str) -> None:
    await page.run(lambda: Select(page._element("#report-by")).select_by_value(by))


async def painted_pixels(page: Page, canvas: str) -> int:
    return await page.js("""
        const canvas = document.getElementById(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
        return painted;
    """, canvas)


async def downloaded(page: Page, name: str) -> bytes:
    path = page.download_dir / name
    await page.wait(f"{name} downloaded", lambda: path.exists() and path.stat().st_size > 0)
    return path.read_bytes()


async def test_the_scripted_days_in_the_table_the_charts_and_the_downloads(tmp_path, browser):
    scripted = await start_report_hall(tmp_path / "data")
    try:
        await play_two_days(scripted)
        page = await leader_on_reports(browser, scripted.hall)
        # The hub's clock stands on 25/11/2026: this month so far is 01/11 to 25/11, both scripted days in it.
        await shown(page, "queue|2026-11-01|2026-11-25")
        assert await page.text("#report-range") == "Báo cáo theo hàng chờ từ 01/11/2026 đến 25/11/2026"
        assert [await page.text(f"#total-{name}") for name in ("issued", "served", "no-show", "wait", "rating")] == [
            "7", "4", "1", "14,6 phút", "3,00"]
        queue_2 = await page.text("#report-rows tr[data-key='2']")
        assert queue_2.startswith("Tư pháp - Hộ tịch 3 1 1 1 11,0 17,6 6,5 9,3 1 2,00"), queue_2

        await choose_grouping(page, "counter")
        await shown(page, "counter|2026-11-01|2026-11-25")
        assert "Vé tiếp nhận" in await page.js("return document.getElementById('report-head').textContent")
        assert (await page.text("#report-rows tr[data-key='2']")).startswith(
            "Quầy 2 · Tư pháp - Hộ tịch 2 0 1 1 12,5 18,5 3,0 3,0 0 —")
        assert (await page.text("#report-rows tr[data-key='']")).startswith("Chưa được gọi 2 0 0 0 — —")
        assert (await page.text("#report-total")).startswith("Tổng cộng 7 4 1 1 14,6 26,0 6,6 10,0 3 3,00")

        # The charts: Chart.js loaded from the hub, each canvas painted, with the report's numbers.
        assert await page.js("return typeof Chart === 'function' && Chart.version") == "4.6.1"
        for canvas in CHARTS:
            assert await painted_pixels(page, canvas) > 2000, canvas
        data = await page.js("""
            const of = (id) => Chart.getChart(id).data;
            return {hours: of('chart-hours'), waits: of('chart-waits'), ratings: of('chart-ratings')};
        """)
        assert data["hours"]["labels"] == ["08h", "09h"]
        assert [d["data"] for d in data["hours"]["datasets"]] == [[6, 1], [4, 0]]
        assert data["waits"]["datasets"][0]["data"] == [0, 2, 1, 0, 1, 1, 0, 0]
        assert data["waits"]["labels"][:2] == ["0–5 phút", "5–10 phút"]
        assert data["ratings"]["labels"] == ["Lê Thị Hoa (canbo3)", "Nguyễn Thị Lan (canbo1)", "Phạm Minh Đức (canbo5)"]
        by_score = {d["label"]: d["data"] for d in data["ratings"]["datasets"]}
        assert by_score == {"Rất hài lòng (4)": [0, 1, 0], "Hài lòng (3)": [1, 0, 0], "Chưa hài lòng (2)": [0, 0, 1],
                            "Không hài lòng (1)": [0, 0, 0]}

        await page.click("#report-csv")
        csv_body = await downloaded(page, "bao-cao-quay-2026-11-01-den-2026-11-25.csv")
        assert csv_body.startswith(b"\xef\xbb\xbf") and "Quầy 2 · Tư pháp - Hộ tịch".encode() in csv_body
        await page.click("#report-xlsx")
        book = load_workbook(io.BytesIO(await downloaded(page, "bao-cao-quay-2026-11-01-den-2026-11-25.xlsx")))
        assert book.sheetnames[0] == "Theo quầy"

        # A range of one's own: Wednesday alone.
        await page.click("[data-period='custom']")
        await page.wait_visible("#custom-range")
        await page.js("document.getElementById('report-from').value = '2026-11-25';"
                      "document.getElementById('report-to').value = '2026-11-25';")
        await page.click("#report-show")
        await shown(page, "counter|2026-11-25|2026-11-25")
        assert (await page.text("#report-rows tr[data-key='2']")).startswith("Quầy 2 · Tư pháp - Hộ tịch 1 0 0 1")
        await page.js("document.getElementById('report-from').value = '2026-11-25';"
                      "document.getElementById('report-to').value = '2026-11-24';")
        await page.click("#report-show")
        await page.wait_text("#report-error", "sau ngày kết thúc")

        # Nothing refused by the CSP, no script error: the vendored library runs under script-src 'self'.
        assert await page.console_problems() == []
        # And the check would see a refusal: an inline script is one.
        await page.js("const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
                      "document.head.append(s);")
        assert await page.js("return window.inlineRan === undefined")
        problems = await page.console_problems()
        assert problems and "Content Security Policy" in problems[0], problems
    finally:
        await scripted.hall.close_all()
        await scripted.hub.stop()


async def test_the_admin_page_leads_to_the_reports_without_a_second_login(tmp_path, browser):
    hall = await hall_with(tmp_path)
    try:
        page = await admin_page(browser, hall)
        await page.click("#reports-link")
        await page.wait_text("#report-range", "Báo cáo theo hàng chờ")
        assert not await page.visible("#login")
        assert (await page.run(lambda: page.driver.current_url)).endswith("/reports")
        # The queues of the site, all at zero on an empty hall.
        assert len(await page.js("return [...document.querySelectorAll('#report-rows tr')]")) == 4
        assert await page.console_problems() == []
    finally:
        await hall.close_all()
        await hall.hub.stop()


async def test_an_officer_is_refused_at_the_login(tmp_path, browser):
    hall = await hall_with(tmp_path)
    try:
        await add_person(hall, "canbo9", ADMIN_PASSWORD, "officer", 1, "Vũ Văn Chín")
        page = await browser.open(hall, "/reports")
        await page.login("canbo9", ADMIN_PASSWORD)
        await page.wait_text("#login-error", "không xem được báo cáo")
        assert not await page.visible("#app")
    finally:
        await hall.close_all()
        await hall.hub.stop()


async def test_screenshots_of_a_busy_month(tmp_path, browser):
    # Three weeks of a busy sample hall, generated into its database (bench/report_speed.py), seen on the 25th.
    data_dir = tmp_path / "hall"
    data_dir.mkdir()
    site = sample_site()
    officers = [("canbo1", "Nguyễn Thị Lan"), ("canbo2", "Trần Văn Bình"), ("canbo3", "Lê Thị Hoa"),
                ("canbo4", "Hoàng Văn Nam"), ("canbo5", "Phạm Minh Đức"), *officer_names(2)]
    days = working_days(date(2026, 11, 24), 17)
    await asyncio.to_thread(generate, data_dir / "qms.db", site, days, 160, officers)
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    hub = await start_hub(data_dir, clock=clock)
    hall = HallHarness(hub)
    try:
        page = await leader_on_reports(browser, hall)
        await shown(page, "queue|2026-11-01|2026-11-25")
        await choose_grouping(page, "officer")
        await shown(page, "officer|2026-11-01|2026-11-25")
        await page.js("window.scrollTo(0, 0); document.activeElement.blur()")
        shots: list[Path] = []
        for name, size in (("reports-desktop", DESKTOP), ("reports-phone", PHONE)):
            shots.append(await page.screenshot(name, size))
            await shown(page, "officer|2026-11-01|2026-11-25")
        for canvas in CHARTS:
            assert await painted_pixels(page, canvas) > 2000, canvas
        assert await page.console_problems() == []
        assert all(shot.stat().st_size > 30_000 for shot in shots)
        if os.environ.get("QMS_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for shot in shots:
                shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)
    finally:
        await hall.close_all()
        await hub.stop()


async def test_the_page_and_the_library_come_from_the_hub_under_the_same_policy(hall):
    def get(path: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", hall.hub.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, dict(response.headers), response.read()
        finally:
            connection.close()

    status, headers, body = await asyncio.to_thread(get, "/reports")
    assert status == 200 and headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert b'<script src="/console/vendor/chart.umd.min.js" defer></script>' in body
    assert b"http://" not in body and b"https://" not in body and b" style=" not in body
    status, headers, body = await asyncio.to_thread(get, "/console/vendor/chart.umd.min.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert body == (CONSOLE_DIR / "vendor" / "chart.umd.min.js").read_bytes()
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    # Only the library itself: its licence file is in the package, not served; no way out of the folder.
    for path in ("/console/vendor/chart.js-LICENSE.md", "/console/vendor/../admin.html",
                 "/console/vendor/%2e%2e/admin.html", "/console/vendor/sub/x.js"):
        assert (await asyncio.to_thread(get, path))[0] == 404, path
