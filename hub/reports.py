"""The centre's reports from the stored history: what each column means, counted for any range of service days.

This module is the one place the report's definitions live (docs/reports.md
explains them). A report is made in two steps:

1. :func:`iter_facts` reads the hub's database (a read-only connection: run
   it off the event loop, ``await store.read(...)``) into one
   :class:`TicketFacts` per ticket of the range: when and where the number
   was taken, who first called it, where it ended, how long it waited and
   was served, its transfers and its rating. Each fact is defined by the
   ticket's events (``ticket.issued``, ``ticket.called``, ...), so any store
   of the event log can work out the same facts (the province's server does,
   in SQL: central/report.py).
2. :func:`aggregate` (:func:`aggregate_all` for several groupings in one pass)
   counts the facts into rows, one per group, by the rules in
   :data:`ATTRIBUTIONS`: every fact is counted once, for the place (and time)
   where it happened, so each column's rows add up to its total. The facts
   are streamed through it, never all held at once.

Pure apart from :func:`iter_facts`: no clock (the caller says what "today" is)
and no I/O.
"""

from __future__ import annotations

import bisect
import calendar
import math
import operator
import sqlite3
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple, Protocol, TypeAlias

from hub.site_config import SiteConfig

# The groupings a report may have (PROTOCOL.md "Reports"; ``field`` too, the centre reports per lĩnh vực).
GROUPINGS = ("queue", "field", "counter", "officer", "day", "hour")
# A report longer than this is refused: a year and a bit, enough for any annual report.
MAX_RANGE_DAYS = 400
# The database schema the report reads (the ratings table came with version 4).
NEEDS_SCHEMA = 4
SCORES = (1, 2, 3, 4)
SCORES_VI = {4: "Rất hài lòng", 3: "Hài lòng", 2: "Chưa hài lòng", 1: "Không hài lòng"}
# Bounds (minutes) of the wait-time distribution's bars; the last is open-ended.
WAIT_BUCKETS = (0, 5, 10, 15, 20, 30, 45, 60)
# Service periods (``period=``) a person picks instead of two dates.
PERIODS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month")

GROUPING_VI = {
    "queue": "hàng chờ", "field": "lĩnh vực", "counter": "quầy", "officer": "cán bộ", "day": "ngày",
    "hour": "giờ trong ngày",
    # The province's report across halls (central/report.py).
    "site": "trung tâm",
}
# File names say the grouping without diacritics: a USB stick or an e-mail gateway may not keep them.
GROUPING_SLUG = {
    "queue": "hang-cho", "field": "linh-vuc", "counter": "quay", "officer": "can-bo", "day": "ngay", "hour": "gio",
    "site": "trung-tam",
}
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")

# What each column means, as the report's readers are told (the Excel file's "Định nghĩa" sheet, the
# console's notes); docs/reports.md says the same in English, with the reasons.
COLUMN_DEFINITIONS_VI = {
    "issued": "Số vé lấy trong khoảng ngày. Theo hàng chờ: hàng chờ phát số; theo quầy, cán bộ: quầy, cán bộ "
              "gọi vé lần đầu (vé tiếp nhận); vé chưa ai gọi nằm ở dòng «Chưa được gọi».",
    "served": "Số vé đã phục vụ xong (trạng thái cuối: đã xong), tính cho hàng chờ, quầy, cán bộ phục vụ sau cùng.",
    "no_show": "Số vé vắng mặt (trạng thái cuối: vắng mặt), tính cho quầy, cán bộ đã gọi vé sau cùng. Vé vắng mặt "
               "được gọi lại và phục vụ xong thì tính là đã phục vụ.",
    "transferred": "Số lần chuyển vé, tính cho hàng chờ chuyển đi, quầy và cán bộ thực hiện chuyển.",
    "wait": "Thời gian chờ: từ lúc lấy số đến lần gọi đầu tiên (phút), của các vé đã được gọi; tính cùng chỗ với "
            "số vé lấy.",
    "service": "Thời gian phục vụ: từ lúc quầy cuối cùng gọi vé đến lúc xong hoặc ghi vắng mặt (phút); gọi lại "
               "(nhắc số) không tính lại từ đầu.",
    "p90": "P90: 90% số vé không quá con số này (nội suy tuyến tính, như PERCENTILE.INC của Excel).",
    "ratings": "Lượt đánh giá của người dân (1 đến 4 điểm), tính cho quầy, cán bộ đã phục vụ vé được đánh giá.",
    "rating_mean": "Điểm hài lòng trung bình: 4 Rất hài lòng, 3 Hài lòng, 2 Chưa hài lòng, 1 Không hài lòng.",
    "time": "Theo ngày và theo giờ: mọi con số của một vé tính vào ngày phục vụ và giờ lấy số của vé (giờ địa "
            "phương).",
}

Key: TypeAlias = int | str | None


class ReportQueryError(ValueError):
    """A report asked for with a bad date, range or grouping; ``code`` names which, ``message`` says it to a person."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- the facts of one ticket ------------------------------------------------------------------------------


class Transfer(NamedTuple):
    """One ``ticket.transferred`` event: the queue it left, the counter and the person who moved it."""

    from_queue_id: int
    counter_id: int | None
    officer: str | None


class TicketFacts(NamedTuple):
    """What the report knows of one ticket, each field defined by the ticket's events.

    ``service_day``: the hall's date of its ``ticket.issued`` (YYYY-MM-DD, as
    stored), ``created_at`` the moment (ISO 8601). ``origin_queue_id``: the queue
    that issued the number; ``final_queue_id``: the one it is in at the end.
    ``first_*``: its first ``ticket.called`` (who took it out of the line, None
    if never called); ``final_*``: its last counter and caller (the one that
    finished it or marked it absent, or serves it still). ``wait_minutes``: first
    call minus issue, None if never called. ``service_minutes``: for a ticket
    ended ``done`` or ``no_show``, its close minus the first call by the
    counter that closed it (a recall does not restart it). Durations are counted
    to the millisecond and are at least 0 (a clock stepped back). ``rating_*``:
    its ``ticket.rated`` (None if not rated), with the queue, counter and
    officer it was given for. ``transfers``: its ``ticket.transferred`` events
    (None or empty for none).

    Flat, and in this order, so that :func:`iter_facts` takes the rows SQLite
    makes as they are: a year's report makes hundreds of thousands of these.
    """

    ticket_id: int
    service_day: str
    created_at: str
    origin_queue_id: int
    final_queue_id: int
    procedure_id: int | None
    status: str
    first_counter_id: int | None
    first_officer: str | None
    final_counter_id: int | None
    final_officer: str | None
    wait_minutes: float | None
    service_minutes: float | None
    rating_score: int | None = None
    rating_queue_id: int | None = None
    rating_counter_id: int | None = None
    rating_officer: str | None = None
    transfers: tuple[Transfer, ...] | None = None


# Facts worked out from the stored ones: a ticket's field is its procedure's (the site file's today), its
# hour the local hour (0-23, the site's time zone) it was issued.
DERIVED_FACTS = ("field_id", "issued_hour")


# --- where each fact is counted ---------------------------------------------------------------------------


class Attribution(NamedTuple):
    """For one grouping, the fact (a TicketFacts field, or one of DERIVED_FACTS) each kind of count goes by.

    ``arrival`` (issued, wait): where the number was taken and who took it out of
    the line. ``outcome`` (served, no-show, service time): where it ended.
    ``transfer``: a :class:`Transfer` field, where each transfer was made; None:
    with the ticket (its ``arrival`` fact). ``rating``: whom the rating is for.
    """

    arrival: str
    outcome: str
    transfer: str | None
    rating: str


ATTRIBUTIONS: dict[str, Attribution] = {
    "queue": Attribution("origin_queue_id", "final_queue_id", "from_queue_id", "rating_queue_id"),
    "counter": Attribution("first_counter_id", "final_counter_id", "counter_id", "rating_counter_id"),
    "officer": Attribution("first_officer", "final_officer", "officer", "rating_officer"),
    # By something of the ticket itself: every fact goes with the ticket.
    "field": Attribution("field_id", "field_id", None, "field_id"),
    "day": Attribution("service_day", "service_day", None, "service_day"),
    "hour": Attribution("issued_hour", "issued_hour", None, "issued_hour"),
}
_INDEX = {name: i for i, name in enumerate(TicketFacts._fields)}
_WAIT, _SERVICE, _STATUS = _INDEX["wait_minutes"], _INDEX["service_minutes"], _INDEX["status"]
_SCORE, _TRANSFERS = _INDEX["rating_score"], _INDEX["transfers"]
_FIRST_COUNTER, _FIRST_OFFICER = _INDEX["first_counter_id"], _INDEX["first_officer"]


def fact_key(name: str, site: SiteConfig) -> Callable[[TicketFacts], Key]:
    """How to read the fact ``name`` of a ticket (a stored field, or a derived one)."""
    if name == "field_id":
        fields_of = {p.id: p.field_id for p in site.procedures}
        procedure = _INDEX["procedure_id"]
        return lambda ticket: fields_of.get(ticket[procedure])  # type: ignore[arg-type]
    if name == "issued_hour":
        tz = site.tz
        created = _INDEX["created_at"]
        hours: dict[str, int] = {}

        def hour(ticket: TicketFacts) -> int:
            # Worked out once per UTC minute and offset: a month has far fewer minutes than tickets.
            text: str = ticket[created]  # type: ignore[assignment]
            minute = text[:16] + text[-6:]
            found = hours.get(minute)
            if found is None:
                found = hours[minute] = datetime.fromisoformat(text).astimezone(tz).hour
            return found

        return hour
    return operator.itemgetter(_INDEX[name])


# --- numbers -----------------------------------------------------------------------------------------------


def rounded(value: float | None, places: int = 1) -> float | None:
    """``value`` to ``places`` decimals, halves up (2.25 -> 2.3), as a person rounds; None stays None."""
    if value is None:
        return None
    # Through 9 decimals first: 2.25 computed as 2.2499999999999996 is still 2.25.
    exact = Decimal(repr(round(value, 9)))
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of sorted values, interpolated linearly between ranks (Excel's PERCENTILE.INC)."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


@dataclass(slots=True)
class _Tally:
    issued: int = 0
    served: int = 0
    no_show: int = 0
    transferred: int = 0
    # Arrays of doubles, not lists of floats: a year's waits are hundreds of thousands of numbers.
    waits: array[float] = field(default_factory=lambda: array("d"))
    services: array[float] = field(default_factory=lambda: array("d"))
    scores: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # index = score

    @property
    def busy(self) -> bool:
        return bool(self.issued or self.served or self.no_show or self.transferred or self.services
                    or any(self.scores))

    @staticmethod
    def of_all(tallies: Iterable[_Tally]) -> _Tally:
        total = _Tally()
        for tally in tallies:
            total.issued += tally.issued
            total.served += tally.served
            total.no_show += tally.no_show
            total.transferred += tally.transferred
            total.waits += tally.waits
            total.services += tally.services
            total.scores = [a + b for a, b in zip(total.scores, tally.scores, strict=True)]
        return total


@dataclass(frozen=True)
class ReportRow:
    """One group's line (PROTOCOL.md "Reports"): counts, waits and service times in minutes, ratings."""

    key: Key
    label: str
    issued: int
    served: int
    no_show: int
    transferred: int
    wait_mean_min: float | None
    wait_p90_min: float | None
    service_mean_min: float | None
    service_p90_min: float | None
    ratings: int
    rating_mean: float | None
    rating_counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "label": self.label, "issued": self.issued, "served": self.served,
            "no_show": self.no_show, "transferred": self.transferred, "wait_mean_min": self.wait_mean_min,
            "wait_p90_min": self.wait_p90_min, "service_mean_min": self.service_mean_min,
            "service_p90_min": self.service_p90_min, "ratings": self.ratings, "rating_mean": self.rating_mean,
            "rating_counts": dict(self.rating_counts),
        }


def summary_row(key: Key, label: str, *, issued: int, served: int, no_show: int, transferred: int,
                wait_mean: float | None, wait_p90: float | None, service_mean: float | None,
                service_p90: float | None, scores: Sequence[int]) -> ReportRow:
    """A group's line from its counts and unrounded minutes (``scores``: how many of each, index = score).

    The one place the columns are rounded: a hall's rows (counted here) and the
    province's (counted by PostgreSQL, central/report.py) are made alike.
    """
    ratings = sum(scores)
    score_total = sum(score * scores[score] for score in SCORES)
    return ReportRow(
        key=key, label=label, issued=issued, served=served, no_show=no_show, transferred=transferred,
        wait_mean_min=rounded(wait_mean), wait_p90_min=rounded(wait_p90),
        service_mean_min=rounded(service_mean), service_p90_min=rounded(service_p90),
        ratings=ratings, rating_mean=rounded(score_total / ratings, 2) if ratings else None,
        rating_counts={str(score): scores[score] for score in SCORES},
    )


def _row(key: Key, label: str, tally: _Tally) -> ReportRow:
    waits, services = sorted(tally.waits), sorted(tally.services)
    return summary_row(key, label, issued=tally.issued, served=tally.served, no_show=tally.no_show,
                       transferred=tally.transferred, wait_mean=_mean(waits), wait_p90=percentile(waits, 0.9),
                       service_mean=_mean(services), service_p90=percentile(services, 0.9), scores=tally.scores)


@dataclass(frozen=True)
class WaitBar:
    """One bar of the wait-time distribution: tickets first called after ``from_min`` up to ``to_min`` minutes."""

    from_min: int
    to_min: int | None
    count: int

    @property
    def label(self) -> str:
        if self.to_min is None:
            return f"từ {self.from_min} phút"
        return f"{self.from_min}–{self.to_min} phút"

    def as_json(self) -> dict[str, Any]:
        return {"from_min": self.from_min, "to_min": self.to_min, "label": self.label, "count": self.count}


def wait_distribution(waits: Iterable[float]) -> list[WaitBar]:
    """How many called tickets waited how long: [0, 5), [5, 10), ... [60, ...) minutes."""
    counts = [0] * len(WAIT_BUCKETS)
    for wait in waits:
        counts[bisect.bisect_right(WAIT_BUCKETS, wait) - 1] += 1
    return wait_bars(counts)


def wait_bars(counts: Sequence[int]) -> list[WaitBar]:
    """The distribution's bars from how many waits fell in each of WAIT_BUCKETS' ranges."""
    bounds = [*WAIT_BUCKETS[1:], None]
    return [WaitBar(low, high, n) for low, high, n in zip(WAIT_BUCKETS, bounds, counts, strict=True)]


@dataclass(frozen=True)
class Report:
    """A report of one grouping over ``first``..``last`` (service days, both included)."""

    first: date
    last: date
    by: str
    rows: list[ReportRow]
    total: ReportRow
    wait_distribution: list[WaitBar]
    site_name: str
    timezone: str

    @property
    def title(self) -> str:
        return f"Báo cáo theo {GROUPING_VI[self.by]}"

    @property
    def range_text(self) -> str:
        return f"từ {vietnamese_date(self.first)} đến {vietnamese_date(self.last)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(), "to": self.last.isoformat(), "by": self.by,
            "rows": [row.as_json() for row in self.rows], "total": self.total.as_json(),
            "wait_distribution": [bar.as_json() for bar in self.wait_distribution],
            "site_name": self.site_name, "timezone": self.timezone, "definitions": dict(COLUMN_DEFINITIONS_VI),
        }


def report_file_name(first: date, last: date, by: str, suffix: str) -> str:
    """``bao-cao-quay-2026-11-01-den-2026-11-30.xlsx``: the grouping and the range, ASCII only."""
    slug = GROUPING_SLUG.get(by, "tat-ca")
    return f"bao-cao-{slug}-{first.isoformat()}-den-{last.isoformat()}.{suffix}"


def vietnamese_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def time_label(by: str, key: Key) -> str:
    """A day ("Thứ Hai, 30/11/2026") or an hour of the day ("09:00–10:00") as a row is named."""
    if by == "day":
        day = date.fromisoformat(str(key))
        return f"{WEEKDAYS_VI[day.weekday()]}, {vietnamese_date(day)}"
    hour = int(key or 0)
    return f"{hour:02d}:00–{(hour + 1) % 24:02d}:00"


# --- labels --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """The names rows are shown by: the site file's queues, counters and fields, the people's full names."""

    site: SiteConfig
    full_names: Mapping[str, str]

    @property
    def site_name(self) -> str:
        return self.site.site_name

    @property
    def timezone(self) -> str:
        return self.site.timezone

    def label(self, by: str, key: Key) -> str:
        if by in ("day", "hour"):
            return time_label(by, key)
        if key is None:
            return {"field": "Chưa xếp lĩnh vực"}.get(by, "Chưa được gọi")
        if by == "queue":
            queue = self.site.queue(int(key))
            return queue.name if queue else f"Hàng chờ {key} (không còn trong cấu hình)"
        if by == "counter":
            counter = self.site.counter(int(key))
            return f"Quầy {counter.number} · {counter.name}" if counter else f"Quầy {key} (không còn trong cấu hình)"
        if by == "field":
            known = self.site.field(int(key))
            return known.name if known else f"Lĩnh vực {key} (không còn trong cấu hình)"
        name = self.full_names.get(str(key))
        return f"{name} ({key})" if name else str(key)

    def listed_keys(self, by: str, first: date, last: date) -> list[Key]:
        """The groups a report always lists, even with nothing to count: the site's, every day of the range."""
        if by == "queue":
            return [q.id for q in self.site.queues]
        if by == "counter":
            return [c.id for c in self.site.counters]
        if by == "field":
            return [f.id for f in self.site.fields]
        if by == "day":
            return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        return []


def ordered_keys(by: str, listed: list[Key], found: Iterable[Key], labels: ReportLabels) -> list[Key]:
    """The site's groups in its order, then the others found (by id, or by name for people), "none" last."""
    seen = set(listed)
    extra = [key for key in found if key not in seen and key is not None]
    if by == "officer":
        extra.sort(key=lambda key: labels.label(by, key).casefold())
    elif by == "hour":
        ints = sorted(int(key) for key in extra if isinstance(key, int))
        # Every hour from the first to the last that has something: a chart's axis without holes.
        extra = list(range(ints[0], ints[-1] + 1)) if ints else []
    else:
        extra.sort(key=lambda key: (str(type(key)), key))
    keys = [*listed, *extra]
    if None in set(found):
        keys.append(None)
    return keys


# --- counting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupKeys:
    """How one grouping reads its key: from a ticket for each kind of count (ATTRIBUTIONS' rules), from a transfer.

    ``transfer`` None: a transfer is counted with the ticket's ``arrival`` key. ``one_key``: every count
    goes by the same key of the ticket (read once).
    """

    arrival: Callable[[TicketFacts], Key]
    outcome: Callable[[TicketFacts], Key]
    transfer: Callable[[Transfer], Key] | None
    rating: Callable[[TicketFacts], Key]
    one_key: bool = False


def hall_keys(by: str, site: SiteConfig) -> GroupKeys:
    """A hall's grouping ``by`` (one of GROUPINGS), by ATTRIBUTIONS and the site file."""
    rule = ATTRIBUTIONS[by]
    return GroupKeys(
        arrival=fact_key(rule.arrival, site), outcome=fact_key(rule.outcome, site),
        transfer=operator.attrgetter(rule.transfer) if rule.transfer is not None else None,
        rating=fact_key(rule.rating, site),
        one_key=rule.arrival == rule.outcome == rule.rating and rule.transfer is None,
    )


class ReportLabels(Protocol):
    """What a report's rows are named by (a hall's :class:`Labels`, or the province's)."""

    @property
    def site_name(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    def label(self, by: str, key: Key) -> str: ...

    def listed_keys(self, by: str, first: date, last: date) -> list[Key]: ...


class _Grouping:
    """The tallies of one grouping, counted a batch of tickets at a time (``count``) by its :class:`GroupKeys`."""

    def __init__(self, by: str, keys: GroupKeys):
        self.by = by
        self.tallies: dict[Key, _Tally] = {}
        self.count = self._counter(keys, self.tallies)

    @staticmethod
    def _counter(keys: GroupKeys, tallies: dict[Key, _Tally]) -> Callable[[Sequence[TicketFacts]], None]:
        # A closure over locals, fields read by index, a batch per call: a year is a million tickets.
        arrival, outcome, rating, moved_by, one_key = keys.arrival, keys.outcome, keys.rating, keys.transfer, \
            keys.one_key
        get = tallies.get

        def tally(key: Key) -> _Tally:
            found = get(key)
            if found is None:
                found = tallies[key] = _Tally()
            return found

        def count(tickets: Sequence[TicketFacts]) -> None:
            for ticket in tickets:
                key = arrival(ticket)
                at = get(key) or tally(key)
                at.issued += 1
                wait = ticket[_WAIT]
                if wait is not None:
                    at.waits.append(wait)  # type: ignore[arg-type]
                status = ticket[_STATUS]
                if status == "done" or status == "no_show":
                    ended = at if one_key else tally(outcome(ticket))
                    if status == "done":
                        ended.served += 1
                    else:
                        ended.no_show += 1
                    service = ticket[_SERVICE]
                    if service is not None:
                        ended.services.append(service)  # type: ignore[arg-type]
                transfers = ticket[_TRANSFERS]
                if transfers:
                    for moved in transfers:  # type: ignore[union-attr]
                        tally(moved_by(moved) if moved_by is not None else key).transferred += 1  # type: ignore[arg-type]
                score = ticket[_SCORE]
                if score is not None:
                    (at if one_key else tally(rating(ticket))).scores[score] += 1  # type: ignore[index]

        return count

    def report(self, labels: ReportLabels, first: date, last: date) -> Report:
        # The total is the sum of the groups (each fact is in exactly one): it agrees with the rows.
        total = _Tally.of_all(self.tallies.values())
        found = [key for key, counted in self.tallies.items() if counted.busy]
        keys = ordered_keys(self.by, labels.listed_keys(self.by, first, last), found, labels)
        rows = [_row(key, labels.label(self.by, key), self.tallies.get(key) or _Tally()) for key in keys]
        return Report(first=first, last=last, by=self.by, rows=rows, total=_row(None, "Tổng cộng", total),
                      wait_distribution=wait_distribution(total.waits), site_name=labels.site_name,
                      timezone=labels.timezone)


def aggregate_all(batches: Iterable[Sequence[TicketFacts]], groupings: Iterable[str], labels: Labels,
                  first: date, last: date) -> list[Report]:
    """The reports of the facts in ``batches`` grouped each way of ``groupings`` (of GROUPINGS), in one pass."""
    counting = [_Grouping(by, hall_keys(by, labels.site)) for by in groupings]
    for batch in batches:
        for grouping in counting:
            grouping.count(batch)
    return [grouping.report(labels, first, last) for grouping in counting]


def aggregate(facts: Sequence[TicketFacts], by: str, labels: Labels, first: date, last: date) -> Report:
    """The report of ``facts`` grouped ``by`` one of GROUPINGS, each fact counted where ATTRIBUTIONS puts it."""
    return aggregate_all((facts,), (by,), labels, first, last)[0]


# --- reading the hub's database -------------------------------------------------------------------------------


# Durations in SQL, in minutes of whole milliseconds, never below 0: no timestamp is parsed in Python.
_MINUTES = "MAX(0.0, ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)) / 60.0"
# Each ticket of the range as its TicketFacts, in that order. Ticket ids only grow, so a range of days is
# (nearly always) a range of ids: the table's rows are read in order rather than looked up one by one through
# the day index (twice as fast); the day still decides. The first call is the last one here; iter_facts puts
# right the few tickets the event log says otherwise about.
_FACTS_SQL = (
    "SELECT t.ticket_id, t.service_day, t.created_at, t.origin_queue_id, t.queue_id, t.procedure_id, t.status, "
    "CASE WHEN t.first_called_at IS NOT NULL THEN t.counter_id END, "
    "CASE WHEN t.first_called_at IS NOT NULL THEN NULLIF(t.called_by, '') END, "
    "t.counter_id, NULLIF(t.called_by, ''), "
    + _MINUTES.format(start="t.created_at", end="t.first_called_at") + ", "
    "CASE WHEN t.status IN ('done', 'no_show') THEN "
    + _MINUTES.format(start="t.served_since", end="t.closed_at") + " END, "
    "r.score, r.queue_id, r.counter_id, NULLIF(r.officer, ''), NULL "
    "FROM tickets t LEFT JOIN ratings r ON r.ticket_id = t.ticket_id "
    "WHERE t.ticket_id BETWEEN ? AND ? AND +t.service_day BETWEEN ? AND ?"
)
# The tickets whose first caller or transfers only the event log knows: called more than once, transferred,
# or put back in line and not called again.
_RETOLD_SQL = (
    "SELECT ticket_id, kind, counter_id, queue_id, NULLIF(actor, '') FROM events "
    "WHERE ticket_id IN (SELECT ticket_id FROM tickets WHERE ticket_id BETWEEN ? AND ? "
    "AND +service_day BETWEEN ? AND ? "
    "AND (transfers > 0 OR call_count > 1 OR (counter_id IS NULL AND first_called_at IS NOT NULL))) "
    "AND kind IN ('ticket.called', 'ticket.transferred') ORDER BY event_id"
)


def _tuples(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Plain tuples, whatever row factory the connection has (the hub's readers make sqlite3.Row)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, args).fetchall()


def iter_facts(conn: sqlite3.Connection, first: date, last: date) -> Iterator[list[TicketFacts]]:
    """Every ticket of the service days ``first``..``last`` as :class:`TicketFacts`, in batches of a few thousand.

    Read-only, within the caller's read transaction. The tickets table gives
    each ticket's latest state (its issue, first call, last counter and caller,
    close) and the ratings table its rating; the event log is read only for
    the few tickets called more than once, transferred or put back in line,
    whose first caller and transfers only the events keep. Streamed, never all
    held at once: a year is hundreds of thousands of tickets, on a small hub.
    """
    version = _tuples(conn, "PRAGMA user_version", ())[0][0]
    if version < NEEDS_SCHEMA:
        raise ReportQueryError("old_database", f"Cơ sở dữ liệu ở phiên bản {version}, cần {NEEDS_SCHEMA}: khởi động "
                               "máy chủ (qms-hub serve) một lần để nâng cấp (start the hub once to upgrade it)")
    span = (first.isoformat(), last.isoformat())
    low, high = _tuples(conn, "SELECT MIN(ticket_id), MAX(ticket_id) FROM tickets WHERE service_day BETWEEN ? AND ?",
                        span)[0]
    ids = (low or 0, high if high is not None else -1, *span)
    first_calls: dict[int, tuple[int | None, str | None]] = {}
    transfers: dict[int, list[Transfer]] = {}
    for ticket_id, kind, counter_id, queue_id, actor in _tuples(conn, _RETOLD_SQL, ids):
        if kind == "ticket.called":
            first_calls.setdefault(ticket_id, (counter_id, actor))
        else:
            transfers.setdefault(ticket_id, []).append(Transfer(queue_id, counter_id, actor))
    retold = first_calls.keys() | transfers.keys()
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(_FACTS_SQL, ids)
    while True:
        # Rows in TicketFacts' order, taken as the tuples they are: no Python call per ticket.
        rows: list[TicketFacts] = cursor.fetchmany(5000)
        if not rows:
            return
        if retold:
            for i, ticket in enumerate(rows):
                ticket_id = ticket[0]
                if ticket_id not in retold:
                    continue
                fixed: list[Any] = list(ticket)
                if ticket_id in first_calls and ticket[_WAIT] is not None:
                    fixed[_FIRST_COUNTER], fixed[_FIRST_OFFICER] = first_calls[ticket_id]
                if ticket_id in transfers:
                    fixed[_TRANSFERS] = tuple(transfers[ticket_id])
                rows[i] = TicketFacts._make(fixed)
        yield rows


def labels_for(conn: sqlite3.Connection, site: SiteConfig) -> Labels:
    """The site's names and the people's full names (the users table), to label the rows."""
    names = dict(_tuples(conn, "SELECT username, full_name FROM users WHERE full_name IS NOT NULL "
                               "AND full_name != ''", ()))
    return Labels(site, names)


def build_reports(conn: sqlite3.Connection, site: SiteConfig, first: date, last: date,
                  groupings: Iterable[str]) -> list[Report]:
    """The reports of several groupings over one range, the database read once (run off the event loop)."""
    return aggregate_all(iter_facts(conn, first, last), groupings, labels_for(conn, site), first, last)


# --- what is asked for ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    first: date
    last: date
    by: str


def _date(text: str, name: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ReportQueryError("bad_date", f"Ngày không hợp lệ: {name}={text[:20]!r} (use YYYY-MM-DD, "
                                           "e.g. 2026-11-30)") from None


def period_range(period: str, today: date) -> tuple[date, date]:
    """The service days of a named period around ``today`` (weeks start on Monday)."""
    if period == "today":
        return today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    monday = today - timedelta(days=today.weekday())
    if period == "this_week":
        return monday, today
    if period == "last_week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if period == "this_month":
        return today.replace(day=1), today
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ReportQueryError("bad_period", f"Khoảng thời gian không hợp lệ: {period[:20]!r} "
                                         f"(period is one of {', '.join(PERIODS)})")


def month_range(text: str, today: date) -> tuple[date, date]:
    """``2026-11`` (or ``last``, the month before ``today``'s) as its first and last days."""
    if text == "last":
        return period_range("last_month", today)
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ReportQueryError("bad_date", f"Tháng không hợp lệ: {text[:20]!r} (use YYYY-MM, or last)") from None
    return first, first.replace(day=calendar.monthrange(year, month)[1])


def check_range(first: date, last: date) -> None:
    if first > last:
        raise ReportQueryError("bad_range", f"Ngày bắt đầu {vietnamese_date(first)} sau ngày kết thúc "
                                            f"{vietnamese_date(last)} (from is after to)")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise ReportQueryError("range_too_long", f"Khoảng thời gian dài {days} ngày, tối đa {MAX_RANGE_DAYS} ngày "
                                                 f"(at most {MAX_RANGE_DAYS} days a report)")


def check_grouping(by: str, *, allow_all: bool = False) -> str:
    if by in GROUPINGS or (allow_all and by == "all"):
        return by
    choices = ", ".join((*GROUPINGS, "all") if allow_all else GROUPINGS)
    raise ReportQueryError("bad_grouping", f"Cách nhóm không hợp lệ: by={by[:20]!r} (by is one of {choices})")


def parse_query(params: Mapping[str, str], today: date, *, allow_all: bool = False) -> ReportQuery:
    """``from``, ``to`` (YYYY-MM-DD), or ``period``, and ``by``, from a request; this month by queue by default."""
    by = check_grouping(params.get("by") or "queue", allow_all=allow_all)
    given_from, given_to, period = params.get("from", ""), params.get("to", ""), params.get("period", "")
    if period:
        if given_from or given_to:
            raise ReportQueryError("bad_range", "Chọn khoảng thời gian hoặc hai ngày, không chọn cả hai "
                                                "(give period or from/to, not both)")
        first, last = period_range(period, today)
    elif given_from or given_to:
        last = _date(given_to, "to") if given_to else today
        first = _date(given_from, "from") if given_from else last.replace(day=1)
    else:
        first, last = period_range("this_month", today)
    check_range(first, last)
    return ReportQuery(first, last, by)


def groupings_for(by: str) -> tuple[str, ...]:
    """``all`` means every grouping (the Excel file the monthly export makes)."""
    return GROUPINGS if by == "all" else (by,)
