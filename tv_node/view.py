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

Rows: one per line of citizens (PROTOCOL.md Version 2 queues), not per
counter, so a line served by counters 2 and 5 is one row, "Quầy 2, 5", with
both desks' numbers in it and one waiting count. A TV of a room that shows
only some counters (``HubState.display_counters``, from the site file's
``[[displays]]``) shows their lines and their calls, and nothing of the others.

The serving lifecycle: a TICKET_UPDATED (finish, no-show, transfer) takes
the ticket off its counter at once (the hub client's mirror does that), ends
its call's highlight, and a no-show leaves "Vắng mặt" at the counter's desk
for ``display_duration``; a transferred ticket shows in its new line's next
numbers with the QUEUE_UPDATE that follows.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol import messages as m
from protocol.client import CallView, CounterView, HubState

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
PAUSED_TEXT = "Tạm dừng"
NO_SHOW_TEXT = "Vắng mặt"
PRIORITY_TEXT = "ƯU TIÊN"
CONNECTION_LOST_TEXT = "Mất kết nối"
CONNECTING_TEXT = "Đang kết nối tới máy chủ…"
# A fresh call blinks for this long to catch the eye, then stays highlighted until display_duration.
FLASH_SECONDS = 4.0
FLASH_PHASE_SECONDS = 0.5
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


@dataclass(frozen=True)
class Desk:
    """One counter inside its queue's row: its number, and whom it is serving."""

    counter_id: int
    # The number painted above the desk (the id when the hub sends none).
    number: int
    # The ticket it is serving, as shown ("2014", "A12"); None when it serves nobody.
    serving: str | None
    paused: bool
    # That ticket is a priority one.
    priority: bool = False
    # The ticket it is serving is being called right now.
    called: bool = False
    # A ticket just marked absent here (shown "Vắng mặt" for display_duration), when it serves nobody since.
    no_show: str | None = None


@dataclass(frozen=True)
class QueueRow:
    """One line of citizens: its name, the counters serving it, who is next and how many wait.

    With a hub of the first protocol version (no queues) each counter is its own line.
    """

    queue_id: int
    name: str
    # "Quầy 2, 5": every counter of this TV that serves the line as its own.
    counters_text: str
    # The counters serving the line now, in the hub's order: its own (those not busy with another line's
    # ticket) and any backup counter serving one of its tickets.
    desks: tuple[Desk, ...]
    next_numbers: tuple[str, ...]
    waiting_count: int
    priority_waiting_count: int = 0
    # Every counter of the line is paused or offline (then ``reason`` is the first one's reason).
    paused: bool = False
    reason: str = ""

    @property
    def called(self) -> bool:
        return any(desk.called for desk in self.desks)


@dataclass(frozen=True)
class CallCard:
    """A called number and where to go: "MỜI KHÁCH HÀNG SỐ 2014 / ĐẾN QUẦY SỐ 2 / Tư pháp - Hộ tịch"."""

    ticket_number: int
    counter_id: int
    counter_name: str
    # The counter's number painted above its desk (the id when the hub sends none).
    counter_number: int
    # The number as printed ("A12"): what is drawn.
    label: str
    priority: bool = False
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
    # One row per line of citizens this TV shows, in the site's order.
    rows: tuple[QueueRow, ...]
    # Calls within their display_duration at this TV's counters, newest first, one per ticket; a call
    # whose ticket has since been finished, marked absent or transferred is over.
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


def shown_counters(state: HubState) -> tuple[CounterView, ...]:
    """The counters this TV shows, in the hub's order: those of its [[displays]] entry, else every one."""
    subset = set(state.display_counters)
    return tuple(c for c in state.counters.values() if not subset or c.counter_id in subset)


def shows_counter(state: HubState, counter_id: int) -> bool:
    """Whether a call to this counter is shown and spoken on this TV."""
    return not state.display_counters or counter_id in state.display_counters


def _over(call: CallView, updates: tuple[m.TicketUpdatedPayload, ...]) -> bool:
    """Whether a TICKET_UPDATED since the call took its ticket away from the counter (finish, no-show, transfer)."""
    called_at = _parse(call.timestamp)
    for update in updates:  # newest first
        if update.ticket_number != call.ticket_number or update.status == "called" \
                or call.counter_id not in (update.counter_id, update.from_counter_id):
            continue
        updated_at = _parse(update.timestamp)
        if called_at is not None and updated_at is not None and updated_at >= called_at:
            return True
    return False


def _card(call: CallView, state: HubState, flash: bool = False) -> CallCard:
    counter = state.counters.get(call.counter_id)
    current = counter.current_ticket if counter is not None else None
    # Details the call itself lacks (a SNAPSHOT's record): the counter's own, while it serves that ticket.
    serving = current if current is not None and current.ticket_number == call.ticket_number else None
    number = call.counter_number if call.counter_number is not None else \
        (counter.shown_number if counter is not None else call.counter_id)
    label = call.ticket_label or (serving.ticket_label if serving is not None else "") or str(call.ticket_number)
    return CallCard(ticket_number=call.ticket_number, counter_id=call.counter_id, counter_name=text(call.counter_name),
                    counter_number=number, label=text(label),
                    priority=call.priority or (serving is not None and serving.priority), flash=flash)


def highlighted_calls(state: HubState, now: datetime) -> tuple[CallCard, ...]:
    """The calls to this TV's counters younger than ``display_duration``, newest first, one per ticket."""
    cards: list[CallCard] = []
    seen: set[tuple[int, int]] = set()
    duration = max(0, state.display_duration)
    for call in state.calls:  # newest first
        if not shows_counter(state, call.counter_id):
            continue
        called_at = _parse(call.timestamp)
        if called_at is None:
            continue
        # The hub's timestamp may be a little ahead of our estimate of its clock: count that as just now.
        age = max(0.0, (now - called_at).total_seconds())
        if age >= duration:
            continue
        key = (call.counter_id, call.ticket_number)
        if key in seen:
            continue  # a recall: the newest one stands for both
        seen.add(key)
        if _over(call, state.ticket_updates):
            continue
        flash = age < FLASH_SECONDS and int(age / FLASH_PHASE_SECONDS) % 2 == 0
        cards.append(_card(call, state, flash))
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


def _no_show(counter: CounterView, state: HubState, now: datetime) -> str | None:
    """The ticket just marked absent at this counter, while the counter serves nobody and it is recent."""
    if counter.current_number is not None:
        return None
    for update in state.ticket_updates:  # newest first
        if counter.counter_id not in (update.counter_id, update.from_counter_id):
            continue
        if update.action != "no_show":
            return None  # something happened at this counter since
        marked = _parse(update.timestamp)
        if marked is None or (now - marked).total_seconds() >= max(0, state.display_duration):
            return None
        return text(update.ticket_label or str(update.ticket_number))
    return None


def _desk(counter: CounterView, state: HubState, calls: tuple[CallCard, ...], now: datetime) -> Desk:
    current = counter.current_ticket
    serving = None
    if counter.current_number is not None:
        label = current.ticket_label if current is not None and current.ticket_number == counter.current_number \
            else ""
        serving = text(label or str(counter.current_number))
    return Desk(
        counter_id=counter.counter_id,
        number=counter.shown_number,
        serving=serving,
        paused=not counter.is_active,
        priority=current is not None and current.priority and counter.current_number is not None,
        called=any(c.counter_id == counter.counter_id and c.ticket_number == counter.current_number for c in calls),
        no_show=_no_show(counter, state, now),
    )


def _counters_text(counters: list[CounterView]) -> str:
    return "Quầy " + ", ".join(str(c.shown_number) for c in counters) if counters else ""


def _serving_queue(counter: CounterView) -> int | None:
    """The queue of the ticket the counter is serving (None: none, or a hub that does not say)."""
    current = counter.current_ticket
    return current.queue_id if current is not None and counter.current_number is not None else None


def _queue_rows(state: HubState, counters: tuple[CounterView, ...], calls: tuple[CallCard, ...],
                now: datetime) -> tuple[QueueRow, ...]:
    rows = []
    serving = {c.counter_id: _serving_queue(c) for c in counters}
    for queue in state.queues.values():
        own = [c for c in counters if queue.queue_id in c.queue_ids]
        # A counter serving another line's ticket is shown in that line's row; a backup counter serving
        # one of this line's tickets is shown here, after the line's own counters.
        at_desk = [c for c in own if serving[c.counter_id] in (queue.queue_id, None)] \
            + [c for c in counters if serving[c.counter_id] == queue.queue_id and queue.queue_id not in c.queue_ids]
        if not own and not at_desk:
            continue  # served by none of this TV's counters
        closed = [c for c in own if not c.is_active]
        prefix = text(queue.prefix)
        rows.append(QueueRow(
            queue_id=queue.queue_id,
            name=text(queue.name),
            counters_text=_counters_text(own),
            desks=tuple(_desk(c, state, calls, now) for c in at_desk),
            next_numbers=tuple(f"{prefix}{n}" for n in queue.next_numbers),
            waiting_count=queue.waiting_count,
            priority_waiting_count=queue.priority_waiting_count,
            paused=bool(own) and len(closed) == len(own),
            reason=text(next((c.reason for c in closed if c.reason), "")),
        ))
    return tuple(rows)


def _counter_rows(state: HubState, counters: tuple[CounterView, ...], calls: tuple[CallCard, ...],
                  now: datetime) -> tuple[QueueRow, ...]:
    """A hub of the first protocol version: every counter is its own line."""
    return tuple(QueueRow(
        queue_id=c.counter_id,
        name=text(c.name),
        counters_text=_counters_text([c]),
        desks=(_desk(c, state, calls, now),),
        next_numbers=tuple(str(n) for n in c.next_numbers),
        waiting_count=c.waiting_count,
        paused=not c.is_active,
        reason=text(c.reason) if not c.is_active else "",
    ) for c in counters)


def build_view(state: HubState, now: datetime | None = None) -> TvView:
    """The screen for ``state`` at hub time ``now`` (default: ``state.hub_now()``)."""
    now = state.hub_now() if now is None else now
    has_state = bool(state.service_day or state.counters)
    # Until the hub has told us its time, the Pi's own clock may be anything: show none.
    clock_text, date_text = clock_texts(now, state.timezone) if has_state else ("", "")
    calls = highlighted_calls(state, now)
    newest = next((c for c in state.calls if shows_counter(state, c.counter_id)), None)
    counters = shown_counters(state)
    rows = _queue_rows if state.queues else _counter_rows
    return TvView(
        site_name=text(state.site_name),
        clock_text=clock_text,
        date_text=date_text,
        rows=rows(state, counters, calls, now),
        calls=calls,
        last_call=_card(newest, state) if newest is not None else None,
        announcements=active_banners(state, now),
        connection_lost=has_state and not state.connected,
        has_state=has_state,
    )


__all__ = [
    "Banner",
    "CONNECTING_TEXT",
    "CONNECTION_LOST_TEXT",
    "CallCard",
    "Desk",
    "NO_SHOW_TEXT",
    "PAUSED_TEXT",
    "PRIORITY_TEXT",
    "QueueRow",
    "TvView",
    "build_view",
    "clock_texts",
    "shown_counters",
    "shows_counter",
    "text",
]
