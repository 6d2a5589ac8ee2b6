"""The report's definitions on facts made by hand (hub/reports.py is pure apart from reading the database):
rounding, the 90th percentile, periods, and where each fact is counted when a ticket moves about.
"""

from __future__ import annotations

from datetime import date

import pytest

from hub import reports
from hub.reports import Labels, ReportQueryError, TicketFacts, Transfer
from hub.site_config import sample_site

SITE = sample_site()
LABELS = Labels(SITE, {"canbo2": "Trần Văn Bình"})
DAY = date(2026, 11, 25)


def ticket(ticket_id: int, **fields) -> TicketFacts:
    # Taken at 08:00 in the hall (UTC+7) for procedure 201 (field 2), in queue 2, served there by canbo2.
    base = TicketFacts(
        ticket_id=ticket_id, service_day="2026-11-25", created_at="2026-11-25T01:00:00+00:00", origin_queue_id=2,
        final_queue_id=2, procedure_id=201, status="done", first_counter_id=2, first_officer="canbo2",
        final_counter_id=2, final_officer="canbo2", wait_minutes=10.0, service_minutes=5.0)
    return base._replace(**fields)


@pytest.mark.parametrize(("value", "places", "expected"), [
    (2.25, 1, 2.3), (2.2499999999999996, 1, 2.3), (14.333333, 1, 14.3), (7.6666667, 1, 7.7), (0.05, 1, 0.1),
    (2.125, 2, 2.13), (3.0, 2, 3.0), (None, 1, None),
])
def test_rounding_is_to_the_nearest_with_halves_up(value, places, expected):
    assert reports.rounded(value, places) == expected


def test_the_90th_percentile_interpolates_between_ranks_as_excel_does():
    # PERCENTILE.INC({5, 8, 20}, 0.9) = 17.6; one value is its own percentile; none has none.
    assert reports.percentile([5.0, 8.0, 20.0], 0.9) == pytest.approx(17.6)
    assert reports.percentile([3.0, 4.0, 6.0, 10.0, 10.0], 0.9) == pytest.approx(10.0)
    assert reports.percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], 0.9) == pytest.approx(10.0)
    assert reports.percentile([7.0], 0.9) == 7.0
    assert reports.percentile([], 0.9) is None


def test_named_periods_around_a_day():
    wednesday = date(2026, 11, 25)
    assert reports.period_range("today", wednesday) == (wednesday, wednesday)
    assert reports.period_range("yesterday", wednesday) == (date(2026, 11, 24),) * 2
    assert reports.period_range("this_week", wednesday) == (date(2026, 11, 23), wednesday)
    assert reports.period_range("last_week", wednesday) == (date(2026, 11, 16), date(2026, 11, 22))
    assert reports.period_range("this_month", wednesday) == (date(2026, 11, 1), wednesday)
    assert reports.period_range("last_month", date(2026, 1, 10)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert reports.month_range("2028-02", wednesday) == (date(2028, 2, 1), date(2028, 2, 29))
    assert reports.month_range("last", date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ReportQueryError) as refused:
        reports.month_range("2026-13", wednesday)
    assert refused.value.code == "bad_date"


def test_a_ticket_moved_twice_is_counted_where_each_thing_happened():
    # Taken in queue 2, first called at counter 2 by canbo2 and sent to queue 3; counter 3 (canbo3) sent it on to
    # queue 4, where counter 4 (canbo4) served it and was rated for it.
    moved = ticket(1, final_queue_id=4, final_counter_id=4, final_officer="canbo4",
                   transfers=(Transfer(2, 2, "canbo2"), Transfer(3, 3, "canbo3")), rating_score=4, rating_queue_id=4,
                   rating_counter_id=4, rating_officer="canbo4")
    by_queue = {row.key: row for row in reports.aggregate([moved], "queue", LABELS, DAY, DAY).rows}
    assert (by_queue[2].issued, by_queue[2].transferred, by_queue[2].served, by_queue[2].ratings) == (1, 1, 0, 0)
    assert (by_queue[3].issued, by_queue[3].transferred, by_queue[3].served) == (0, 1, 0)
    assert (by_queue[4].issued, by_queue[4].served, by_queue[4].service_mean_min, by_queue[4].ratings) == (0, 1, 5, 1)
    assert by_queue[2].wait_mean_min == 10 and by_queue[4].wait_mean_min is None
    by_officer = reports.aggregate([moved], "officer", LABELS, DAY, DAY)
    # People in the order of their names (a username stands for a name the users table does not know).
    assert [(row.key, row.label, row.issued, row.transferred, row.served) for row in by_officer.rows] == [
        ("canbo3", "canbo3", 0, 1, 0), ("canbo4", "canbo4", 0, 0, 1), ("canbo2", "Trần Văn Bình (canbo2)", 1, 1, 0)]
    assert by_officer.total.transferred == 2
    # By field, day or hour everything stays with the ticket.
    (field_row,) = [row for row in reports.aggregate([moved], "field", LABELS, DAY, DAY).rows if row.issued]
    assert (field_row.key, field_row.transferred, field_row.served, field_row.ratings) == (2, 2, 1, 1)


def test_groups_gone_from_the_site_file_and_tickets_without_a_field_are_still_counted():
    gone = ticket(1, origin_queue_id=9, final_queue_id=9, final_counter_id=12, first_counter_id=12, procedure_id=999)
    by_queue = reports.aggregate([gone], "queue", LABELS, DAY, DAY)
    assert [row.key for row in by_queue.rows] == [1, 2, 3, 4, 9]
    assert by_queue.rows[-1].label == "Hàng chờ 9 (không còn trong cấu hình)"
    by_counter = reports.aggregate([gone], "counter", LABELS, DAY, DAY)
    assert by_counter.rows[-1].label == "Quầy 12 (không còn trong cấu hình)" and by_counter.rows[-1].served == 1
    by_field = reports.aggregate([gone], "field", LABELS, DAY, DAY)
    assert (by_field.rows[-1].key, by_field.rows[-1].label, by_field.rows[-1].issued) == (None, "Chưa xếp lĩnh vực", 1)


def test_hours_run_without_gaps_from_the_first_busy_one_to_the_last():
    facts = [ticket(1, created_at="2026-11-25T00:10:00+00:00"), ticket(2, created_at="2026-11-25T03:59:59.5+00:00"),
             ticket(3, created_at="2026-11-25T03:00:00+00:00", wait_minutes=None, status="waiting",
                    service_minutes=None)]
    rows = reports.aggregate(facts, "hour", LABELS, DAY, DAY).rows
    assert [(row.key, row.label, row.issued) for row in rows] == [
        (7, "07:00–08:00", 1), (8, "08:00–09:00", 0), (9, "09:00–10:00", 0), (10, "10:00–11:00", 2)]
    assert rows[-1].served == 1 and rows[-1].wait_mean_min == 10


def test_a_returned_no_show_that_was_served_counts_as_served_only():
    served_after_all = ticket(1, status="done", service_minutes=4.0)
    absent = ticket(2, status="no_show", service_minutes=2.0)
    total = reports.aggregate([served_after_all, absent], "queue", LABELS, DAY, DAY).total
    assert (total.served, total.no_show, total.service_mean_min, total.service_p90_min) == (1, 1, 3.0, 3.8)


def test_queries_default_to_this_month_and_refuse_what_they_cannot_answer():
    today = date(2026, 11, 25)
    assert reports.parse_query({}, today) == reports.ReportQuery(date(2026, 11, 1), today, "queue")
    assert reports.parse_query({"to": "2026-10-15"}, today).first == date(2026, 10, 1)
    assert reports.parse_query({"by": "all"}, today, allow_all=True).by == "all"
    for params, code in (({"from": "2026-02-30"}, "bad_date"), ({"by": "site"}, "bad_grouping"),
                         ({"from": "2024-01-01", "to": "2026-01-01"}, "range_too_long")):
        with pytest.raises(ReportQueryError) as refused:
            reports.parse_query(params, today)
        assert refused.value.code == code
