"""What the hub tells its clients, built from its state: pure functions, no I/O.

Each function turns the queue, the site and what the hub keeps in memory
(recent calls, announcements, alerts, connected clients) into the protocol's
messages. Nothing here sends, stores or reads the clock: the moment a
message speaks of is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from hub.auth import Identity
from hub.queue_state import HallQueue, Ticket, TicketCalled
from hub.site_config import SiteConfig
from hub.store import StoredAnnouncement
from protocol import messages as m


def queue_update(site: SiteConfig, queue: HallQueue, counter_id: int) -> m.QueueUpdate:
    view = queue.queue_view(counter_id)
    counter = site.counter(counter_id)
    return m.QueueUpdate(
        m.QueueUpdatePayload(
            counter_id=counter_id,
            current_number=view.current_number,
            waiting_count=view.waiting_count,
            next_numbers=view.next_numbers,
            average_wait_time=view.average_wait_minutes,
            counter_name=counter.name if counter else None,
            status=view.status,
        )
    )


def counter_states(queue: HallQueue, officer_connected: Callable[[int], bool]) -> list[m.CounterState]:
    counters = []
    for runtime in queue.counters.values():
        view = queue.queue_view(runtime.config.id)
        counters.append(
            m.CounterState(
                counter_id=runtime.config.id,
                counter_name=runtime.config.name,
                status=runtime.status,
                reason=runtime.reason,
                changed_by=runtime.changed_by,
                status_changed_at=m.utc_timestamp(runtime.status_changed_at) if runtime.status_changed_at else None,
                procedures=[m.ProcedureInfo(procedure_id=p.id, procedure_name=p.name)
                            for p in runtime.config.procedures],
                current_number=view.current_number,
                waiting_count=view.waiting_count,
                next_numbers=view.next_numbers,
                average_wait_time=view.average_wait_minutes,
                officer_connected=officer_connected(runtime.config.id),
            )
        )
    return counters


def announcements_for(client_type: str | None, client_id: str | None,
                      announcements: Iterable[m.AnnouncementOutPayload]) -> list[m.AnnouncementOutPayload]:
    """The announcements still on show that a client of this type and id sees."""
    if client_type == "admin":
        return list(announcements)
    if client_type == "tv":
        return [a for a in announcements if not a.target_displays or client_id in a.target_displays]
    return []


def snapshot(
    site: SiteConfig,
    queue: HallQueue,
    now: datetime,
    *,
    counters: list[m.CounterState],
    announcements: list[m.AnnouncementOutPayload],
    recent_calls: Iterable[m.CallRecord],
    admin: bool,
    clients: Callable[[], list[m.ClientInfo]],
    alerts: Iterable[m.SystemAlertPayload],
    stats: Callable[[], m.StatsUpdatePayload],
) -> m.Snapshot:
    """Everything a client needs to draw its screen; the admin's extras only for an admin."""
    return m.Snapshot(
        m.SnapshotPayload(
            site_name=site.site_name,
            server_time=m.utc_timestamp(now),
            service_day=queue.service_day.isoformat(),
            timezone=site.timezone,
            display_duration=site.display_duration,
            counters=counters,
            announcements=announcements,
            recent_calls=list(recent_calls)[::-1],
            clients=clients() if admin else [],
            alerts=list(alerts)[::-1] if admin else [],
            stats=stats() if admin else None,
            public_url=site.public_url,
            announcement_template=site.announcement_template,
        )
    )


def ticket_created(site: SiteConfig, ticket: Ticket, people_ahead: int, wait: int, *,
                   for_requester: bool) -> m.TicketCreated:
    """The ticket as the requesting kiosk gets it (with its request id and code), or as TVs and admins do."""
    counter = site.counter(ticket.counter_id)
    assert counter is not None
    return m.TicketCreated(
        m.TicketCreatedPayload(
            ticket_id=ticket.ticket_id,
            ticket_number=ticket.number,
            counter_id=ticket.counter_id,
            counter_name=counter.name,
            procedure_name=ticket.procedure_name,
            created_at=m.utc_timestamp(ticket.created_at),
            estimated_wait_time=wait,
            procedure_id=ticket.procedure_id,
            people_ahead=people_ahead,
            request_id=ticket.request_id if for_requester else None,
            ticket_code=ticket.code if for_requester else None,
            service_day=ticket.service_day.isoformat(),
        )
    )


def call_record(site: SiteConfig, ticket: Ticket) -> m.CallRecord:
    counter = site.counter(ticket.counter_id)
    assert counter is not None and ticket.called_at is not None
    return m.CallRecord(
        ticket_number=ticket.number,
        counter_id=ticket.counter_id,
        counter_name=counter.name,
        announcement_text=site.render_announcement(ticket.number, counter),
        timestamp=m.utc_timestamp(ticket.called_at),
    )


def call_messages(site: SiteConfig, called: TicketCalled, identity: Identity,
                  now: datetime) -> tuple[m.CallTicketOut, m.TicketAnnouncement]:
    """A call as TVs and admins hear of it, and what TVs show and speak for it."""
    ticket = called.ticket
    counter = site.counter(ticket.counter_id)
    assert counter is not None
    call = m.CallTicketOut(
        m.CallTicketOutPayload(
            ticket_number=ticket.number,
            counter_id=ticket.counter_id,
            counter_name=counter.name,
            called_by=m.CalledBy(user_id=identity.user_id, username=identity.username, full_name=identity.full_name),
            timestamp=m.utc_timestamp(now),
            ticket_id=ticket.ticket_id,
            recall=called.recall,
        )
    )
    announcement = m.TicketAnnouncement(
        m.TicketAnnouncementPayload(
            ticket_number=ticket.number,
            counter_id=ticket.counter_id,
            counter_name=counter.name,
            announcement_text=site.render_announcement(ticket.number, counter),
            audio_url=None,
            display_duration=site.display_duration,
        )
    )
    return call, announcement


def counter_status_update(site: SiteConfig, counter_id: int, status: str, reason: str, changed_by: str,
                          now: datetime, affected_tickets: int) -> m.CounterStatusUpdate:
    counter = site.counter(counter_id)
    assert counter is not None
    return m.CounterStatusUpdate(
        m.CounterStatusUpdatePayload(
            counter_id=counter_id,
            counter_name=counter.name,
            status=status,
            reason=reason,
            changed_by=changed_by,
            timestamp=m.utc_timestamp(now),
            affected_tickets=affected_tickets,
        )
    )


def stats(queue: HallQueue, now: datetime) -> m.StatsUpdatePayload:
    figures = queue.stats()
    busiest = figures.busiest_counter
    return m.StatsUpdatePayload(
        total_tickets_today=figures.total_tickets_today,
        active_counters=figures.active_counters,
        average_wait_time=figures.average_wait_minutes,
        busiest_counter=m.BusiestCounter(id=busiest[0], name=busiest[1], queue_length=busiest[2]) if busiest else None,
        timestamp=m.utc_timestamp(now),
        waiting_total=figures.waiting_total,
        served_today=figures.served_today,
    )


def announcement(stored: StoredAnnouncement) -> m.AnnouncementOutPayload:
    return m.AnnouncementOutPayload(
        message=stored.message,
        priority=stored.priority,
        duration=stored.duration,
        target_displays=stored.target_displays,
        announcement_id=stored.announcement_id,
        sent_by=stored.sent_by,
        timestamp=m.utc_timestamp(stored.created_at),
        expires_at=m.utc_timestamp(stored.expires_at),
    )


def still_showing(announcements: Iterable[m.AnnouncementOutPayload],
                  now: datetime) -> list[m.AnnouncementOutPayload]:
    stamp = m.utc_timestamp(now)
    # ISO timestamps in one format compare as strings.
    return [a for a in announcements if (a.expires_at or "") > stamp]


def client_info(client_id: str, client_type: str, location: str, identity: Identity | None,
                connected_since: datetime | None) -> m.ClientInfo:
    return m.ClientInfo(
        client_id=client_id,
        client_type=client_type,
        location=location,
        role=identity.role if identity else "",
        username=identity.username if identity else None,
        connected_since=m.utc_timestamp(connected_since) if connected_since else "",
    )


def auth_ok(identity: Identity) -> m.AuthOk:
    return m.AuthOk(
        m.AuthOkPayload(
            role=identity.role,
            client_id=identity.client_id,
            user_id=identity.user_id,
            username=identity.username,
            full_name=identity.full_name,
            counter_id=identity.counter_id,
            expires_at=m.utc_timestamp(identity.expires_at),
        )
    )


def login_ok(token: str, identity: Identity, user_id: int, username: str) -> m.LoginOk:
    return m.LoginOk(
        m.LoginOkPayload(
            token=token,
            role=identity.role,
            user_id=user_id,
            username=username,
            full_name=identity.full_name,
            counter_id=identity.counter_id,
            expires_at=m.utc_timestamp(identity.expires_at),
        )
    )


def error(code: str, text: str, now: datetime, failed: m.ClientMessage | str | None = None,
          request_id: str | None = None) -> m.Error:
    """An ERROR naming the request that failed (its type and request id), when known."""
    if isinstance(failed, str) or failed is None:
        message_type = failed
    else:
        message_type = m.message_type(failed)
        request_id = getattr(failed.payload, "request_id", None)
    return m.Error(
        m.ErrorPayload(
            error_code=code,
            message=text,
            timestamp=m.utc_timestamp(now),
            message_type=message_type,
            request_id=request_id,
        )
    )
