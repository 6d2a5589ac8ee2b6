"""Tickets as people read them: the citizen's status page, one counter's line for its officer, and a day's list
for admins (JSON and CSV).

Pure: each function turns tickets and the site (and for the citizen and the
officer, the live queue) into what the HTTP routes answer; nothing here reads
the database or the clock.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from hub import views
from hub.queue_state import NO_SHOW, HallQueue, Ticket
from hub.site_config import SiteConfig
from protocol.messages import utc_timestamp

TICKET_STATES_VI = {
    "waiting": "Đang chờ",
    "called": "Đang được phục vụ",
    "done": "Đã xong",
    "no_show": "Vắng mặt",
    "cancelled": "Đã hủy",
    "expired": "Hết hạn",
}
PRIORITY_REASONS_VI = {
    "elderly": "Người cao tuổi",
    "disability": "Người khuyết tật",
    "pregnant": "Phụ nữ mang thai",
    "child": "Trẻ em",
    "merit": "Người có công",
    "other": "Ưu tiên",
}
CSV_COLUMNS = (
    "Ngày", "Số vé", "Hàng chờ", "Quầy", "Tên quầy", "Thủ tục", "Ưu tiên", "Trạng thái", "Giờ lấy số", "Giờ gọi",
    "Giờ xong", "Số lần gọi", "Số lần chuyển", "Cán bộ gọi", "Ki-ốt",
)
# A cell starting with one of these is a formula to Excel: a username like
# "=HYPERLINK(...)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _counter_names(site: SiteConfig, queue_id: int) -> str:
    """The counters serving a queue as a person reads them: "Quầy 2, 5"."""
    numbers = [str(c.number) for c in site.counters_serving(queue_id)]
    return "Quầy " + ", ".join(numbers) if numbers else ""


def public_status(site: SiteConfig, queue: HallQueue, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """What the holder of a ticket may see about it, and nothing about anyone else."""
    waiting = ticket.status == "waiting"
    ahead = queue.people_ahead(ticket) if waiting else 0
    line = site.queue(ticket.queue_id)
    counter = site.counter(ticket.counter_id) if ticket.counter_id is not None else None
    serving = [queue.counters[c.id] for c in site.counters_serving(ticket.queue_id)]
    open_counters = [c for c in serving if c.status == "active"]
    return {
        "ticket_number": ticket.number,
        "ticket_label": views.ticket_label(site, ticket),
        "queue_id": ticket.queue_id,
        "queue_name": line.name if line else "",
        "counter_id": ticket.counter_id,
        "counter_number": counter.number if counter else None,
        "counter_name": counter.name if counter else (serving[0].config.name if serving else ""),
        # Where to go: the counters serving the ticket's queue ("Quầy 2, 5").
        "counters": _counter_names(site, ticket.queue_id),
        "procedure_name": ticket.procedure_name,
        "status": ticket.status,
        "status_text": TICKET_STATES_VI.get(ticket.status, ticket.status),
        "priority": ticket.priority,
        "priority_text": PRIORITY_REASONS_VI.get(ticket.priority_reason or "other", "") if ticket.priority else "",
        "transferred": ticket.transfers > 0,
        "people_ahead": ahead,
        "estimated_wait_time": queue.estimate_wait_minutes(ticket.queue_id, ahead) if waiting else 0,
        # Every counter of the queue paused: the holder should know why nothing moves.
        "counter_status": "active" if open_counters or not serving else serving[0].status,
        "created_at": utc_timestamp(ticket.created_at),
        "called_at": utc_timestamp(ticket.called_at) if ticket.called_at else None,
        "closed_at": utc_timestamp(ticket.closed_at) if ticket.closed_at else None,
        "site_name": site.site_name,
        "timezone": site.timezone,
        "server_time": utc_timestamp(now),
    }


# The officer's page lists this many waiting tickets (and says how many more wait).
COUNTER_WAITING_LISTED = 50


def _counter_row(site: SiteConfig, ticket: Ticket) -> dict[str, Any]:
    """One ticket as the officer's page shows it: no citizen's code, kiosk or caller."""
    line = site.queue(ticket.queue_id)
    return {
        "ticket_id": ticket.ticket_id,
        "ticket_number": ticket.number,
        "ticket_label": views.ticket_label(site, ticket),
        "queue_id": ticket.queue_id,
        "queue_name": line.name if line else "",
        "status": ticket.status,
        "priority": ticket.priority,
        "priority_reason": ticket.priority_reason if ticket.priority else None,
        "priority_text": PRIORITY_REASONS_VI.get(ticket.priority_reason or "other", "") if ticket.priority else "",
        "transferred": ticket.transfers > 0,
        "created_at": utc_timestamp(ticket.created_at),
        "called_at": utc_timestamp(ticket.called_at) if ticket.called_at else None,
        "closed_at": utc_timestamp(ticket.closed_at) if ticket.closed_at else None,
    }


def counter_listing(site: SiteConfig, queue: HallQueue, counter_id: int, now: datetime) -> dict[str, Any]:
    """A counter's part of today, for its officer: who waits for it, whom it serves, who did not come.

    ``waiting``: its own queues' tickets in the order the counter would call
    them (priority first, then by place in line), then its backup queues'
    (``backup: true``), at most COUNTER_WAITING_LISTED of them. ``no_shows``:
    the tickets this counter marked absent today and not yet returned to the
    line, the latest first, which the officer can put back.
    """
    counter = queue.counters[counter_id]
    config = counter.config
    waiting: list[dict[str, Any]] = []
    total = 0
    for backup, queue_ids in ((False, config.queue_ids), (True, config.backup_queue_ids)):
        tickets = sorted((t for q in queue_ids for t in queue.waiting_tickets(q)),
                         key=lambda t: (not t.priority, t.order))
        total += len(tickets)
        room = COUNTER_WAITING_LISTED - len(waiting)
        waiting += [_counter_row(site, t) | {"backup": backup} for t in tickets[:max(0, room)]]
    absent = sorted((t for t in queue.tickets.values() if t.status == NO_SHOW and t.counter_id == counter_id),
                    key=lambda t: (t.closed_at or t.created_at, t.ticket_id), reverse=True)
    return {
        "service_day": queue.service_day.isoformat(),
        "timezone": site.timezone,
        "counter_id": counter_id,
        "counter_number": config.number,
        "current": _counter_row(site, counter.current) if counter.current is not None else None,
        "waiting": waiting,
        "waiting_total": total,
        "no_shows": [_counter_row(site, t) for t in absent],
        # The page measures "waited 12 minutes" against the hub's clock, not the officer's PC's.
        "server_time": utc_timestamp(now),
    }


def day_listing(site: SiteConfig, day: date, tickets: list[Ticket]) -> dict[str, Any]:
    """A service day's tickets as the admin page lists them (the citizens' codes left out)."""
    rows = []
    for ticket in sorted(tickets, key=lambda t: t.ticket_id):
        counter = site.counter(ticket.counter_id) if ticket.counter_id is not None else None
        line = site.queue(ticket.queue_id)
        rows.append({
            "ticket_id": ticket.ticket_id,
            "ticket_number": ticket.number,
            "ticket_label": views.ticket_label(site, ticket),
            "queue_id": ticket.queue_id,
            "queue_name": line.name if line else "",
            "counter_id": ticket.counter_id,
            "counter_name": counter.name if counter else "",
            "procedure_name": ticket.procedure_name,
            "status": ticket.status,
            "priority": ticket.priority,
            "priority_reason": ticket.priority_reason,
            "created_at": utc_timestamp(ticket.created_at),
            "called_at": utc_timestamp(ticket.called_at) if ticket.called_at else None,
            "first_called_at": utc_timestamp(ticket.first_called_at) if ticket.first_called_at else None,
            "closed_at": utc_timestamp(ticket.closed_at) if ticket.closed_at else None,
            "call_count": ticket.call_count,
            "transfers": ticket.transfers,
            "called_by": ticket.called_by,
            "kiosk_id": ticket.kiosk_id,
        })
    return {"service_day": day.isoformat(), "timezone": site.timezone, "tickets": rows}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def day_csv(site: SiteConfig, tickets: list[Ticket]) -> bytes:
    """A day's tickets as CSV, UTF-8 with a BOM so Excel reads the Vietnamese right."""
    tz = site.tz

    def local(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%H:%M:%S") if moment else ""

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for ticket in sorted(tickets, key=lambda t: t.ticket_id):
        counter = site.counter(ticket.counter_id) if ticket.counter_id is not None else None
        line = site.queue(ticket.queue_id)
        writer.writerow([_csv_cell(v) for v in (
            ticket.service_day.isoformat(), views.ticket_label(site, ticket), line.name if line else "",
            ticket.counter_id or "", counter.name if counter else "", ticket.procedure_name,
            PRIORITY_REASONS_VI.get(ticket.priority_reason or "other", "") if ticket.priority else "",
            TICKET_STATES_VI.get(ticket.status, ticket.status), local(ticket.created_at), local(ticket.called_at),
            local(ticket.closed_at), ticket.call_count, ticket.transfers, ticket.called_by or "",
            ticket.kiosk_id or "",
        )])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
