"""RATING on a real hub: from the counter display of the counter that served the ticket, or from the
citizen's page with the ticket's code; one per ticket, with its queue, counter and officer; a replay is
answered again and never stored twice.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from support import HallHarness, round_trip, start_hub

from hub.clock import ManualClock
from protocol import messages as m


def ratings(hall: HallHarness) -> list[tuple]:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        return conn.execute("SELECT ticket_id, score, source, counter_id, queue_id, officer_user_id, officer "
                            "FROM ratings ORDER BY rating_id").fetchall()


@pytest.fixture
async def served(tmp_path):
    """Ticket 2001 served and finished at counter 2 by officer canbo2; its counter display watching."""
    clock = ManualClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    hub = await start_hub(tmp_path / "data", clock=clock)
    hall = HallHarness(hub)
    hall.clock = clock  # type: ignore[attr-defined]
    hall.display = await hall.client("counter", client_id="counter-02", counter_id=2)  # type: ignore[attr-defined]
    kiosk = await hall.client("kiosk")
    await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": "r1"})
    hall.ticket = await kiosk.expect("TICKET_CREATED")  # type: ignore[attr-defined]
    officer = await hall.client("officer", counter_id=2, username="canbo2", user_id=42)
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    clock.advance(minutes=6)
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "finish"})
    await officer.expect("TICKET_UPDATED")
    yield hall
    await hall.close_all()
    await hub.stop()


async def test_the_counter_display_hears_its_counter_and_records_one_rating(served):
    hall, display, ticket = served, served.display, served.ticket
    assert (await display.expect("CALL_TICKET"))["ticket_number"] == 2001
    assert (await display.expect("TICKET_UPDATED"))["action"] == "finish"
    admin = await hall.client("admin")
    await display.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4, "request_id": "counter-02-1"})
    recorded = await display.expect("RATING_RECORDED")
    assert (recorded["score"], recorded["source"], recorded["counter_id"]) == (4, "counter", 2)
    assert (await admin.expect("RATING_RECORDED"))["rating_id"] == recorded["rating_id"]
    assert ratings(hall) == [(ticket["ticket_id"], 4, "counter", 2, 2, 42, "canbo2")]
    # The same tap replayed (a lost answer): answered again, stored once.
    await display.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4, "request_id": "counter-02-1"})
    assert (await display.expect("RATING_RECORDED"))["rating_id"] == recorded["rating_id"]
    # Another rating of the same ticket: refused.
    await display.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 1, "request_id": "counter-02-2"})
    assert (await display.expect("ERROR"))["error_code"] == "ALREADY_RATED"
    assert len(ratings(hall)) == 1


async def test_the_citizens_page_rates_with_the_tickets_code_and_no_token(served):
    hall, ticket = served, served.ticket
    page = await hall.raw()
    await page.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 3, "ticket_code": "wrong-code-xxxx"})
    assert (await page.expect("ERROR"))["error_code"] == "TICKET_NOT_FOUND"
    await page.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 3, "ticket_code": ticket["ticket_code"]})
    assert (await page.expect("RATING_RECORDED"))["source"] == "status_page"
    await page.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 2, "ticket_code": ticket["ticket_code"]})
    assert (await page.expect("ERROR"))["error_code"] == "ALREADY_RATED"
    assert [r[:3] for r in ratings(hall)] == [(ticket["ticket_id"], 3, "status_page")]
    # Without a code, an unauthenticated connection may not rate.
    await page.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 2})
    assert (await page.expect("ERROR"))["error_code"] == "AUTH_FAILED"


async def test_only_the_serving_counters_display_within_ten_minutes(served):
    hall, ticket = served, served.ticket
    other = await hall.client("counter", client_id="counter-05", counter_id=5)
    await other.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4})
    assert (await other.expect("ERROR"))["error_code"] == "TICKET_NOT_FOUND"
    officer = await hall.client("officer", counter_id=5)
    await officer.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4})
    assert (await officer.expect("ERROR"))["error_code"] == "FORBIDDEN"
    finished_at = hall.clock.now()
    hall.clock.advance(minutes=11)
    display = await hall.client("counter", client_id="counter-02", counter_id=2)  # its token outlived the wait
    await display.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4})
    assert (await display.expect("ERROR"))["error_code"] == "INVALID_MESSAGE"
    # A tap made offline within the window, sent once the hub is back: its time says when it was.
    tapped = m.utc_timestamp(finished_at + timedelta(minutes=2))
    await display.send("RATING", {"ticket_id": ticket["ticket_id"], "score": 4, "rated_at": tapped,
                                  "request_id": "counter-02-offline-1"})
    assert (await display.expect("RATING_RECORDED"))["score"] == 4
    await round_trip(display)
    assert len(ratings(hall)) == 1


async def test_a_ticket_not_finished_cannot_be_rated(served):
    hall = served
    kiosk = await hall.client("kiosk")
    await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": "r2"})
    waiting = await kiosk.expect("TICKET_CREATED")
    page = await hall.raw()
    await page.send("RATING", {"ticket_id": waiting["ticket_id"], "score": 4, "ticket_code": waiting["ticket_code"]})
    assert (await page.expect("ERROR"))["error_code"] == "INVALID_MESSAGE"


async def test_the_counter_display_learns_who_serves_when_an_officer_comes_and_goes(tmp_path):
    import dataclasses

    from hub.site_config import sample_site

    site = dataclasses.replace(sample_site(), counter_display_shows_officer=True)
    hub = await start_hub(tmp_path / "data", site=site)
    hall = HallHarness(hub)
    try:
        display = await hall.client("counter", client_id="counter-03", counter_id=3)
        assert next(c for c in display.snapshot["counters"] if c["counter_id"] == 3)["officer_name"] is None
        officer = await hall.client("officer", counter_id=3, full_name="Lê Thị Hoa")
        came = await display.expect("SNAPSHOT")
        assert next(c for c in came["counters"] if c["counter_id"] == 3)["officer_name"] == "Lê Thị Hoa"
        await officer.close()
        went = await display.expect("SNAPSHOT")
        assert next(c for c in went["counters"] if c["counter_id"] == 3)["officer_name"] is None
    finally:
        await hall.close_all()
        await hub.stop()
