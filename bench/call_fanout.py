"""Call fan-out: from an officer's CALL_TICKET to the last TV holding TICKET_ANNOUNCEMENT.

For each fleet size the hub runs as a subprocess, the TVs in another process
(``bench.tv_fleet``), the officer here. A round: note ``t0 = time.monotonic()``,
send ``CALL_TICKET {"counter_id": 1}``, wait for the fleet to report that
every TV has the announcement; the round's latency is the last TV's receipt
time minus ``t0`` (CLOCK_MONOTONIC is one clock for every process on Linux).
What the hub does in that time: validate and authorise the frame, update the
queue, commit the call to SQLite (synchronous=FULL, an fsync), then send
every TV what a call sends it (TICKET_ANNOUNCEMENT, CALL_TICKET and
QUEUE_UPDATE: one write per TV).

Two baselines run beside it, each ``bench.bare_server`` with its own fleet
process of the same size and a caller connection:

* ``baseline``: the call's TICKET_ANNOUNCEMENT, handed to one
  ``websockets.broadcast`` (a bare one-frame broadcast);
* ``baseline_3``: every frame the hub put on a TV's wire for that call, in
  the hub's order, one ``websockets.broadcast`` each (a bare server sending
  the same frames).

The frames are the hub's own: one more TV connection, here, records what the
hub sent for each call (up to a PING/PONG barrier), and the baselines send
exactly those, so they follow whatever the protocol puts in a call. So each
turn is the hub's round first, then the two baselines' in random order,
each round followed by a wait until its fleet has read everything the round
sent (``Fleet.quiet``) and a jittered pause: whatever else the machine is
doing at the time weighs on all of them alike, and no round's trailing frames
fall into the next one.

``measure`` repeats the whole measurement (fresh processes each time) and
reports each percentile as min / median / max over the repetitions;
``pinned`` sizes run every server on one core (``taskset``), standing in for
a Raspberry Pi hub's slower cores, and the fleets on the other. A fleet
left free is woken by the server's writes on the server's own core (the
scheduler's wake-affine placement of a socket's reader), and there it takes
turns with the server on that core, which 500 TVs, each a machine of its
own, never do: that cost the bare one-frame server a fifth of its speed.

``python -m bench.call_fanout [--sizes 200 500 1000 2000] [--rounds 300] [--repeats 3] [--pinned 500]``
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
from typing import Any

from bench.harness import (
    TOKEN_TTL,
    Fleet,
    LoadMeter,
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
    spread,
)

COUNTER_ID = 1
ROUND_TIMEOUT = 10.0
# A pause between rounds, jittered so nothing periodic in either server lines up with the calls.
PAUSE_RANGE = (0.010, 0.030)
TICKET_MAKERS = 10
SYSTEMS = ("hub", "baseline", "baseline_3")
# The core every server gets in a pinned run, and the one the fleets get; the bench itself is left free.
PINNED_CORE = "1"
FLEET_CORE = "0"
ANNOUNCEMENT = '"TICKET_ANNOUNCEMENT"'


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
    """One system under measurement: how to make it announce a call, and its fleet."""

    name: str
    fleet: Fleet
    trigger: Callable[[list[str]], Awaitable[None]]
    last: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)

    async def round(self, frames: list[str], number: int | None, keep: bool) -> int:
        """One call; the ticket number the fleet saw announced (``number``: the one it must be)."""
        t0 = time.monotonic()
        await self.trigger(frames)
        event = await self.fleet.next_event(ROUND_TIMEOUT)
        if (event.get("event") != "round" or event["count"] != self.fleet.count
                or (number is not None and event["ticket_number"] != number)):
            raise RuntimeError(f"{self.name}, round for ticket {number}: unexpected report {event}")
        if keep:
            self.last.append(event["last"] - t0)
            self.first.append(event["first"] - t0)
        # Until the round's trailing frames have all arrived (a bare server sends the announcement first and
        # the call's other frames after it, one broadcast each): left running, they fell into the next
        # system's round and made that one slower, whichever system it was.
        await self.fleet.quiet(ROUND_TIMEOUT)
        return int(event["ticket_number"])


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

    async def call(_frames: list[str]) -> None:
        if errors:
            raise RuntimeError(f"the hub refused a call: {errors[0]}")
        await send(officer, "CALL_TICKET", {"counter_id": COUNTER_ID})

    reader = asyncio.create_task(drain())
    try:
        yield Caller("hub", fleet, call)
    finally:
        reader.cancel()
        await officer.close()


class Recorder:
    """One more TV of the hub's: what the hub put on a TV's wire for each call, for the baselines to send."""

    def __init__(self, ws: Any):
        self.ws = ws
        self._probes = 0

    async def frames_since_last(self) -> list[str]:
        """Everything received since the last call, up to a PONG (the hub answers in order)."""
        self._probes += 1
        marker = f"recorder-{self._probes}"
        await send(self.ws, "PING", {"timestamp": marker})
        frames: list[str] = []
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), ROUND_TIMEOUT)
            if '"PONG"' in frame and marker in frame:
                return frames
            frames.append(frame)


@contextlib.asynccontextmanager
async def recording_tv(hub: ServerProcess) -> AsyncIterator[Recorder]:
    token = hub.tokens().issue("tv", client_id="tv-recorder", ttl=TOKEN_TTL)
    ws = await registered_client(hub.url, token, "tv", "tv-recorder")
    try:
        recorder = Recorder(ws)
        await recorder.frames_since_last()  # the state sent on registering is not a call's
        yield recorder
    finally:
        await ws.close()


@contextlib.asynccontextmanager
async def bare_caller(server: ServerProcess, fleet: Fleet, name: str, announcement_only: bool
                      ) -> AsyncIterator[Caller]:
    """A caller handing the bare server a call's frames to broadcast in order (or its announcement alone)."""
    caller = await open_connection(server.url)
    try:
        await caller.send("caller")
        if await asyncio.wait_for(caller.recv(), ROUND_TIMEOUT) != "ok":
            raise RuntimeError("the bare server did not accept the caller")

        async def trigger(frames: list[str]) -> None:
            batch = [frame for frame in frames if ANNOUNCEMENT in frame] if announcement_only else frames
            await caller.send(batch[0] if len(batch) == 1 else json.dumps(batch, ensure_ascii=False))

        yield Caller(name, fleet, trigger)
    finally:
        await caller.close()


async def measure_size(tvs: int, rounds: int, warmup: int, cores: str | None = None) -> dict[str, Any]:
    """The hub and both baselines side by side, their rounds interleaved (the hub's first in each turn,
    then the baselines' in random order), so whatever else the machine does weighs on all alike."""
    total = rounds + warmup
    async with contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(cores=cores))
        bare = await stack.enter_async_context(running_bare_server(cores=cores))
        bare3 = await stack.enter_async_context(running_bare_server(cores=cores))
        await make_tickets(hub, total)
        fleet_cores = FLEET_CORE if cores is not None else None
        hub_fleet = await stack.enter_async_context(running_fleet(hub, tvs, cores=fleet_cores))
        bare_fleet = await stack.enter_async_context(running_fleet(bare, tvs, cores=fleet_cores))
        bare3_fleet = await stack.enter_async_context(running_fleet(bare3, tvs, cores=fleet_cores))
        recorder = await stack.enter_async_context(recording_tv(hub))
        callers = {
            "hub": await stack.enter_async_context(hub_caller(hub, hub_fleet)),
            "baseline": await stack.enter_async_context(
                bare_caller(bare, bare_fleet, "websockets.broadcast", announcement_only=True)),
            "baseline_3": await stack.enter_async_context(
                bare_caller(bare3, bare3_fleet, "websockets.broadcast x frames", announcement_only=False)),
        }
        baselines = [callers["baseline"], callers["baseline_3"]]
        frames_per_call: list[int] = []
        for index in range(total):
            keep = index >= warmup
            number = await callers["hub"].round([], None, keep)
            frames = await recorder.frames_since_last()
            if not any(ANNOUNCEMENT in frame for frame in frames):
                raise RuntimeError(f"the hub's call of ticket {number} sent a TV no TICKET_ANNOUNCEMENT: {frames}")
            frames_per_call.append(len(frames))
            await asyncio.sleep(random.uniform(*PAUSE_RANGE))
            random.shuffle(baselines)
            for caller in baselines:
                await caller.round(frames, number, keep)
                await asyncio.sleep(random.uniform(*PAUSE_RANGE))
    result: dict[str, Any] = {"tvs": tvs, "rounds": rounds, "pinned": cores is not None,
                              "frames_per_call": max(frames_per_call)}
    for key, caller in callers.items():
        result[key] = {"last": percentiles(caller.last), "first": percentiles(caller.first)}
    hub_last = result["hub"]["last"]
    for key, suffix in (("baseline", ""), ("baseline_3", "_3")):
        for p in ("p50", "p95", "p99"):
            result[f"ratio_{p}{suffix}"] = hub_last[f"{p}_ms"] / result[key]["last"][f"{p}_ms"]
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's repetitions: each system's percentiles and each ratio as min / median / max."""
    summary: dict[str, Any] = {"tvs": runs[0]["tvs"], "pinned": runs[0]["pinned"], "rounds": runs[0]["rounds"],
                               "repeats": len(runs), "frames_per_call": max(run["frames_per_call"] for run in runs)}
    for system in SYSTEMS:
        summary[system] = {f"{p}_ms": spread([run[system]["last"][f"{p}_ms"] for run in runs])
                           for p in ("p50", "p95", "p99")}
        summary[system]["first_p50_ms"] = spread([run[system]["first"]["p50_ms"] for run in runs])
    for key in [k for k in runs[0] if k.startswith("ratio_")]:
        summary[key] = spread([run[key] for run in runs])
    summary["other_cores"] = spread([run["load"]["other_cores"] for run in runs])
    return summary


async def measure(sizes: list[int], rounds: int, warmup: int, repeats: int = 3, pinned: list[int] | None = None,
                  log=progress) -> dict[str, Any]:
    raise_open_file_limit(8192)
    plan = [(tvs, None) for tvs in sizes] + [(tvs, PINNED_CORE) for tvs in pinned or []]
    runs: dict[tuple[int, str | None], list[dict[str, Any]]] = {key: [] for key in plan}
    for repeat in range(repeats):
        for tvs, cores in plan:
            log(f"call fan-out {repeat + 1}/{repeats}: {tvs} TVs{', servers on one core' if cores else ''}, "
                f"the hub and two bare websockets baselines, {rounds} rounds each ...")
            meter = LoadMeter()
            run = await measure_size(tvs, rounds, warmup, cores)
            run["load"] = meter.stop()
            runs[(tvs, cores)].append(run)
    return {"repeats": repeats, "sizes": [summarise(runs[key]) for key in plan],
            "runs": [run for key in plan for run in runs[key]]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Call fan-out latency, hub against bare websockets.broadcast")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pinned", type=int, nargs="*", default=[500],
                        help="sizes run again with every server pinned to one core")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.sizes, args.rounds, args.warmup, args.repeats, args.pinned)),
                     indent=2))


if __name__ == "__main__":
    main()
