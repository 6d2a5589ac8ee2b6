"""Two scripted service days on a real hub, for the report tests (tests/hub/test_reports*.py, the report page).

Everything goes through the hub's protocol as the hall would do it: a kiosk
takes numbers, four officers call, finish, mark absent, transfer, recall and
put back, the counter displays record the citizens' ratings. The hub's clock
is moved by hand to whole minutes, so every wait and service time is known.

In the hall's time (Asia/Ho_Chi_Minh, UTC+7):

Tuesday 24/11/2026
    08:00  T1 (Đất đai, procedure 101, field 1) and T2 (Tư pháp, 201, field 2) taken
    08:10  counter 1 (canbo1) calls T1; 08:16 finishes it; 08:17 rated 4 at counter 1's display
    08:20  counter 2 (canbo2) calls T2; 08:23 marks it absent
    08:30  T3 (Đất đai, 101) taken, never called: it expires when the day ends
Wednesday 25/11/2026
    08:00  T4 (Tư pháp, 201), T5 (Tư pháp, 201, priority: elderly), T6 (Đất đai, 101) taken
    08:05  counter 2 (canbo2) calls T5 (priority first); 08:12 transfers it to queue 3
    08:08  counter 5 (canbo5) calls T4; 08:14 calls it again (a recall)
    08:15  counter 3 (canbo3) calls T5 from queue 3; 08:25 finishes it; 08:26 rated 3 at counter 3
    08:18  counter 5 finishes T4; 08:19 rated 2 at counter 5
    08:30  counter 1 calls T6; 08:32 marks it absent; 08:40 puts it back in line
    09:05  T7 (Bảo hiểm xã hội, 401, field 3) taken, still waiting at the end
    09:10  counter 1 calls T6 again; 09:14 finishes it (not rated)

tests/hub/test_reports.py works out every report of these two days by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import store as db
from hub.clock import ManualClock
from support import HallHarness, TestClient, round_trip, start_hub

DAY_1 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00 in the hall
DAY_2 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
OFFICERS = {1: ("canbo1", "Nguyễn Thị Lan"), 2: ("canbo2", "Trần Văn Bình"), 3: ("canbo3", "Lê Thị Hoa"),
            5: ("canbo5", "Phạm Minh Đức")}


@dataclass
class ScriptedHall:
    hall: HallHarness
    clock: ManualClock
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def hub(self):
        return self.hall.hub


async def start_report_hall(data_dir, site=None, **options: Any) -> ScriptedHall:
    """A hub on the sample site (or ``site``) with the four officers' accounts, its clock at DAY_1."""
    clock = ManualClock(DAY_1)
    hub = await start_hub(data_dir, site=site, clock=clock, **options)
    scripted = ScriptedHall(HallHarness(hub), clock)
    for counter_id, (username, full_name) in OFFICERS.items():
        await hub.store.run(lambda conn, u=username, n=full_name, c=counter_id: db.add_user(
            conn, u, "not-a-password-hash", "officer", c, n, DAY_1))
    return scripted


async def play_two_days(scripted: ScriptedHall) -> ScriptedHall:
    hall, clock, tickets = scripted.hall, scripted.clock, scripted.tickets

    def at(day: datetime, minutes: int) -> None:
        clock.set(day + timedelta(minutes=minutes))

    # Tokens last an hour of the hub's clock: every hour the hall's devices and officers connect afresh
    # (under the same client ids: each new connection replaces its old one).
    kiosk: TestClient
    officers: dict[int, TestClient] = {}
    displays: dict[int, TestClient] = {}

    async def open_the_hall() -> None:
        nonlocal kiosk
        kiosk = await hall.client("kiosk", client_id="kiosk-01", settle=False)
        for counter_id, (username, _) in OFFICERS.items():
            officers[counter_id] = await hall.client("officer", counter_id=counter_id, username=username,
                                                     client_id=f"officer-{username}", settle=False)
        for counter_id in (1, 3, 5):
            displays[counter_id] = await hall.client("counter", client_id=f"counter-0{counter_id}",
                                                     counter_id=counter_id, settle=False)

    async def take(name: str, **payload: Any) -> None:
        await kiosk.send("TICKET_CREATED", {"request_id": name, **payload})
        tickets[name] = await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == name)

    # Each officer's earlier news is cleared first (round_trip): the answer awaited is this request's.
    async def call(counter_id: int, **payload: Any) -> dict[str, Any]:
        officer = officers[counter_id]
        await round_trip(officer)
        await officer.send("CALL_TICKET", {"counter_id": counter_id, **payload})
        return await officer.expect("CALL_TICKET", where=lambda p: p["counter_id"] == counter_id)

    async def act(counter_id: int, action: str, **payload: Any) -> dict[str, Any]:
        officer = officers[counter_id]
        await round_trip(officer)
        await officer.send("TICKET_ACTION", {"counter_id": counter_id, "action": action, **payload})
        return await officer.expect("TICKET_UPDATED", where=lambda p: p["action"] == action)

    async def rate(counter_id: int, name: str, score: int) -> None:
        display = displays[counter_id]
        await display.send("RATING", {"ticket_id": tickets[name]["ticket_id"], "score": score,
                                      "request_id": f"rate-{name}"})
        await display.expect("RATING_RECORDED", where=lambda p: p["ticket_id"] == tickets[name]["ticket_id"])

    def called(call: dict[str, Any], name: str) -> None:
        assert call["ticket_id"] == tickets[name]["ticket_id"], (call, name)

    # Tuesday.
    await open_the_hall()
    await take("T1", procedure_id=101)
    await take("T2", procedure_id=201)
    at(DAY_1, 10)
    called(await call(1), "T1")
    at(DAY_1, 16)
    await act(1, "finish")
    at(DAY_1, 17)
    await rate(1, "T1", 4)
    at(DAY_1, 20)
    called(await call(2), "T2")
    at(DAY_1, 23)
    await act(2, "no_show")
    at(DAY_1, 30)
    await take("T3", procedure_id=101)

    # Wednesday: the first request of the day closes Tuesday (T3 expires).
    at(DAY_2, 0)
    await open_the_hall()
    await take("T4", procedure_id=201)
    await take("T5", procedure_id=201, priority=True, priority_reason="elderly")
    await take("T6", procedure_id=101)
    at(DAY_2, 5)
    called(await call(2), "T5")
    at(DAY_2, 8)
    called(await call(5), "T4")
    at(DAY_2, 12)
    await act(2, "transfer", to_queue_id=3)
    at(DAY_2, 14)
    called(await call(5, ticket_number=tickets["T4"]["ticket_number"], queue_id=2), "T4")
    at(DAY_2, 15)
    called(await call(3), "T5")
    at(DAY_2, 18)
    await act(5, "finish")
    at(DAY_2, 19)
    await rate(5, "T4", 2)
    at(DAY_2, 25)
    await act(3, "finish")
    at(DAY_2, 26)
    await rate(3, "T5", 3)
    at(DAY_2, 30)
    called(await call(1), "T6")
    at(DAY_2, 32)
    await act(1, "no_show")
    at(DAY_2, 40)
    await act(1, "return", ticket_number=tickets["T6"]["ticket_number"], queue_id=1)
    at(DAY_2, 60)
    await open_the_hall()
    at(DAY_2, 65)
    await take("T7", procedure_id=401)
    at(DAY_2, 70)
    called(await call(1), "T6")
    at(DAY_2, 74)
    await act(1, "finish")
    for client in (kiosk, *officers.values(), *displays.values()):
        await round_trip(client)
    return scripted
