"""The hub starts serving without openpyxl and numpy: they are for the Excel report, imported when one is asked for."""

from __future__ import annotations

from support import free_port
from support.boot import modules_when_the_hub_serves


def test_the_hub_serves_without_importing_what_only_the_excel_report_needs(tmp_path):
    loaded = modules_when_the_hub_serves(tmp_path, free_port())
    assert "hub.server" in loaded and "hub.http_routes" in loaded and "hub.report_files" in loaded
    assert not {"openpyxl", "numpy", "hub.report_workbook"} & loaded
