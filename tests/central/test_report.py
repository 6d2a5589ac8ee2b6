"""The province's report: a hall's numbers in it are the numbers of the hall's own report, across halls and sites.

A scripted two days (tests/support/report_day.py, whose every figure
tests/hub/test_reports.py works out by hand) are played in two halls that
ship to one PostgreSQL; the province's report by site, queue, counter,
officer, field, day and hour must give each hall's own figures.
"""

from __future__ import annotations

from datetime import date

import psycopg
from support.central import central_events, hall_events, hall_site, init_central, until
from support.report_day import play_two_days, start_report_hall

from central.report import province_reports
from hub.reports import build_reports

FIRST, LAST = date(2026, 11, 24), date(2026, 11, 25)
NUMBERS = ("issued", "served", "no_show", "transferred", "wait_mean_min", "wait_p90_min", "service_mean_min",
           "service_p90_min", "ratings", "rating_mean", "rating_counts")


def numbers(row) -> tuple:
    values = row.as_json()
    return tuple(values[name] for name in NUMBERS)


async def test_the_provinces_report_gives_each_halls_own_figures(postgres, tmp_path):
    url = postgres.create_database("province_report")
    init_central(url, "hall-a", "hall-b")
    halls = []
    for site_id in ("hall-a", "hall-b"):
        site = hall_site(postgres, "province_report", site_id, tmp_path)
        scripted = await start_report_hall(tmp_path / site_id, site=site, shipping_poll=0.05,
                                           shipping_retry=(0.1, 0.2))
        halls.append((site_id, scripted))
    try:
        for _, scripted in halls:
            await play_two_days(scripted)
        for site_id, scripted in halls:
            await until(lambda s=site_id, h=scripted: central_events(url, s) == sorted(hall_events(h.hub)),
                        f"{site_id} shipped")
        groupings = ["queue", "counter", "officer", "field", "day", "hour"]
        site_id, scripted = halls[0]
        hub = scripted.hub
        own = await hub.store.read(lambda conn: build_reports(conn, hub.site, FIRST, LAST, groupings))
        with psycopg.connect(url) as conn:
            mine = province_reports(conn, FIRST, LAST, groupings, site_id=site_id)
            everyone = province_reports(conn, FIRST, LAST, ["site", "queue"])
        for hall_report, province in zip(own, mine, strict=True):
            assert numbers(province.total) == numbers(hall_report.total), province.by
            # Row by row, where the hall's report has something (the province lists only what it was sent).
            ours = {row.key: numbers(row) for row in hall_report.rows if row.issued or row.served or row.ratings}
            theirs = {row.key: numbers(row) for row in province.rows if row.issued or row.served or row.ratings}
            if province.by in ("queue", "counter", "officer"):
                theirs = {(key.split("/", 1)[1] if isinstance(key, str) else key): value
                          for key, value in theirs.items()}
                ours = {(str(key) if key is not None else None): value for key, value in ours.items()}
            elif province.by == "field":
                ours = {hub.site.field(key).name if key else None: value for key, value in ours.items()}
            assert theirs == ours, province.by
        by_site, by_queue = everyone
        assert [row.key for row in by_site.rows] == ["hall-a", "hall-b"]
        assert [row.label for row in by_site.rows] == ["Trung tâm hall-a", "Trung tâm hall-b"]
        assert numbers(by_site.rows[0]) == numbers(by_site.rows[1]) == numbers(own[0].total)
        assert by_site.total.issued == 2 * own[0].total.issued
        assert any(row.label == "Trung tâm hall-b · Tư pháp - Hộ tịch" for row in by_queue.rows)
    finally:
        for _, scripted in halls:
            await scripted.hall.close_all()
            await scripted.hub.stop()
