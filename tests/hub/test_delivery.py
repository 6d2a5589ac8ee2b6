"""hub.delivery: output coalesced per connection per loop iteration, read back by real websockets clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode

from hub import delivery as fanout
from protocol import messages as m

MESSAGES = [json.dumps({"type": t, "payload": {"n": i, "text": "Mời khách hàng số 105"}}, ensure_ascii=False).encode()
            for i, t in enumerate(["CALL_TICKET", "TICKET_ANNOUNCEMENT", "QUEUE_UPDATE"])]


@dataclass
class Counter:
    frames_out: int = 0


@dataclass
class Line:
    """Real server-side connections, their clients, and every write the server made to each."""

    servers: list[ServerConnection]
    clients: list[ClientConnection]
    writes: dict[ServerConnection, list[bytes]] = field(default_factory=dict)

    def watch_writes(self) -> None:
        for ws in self.servers:
            self.writes[ws] = []
            write = ws.transport.write

            def recorded(data, ws=ws, write=write):
                self.writes[ws].append(data)
                write(data)

            ws.transport.write = recorded  # type: ignore[method-assign]

    async def received(self, client: ClientConnection, count: int) -> list[dict]:
        return [json.loads(await asyncio.wait_for(client.recv(), 5)) for _ in range(count)]

    async def nothing_more(self, client: ClientConnection) -> None:
        """Nothing else is on its way: a fresh frame sent now is the next one the client reads."""
        server = self.servers[self.clients.index(client)]
        await server.send("end")
        assert await asyncio.wait_for(client.recv(), 5) == "end"


@contextlib.asynccontextmanager
async def line_of(count: int, compression: str | None = None) -> AsyncIterator[Line]:
    arrived: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(ws):
        await arrived.put(ws)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        servers, clients = [], []
        for _ in range(count):
            # One at a time: servers[i] is the server side of clients[i].
            clients.append(await connect(f"ws://127.0.0.1:{port}", compression=compression))
            servers.append(await asyncio.wait_for(arrived.get(), 5))
        try:
            yield Line(servers, clients)
        finally:
            for client in clients:
                await client.close()


def messages_in(data: bytes) -> list[dict]:
    """The messages of one write: unmasked text frames, as a server writes them, one after another."""
    messages = []
    while data:
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(data[2:10], "big"), 10
        assert data[0] == 0x81, "a final text frame"
        messages.append(json.loads(data[start:start + length]))
        data = data[start + length:]
    return messages


def queue_update(counter_id: int, waiting: int) -> m.QueueUpdate:
    return m.QueueUpdate(m.QueueUpdatePayload(counter_id=counter_id, current_number=None, waiting_count=waiting,
                                              next_numbers=[], average_wait_time=5, counter_name=f"Quầy {counter_id}"))


def pong(stamp: str) -> m.Pong:
    return m.Pong(m.PongPayload(timestamp=stamp))


def alert(text: str) -> m.AnnouncementOut:
    return m.AnnouncementOut(m.AnnouncementOutPayload(
        message=text, priority="medium", duration=30, target_displays=[], announcement_id=1, sent_by="admin",
        timestamp="2026-12-01T08:00:00.000Z"))


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_the_bytes_websockets_frames_it_as(length):
    """The hub writes frame headers itself (hub.delivery.text_frame): each length form as websockets' own."""
    payload = b"x" * length
    assert fanout.text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_several_messages_in_one_write_arrive_as_separate_messages(compression):
    """Without extensions the shared bytes are written; with deflate each connection frames its own."""
    async with line_of(3, compression) as line:
        data = b"".join(fanout.text_frame(p) for p in MESSAGES)
        assert fanout.write_frames(line.servers, data, MESSAGES) == 3
        for client in line.clients:
            received = [await asyncio.wait_for(client.recv(), 5) for _ in MESSAGES]
            assert [r.encode() for r in received] == MESSAGES
        # A closed connection is skipped, the others still get theirs.
        await line.clients[0].close()
        await asyncio.wait_for(line.servers[0].wait_closed(), 5)
        assert fanout.write_frames(line.servers, data, MESSAGES) == 2
        for client in line.clients[1:]:
            assert (await asyncio.wait_for(client.recv(), 5)).encode() == MESSAGES[0]


async def test_everything_sent_in_one_iteration_reaches_each_connection_in_one_write_in_order():
    counter = Counter()
    delivery = fanout.Delivery(counter)
    async with line_of(4) as line:
        tvs, officer = set(line.servers[:3]), line.servers[3]
        line.watch_writes()
        # What two calls and a ticket send in one iteration: plans, a broadcast, an answer of one's own.
        delivery.deliver((tvs, alert("một")), (tvs | {officer}, alert("hai")))
        delivery.send(officer, alert("riêng"))
        delivery.broadcast(tvs, alert("ba"))
        delivery.deliver((tvs | {officer}, alert("bốn")))
        assert all(writes == [] for writes in line.writes.values())  # nothing written yet: all at the flush
        await asyncio.sleep(0)  # the flush runs in the next iteration
        assert {len(writes) for writes in line.writes.values()} == {1}

        for client in line.clients[:3]:
            got = await line.received(client, 4)
            assert [g["payload"]["message"] for g in got] == ["một", "hai", "ba", "bốn"]
        got = await line.received(line.clients[3], 3)
        assert [g["payload"]["message"] for g in got] == ["hai", "riêng", "bốn"]
        assert counter.frames_out == 3 * 4 + 3
        # The TVs got the same messages: one joined buffer, the very same bytes, written to each.
        first, *others = (line.writes[ws][0] for ws in line.servers[:3])
        assert all(other is first for other in others)
        assert line.writes[officer][0] is not first


async def test_only_the_latest_queue_update_per_counter_is_written_but_never_across_a_pong():
    counter = Counter()
    delivery = fanout.Delivery(counter)
    async with line_of(2) as line:
        everyone = set(line.servers)
        delivery.broadcast(everyone, queue_update(1, waiting=1))
        delivery.broadcast(everyone, alert("vé 2"))
        delivery.broadcast(everyone, queue_update(2, waiting=7))
        delivery.broadcast(everyone, queue_update(1, waiting=2))
        # The second connection asked PING meanwhile: what came before its PONG stays before it.
        delivery.send(line.servers[1], pong("t1"))
        delivery.broadcast(everyone, queue_update(1, waiting=3))
        await asyncio.sleep(0)

        got = await line.received(line.clients[0], 3)
        assert [(g["type"], g["payload"].get("counter_id"), g["payload"].get("waiting_count")) for g in got] == [
            ("ANNOUNCEMENT", None, None), ("QUEUE_UPDATE", 2, 7), ("QUEUE_UPDATE", 1, 3)]
        await line.nothing_more(line.clients[0])
        got = await line.received(line.clients[1], 5)
        assert [(g["type"], g["payload"].get("counter_id"), g["payload"].get("waiting_count")) for g in got] == [
            ("ANNOUNCEMENT", None, None), ("QUEUE_UPDATE", 2, 7), ("QUEUE_UPDATE", 1, 2), ("PONG", None, None),
            ("QUEUE_UPDATE", 1, 3)]
        await line.nothing_more(line.clients[1])
        assert counter.frames_out == 3 + 5


async def test_recipients_are_taken_when_sent_and_a_connection_closed_before_the_flush_is_skipped():
    counter = Counter()
    delivery = fanout.Delivery(counter)
    async with line_of(3) as line:
        # A connection still open when addressed, closing by the time of the flush (its close was asked
        # for first, so it starts first): it gets nothing more, the others still do.
        closing = asyncio.create_task(line.servers[1].close())
        audience = {line.servers[0], line.servers[1]}
        delivery.broadcast(audience, alert("trước"))
        audience.add(line.servers[2])  # registered after the message was sent: it does not get it
        delivery.broadcast(audience, alert("sau"))
        await closing

        got = await line.received(line.clients[0], 2)
        assert [g["payload"]["message"] for g in got] == ["trước", "sau"]
        got = await line.received(line.clients[2], 1)
        assert [g["payload"]["message"] for g in got] == ["sau"]
        assert counter.frames_out == 2 + 1



class SlowSockets:
    """The delivery's clock, where every socket write takes 20 ms: what hundreds of TVs cost, with two."""

    def __init__(self, monkeypatch):
        self.extra = 0.0
        write_frames = fanout.write_frames

        def slow_write(*args):
            self.extra += 0.020
            return write_frames(*args)

        monkeypatch.setattr(fanout, "write_frames", slow_write)
        monkeypatch.setattr(fanout, "time", self)

    def monotonic(self) -> float:
        return time.monotonic() + self.extra


async def test_after_a_costly_flush_broadcasts_wait_their_turn_but_an_answer_does_not(monkeypatch):
    SlowSockets(monkeypatch)
    counter = Counter()
    delivery = fanout.Delivery(counter)
    async with line_of(2) as line:
        tv, kiosk = line.servers
        delivery.pace(tv)
        line.watch_writes()
        delivery.broadcast({tv, kiosk}, queue_update(1, waiting=1))
        await asyncio.sleep(0)  # the first flush, 40 ms of writes: the next broadcast-only one waits as long
        assert [len(line.writes[ws]) for ws in (tv, kiosk)] == [1, 1]

        # Two tickets meanwhile: their state for everyone, and the kiosk's own answer.
        delivery.broadcast({tv, kiosk}, queue_update(1, waiting=2))
        delivery.send(kiosk, alert("vé của bạn"))
        delivery.broadcast({tv, kiosk}, queue_update(1, waiting=3))
        await asyncio.sleep(0)
        # The kiosk's answer went at once, with everything it had pending (the counter's latest state
        # only); the TV, a board, waits.
        assert [len(line.writes[ws]) for ws in (tv, kiosk)] == [1, 2]
        got = await line.received(line.clients[1], 3)
        assert [(g["type"], g["payload"].get("waiting_count")) for g in got] == [
            ("QUEUE_UPDATE", 1), ("ANNOUNCEMENT", None), ("QUEUE_UPDATE", 3)]

        # Then the paced flush: the TV gets the counter's latest state, once.
        got = await line.received(line.clients[0], 2)
        assert [(g["type"], g["payload"].get("waiting_count")) for g in got] == [
            ("QUEUE_UPDATE", 1), ("QUEUE_UPDATE", 3)]
        assert [len(line.writes[ws]) for ws in (tv, kiosk)] == [2, 2]
        for client in line.clients:
            await line.nothing_more(client)


def announcement(number: int) -> m.TicketAnnouncement:
    return m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=number, counter_id=1, counter_name="Quầy 1", announcement_text=f"Mời số {number} đến quầy 1",
        audio_url=None, display_duration=10))


async def test_a_call_is_not_held_by_the_pacing_and_takes_what_was_held_with_it(monkeypatch):
    SlowSockets(monkeypatch)
    delivery = fanout.Delivery(Counter())
    async with line_of(2) as line:
        line.watch_writes()
        tvs = set(line.servers)
        for tv in tvs:
            delivery.pace(tv)
        delivery.broadcast(tvs, queue_update(1, waiting=1))
        await asyncio.sleep(0)  # a costly flush: broadcasts are held for a while now
        delivery.broadcast(tvs, queue_update(1, waiting=2))
        await asyncio.sleep(0)
        assert [len(line.writes[ws]) for ws in line.servers] == [1, 1]  # held

        delivery.broadcast(tvs, announcement(105))
        await asyncio.sleep(0)
        # The call went in the next iteration, to every TV, after the state it had been holding.
        assert [len(line.writes[ws]) for ws in line.servers] == [2, 2]
        for client in line.clients:
            got = await line.received(client, 3)
            assert [(g["type"], g["payload"].get("waiting_count", g["payload"].get("ticket_number")))
                    for g in got] == [("QUEUE_UPDATE", 1), ("QUEUE_UPDATE", 2), ("TICKET_ANNOUNCEMENT", 105)]
            await line.nothing_more(client)


async def test_a_call_s_announcement_ends_a_write_of_its_own_and_what_came_with_it_follows(monkeypatch):
    SlowSockets(monkeypatch)
    delivery = fanout.Delivery(Counter())
    async with line_of(3) as line:
        tv1, tv2, officer = line.servers
        line.watch_writes()
        for tv in (tv1, tv2):
            delivery.pace(tv)
        boards = {tv1, tv2}
        delivery.broadcast(boards, queue_update(1, waiting=1))
        await asyncio.sleep(0)  # a costly flush: broadcasts are held for a while now
        delivery.broadcast(boards, queue_update(1, waiting=2))
        await asyncio.sleep(0)
        assert [len(line.writes[ws]) for ws in (tv1, tv2)] == [1, 1]  # held

        # A call, as the hub sends one: the announcement, then what comes with it, for the boards and the officer.
        delivery.broadcast(boards | {officer}, announcement(105))
        delivery.broadcast(boards | {officer}, alert("quầy 1 gọi số 105"))
        delivery.broadcast(boards | {officer}, queue_update(1, waiting=1))
        await asyncio.sleep(0)
        for tv, client in zip((tv1, tv2), line.clients[:2], strict=True):
            # Two writes: what was held and the announcement, which ends the first; then the rest.
            first, second = line.writes[tv][1:]
            assert [g["type"] for g in messages_in(first)] == ["QUEUE_UPDATE", "TICKET_ANNOUNCEMENT"]
            assert [g["type"] for g in messages_in(second)] == ["ANNOUNCEMENT", "QUEUE_UPDATE"]
            got = await line.received(client, 5)
            assert [(g["type"], g["payload"].get("waiting_count", g["payload"].get("ticket_number")))
                    for g in got] == [("QUEUE_UPDATE", 1), ("QUEUE_UPDATE", 2), ("TICKET_ANNOUNCEMENT", 105),
                                      ("ANNOUNCEMENT", None), ("QUEUE_UPDATE", 1)]
            await line.nothing_more(client)
        # The officer is not a board: one write, the three in order.
        assert len(line.writes[officer]) == 1
        got = await line.received(line.clients[2], 3)
        assert [g["type"] for g in got] == ["TICKET_ANNOUNCEMENT", "ANNOUNCEMENT", "QUEUE_UPDATE"]
        await line.nothing_more(line.clients[2])


async def test_a_board_with_a_message_of_its_own_is_not_held_and_a_change_of_tier_keeps_the_order(monkeypatch):
    SlowSockets(monkeypatch)
    delivery = fanout.Delivery(Counter())
    async with line_of(2) as line:
        tv, other = line.servers
        line.watch_writes()
        # Not yet a board (a TV between AUTH and REGISTER_CLIENT): what it has pending goes before it becomes one.
        delivery.send(tv, alert("trước khi đăng ký"))
        delivery.pace(tv)
        delivery.pace(other)
        assert len(line.writes[tv]) == 1
        delivery.broadcast({tv, other}, queue_update(1, waiting=1))
        await asyncio.sleep(0)  # a costly flush: the boards are held for a while now
        delivery.broadcast({tv, other}, queue_update(2, waiting=1))
        delivery.send(tv, pong("t1"))
        await asyncio.sleep(0)
        # The TV's PONG went in the next iteration, after what was held for it; the other board waits.
        assert [len(line.writes[ws]) for ws in (tv, other)] == [3, 1]
        got = await line.received(line.clients[0], 4)
        assert [g["type"] for g in got] == ["ANNOUNCEMENT", "QUEUE_UPDATE", "QUEUE_UPDATE", "PONG"]
        assert got[2]["payload"]["counter_id"] == 2
        # A board that stops being one gets what was held for it at once, before anything sent later.
        delivery.broadcast({tv, other}, queue_update(3, waiting=1))
        delivery.unpace(other)
        delivery.send(other, alert("sau"))
        await asyncio.sleep(0)
        got = await line.received(line.clients[1], 4)
        assert [(g["type"], g["payload"].get("counter_id")) for g in got] == [
            ("QUEUE_UPDATE", 1), ("QUEUE_UPDATE", 2), ("QUEUE_UPDATE", 3), ("ANNOUNCEMENT", None)]
        await line.nothing_more(line.clients[1])


async def test_under_load_the_others_hear_broadcasts_at_most_every_interval_but_their_own_at_once():
    delivery = fanout.Delivery(Counter())
    async with line_of(3) as line:
        asking, watching, officer = line.servers
        line.watch_writes()
        everyone = set(line.servers)
        delivery.broadcast(everyone, queue_update(1, waiting=1))
        await asyncio.sleep(0)
        assert [len(line.writes[ws]) for ws in line.servers] == [1, 1, 1]  # the first: at once

        # A burst: states for everyone and an answer for one kiosk, sooner than OTHERS_EVERY after that write.
        delivery.broadcast(everyone, queue_update(1, waiting=2))
        delivery.send(asking, alert("vé của bạn"))
        delivery.broadcast(everyone, queue_update(1, waiting=3))
        await asyncio.sleep(0)
        # The kiosk with an answer got it at once, with everything it had pending (the counter's latest
        # state once); the others wait.
        assert [len(line.writes[ws]) for ws in line.servers] == [2, 1, 1]
        got = await line.received(line.clients[0], 3)
        assert [(g["type"], g["payload"].get("waiting_count")) for g in got] == [
            ("QUEUE_UPDATE", 1), ("ANNOUNCEMENT", None), ("QUEUE_UPDATE", 3)]

        # At the end of the interval, the others: the counter's latest state, once.
        for client in line.clients[1:]:
            got = await line.received(client, 2)
            assert [g["payload"]["waiting_count"] for g in got] == [1, 3]
        assert [len(line.writes[ws]) for ws in line.servers] == [2, 2, 2]

        # A call is written to everyone at once, paced or not.
        delivery.broadcast(everyone, queue_update(2, waiting=1))
        await asyncio.sleep(0)
        assert [len(line.writes[ws]) for ws in line.servers] == [2, 2, 2]  # paced
        delivery.broadcast(everyone, announcement(106))
        await asyncio.sleep(0)
        assert [len(line.writes[ws]) for ws in line.servers] == [3, 3, 3]
        for client in line.clients:
            got = await line.received(client, 2)
            assert [g["type"] for g in got] == ["QUEUE_UPDATE", "TICKET_ANNOUNCEMENT"]
            await line.nothing_more(client)


async def test_a_counter_state_is_built_once_when_written_and_a_failing_one_costs_only_itself(caplog):
    delivery = fanout.Delivery(Counter())
    waiting = {"count": 0}
    builds: list[int] = []

    def state_of_counter_1() -> m.QueueUpdate:
        builds.append(waiting["count"])
        return queue_update(1, waiting=waiting["count"])

    def broken() -> m.QueueUpdate:
        raise RuntimeError("injected")

    async with line_of(1) as line:
        for _ in range(10):  # a burst of ten tickets for counter 1, each sending its counter's state
            waiting["count"] += 1
            delivery.broadcast(line.servers, fanout.CounterState(1, state_of_counter_1))
        delivery.broadcast(line.servers, fanout.CounterState(2, broken))
        delivery.send(line.servers[0], alert("vẫn đến"))
        await asyncio.sleep(0)
        # Built once, when written, from the state then; the counter whose state could not be built is
        # left out (and logged), and what came after it still arrives.
        assert builds == [10]
        got = await line.received(line.clients[0], 2)
        assert [(g["type"], g["payload"].get("waiting_count")) for g in got] == [
            ("QUEUE_UPDATE", 10), ("ANNOUNCEMENT", None)]
        assert "could not build the QUEUE_UPDATE of counter 2" in caplog.text
        await line.nothing_more(line.clients[0])


async def test_every_board_is_the_boards_when_sent_and_shares_their_writes(monkeypatch):
    SlowSockets(monkeypatch)
    counter = Counter()
    delivery = fanout.Delivery(counter)
    async with line_of(4) as line:
        tv1, tv2, kiosk, late = line.servers
        delivery.pace(tv1)
        delivery.pace(tv2)
        line.watch_writes()
        for number in (1, 2, 3):  # three tickets' news for the boards and the kiosk
            delivery.deliver((fanout.EveryBoard({kiosk}), alert(f"vé {number}")))
        delivery.pace(late)  # a TV registered after they were sent does not get them
        await asyncio.sleep(0)
        # One write each, the three messages in order; the late TV got nothing.
        assert [len(line.writes[ws]) for ws in (tv1, tv2, kiosk, late)] == [1, 1, 1, 0]
        for client in line.clients[:3]:
            got = await line.received(client, 3)
            assert [g["payload"]["message"] for g in got] == ["vé 1", "vé 2", "vé 3"]
        assert counter.frames_out == 9
        # The boards are held now (that flush was costly); a board that leaves gets what was held for it first.
        delivery.deliver((fanout.EveryBoard(), alert("vé 4")))
        delivery.unpace(tv2)
        delivery.send(tv2, alert("sau"))
        await asyncio.sleep(0)
        got = await line.received(line.clients[1], 2)
        assert [g["payload"]["message"] for g in got] == ["vé 4", "sau"]
        assert [len(line.writes[ws]) for ws in (tv1, late)] == [1, 0]  # still held
        delivery.flush()
        assert [g["payload"]["message"] for g in await line.received(line.clients[0], 1)] == ["vé 4"]
        assert [g["payload"]["message"] for g in await line.received(line.clients[3], 1)] == ["vé 4"]
        for client in line.clients:
            await line.nothing_more(client)
