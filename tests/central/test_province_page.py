"""The province's side as a person uses it: ``qms-central report``, ``token`` and ``serve`` (its API and its page
in headless Chromium) on three halls' shipped history, read through a read-only role.

Each hall's database is generated (bench/report_speed.py) and shipped by the
hub's real shipper; every figure checked here is the hall's own report's
(hub.reports on the hall's SQLite). Screenshots of the page go to
docs/screenshots/province-*.png with QMS_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import http.client
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jwt
import psycopg
import pytest
from openpyxl import load_workbook
from selenium.webdriver.support.ui import Select
from support import REPO_ROOT, free_port
from support.browser import DESKTOP, PHONE, ROOT

from bench.central_speed import ship_hall
from bench.report_speed import generate, officer_names, working_days
from central.web import issue_token
from hub import report_files
from hub.reports import build_reports
from hub.site_config import CentralConfig, sample_site

pytestmark = pytest.mark.slow

HALLS = {
    "ha-noi-hoan-kiem": "Trung tâm Hành chính công quận Hoàn Kiếm",
    "ha-noi-dong-anh": "Trung tâm Hành chính công huyện Đông Anh",
    "ha-noi-son-tay": "Trung tâm Hành chính công thị xã Sơn Tây",
}
HALL_PASSWORD = "mật-khẩu-của-trung-tâm"
READER_PASSWORD = "mật-khẩu-người-xem-báo-cáo"
LEADER = "Phạm Thu Trang"
DAYS = working_days(date.today() - timedelta(days=1), 8)
FIRST, LAST = DAYS[0], DAYS[-1]
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHARTS = ("chart-hours", "chart-waits", "chart-ratings")


@dataclasses.dataclass
class Province:
    url: str  # the superuser's
    reader_url: str
    reader_password_file: Path
    secret_file: Path
    halls: dict[str, Path]  # site id -> the hall's SQLite


def hall_site(site_id: str, url: str = "", password_file: str = ""):
    return dataclasses.replace(sample_site(), site_id=site_id, site_name=HALLS[site_id],
                               central=CentralConfig(enabled=bool(url), url=url, password_file=password_file))


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "central.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stderr.decode()
    return done


@pytest.fixture(scope="module")
def province(postgres, tmp_path_factory) -> Province:
    work = tmp_path_factory.mktemp("province")
    url = postgres.create_database("province_page")
    cli("init", "--url", url)
    hall_password = work / "hall.password"
    hall_password.write_text(HALL_PASSWORD, encoding="utf-8")
    officers = [("canbo1", "Nguyễn Thị Lan"), ("canbo2", "Trần Văn Bình"), ("canbo3", "Lê Thị Hoa"),
                ("canbo4", "Hoàng Văn Nam"), ("canbo5", "Phạm Minh Đức"), *officer_names(3)]
    halls = {}
    for n, (site_id, name) in enumerate(HALLS.items()):
        cli("site", "add", site_id, "--name", name, "--site-password-file", str(hall_password), "--url", url)
        path = work / site_id / "qms.db"
        path.parent.mkdir()
        generate(path, sample_site(), DAYS, 60 + 30 * n, officers, seed=7 + n)
        role = "qms_site_" + site_id.replace("-", "_")
        hall_url = f"postgresql://{role}@127.0.0.1:{postgres.port}/province_page"
        asyncio.run(ship_hall(path, hall_site(site_id, hall_url, str(hall_password))))
        halls[site_id] = path
    reader_password = work / "reader.password"
    reader_password.write_text(READER_PASSWORD, encoding="utf-8")
    cli("reader", "add", "province_page", "--role-password-file", str(reader_password), "--url", url)
    secret = work / "central.secret"
    secret.write_text(os.urandom(32).hex(), encoding="utf-8")
    return Province(url, f"postgresql://province_page@127.0.0.1:{postgres.port}/province_page", reader_password,
                    secret, halls)


def own_report(province: Province, site_id: str, by: str = "queue"):
    """The hall's own report of the days, from its own SQLite."""
    with contextlib.closing(sqlite3.connect(f"file:{province.halls[site_id]}?mode=ro", uri=True)) as conn:
        return build_reports(conn, hall_site(site_id), FIRST, LAST, [by])[0]


@pytest.fixture(scope="module")
def served(province: Province):
    """``qms-central serve`` as the read-only role, on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "central.cli", "serve", "--url", province.reader_url,
         "--password-file", str(province.reader_password_file), "--secret-file", str(province.secret_file),
         "--host", "127.0.0.1", "--port", str(port)], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "serving the province page" in line, line + process.stderr.read()
    # Read on, so that what it writes to stderr meanwhile (a warning, a client gone mid-answer) never fills the
    # pipe and stops it; shown if it does not stop when asked.
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    yield port
    process.send_signal(signal.SIGINT)
    try:
        # It stops on Ctrl-C (a busy test machine may take seconds to let it).
        assert process.wait(30) == 0
    finally:
        process.kill()
        reader.join(5)
        print("".join(said))


def token_for(province: Province, username: str = LEADER, ttl_days: str = "30") -> str:
    done = cli("token", "--secret-file", str(province.secret_file), "--username", username, "--ttl-days", ttl_days)
    return done.stdout.decode().strip()


def get(port: int, path: str, token: str | None = None, method: str = "GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def span(by: str) -> str:
    return f"/api/reports?from={FIRST}&to={LAST}&by={by}"


def test_the_api_gives_each_halls_own_figures_to_a_signed_token_only(province, served):
    token = token_for(province)
    status, _, body = get(served, "/api/sites", token)
    assert status == 200
    answer = json.loads(body)
    assert answer["user"] == LEADER
    assert answer["sites"] == [{"site_id": s, "site_name": HALLS[s]} for s in sorted(HALLS)]

    status, headers, body = get(served, span("site"), token)
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    report = json.loads(body)
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == set(HALLS)
    for site_id in HALLS:
        own = own_report(province, site_id).total.as_json()
        assert own["issued"] > 0
        for column in ("issued", "served", "no_show", "transferred", "wait_mean_min", "service_p90_min", "ratings",
                       "rating_mean", "rating_counts"):
            assert rows[site_id][column] == own[column], (site_id, column)
        assert rows[site_id]["label"] == HALLS[site_id]
    assert report["total"]["issued"] == sum(row["issued"] for row in rows.values())

    # One hall, by officer: the hall's officers under the hall's name, nobody else's.
    status, _, body = get(served, span("officer") + "&site=ha-noi-dong-anh", token)
    officers = json.loads(body)
    own = own_report(province, "ha-noi-dong-anh", "officer")
    assert officers["total"]["issued"] == own.total.issued
    served_by = {row["label"]: row["served"] for row in officers["rows"] if row["served"]}
    assert served_by == {f"{HALLS['ha-noi-dong-anh']} · {row.label}": row.served for row in own.rows if row.served}

    # Refused, each with a Vietnamese reason, and nothing of the data in the answer.
    expired = issue_token(province.secret_file.read_bytes().strip(), LEADER, ttl=timedelta(minutes=1),
                          now=datetime.now(UTC) - timedelta(hours=1))
    forged = jwt.encode({"iss": "qms-central", "aud": "qms-province", "sub": LEADER, "iat": 1,
                         "exp": 4_000_000_000}, "a-secret-that-is-not-the-province-one-at-all", algorithm="HS256")
    for bad in (None, "not-a-token", expired, forged):
        status, _, body = get(served, span("site"), bad)
        assert status == 401, bad
        assert "Mã truy cập" in json.loads(body)["message"] or "Cần mã" in json.loads(body)["message"]
        assert HALLS["ha-noi-son-tay"].encode() not in body
    status, _, body = get(served, span("nonsense"), token)
    assert status == 400 and json.loads(body)["error"] == "bad_grouping"
    status, _, body = get(served, f"/api/reports?from={LAST}&to={FIRST}", token)
    assert status == 400
    status, headers, _ = get(served, span("site"), token, method="POST")
    assert status == 405 and headers["Allow"] == "GET"
    status, headers, _ = get(served, "/")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    assert get(served, "/console/officer.js")[0] == 404  # only the report view's files of the console


def test_the_downloads_have_the_halls_columns(province, served):
    token = token_for(province)
    status, headers, body = get(served, span("queue").replace("/api/reports", "/api/reports.csv"), token)
    assert status == 200
    assert headers["Content-Disposition"] == f'attachment; filename="bao-cao-tinh-hang-cho-{FIRST}-den-{LAST}.csv"'
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    hall_csv = report_files.report_csv(own_report(province, "ha-noi-hoan-kiem")).decode("utf-8-sig")
    assert rows[0] == next(csv.reader(io.StringIO(hall_csv)))  # the same columns as a hall's own CSV
    son_tay = [row for row in rows[1:] if row[0].startswith("ha-noi-son-tay/")]
    assert son_tay and all(row[1].startswith(HALLS["ha-noi-son-tay"] + " · ") for row in son_tay), son_tay

    status, headers, body = get(served, span("all").replace("/api/reports", "/api/reports.xlsx"), token)
    assert status == 200
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Theo trung tâm", "Theo lĩnh vực", "Theo hàng chờ", "Theo quầy", "Theo cán bộ",
                               "Theo ngày", "Theo giờ", "Thời gian chờ", "Định nghĩa"]


def test_the_report_command_writes_json_csv_and_excel(province, tmp_path):
    done = cli("report", "--url", province.reader_url, "--password-file", str(province.reader_password_file),
               "--from", str(FIRST), "--to", str(LAST), "--by", "day", "--site", "ha-noi-son-tay")
    report = json.loads(done.stdout)
    own = own_report(province, "ha-noi-son-tay", "day")
    every_day = [str(FIRST + timedelta(days=n)) for n in range((LAST - FIRST).days + 1)]
    assert [row["key"] for row in report["rows"]] == every_day
    assert [row["issued"] for row in report["rows"]] == [row.issued for row in own.rows]
    cli("report", "--url", province.reader_url, "--password-file", str(province.reader_password_file),
        "--from", str(FIRST), "--to", str(LAST), "--format", "csv", "--out", str(tmp_path / "province.csv"))
    assert (tmp_path / "province.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    cli("report", "--url", province.reader_url, "--password-file", str(province.reader_password_file),
        "--from", str(FIRST), "--to", str(LAST), "--by", "all", "--format", "xlsx", "--out", str(tmp_path / "p.xlsx"))
    assert len(load_workbook(tmp_path / "p.xlsx").sheetnames) == 9  # seven groupings, waits, definitions
    refused = cli("report", "--url", province.reader_url, "--password-file", str(province.reader_password_file),
                  "--by", "colour", check=False)
    assert refused.returncode == 2 and "Không có cách nhóm" in refused.stderr.decode()
    # A reader reads: it cannot write a hall's rows.
    with psycopg.connect(province.reader_url, password=READER_PASSWORD) as conn, pytest.raises(psycopg.Error):
        conn.execute("DELETE FROM events")
    # And the halls' list, for the technician.
    listed = cli("site", "list", "--url", province.url).stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in listed] == sorted(HALLS)


async def shown(page, ready: str) -> None:
    await page.wait(f"report {ready}", lambda: page.driver.execute_script(
        "return document.getElementById('report-table').dataset.ready") == ready)


async def painted_pixels(page, canvas: str) -> int:
    return await page.js("""
        const canvas = document.getElementById(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
        return painted;
    """, canvas)


async def test_the_province_page_signs_in_filters_by_hall_and_draws_its_charts(province, served, browser):
    page = await browser.open_at(f"http://127.0.0.1:{served}", "/")
    await page.wait_visible("#login-form")
    await page.fill("#login-token", "bị-gõ-sai")
    await page.click("#login-submit")
    await page.wait_text("#login-error", "không đúng dạng")
    # Shaped like a token, signed by nobody: the server refuses it.
    await page.fill("#login-token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    await page.click("#login-submit")
    await page.wait_text("#login-error", "đăng nhập lại")
    await page.fill("#login-token", token_for(province))
    await page.click("#login-submit")
    await page.wait_text("#user-name", LEADER)
    await page.wait_text("#connection-status", "Đã kết nối")
    assert await page.js("return [...document.querySelectorAll('#report-site option')].map(o => o.textContent)") == [
        "Mọi trung tâm", *(HALLS[s] for s in sorted(HALLS))]

    await page.click("[data-period='custom']")
    await page.wait_visible("#custom-range")
    await page.js(f"document.getElementById('report-from').value = '{FIRST}';"
                  f"document.getElementById('report-to').value = '{LAST}';")
    await page.click("#report-show")
    await shown(page, f"site|{FIRST}|{LAST}")
    total = sum(own_report(province, s).total.issued for s in HALLS)
    assert await page.text("#total-issued") == f"{total:,}".replace(",", ".")
    for site_id in HALLS:
        row = await page.text(f"#report-rows tr[data-key='{site_id}']")
        assert row.startswith(f"{HALLS[site_id]} {own_report(province, site_id).total.issued} "), row
    for canvas in CHARTS:
        assert await painted_pixels(page, canvas) > 2000, canvas

    # One hall's officers.
    await page.run(lambda: Select(page._element("#report-site")).select_by_value("ha-noi-son-tay"))
    await page.run(lambda: Select(page._element("#report-by")).select_by_value("officer"))
    await page.click("#report-show")
    await shown(page, f"officer|{FIRST}|{LAST}")
    own = own_report(province, "ha-noi-son-tay", "officer")
    assert await page.text("#total-issued") == f"{own.total.issued:,}".replace(",", ".")
    first_row = await page.text("#report-rows tr")
    assert first_row.startswith(HALLS["ha-noi-son-tay"] + " · ") or first_row.startswith("Chưa được gọi"), first_row
    ratings = await page.js("return Chart.getChart('chart-ratings').data.labels")
    assert ratings and all(label.startswith(HALLS["ha-noi-son-tay"]) for label in ratings), ratings

    await page.click("#report-csv")
    name = f"bao-cao-tinh-can-bo-{FIRST}-den-{LAST}.csv"
    path = page.download_dir / name
    await page.wait(f"{name} downloaded", lambda: path.exists() and path.stat().st_size > 0)
    assert HALLS["ha-noi-son-tay"] in path.read_text(encoding="utf-8-sig")
    # Nothing refused by the CSP, no script error; the one 401 is the forged token's.
    assert await page.console_problems(allow=("/api/sites - Failed to load resource: the server responded with a "
                                              "status of 401",)) == []

    # Screenshots: every hall, by hall.
    await page.run(lambda: Select(page._element("#report-site")).select_by_value(""))
    await page.run(lambda: Select(page._element("#report-by")).select_by_value("site"))
    await page.click("#report-show")
    await shown(page, f"site|{FIRST}|{LAST}")
    await page.js("window.scrollTo(0, 0); document.activeElement.blur()")
    shots: list[Path] = []
    for shot_name, size in (("province-desktop", DESKTOP), ("province-phone", PHONE)):
        shots.append(await page.screenshot(shot_name, size))
        await shown(page, f"site|{FIRST}|{LAST}")
    assert all(shot.stat().st_size > 30_000 for shot in shots)
    if os.environ.get("QMS_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)

    # Signing out forgets the token.
    await page.click("#logout")
    await page.wait_visible("#login-form")
    assert await page.session_storage() == {}


def test_a_hall_role_cannot_read_another_halls_rows(province):
    role = "qms_site_ha_noi_son_tay"
    url = province.reader_url.replace("province_page@", f"{role}@")
    with psycopg.connect(url, password=HALL_PASSWORD) as conn:
        seen = {row[0] for row in conn.execute("SELECT DISTINCT site_id FROM tickets")}
        assert seen == {"ha-noi-son-tay"}
        assert conn.execute("SELECT COUNT(*) FROM events WHERE site_id <> 'ha-noi-son-tay'").fetchone() == (0,)
