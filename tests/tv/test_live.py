"""A real TV against a real hub on loopback: SDL's dummy video driver, its disk audio driver.

The hub runs on the test's event loop; the TV's hub client runs its own loop
in its own thread, as on the Pi; the test drives the TV's frame loop one frame
at a time (``TvApp.step()``), with ``await asyncio.sleep`` in between so the
hub keeps running. What the TV drew is checked in its pixels, what it said in
the samples SDL's disk driver wrote.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402
from support import REPO_ROOT, HallHarness, HubRig, start_hub  # noqa: E402
from support.capture import CountingEngine  # noqa: E402
from support.tiny_voice import write_tiny_voice  # noqa: E402

from audio import Call  # noqa: E402
from audio.clip import AudioClip  # noqa: E402
from audio.engines import EspeakEngine, PiperEngine, SilentEngine  # noqa: E402
from display.fonts import find_fonts  # noqa: E402
from display.text_cache import TextCache  # noqa: E402
from hub.server import Hub  # noqa: E402
from hub.site_config import DisplayConfig, sample_site  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.client import HubClientConfig, ThreadedHubClient  # noqa: E402
from tv_node.app import DisplayScreen, OffscreenScreen, Screen, TvApp  # noqa: E402
from tv_node.render import Placement  # noqa: E402
from tv_node.speech import AnnouncerSpeaker, RecordingSpeaker, Speaker  # noqa: E402
from tv_node.view import CONNECTION_LOST_TEXT, NO_SHOW_TEXT, PAUSED_TEXT, PRIORITY_TEXT, TvView  # noqa: E402

# How long a wait may take before the test fails with a message; not a speed requirement.
WAIT = 20.0
SIZE = (1280, 720)
LOUD = 200  # a sample louder than this is sound, not silence


@pytest.fixture(scope="module")
def fonts() -> TextCache:
    return TextCache(find_fonts())


@pytest.fixture
def sdl(tmp_path, monkeypatch) -> Path:
    """SDL without a screen or a sound card: frames go nowhere, sound goes to a file (returned)."""
    capture = tmp_path / "hall-speaker.raw"
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(capture))
    # Milliseconds per audio buffer: faster than real time, the same samples.
    monkeypatch.setenv("SDL_DISKAUDIODELAY", "10")
    pygame.mixer.quit()
    pygame.display.quit()
    yield capture
    pygame.mixer.quit()
    pygame.display.quit()


class LiveTv:
    """A TvApp on a ThreadedHubClient, and every view its frames built."""

    def __init__(self, app: TvApp, client: ThreadedHubClient):
        self.app = app
        self.client = client
        self.views: list[TvView] = []

    @property
    def view(self) -> TvView:
        assert self.app.view is not None
        return self.app.view

    def step(self) -> bool:
        changed = self.app.step()
        self.views.append(self.view)
        return changed

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> None:
        """Run frames until ``predicate()`` holds; fail saying ``what`` did not happen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.step()
            if predicate():
                return
            if loop.time() >= deadline:
                raise AssertionError(f"{self.client.config.client_id}: {what}: not within {timeout}s; "
                                     f"last view: {self.app.view}")
            await asyncio.sleep(0.01)

    async def wait_for_mirror(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> None:
        """Wait for the hub client's mirror alone, drawing no frame."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(f"{what}: not within {timeout}s")
            await asyncio.sleep(0.01)

    def row(self, queue_id: int):
        return next(r for r in self.view.rows if r.queue_id == queue_id)

    def desk(self, counter_id: int):
        return next(d for r in self.view.rows for d in r.desks if d.counter_id == counter_id)

    def banners(self) -> list[str]:
        return [b.message for b in self.view.announcements]


class TvRig(HubRig):
    def __init__(self, data_dir: Path, fonts: TextCache):
        super().__init__(data_dir)
        self.fonts = fonts
        self.tvs: list[LiveTv] = []
        self.screens: list[Screen] = []

    def tv(self, hub: Hub, client_id: str, *, display: bool = True, speaker: Speaker | None = None,
           screenshot: Path | None = None, reconnect_delay: float = 0.1, location: str = "sảnh chính") -> LiveTv:
        token = hub.tokens.issue("tv", client_id=client_id, ttl=timedelta(hours=1))
        client = ThreadedHubClient(HubClientConfig(
            url=f"ws://127.0.0.1:{hub.port}/ws", token=token, client_type="tv", client_id=client_id,
            location=location, reconnect_delay=reconnect_delay))
        # One window per process (SDL): a second TV in the same test draws off screen.
        screen: Screen = DisplayScreen(SIZE, fullscreen=False) if display else OffscreenScreen(SIZE)
        self.screens.append(screen)
        app = TvApp(client, screen, self.fonts, speaker if speaker is not None else RecordingSpeaker(),
                    screenshot=screenshot, windowed=True)
        client.start()
        tv = LiveTv(app, client)
        self.tvs.append(tv)
        return tv

    async def close(self) -> None:
        for tv in self.tvs:
            # stop() joins the thread; off the event loop, so the hub can answer the close handshake.
            await asyncio.to_thread(tv.client.stop)
            await asyncio.to_thread(tv.app.close)
        await self.close_hubs()
        for screen in self.screens:
            if isinstance(screen, DisplayScreen):
                screen.close()


@pytest.fixture
async def rig(tmp_path, sdl, fonts):
    rig = TvRig(tmp_path / "data", fonts)
    yield rig
    await rig.close()


def drawn(screen: pygame.Surface, fonts: TextCache, placement: Placement) -> bool:
    """The placement's text is on the screen where the renderer says: every solid pixel of its glyphs is there."""
    text = fonts.render(placement.text, placement.size, placement.color, placement.bold)
    solid = pygame.surfarray.array_alpha(text) == 255
    assert solid.sum() > 20, f"{placement.text!r} has hardly any solid pixels to check"
    area = pygame.surfarray.array3d(screen.subsurface(placement.rect))
    return bool((area[solid] == np.array(placement.color)).all())


def shown(tv: LiveTv, text: str, region: str) -> Placement:
    """The one placement of ``text`` in ``region``, checked against the screen's pixels."""
    pieces = [p for p in tv.app.renderer.placements(text) if p.region == region]
    assert len(pieces) == 1, (text, region, tv.app.renderer.placements(text))
    assert drawn(tv.app.screen.surface, tv.app.fonts, pieces[0]), f"{text!r} is not in the pixels of {region}"
    return pieces[0]


async def ready(tv: LiveTv) -> None:
    await tv.until(lambda: tv.view.has_state and not tv.view.connection_lost, "registered and drew the hall")


async def take_ticket(harness: HallHarness, counter_id: int | None = None, **request: Any) -> int:
    """A ticket from a kiosk: for a counter's first queue, or as ``request`` says (queue_id, priority...)."""
    kiosk = await harness.client("kiosk")
    if counter_id is not None:
        request["counter_id"] = counter_id
    await kiosk.send("TICKET_CREATED", {**request, "request_id": f"live-{id(kiosk)}"})
    return (await kiosk.expect("TICKET_CREATED"))["ticket_number"]


def loud_span(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first to the last sample that is not silence."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > LOUD)
    return 0.0 if not len(loud) else (loud[-1] + 1 - loud[0]) / rate


# --- a call: seen and heard ------------------------------------------------------------------


async def test_a_call_is_drawn_in_the_next_frame_and_heard(rig, sdl, tmp_path):
    hub = await rig.start_hub()
    speaker = AnnouncerSpeaker("espeak", dialect="standard", repeat=1, chime=True, cache_dir=tmp_path / "speech")
    assert isinstance(speaker.engine, EspeakEngine)  # espeak-ng is installed: the test is not silent by accident
    screenshot = tmp_path / "screen.png"
    tv = rig.tv(hub, "tv-hall", speaker=speaker, screenshot=screenshot)
    await ready(tv)
    # The SNAPSHOT's template and counters went to the phrase cache: a call to any counter is in pieces ahead.
    assert await asyncio.to_thread(speaker.phrases.wait_warm, WAIT)
    for counter in hub.site.counters:
        assert speaker.phrases.missing_pieces(Call(2001, counter.name, counter.id, counter.number)) == []
    idle = tv.app.screen.surface.copy()
    idle_call_panel = pygame.image.tobytes(idle.subsurface(tv.app.renderer.region("call")), "RGB")

    harness = rig.harness(hub)
    number = await take_ticket(harness, 2)
    officer = await harness.client("officer", counter_id=2)
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    # The hub sends CALL_TICKET, TICKET_ANNOUNCEMENT, then the counter's QUEUE_UPDATE.
    await tv.wait_for_mirror(lambda: any(c.ticket_number == number for c in tv.client.state.recent_calls)
                             and tv.client.state.counters[2].current_number == number,
                             "the call reached the TV's hub client")

    # Within two frames of arriving: here, the very next one.
    tv.step()
    assert [(c.ticket_number, c.counter_id) for c in tv.view.calls] == [(number, 2)]
    assert tv.row(2).called and tv.desk(2).serving == str(number)
    shown(tv, str(number), "call")
    shown(tv, "ĐẾN QUẦY SỐ 2", "call")
    shown(tv, "Tư pháp - Hộ tịch", "call")
    shown(tv, str(number), "row:2")
    now_call_panel = pygame.image.tobytes(tv.app.screen.surface.subsurface(tv.app.renderer.region("call")), "RGB")
    assert now_call_panel != idle_call_panel
    # --screenshot wrote that frame.
    saved = pygame.image.load(str(screenshot))
    assert pygame.image.tobytes(saved, "RGB") == pygame.image.tobytes(tv.app.screen.surface, "RGB")

    # Heard: chime and speech, played off the frame loop; frames keep running meanwhile.
    def finished():
        return [e for e in speaker.announcer.events if e.kind == "finished"]

    await tv.until(finished, "the announcement was played")
    assert [e.kind for e in speaker.announcer.events if e.kind in ("started", "speech", "finished")] == \
        ["started", "speech", "finished"]
    speech = [e for e in speaker.announcer.events if e.kind == "speech"][0]
    assert number == 2001  # counter 2's first number of the day
    assert speech.text == "Mời khách hàng số hai nghìn không trăm lẻ một đến quầy số hai"
    assert speech.cached  # joined from the pieces warmed at the SNAPSHOT
    rate = speaker.announcer.mixer_format[0]
    expected = speaker.announcer.full_clip(Call(number, "Tư pháp - Hộ tịch", 2, 2), sample_rate=rate)
    await asyncio.to_thread(speaker.stop)  # closes the mixer: the capture file is complete
    captured = np.fromfile(sdl, dtype=np.int16)
    assert np.abs(captured.astype(np.int32)).max() > 5 * LOUD  # not silent
    heard, wanted = loud_span(captured, rate), loud_span(expected.samples(), rate)
    assert wanted > 2.0  # chime and a sentence
    assert heard == pytest.approx(wanted, abs=0.1), (heard, wanted)


async def test_speech_never_runs_on_the_frame_loop(rig, sdl, tmp_path):
    release = threading.Event()
    synthesized_on: list[str] = []

    class HeldEngine(SilentEngine):
        """Speaks a short tone, but only once released: a slow CPU, as slow as the test wants."""

        name = "held"
        speaks = True

        @property
        def cache_id(self) -> str:
            return "held"

        def synthesize(self, text: str) -> AudioClip:
            synthesized_on.append(threading.current_thread().name)
            release.wait(WAIT)
            t = np.arange(2205) / 22050
            return AudioClip.from_samples(0.5 * np.sin(2 * np.pi * 440 * t), 22050)

    speaker = AnnouncerSpeaker(engine=HeldEngine(), repeat=1, chime=False, cache_dir=tmp_path / "speech")
    hub = await rig.start_hub()
    tv = rig.tv(hub, "tv-hall", speaker=speaker)
    try:
        await ready(tv)  # the SNAPSHOT asked for the counter names to be synthesized: held, and frames still run
        harness = rig.harness(hub)
        number = await take_ticket(harness, 1)
        officer = await harness.client("officer", counter_id=1)
        await officer.send("CALL_TICKET", {"counter_id": 1})
        await tv.until(lambda: tv.view.calls and tv.view.calls[0].ticket_number == number, "the call is drawn")
        frames = tv.app.frames
        for _ in range(5):
            tv.step()
        assert tv.app.frames == frames + 5
        assert not release.is_set() and speaker.announcer.pending == 1
        assert synthesized_on and threading.main_thread().name not in synthesized_on
    finally:
        release.set()


# --- what else the hall sees ---------------------------------------------------------------------


async def test_a_paused_counter_shows_paused_and_its_reason(rig):
    hub = await rig.start_hub()
    speaker = RecordingSpeaker()
    tv = rig.tv(hub, "tv-hall", speaker=speaker)
    await ready(tv)
    assert speaker.started
    assert speaker.prewarmed == [tuple(c.name for c in hub.site.counters)]
    assert speaker.counter_numbers == [tuple(c.number for c in hub.site.counters)]
    assert speaker.queue_names == [tuple(q.name for q in hub.site.queues)]
    assert speaker.templates == [m.DEFAULT_ANNOUNCEMENT_TEMPLATE]  # the sample site's, from the SNAPSHOT
    assert not tv.row(3).paused
    assert tv.app.renderer.placements(PAUSED_TEXT) == []

    admin = await rig.harness(hub).client("admin")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "paused", "reason": "Nghỉ trưa"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    await tv.until(lambda: tv.row(3).paused, "counter 3 paused")
    assert tv.row(3).reason == "Nghỉ trưa"
    shown(tv, PAUSED_TEXT, "row:3")
    shown(tv, "Nghỉ trưa", "row:3")
    assert [p.region for p in tv.app.renderer.placements(PAUSED_TEXT)] == ["row:3"]

    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "active"})
    await tv.until(lambda: not tv.row(3).paused, "counter 3 resumed")
    assert tv.app.renderer.placements(PAUSED_TEXT) == []
    assert speaker.announced == []  # a pause is not spoken


async def test_a_targeted_announcement_reaches_only_its_tvs(rig):
    hub = await rig.start_hub()
    entrance = rig.tv(hub, "tv-entrance")
    upstairs = rig.tv(hub, "tv-upstairs", display=False)
    await ready(entrance)
    await ready(upstairs)
    admin = await rig.harness(hub).client("admin")
    await admin.send("ANNOUNCEMENT", {"message": "Quầy 2 chuyển lên tầng 2", "priority": "high", "duration": 120,
                                      "target_displays": ["tv-entrance"]})
    await admin.expect("ANNOUNCEMENT")
    # Then one for every TV: when it has reached a TV, so would the first, had it been sent there.
    await admin.send("ANNOUNCEMENT", {"message": "Xin giữ trật tự", "priority": "low", "duration": 120})
    await admin.expect("ANNOUNCEMENT")

    await entrance.until(lambda: entrance.banners() == ["Quầy 2 chuyển lên tầng 2", "Xin giữ trật tự"],
                         "both announcements, high priority first")
    shown(entrance, "Quầy 2 chuyển lên tầng 2", "banner")
    await upstairs.until(lambda: upstairs.banners() == ["Xin giữ trật tự"], "the announcement for every TV")
    assert not any("Quầy 2 chuyển lên tầng 2" in [b.message for b in v.announcements] for v in upstairs.views)
    assert upstairs.app.renderer.placements("Quầy 2 chuyển lên tầng 2") == []
    shown(upstairs, "Xin giữ trật tự", "banner")


async def test_the_tv_stays_current_across_a_hub_restart(rig):
    hub = await rig.start_hub()
    port = hub.port
    speaker = RecordingSpeaker()
    tv = rig.tv(hub, "tv-hall", speaker=speaker, reconnect_delay=0.5)
    await ready(tv)
    harness = rig.harness(hub)
    first = await take_ticket(harness, 1)
    officer = await harness.client("officer", counter_id=1)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await tv.until(lambda: tv.desk(1).serving == str(first), "the first call")
    rows_before = tv.view.rows
    assert tv.app.renderer.placements(CONNECTION_LOST_TEXT) == []

    await harness.close_all()
    await rig.stop_hub(hub)
    await tv.until(lambda: tv.view.connection_lost, "the lost hub is marked")
    shown(tv, CONNECTION_LOST_TEXT, "mark")
    assert tv.view.rows == rows_before  # the last known state stays

    new_hub = await rig.start_hub(port=port)
    new_harness = rig.harness(new_hub)
    second = await take_ticket(new_harness, 1)
    officer = await new_harness.client("officer", counter_id=1)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    admin = await new_harness.client("admin")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Mất điện"})
    await admin.expect("COUNTER_STATUS_UPDATE")

    await tv.until(lambda: not tv.view.connection_lost and tv.desk(1).serving == str(second) and tv.desk(2).paused,
                   "back, with the new call and the pause")
    assert tv.app.renderer.placements(CONNECTION_LOST_TEXT) == []
    # Counter 2 paused, counter 5 still serves line 2: said at counter 2's desk.
    assert not tv.row(2).paused
    shown(tv, str(second), "row:1")
    shown(tv, PAUSED_TEXT, "row:2")
    # The second call is within its display time: highlighted, whether it came live or in the SNAPSHOT.
    assert tv.view.calls[0].ticket_number == second
    shown(tv, str(second), "call")
    # Each registration's SNAPSHOT warmed the counter names again.
    assert len(speaker.prewarmed) == 2


# --- the hall's real queue: counter numbers, priority, shared lines, rooms, the serving lifecycle ----------


async def test_a_priority_call_names_the_counters_number_and_is_marked_on_the_panel_and_in_the_list(rig):
    hub = await rig.start_hub()
    tv = rig.tv(hub, "tv-hall")
    await ready(tv)
    harness = rig.harness(hub)
    elderly = await take_ticket(harness, queue_id=2, priority=True, priority_reason="elderly")
    at_5 = await harness.client("officer", counter_id=5)
    await at_5.send("CALL_TICKET", {"counter_id": 5})
    await at_5.expect("CALL_TICKET")
    await tv.until(lambda: tv.view.calls and tv.view.calls[0].ticket_number == elderly and tv.desk(5).called,
                   "the priority call drawn")
    card = tv.view.calls[0]
    assert (card.counter_number, card.priority, card.counter_name) == (5, True, "Tư pháp - Hộ tịch")
    shown(tv, PRIORITY_TEXT, "call")
    shown(tv, str(elderly), "call")
    shown(tv, "ĐẾN QUẦY SỐ 5", "call")
    assert tv.desk(5).priority
    # A normal call to counter 1 takes the panel; the priority one stays in the list, still marked.
    normal = await take_ticket(harness, queue_id=1)
    at_1 = await harness.client("officer", counter_id=1)
    await at_1.send("CALL_TICKET", {"counter_id": 1})
    await tv.until(lambda: [c.ticket_number for c in tv.view.calls] == [normal, elderly], "both calls drawn")
    shown(tv, "ĐẾN QUẦY SỐ 1", "call")
    shown(tv, "Quầy 5", "call")
    mark = shown(tv, PRIORITY_TEXT, "call")  # one mark: the list's
    listed = shown(tv, str(elderly), "call")
    assert abs(mark.rect.centery - listed.rect.centery) <= 2  # on the priority call's line


async def test_a_line_served_by_two_counters_is_one_row_with_both_numbers_and_one_count(rig):
    hub = await rig.start_hub()
    tv = rig.tv(hub, "tv-hall")
    await ready(tv)
    assert [r.queue_id for r in tv.view.rows] == [q.id for q in hub.site.queues]  # a row per line, not per counter
    harness = rig.harness(hub)
    numbers = [await take_ticket(harness, queue_id=2) for _ in range(3)]
    for counter_id in (2, 5):
        officer = await harness.client("officer", counter_id=counter_id)
        await officer.send("CALL_TICKET", {"counter_id": counter_id})
        await officer.expect("CALL_TICKET")
    await tv.until(lambda: (tv.desk(2).serving, tv.desk(5).serving) == (str(numbers[0]), str(numbers[1]))
                   and tv.row(2).waiting_count == 1, "both desks serving, one waiting")
    row = tv.row(2)
    assert (row.counters_text, row.next_numbers) == ("Quầy 2, 5", (str(numbers[2]),))
    shown(tv, "Quầy 2, 5", "row:2")
    shown(tv, str(numbers[0]), "row:2")
    shown(tv, str(numbers[1]), "row:2")
    shown(tv, "Đang chờ: 1", "row:2")
    assert [r.queue_id for r in tv.view.rows] == [1, 2, 3, 4]


async def test_no_show_transfer_return_and_finish_change_the_board_at_once(rig):
    hub = await rig.start_hub()
    tv = rig.tv(hub, "tv-hall")
    await ready(tv)
    harness = rig.harness(hub)
    first, second = [await take_ticket(harness, queue_id=2) for _ in range(2)]
    officer = await harness.client("officer", counter_id=2)

    async def act(action: str, **fields: Any) -> None:
        await officer.send("TICKET_ACTION", {"counter_id": 2, "action": action, **fields})
        await officer.expect("TICKET_UPDATED")

    await officer.send("CALL_TICKET", {"counter_id": 2})
    await tv.until(lambda: tv.desk(2).serving == str(first) and tv.view.calls, "the first call")
    await act("no_show")
    await tv.until(lambda: tv.desk(2).no_show == str(first), "the no-show shown")
    assert tv.desk(2).serving is None and tv.view.calls == ()  # its call is over too
    shown(tv, f"{first} {NO_SHOW_TEXT}", "row:2")
    assert not [p for p in tv.app.renderer.placements() if p.text == str(first) and p.region == "row:2"]

    await officer.send("CALL_TICKET", {"counter_id": 2})
    await tv.until(lambda: tv.desk(2).serving == str(second), "the second call")
    assert tv.desk(2).no_show is None
    await act("transfer", to_queue_id=3)
    await tv.until(lambda: tv.desk(2).serving is None and tv.row(3).next_numbers == (str(second),),
                   "the transferred ticket in line 3")
    shown(tv, str(second), "row:3")
    assert tv.row(3).waiting_count == 1

    await act("return", ticket_number=first, queue_id=2)
    await tv.until(lambda: str(first) in tv.row(2).next_numbers, "the no-show back in its line")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await tv.until(lambda: tv.desk(2).serving == str(first), "the returned ticket called")
    await act("finish")
    await tv.until(lambda: tv.desk(2).serving is None and not tv.row(2).called, "finished")
    assert tv.desk(2).no_show is None and tv.view.calls == ()
    assert [p.text for p in tv.app.renderer.placements() if p.region == "row:2"][2:4] == ["2", "—"]


async def test_a_tv_of_a_room_shows_and_speaks_its_counters_only(rig):
    site = dataclasses.replace(sample_site(), displays=(DisplayConfig("Phòng 2 - Tầng 2", (2, 5)),))
    hub = await rig.start_hub(site=site)
    room_speaker, hall_speaker = RecordingSpeaker(), RecordingSpeaker()
    # The node file's location, typed another way: case and spaces do not matter.
    room = rig.tv(hub, "tv-room-2", location="phòng 2 -  tầng 2", speaker=room_speaker)
    hall = rig.tv(hub, "tv-hall", display=False, speaker=hall_speaker)
    await ready(room)
    await ready(hall)
    assert room.client.state.display_counters == (2, 5) and hall.client.state.display_counters == ()
    assert [r.queue_id for r in room.view.rows] == [2]
    assert [r.queue_id for r in hall.view.rows] == [1, 2, 3, 4]
    assert room_speaker.prewarmed == [("Tư pháp - Hộ tịch", "Tư pháp - Hộ tịch")]
    assert room_speaker.counter_numbers == [(2, 5)] and room_speaker.queue_names == [("Tư pháp - Hộ tịch",)]

    harness = rig.harness(hub)
    elsewhere = await take_ticket(harness, queue_id=1)
    here = await take_ticket(harness, queue_id=2)
    for counter_id in (1, 5):  # counter 1's call reaches every TV first
        officer = await harness.client("officer", counter_id=counter_id)
        await officer.send("CALL_TICKET", {"counter_id": counter_id})
        await officer.expect("CALL_TICKET")
    await room.until(lambda: room_speaker.announced, "the room's call spoken")
    await hall.until(lambda: len(hall_speaker.announced) == 2, "both calls spoken in the hall")
    assert [(a.ticket_number, a.counter_id) for a in room_speaker.announced] == [(here, 5)]
    assert [(a.ticket_number, a.counter_id) for a in hall_speaker.announced] == [(elsewhere, 1), (here, 5)]
    assert [c.ticket_number for c in room.view.calls] == [here]
    assert room.app.renderer.placements(str(elsewhere)) == []
    shown(room, "ĐẾN QUẦY SỐ 5", "call")
    assert [c.ticket_number for c in hall.view.calls] == [here, elsewhere]


async def test_the_counters_number_is_spoken_from_pieces_warmed_ahead_with_a_piper_voice(rig, sdl, tmp_path):
    # Counter 2 has 12 painted above its desk: "đến quầy số mười hai", a piece of two words.
    counters = tuple(dataclasses.replace(c, number=12) if c.id == 2 else c for c in sample_site().counters)
    hub = await rig.start_hub(site=dataclasses.replace(sample_site(), counters=counters))
    engine = CountingEngine(PiperEngine(write_tiny_voice(tmp_path / "voice")))
    speaker = AnnouncerSpeaker(engine=engine, repeat=1, chime=False, cache_dir=tmp_path / "speech")
    tv = rig.tv(hub, "tv-hall", speaker=speaker)
    await ready(tv)
    assert await asyncio.to_thread(speaker.phrases.wait_warm, WAIT)
    # The template's words, each counter's number whole, the number words; no counter name (it is not said).
    assert {"Mời khách hàng số", "đến quầy số", "mười hai", "hai", "nghìn"} <= set(engine.texts)
    assert "Tư pháp - Hộ tịch" not in engine.texts
    warmed = len(engine.texts)

    harness = rig.harness(hub)
    number = await take_ticket(harness, queue_id=2)
    officer = await harness.client("officer", counter_id=2)
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await tv.until(lambda: any(e.kind == "finished" for e in speaker.announcer.events), "the call was spoken")
    speech = [e for e in speaker.announcer.events if e.kind == "speech"]
    assert [(e.text, e.cached) for e in speech] == \
        [("Mời khách hàng số hai nghìn không trăm lẻ một đến quầy số mười hai", True)]
    assert number == 2001 and len(engine.texts) == warmed  # joined from pieces: nothing synthesized for the call
    shown(tv, "ĐẾN QUẦY SỐ 12", "call")


# --- speaking the hub's text ---------------------------------------------------------------------


class QuickEngine(SilentEngine):
    """Speaks a short tone per text at once, and remembers what it was asked to synthesize."""

    name = "quick"
    speaks = True

    def __init__(self) -> None:
        super().__init__()
        self.synthesized: list[str] = []

    @property
    def cache_id(self) -> str:
        return "quick"

    def synthesize(self, text: str) -> AudioClip:
        self.synthesized.append(text)
        t = np.arange(1102) / 22050
        return AudioClip.from_samples(0.5 * np.sin(2 * np.pi * 440 * t), 22050)


KINH_MOI = "Kính mời số {number} đến {counter_name}"


async def test_the_sites_template_comes_with_the_snapshot_and_calls_are_joined_from_its_pieces(rig, sdl, tmp_path):
    hub = await rig.start_hub(site=dataclasses.replace(sample_site(), announcement_template=KINH_MOI))
    engine = QuickEngine()
    speaker = AnnouncerSpeaker(engine=engine, repeat=1, chime=False, cache_dir=tmp_path / "speech")
    assert speaker.phrases.template.template == m.DEFAULT_ANNOUNCEMENT_TEMPLATE  # until the hub says otherwise
    tv = rig.tv(hub, "tv-hall", speaker=speaker)
    await ready(tv)
    # The SNAPSHOT's template replaced the default one, and its pieces were synthesized ahead.
    assert speaker.phrases.template.template == KINH_MOI
    assert speaker.announcer.phrases is speaker.phrases
    assert await asyncio.to_thread(speaker.phrases.wait_warm, WAIT)
    assert {"Kính mời số", "đến", "hai", "nghìn", *(c.name for c in hub.site.counters)} <= set(engine.synthesized)
    assert "Mời khách hàng số" not in engine.synthesized and "đến quầy" not in engine.synthesized
    warmed = len(engine.synthesized)

    harness = rig.harness(hub)
    number = await take_ticket(harness, 2)
    officer = await harness.client("officer", counter_id=2)
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    await tv.until(lambda: any(e.kind == "finished" for e in speaker.announcer.events), "the call was spoken")
    speech = [e for e in speaker.announcer.events if e.kind == "speech"]
    assert [(e.text, e.cached) for e in speech] == \
        [("Kính mời số hai nghìn không trăm lẻ một đến Tư pháp - Hộ tịch", True)]
    assert number == 2001 and len(engine.synthesized) == warmed  # joined from pieces: nothing synthesized now

    # A hub restarted with another template: the next SNAPSHOT brings it.
    port = hub.port
    await harness.close_all()
    await rig.stop_hub(hub)
    await tv.until(lambda: tv.view.connection_lost, "the lost hub is marked")
    other = "Xin mời khách số {number} tới quầy {counter_id}"
    await rig.start_hub(port=port, site=dataclasses.replace(sample_site(), announcement_template=other))
    await tv.until(lambda: not tv.view.connection_lost and speaker.phrases.template.template == other,
                   "the new template adopted after the reconnect")
    assert speaker.announcer.phrases is speaker.phrases


def test_a_text_that_is_not_the_template_filled_in_is_spoken_as_it_is(sdl, tmp_path, caplog):
    speaker = AnnouncerSpeaker("none", repeat=1, chime=False, cache_dir=tmp_path / "speech")
    asked: list[Any] = []
    speaker.announcer.announce = lambda what, **kw: asked.append(what)  # the queue itself is the audio package's
    speaker.announcer.announce_call = lambda number, name, counter_id=None, **kw: asked.append((number, name))

    def announcement(text: str, number: int = 105, name: str = "Tư pháp - Hộ tịch", counter_id: int = 2):
        return m.TicketAnnouncementPayload(ticket_number=number, counter_id=counter_id, counter_name=name,
                                           announcement_text=text, audio_url=None, display_duration=10)

    speaker.announce(announcement("Mời khách hàng số 105 đến quầy số 2"))  # the default template
    speaker.prewarm(["Tư pháp - Hộ tịch"], KINH_MOI)
    assert speaker.phrases.template.template == KINH_MOI and speaker.announcer.phrases is speaker.phrases
    speaker.announce(announcement("Kính mời số 105 đến   Tư pháp - Hộ tịch"))  # spaces do not matter
    speaker.announce(announcement("Mời khách hàng số 105 đến quầy số 2"))  # no longer the template
    speaker.announce(announcement(""))  # no text: the call in the site's words
    # A template the phrase cache cannot use is logged; the one in use stays.
    speaker.prewarm(["Tư pháp - Hộ tịch"], "Mời số {so} đến quầy {counter_name}")
    assert speaker.phrases.template.template == KINH_MOI
    assert "cannot use the site's announcement template" in caplog.text
    assert asked == [(105, "Tư pháp - Hộ tịch"), (105, "Tư pháp - Hộ tịch"),
                     "Mời khách hàng số 105 đến quầy số 2", (105, "Tư pháp - Hộ tịch")]


# --- the command line ------------------------------------------------------------------------------


# Full screen too: without a screen (SDL's dummy driver) --size is the picture's size, not dummy's 1024x768.
@pytest.mark.parametrize("window, size", [(["--windowed"], (1280, 720)), ([], (1920, 1080))],
                         ids=["windowed", "full-screen"])
async def test_qms_tv_runs_against_the_hub_and_stops_on_sigterm(tmp_path, sdl, window, size):
    hub = await start_hub(tmp_path / "data")
    try:
        token_file = tmp_path / "device.token"
        token_file.write_text(hub.tokens.issue("tv", client_id="tv-cli", ttl=timedelta(hours=1)))
        screenshot = tmp_path / "cli.png"
        env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk",
                   SDL_DISKAUDIOFILE=str(tmp_path / "cli.raw"), XDG_CACHE_HOME=str(tmp_path / "cache"))
        env.pop("QMS_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tv_node.cli", "--config", os.devnull, "--hub", f"ws://127.0.0.1:{hub.port}/ws",
            "--token-file", str(token_file), "--voice", "none", *window, "--size", f"{size[0]}x{size[1]}",
            "--screenshot", str(screenshot), cwd=REPO_ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            # No --client-id: it registers as the id its token names.
            while "tv-cli" not in hub.clients.by_id or not screenshot.exists():
                assert process.returncode is None, (await process.stdout.read()).decode()
                assert loop.time() < deadline, "qms-tv did not register and draw"
                await asyncio.sleep(0.05)
            assert pygame.image.load(str(screenshot)).get_size() == size
            process.send_signal(signal.SIGTERM)
            output = (await asyncio.wait_for(process.stdout.read(), WAIT)).decode()
            assert await asyncio.wait_for(process.wait(), WAIT) == 0, output
            assert "qms-tv tv-cli: hub ws://127.0.0.1" in output
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        await hub.stop()


async def test_qms_tv_say_speaks_through_the_audio_package(tmp_path):
    wav = tmp_path / "said.wav"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tv_node.cli", "--config", os.devnull, "--voice", "espeak", "say", "--repeat", "1",
        "--output", str(wav), "Mời khách hàng số 105 đến quầy 2", cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(process.communicate(), WAIT))[0].decode()
    assert process.returncode == 0, output
    assert "một trăm lẻ năm" in output  # the number read in words, by the configured dialect
    assert AudioClip.from_wav(wav.read_bytes()).duration > 1.0


def test_a_bad_node_file_is_refused_with_the_key(tmp_path, capsys):
    from tv_node.cli import main

    bad = tmp_path / "node.toml"
    bad.write_text('[tv]\nrepeat = "twice"\n', encoding="utf-8")
    assert main(["--config", str(bad)]) == 1
    assert "tv.repeat: expected a whole number" in capsys.readouterr().err
