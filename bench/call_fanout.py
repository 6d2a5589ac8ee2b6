"""Call fan-out: from an officer's CALL_TICKET to the last TV holding TICKET_ANNOUNCEMENT.

For each fleet size the hub runs as a subprocess, the TVs in another process
(``bench.tv_fleet``), the officer here. A round: note ``t0 = time.monotonic()``,
send ``CALL_TICKET {"counter_id": 1}``, wait for the fleet to report that
every TV has the announcement; the round's latency is the last TV's receipt
time minus ``t0`` (CLOCK_MONOTONIC is one clock for every process on Linux).
What the hub does in that time: validate and authorise the frame, update the
queue, commit the call to SQLite (synchronous=FULL, an fsync), then
broadcast CALL_TICKET, TICKET_ANNOUNCEMENT and QUEUE_UPDATE to every TV.

The baseline runs beside it: ``bench.bare_server`` with a fleet process of
the same size, receiving the same TICKET_ANNOUNCEMENT JSON from a caller
connection and handing it to one ``websockets.broadcast`` call. A second
baseline (``baseline_3``) broadcasts what the hub puts on each TV's wire for
a call, CALL_TICKET, TICKET_ANNOUNCEMENT and QUEUE_UPDATE, with three
``websockets.broadcast`` calls in the hub's order: the gap between it and the
hub is the hub's own work, the gap between the two baselines is the cost of
the protocol's three messages per call. The rounds of all three alternate (in
random order within each turn), so load from anything else on the machine
falls on all alike.

``python -m bench.call_fanout [--sizes 10 100 500] [--rounds 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.harness import (
    Fleet,
    ServerProcess,
    expect,
    kiosk_token,
    officer_token,
    open_connection,
    percentiles,
    progress,
    raise_open_file_limit,
    registered_client,
    running_bare_server,
    running_fleet,
    running_hub,
    send,
)
from hub.site_config import sample_site
from protocol import messages as m

COUNTER_ID = 1
ROUND_TIMEOUT = 10.0
# A pause between rounds, jittered so nothing periodic in either server lines up with the calls.
PAUSE_RANGE = (0.010, 0.030)
TICKET_MAKERS = 10


def call_frames(number: int, total: int) -> list[str]:
    """What a call of this number at counter 1 of the sample site puts on a TV's wire, in the hub's
    order: CALL_TICKET, TICKET_ANNOUNCEMENT, QUEUE_UPDATE (``total`` tickets were made at the start)."""
    site = sample_site()
    counter = site.counter(COUNTER_ID)
    assert counter is not None
    call = m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=number, counter_id=COUNTER_ID, counter_name=counter.name,
        called_by=m.CalledBy(user_id=901, username="bench-officer-1", full_name="Cán bộ đo hiệu năng"),
        timestamp=m.utc_timestamp(datetime.now(UTC)), ticket_id=number,
    ))
    announcement = m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=number, counter_id=COUNTER_ID, counter_name=counter.name,
        announcement_text=site.render_announcement(number, counter), audio_url=None,
        display_duration=site.display_duration,
    ))
    update = m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=COUNTER_ID, current_number=number, waiting_count=total - number,
        next_numbers=[n for n in range(number + 1, number + 1 + site.next_numbers_count) if n <= total],
        average_wait_time=5, counter_name=counter.name, status="active",
    ))
    return [m.encode(message).decode() for message in (call, announcement, update)]


async def make_tickets(hub: ServerProcess, count: int, counter_id: int = COUNTER_ID) -> None:
    """``count`` waiting tickets at the counter, from a few kiosks at once; the kiosks leave after."""
    tokens = hub.tokens()
    share = [count // TICKET_MAKERS + (1 if i < count % TICKET_MAKERS else 0) for i in range(TICKET_MAKERS)]

    async def kiosk(index: int, tickets: int) -> None:
        client_id = f"kiosk-prep-{index:02d}"
        ws = await registered_client(hub.url, kiosk_token(tokens, client_id), "kiosk", client_id)
        try:
            for n in range(tickets):
                request_id = f"prep-{index}-{n}"
                await send(ws, "TICKET_CREATED", {"counter_id": counter_id, "request_id": request_id})
                await expect(ws, "TICKET_CREATED")
        finally:
            await ws.close()

    await asyncio.gather(*(kiosk(i, n) for i, n in enumerate(share) if n))


@dataclass
class Caller:
    """One system under measurement: how to make it announce ticket ``number``, and its fleet."""

    name: str
    fleet: Fleet
    trigger: Callable[[int], Awaitable[None]]
    last: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)

    async def round(self, number: int, keep: bool) -> None:
        t0 = time.monotonic()
        await self.trigger(number)
        event = await self.fleet.next_event(ROUND_TIMEOUT)
        if event.get("event") != "round" or event["ticket_number"] != number or event["count"] != self.fleet.count:
            raise RuntimeError(f"{self.name}, round {number}: unexpected report {event}")
        if keep:
            self.last.append(event["last"] - t0)
            self.first.append(event["first"] - t0)


@contextlib.asynccontextmanager
async def hub_caller(hub: ServerProcess, fleet: Fleet) -> AsyncIterator[Caller]:
    """An officer of counter 1 sending CALL_TICKET; any ERROR it hears fails the next round."""
    officer = await registered_client(hub.url, officer_token(hub.tokens(), COUNTER_ID), "officer", "officer-bench-1")
    errors: list[dict[str, Any]] = []

    async def drain() -> None:
        # The officer hears its own CALL_TICKET and the QUEUE_UPDATE: read them so nothing backs up.
        async for frame in officer:
            message = json.loads(frame)
            if message["type"] == "ERROR":
                errors.append(message["payload"])

    async def call(number: int) -> None:
        if errors:
            raise RuntimeError(f"the hub refused a call: {errors[0]}")
        await send(officer, "CALL_TICKET", {"counter_id": COUNTER_ID})

    reader = asyncio.create_task(drain())
    try:
        yield Caller("hub", fleet, call)
    finally:
        reader.cancel()
        await officer.close()


@contextlib.asynccontextmanager
async def bare_caller(server: ServerProcess, fleet: Fleet, name: str, frames: list[list[str]]) -> AsyncIterator[Caller]:
    """A caller handing the bare server, for ticket ``n``, ``frames[n - 1]`` to broadcast in order."""
    caller = await open_connection(server.url)
    try:
        await caller.send("caller")
        if await asyncio.wait_for(caller.recv(), ROUND_TIMEOUT) != "ok":
            raise RuntimeError("the bare server did not accept the caller")

        async def trigger(number: int) -> None:
            batch = frames[number - 1]
            await caller.send(batch[0] if len(batch) == 1 else json.dumps(batch, ensure_ascii=False))

        yield Caller(name, fleet, trigger)
    finally:
        await caller.close()


async def measure_size(tvs: int, rounds: int, warmup: int) -> dict[str, Any]:
    """The hub and both baselines side by side, their rounds interleaved in random order, so that
    whatever else the machine is doing at the time weighs on all of them alike."""
    total = rounds + warmup
    wire = [call_frames(n + 1, total) for n in range(total)]
    async with contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub())
        bare = await stack.enter_async_context(running_bare_server())
        bare3 = await stack.enter_async_context(running_bare_server())
        await make_tickets(hub, total)
        hub_fleet = await stack.enter_async_context(running_fleet(hub, tvs))
        bare_fleet = await stack.enter_async_context(running_fleet(bare, tvs))
        bare3_fleet = await stack.enter_async_context(running_fleet(bare3, tvs))
        callers = {
            "hub": await stack.enter_async_context(hub_caller(hub, hub_fleet)),
            "baseline": await stack.enter_async_context(
                bare_caller(bare, bare_fleet, "websockets.broadcast", [[frames[1]] for frames in wire])),
            "baseline_3": await stack.enter_async_context(
                bare_caller(bare3, bare3_fleet, "websockets.broadcast x3", wire)),
        }
        order = list(callers.values())
        for index in range(total):
            random.shuffle(order)
            for caller in order:
                await caller.round(index + 1, keep=index >= warmup)
                await asyncio.sleep(random.uniform(*PAUSE_RANGE))
    result: dict[str, Any] = {"tvs": tvs, "rounds": rounds}
    for key, caller in callers.items():
        result[key] = {"last": percentiles(caller.last), "first": percentiles(caller.first)}
    hub_last = result["hub"]["last"]
    for key, suffix in (("baseline", ""), ("baseline_3", "_3")):
        result[f"ratio_p50{suffix}"] = hub_last["p50_ms"] / result[key]["last"]["p50_ms"]
        result[f"ratio_p99{suffix}"] = hub_last["p99_ms"] / result[key]["last"]["p99_ms"]
    return result


async def measure(sizes: list[int], rounds: int, warmup: int, log=progress) -> list[dict[str, Any]]:
    raise_open_file_limit(8192)
    results = []
    for tvs in sizes:
        log(f"call fan-out: {tvs} TVs, the hub and two bare websockets baselines, {rounds} rounds each ...")
        results.append(await measure_size(tvs, rounds, warmup))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Call fan-out latency, hub against bare websockets.broadcast")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.sizes, args.rounds, args.warmup)), indent=2))


if __name__ == "__main__":
    main()
