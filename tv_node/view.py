"""What the hall TV shows, as plain data: a pure function of the hub mirror and the hub's clock.

:func:`build_view` takes the :class:`~protocol.client.HubState` the hub client
keeps and the hub's current time, and returns a :class:`TvView`. No I/O, no
pygame: the renderer draws a view, the tests read one. Two views compare
equal exactly when the screen would look the same, so the frame loop redraws
only when the view (or a part of it) changed.

Time: the Pi has no clock battery, so everything here runs on the hub's clock
(``HubState.hub_now()``) shown in the site's time zone. A call is highlighted
while it is younger than the site's ``display_duration``; because the age is
computed from the call's own timestamp, a SNAPSHOT after a reconnect brings
back exactly the calls still within their time, and a call made while the TV
was cut off appears for the time it has left.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol import messages as m
from protocol.client import CounterView, HubState

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
PAUSED_TEXT = "Tạm dừng"
CONNECTION_LOST_TEXT = "Mất kết nối"
CONNECTING_TEXT = "Đang kết nối tới máy chủ…"
# A fresh call blinks for this long to catch the eye, then stays highlighted until display_duration.
FLASH_SECONDS = 4.0
FLASH_PHASE_SECONDS = 0.5
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


@dataclass(frozen=True)
class CounterRow:
    """One counter's row: who is being served, who is next, or why it is closed."""

    counter_id: int
    name: str
    serving: int | None
    next_numbers: tuple[int, ...]
    waiting_count: int
    paused: bool
    reason: str
    # The number it is serving is being called right now.
    called: bool = False


@dataclass(frozen=True)
class CallCard:
    """A called number and where to go."""

    ticket_number: int
    counter_id: int
    counter_name: str
    # In the bright half of the opening blink.
    flash: bool = False


@dataclass(frozen=True)
class Banner:
    """An announcement from the hall's staff."""

    message: str
    priority: str


@dataclass(frozen=True)
class TvView:
    site_name: str
    clock_text: str
    date_text: str
    counters: tuple[CounterRow, ...]
    # Calls within their display_duration, newest first.
    calls: tuple[CallCard, ...]
    # The newest call even after its highlight ended, shown quietly so the hall still sees it.
    last_call: CallCard | None
    # Active announcements, high priority first (newest first within a priority).
    announcements: tuple[Banner, ...]
    # The hub is unreachable: everything else is the last known state.
    connection_lost: bool
    # A SNAPSHOT has arrived at least once; before that the screen says it is connecting.
    has_state: bool


def text(value: str) -> str:
    """Text as it must be drawn: NFC, so every Vietnamese letter is one precomposed glyph.

    The font renderer does no shaping: a base letter plus combining marks would
    draw the marks misplaced. The hub already sends NFC; this guards the rest.
    """
    return unicodedata.normalize("NFC", value)


@lru_cache(maxsize=8)
def site_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        try:
            return ZoneInfo(DEFAULT_TIMEZONE)
        except ZoneInfoNotFoundError:  # pragma: no cover - tzdata is a dependency
            return timezone(timedelta(hours=7))


def clock_texts(now: datetime, zone_name: str) -> tuple[str, str]:
    """``("14:05:09", "Thứ Ba, 25/11/2025")`` for ``now`` in the site's zone."""
    local = now.astimezone(site_zone(zone_name))
    return local.strftime("%H:%M:%S"), f"{WEEKDAYS[local.weekday()]}, {local.strftime('%d/%m/%Y')}"


def _parse(timestamp: str | None) -> datetime | None:
    if not timestamp:
        return None
    try:
        return m.parse_timestamp(timestamp)
    except ValueError:
        return None


def highlighted_calls(state: HubState, now: datetime) -> tuple[CallCard, ...]:
    """The calls younger than ``display_duration``, newest first, one per ticket."""
    cards: list[CallCard] = []
    seen: set[tuple[int, int]] = set()
    duration = max(0, state.display_duration)
    for record in state.recent_calls:  # newest first
        called_at = _parse(record.timestamp)
        if called_at is None:
            continue
        # The hub's timestamp may be a little ahead of our estimate of its clock: count that as just now.
        age = max(0.0, (now - called_at).total_seconds())
        if age >= duration:
            continue
        key = (record.counter_id, record.ticket_number)
        if key in seen:
            continue  # a recall: the newest one stands for both
        seen.add(key)
        flash = age < FLASH_SECONDS and int(age / FLASH_PHASE_SECONDS) % 2 == 0
        cards.append(CallCard(record.ticket_number, record.counter_id, text(record.counter_name), flash))
    return tuple(cards)


def _expiry(announcement: m.AnnouncementOutPayload) -> datetime | None:
    expires = _parse(announcement.expires_at)
    if expires is not None:
        return expires
    sent = _parse(announcement.timestamp)
    return None if sent is None else sent + timedelta(seconds=announcement.duration)


def active_banners(state: HubState, now: datetime) -> tuple[Banner, ...]:
    """Announcements not yet expired at ``now``, high priority first, newest first within one."""
    live = []
    for index, announcement in enumerate(state.announcements):
        expires = _expiry(announcement)
        if expires is not None and expires <= now:
            continue
        rank = PRIORITY_RANK.get(announcement.priority, PRIORITY_RANK["medium"])
        # Announcements arrive oldest first: a higher index is newer.
        live.append((rank, -index, Banner(text(announcement.message), announcement.priority)))
    live.sort(key=lambda item: item[:2])
    return tuple(banner for _, _, banner in live)


def _row(counter: CounterView, calls: tuple[CallCard, ...]) -> CounterRow:
    called = any(c.counter_id == counter.counter_id and c.ticket_number == counter.current_number for c in calls)
    return CounterRow(
        counter_id=counter.counter_id,
        name=text(counter.name),
        serving=counter.current_number,
        next_numbers=counter.next_numbers,
        waiting_count=counter.waiting_count,
        paused=not counter.is_active,
        reason=text(counter.reason),
        called=called,
    )


def build_view(state: HubState, now: datetime | None = None) -> TvView:
    """The screen for ``state`` at hub time ``now`` (default: ``state.hub_now()``)."""
    now = state.hub_now() if now is None else now
    has_state = bool(state.service_day or state.counters)
    # Until the hub has told us its time, the Pi's own clock may be anything: show none.
    clock_text, date_text = clock_texts(now, state.timezone) if has_state else ("", "")
    calls = highlighted_calls(state, now)
    last_call = None
    if state.recent_calls:
        newest = state.recent_calls[0]
        last_call = CallCard(newest.ticket_number, newest.counter_id, text(newest.counter_name))
    return TvView(
        site_name=text(state.site_name),
        clock_text=clock_text,
        date_text=date_text,
        counters=tuple(_row(c, calls) for c in state.counters.values()),
        calls=calls,
        last_call=last_call,
        announcements=active_banners(state, now),
        connection_lost=has_state and not state.connected,
        has_state=has_state,
    )


__all__ = [
    "Banner",
    "CONNECTING_TEXT",
    "CONNECTION_LOST_TEXT",
    "CallCard",
    "CounterRow",
    "PAUSED_TEXT",
    "TvView",
    "build_view",
    "clock_texts",
    "text",
]
