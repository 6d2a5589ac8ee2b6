"""DEVICE_STATUS at the hub (what the kiosk reports a printer fault with) and SNAPSHOT.public_url."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3

import pytest
from support import HallHarness, start_hub

from hub.site_config import sample_site

PAPER_OUT = {"component": "printer", "status": "fault", "code": "paper_out", "message": "Máy in hết giấy",
             "detail": "usb:0x0416:0x5011"}


def system_errors(payload) -> bool:
    return payload["alert_type"] == "system_error"


async def test_a_kiosks_printer_fault_reaches_the_admin_consoles_once(hall):
    admin = await hall.client("admin")
    leader = await hall.client("leader")
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk", client_id="kiosk-007", location="Sảnh A")

    await kiosk.send("DEVICE_STATUS", PAPER_OUT)
    alert = await admin.expect("SYSTEM_ALERT", where=system_errors)
    assert alert["severity"] == "critical" and alert["counter_id"] is None
    assert alert["message"] == "kiosk-007 (Sảnh A): máy in: Máy in hết giấy"
    assert (await leader.expect("SYSTEM_ALERT", where=system_errors))["message"] == alert["message"]
    await tv.expect_nothing("SYSTEM_ALERT")
    await kiosk.expect_nothing()  # no answer to the reporter

    # The same problem again (a kiosk re-reports after reconnecting): no second alert.
    await kiosk.send("DEVICE_STATUS", PAPER_OUT)
    await admin.expect_nothing("SYSTEM_ALERT")

    # Another problem of the same printer is news.
    await kiosk.send("DEVICE_STATUS", {**PAPER_OUT, "code": "cover_open", "message": "Nắp máy in đang mở"})
    assert (await admin.expect("SYSTEM_ALERT", where=system_errors))["message"].endswith("Nắp máy in đang mở")

    # Recovered: one info alert, then silence.
    await kiosk.send("DEVICE_STATUS", {"component": "printer", "status": "ok", "code": "ok",
                                       "message": "Máy in hoạt động bình thường"})
    recovered = await admin.expect("SYSTEM_ALERT", where=system_errors)
    assert recovered["severity"] == "info"
    assert recovered["message"] == "kiosk-007 (Sảnh A): máy in đã hoạt động bình thường trở lại"
    await kiosk.send("DEVICE_STATUS", {"component": "printer", "status": "ok"})
    await admin.expect_nothing("SYSTEM_ALERT")

    # An admin console that connects later finds the alerts in its SNAPSHOT.
    late = await hall.client("admin")
    messages = [a["message"] for a in late.snapshot["alerts"]]
    assert alert["message"] in messages and recovered["message"] in messages


async def test_a_warning_is_a_warning_and_devices_are_told_apart(hall):
    admin = await hall.client("admin")
    kiosk = await hall.client("kiosk", client_id="kiosk-001")
    tv = await hall.client("tv", client_id="tv-hall-1")
    await kiosk.send("DEVICE_STATUS", {"component": "printer", "status": "warning", "code": "paper_low",
                                       "message": "Máy in sắp hết giấy"})
    assert (await admin.expect("SYSTEM_ALERT", where=system_errors))["severity"] == "warning"
    await tv.send("DEVICE_STATUS", {"component": "display", "status": "fault", "code": "no_display",
                                    "message": "Không mở được màn hình"})
    alert = await admin.expect("SYSTEM_ALERT", where=system_errors)
    assert alert["message"].startswith("tv-hall-1 (main-hall): màn hình:") and alert["severity"] == "critical"
    # A second kiosk with the same problem is a second alert.
    other = await hall.client("kiosk", client_id="kiosk-002")
    await other.send("DEVICE_STATUS", {"component": "printer", "status": "warning", "code": "paper_low"})
    assert (await admin.expect("SYSTEM_ALERT", where=system_errors))["message"] == \
        "kiosk-002 (main-hall): máy in: paper_low"


@pytest.mark.parametrize("role", ["officer", "leader", "admin"])
async def test_only_devices_report_device_status(hall, role):
    person = await hall.client(role)
    admin = await hall.client("admin")
    await person.send("DEVICE_STATUS", PAPER_OUT)
    error = await person.expect("ERROR")
    assert error["error_code"] == "FORBIDDEN" and error["message_type"] == "DEVICE_STATUS"
    await admin.expect_nothing("SYSTEM_ALERT")


@pytest.mark.parametrize("payload", [
    {"component": "scanner", "status": "fault"},
    {"component": "printer", "status": "broken"},
    {"component": "printer", "status": "fault", "code": "Paper Out"},
    {"component": "printer", "status": "fault", "colour": "red"},
    {"component": "printer", "status": "fault", "message": "x" * 201},
])
async def test_bad_device_status_is_refused(hall, payload):
    kiosk = await hall.client("kiosk")
    await kiosk.send("DEVICE_STATUS", payload)
    assert (await kiosk.expect("ERROR"))["error_code"] == "INVALID_MESSAGE"


async def test_device_status_is_audited(hall):
    kiosk = await hall.client("kiosk", client_id="kiosk-003")
    await kiosk.send("DEVICE_STATUS", PAPER_OUT)
    for _ in range(100):  # the audit row is written in the background
        with sqlite3.connect(hall.hub.data_dir / "qms.db") as conn:
            rows = conn.execute("SELECT client_id, detail FROM audit WHERE action = 'device.status'").fetchall()
        if rows:
            break
        await asyncio.sleep(0.02)
    (client_id, detail), = rows
    assert client_id == "kiosk-003"
    assert json.loads(detail) == PAPER_OUT


async def test_snapshot_carries_the_sites_public_address(tmp_path):
    hub = await start_hub(tmp_path / "with", site=dataclasses.replace(sample_site(),
                                                                     public_url="https://qms.example.gov.vn"))
    hall = HallHarness(hub)
    try:
        kiosk = await hall.client("kiosk")
        assert kiosk.snapshot["public_url"] == "https://qms.example.gov.vn"
    finally:
        await hall.close_all()
        await hub.stop()


async def test_snapshot_without_a_public_address_says_null(hall):
    kiosk = await hall.client("kiosk")
    assert kiosk.snapshot["public_url"] is None
