"""bench/report_speed.py end to end at its smallest: generated history, the query, a real hub answering over HTTP.

No timing is checked here (benchmarks belong in bench/): only that every run was measured and answered.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date

from bench import report_speed


async def test_the_report_benchmark_measures_every_part(tmp_path):
    results = await report_speed.measure(tickets=600, repeats=1, keep=tmp_path, tickets_per_day=200,
                                         log=lambda _text: None)
    assert results["data"]["tickets"] > 400 and results["data"]["ratings"] > 0
    for name in ("query_one", "query_all", "http_json", "http_xlsx"):
        assert results[f"{name}_s"]["runs"] == 1 and results[f"{name}_s"]["median"] > 0, name
    assert results["sizes"]["/api/reports"] > 0 and results["sizes"]["/api/reports.xlsx"] > 0
    assert "| HTTP `/api/reports` JSON, by officer |" in report_speed.report(results)
    # The generated history is the hub's own shape: what the report reads adds up.
    with closing(sqlite3.connect(tmp_path / "data" / "qms.db")) as conn:
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
        tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        rated = conn.execute("SELECT COUNT(*) FROM ratings r JOIN tickets t USING (ticket_id) "
                             "WHERE t.status = 'done'").fetchone()[0]
    assert kinds["ticket.issued"] == tickets == results["data"]["tickets"]
    assert kinds["ticket.rated"] == rated == results["data"]["ratings"]
    assert kinds["ticket.called"] >= kinds["ticket.finished"] + kinds["ticket.no_show"]


def test_the_last_whole_month_of_the_data():
    assert report_speed.last_whole_month(date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert report_speed.last_whole_month(date(2026, 11, 30)) == (date(2026, 11, 1), date(2026, 11, 30))
