"""What the hub tells its clients, built from its state: pure functions, no I/O.

Each function turns the queue, the site and what the hub keeps in memory
(recent calls, announcements, alerts, connected clients) into the protocol's
messages. Nothing here sends, stores or reads the clock: the moment a
message speaks of is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec

from hub.auth import Identity
from hub.queue_state import Change, HallQueue, Ticket
from hub.shipping import ShippingStatus
from hub.site_config import CounterConfig, SiteConfig
from hub.store import StoredAnnouncement
from protocol import messages as m


def ticket_label(site: SiteConfig, ticket: Ticket) -> str:
    """The number as printed and shown: the issuing queue's prefix, then the number ("A12")."""
    queue = site.queue(ticket.origin_queue_id)
    return f"{queue.prefix if queue else ''}{ticket.number}"


def current_ticket(site: SiteConfig, ticket: Ticket | None) -> m.CurrentTicket | None:
    if ticket is None:
        return None
    return m.CurrentTicket(ticket_id=ticket.ticket_id, ticket_number=ticket.number, queue_id=ticket.queue_id,
                           priority=ticket.priority,
                           called_at=m.utc_timestamp(ticket.called_at) if ticket.called_at else None,
                           ticket_label=ticket_label(site, ticket))


def queue_line(queue: HallQueue, queue_id: int) -> m.QueueLine:
    line = queue.line_view(queue_id)
    return m.QueueLine(queue_id=queue_id, waiting_count=line.waiting_count,
                       priority_waiting_count=line.priority_waiting_count, next_numbers=line.next_numbers,
                       average_wait_time=line.average_wait_minutes)


def queue_update(site: SiteConfig, queue: HallQueue, counter_id: int) -> m.QueueUpdate:
    """A counter's QUEUE_UPDATE: the seed's fields for its own line, and each queue it serves."""
    view = queue.queue_view(counter_id)
    runtime = queue.counters[counter_id]
    config = runtime.config
    return m.QueueUpdate(
        m.QueueUpdatePayload(
            counter_id=counter_id,
            current_number=view.current_number,
            waiting_count=view.waiting_count,
            next_numbers=view.next_numbers,
            average_wait_time=view.average_wait_minutes,
            counter_name=config.name,
            status=view.status,
            queue_ids=list(config.queue_ids),
            backup_queue_ids=list(config.backup_queue_ids),
            queues=[queue_line(queue, q) for q in config.all_queue_ids],
            current_ticket=current_ticket(site, runtime.current),
        )
    )


def queue_infos(site: SiteConfig, queue: HallQueue) -> list[m.QueueInfo]:
    infos = []
    for config in site.queues:
        line = queue.line_view(config.id)
        infos.append(m.QueueInfo(
            queue_id=config.id, queue_name=config.name,
            counter_ids=[c.id for c in site.counters_serving(config.id)],
            backup_counter_ids=[c.id for c in site.counters if config.id in c.backup_queue_ids],
            waiting_count=line.waiting_count, priority_waiting_count=line.priority_waiting_count,
            next_numbers=line.next_numbers, average_wait_time=line.average_wait_minutes, prefix=config.prefix,
        ))
    return infos


def field_infos(site: SiteConfig) -> list[m.FieldInfo]:
    return [m.FieldInfo(field_id=f.id, field_name=f.name, procedure_ids=list(f.procedure_ids)) for f in site.fields]


def counter_states(site: SiteConfig, queue: HallQueue, officer_connected: Callable[[int], bool],
                   officer_name: Callable[[int], str | None] = lambda _: None, *,
                   for_admin: bool = False) -> list[m.CounterState]:
    counters = []
    for runtime in queue.counters.values():
        config = runtime.config
        view = queue.queue_view(config.id)
        procedures = [p for q in config.queue_ids for p in site.procedures_of(q)]
        counters.append(
            m.CounterState(
                counter_id=config.id,
                counter_name=config.name,
                status=runtime.status,
                reason=runtime.reason,
                changed_by=runtime.changed_by,
                status_changed_at=m.utc_timestamp(runtime.status_changed_at) if runtime.status_changed_at else None,
                procedures=[m.ProcedureInfo(procedure_id=p.id, procedure_name=p.name, queue_id=p.queue_id,
                                            field_id=p.field_id) for p in procedures],
                current_number=view.current_number,
                waiting_count=view.waiting_count,
                next_numbers=view.next_numbers,
                average_wait_time=view.average_wait_minutes,
                officer_connected=officer_connected(config.id),
                counter_number=config.number,
                queue_ids=list(config.queue_ids),
                backup_queue_ids=list(config.backup_queue_ids),
                current_ticket=current_ticket(site, runtime.current),
                # Only where the site says the counter display may show it (counter_display_shows_officer).
                # Admins always see who works where; screens facing citizens only when the site allows it.
                officer_name=officer_name(config.id) if for_admin or site.counter_display_shows_officer else None,
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
    display_counters: Iterable[int] = (),
) -> m.Snapshot:
    """Everything a client needs to draw its screen; the admin's extras only for an admin.

    ``display_counters``: for a TV, the counters its location shows (``SiteConfig.counters_shown_at``).
    """
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
            queues=queue_infos(site, queue),
            fields=field_infos(site),
            priority_streak=site.priority_streak,
            display_counters=list(display_counters),
        )
    )


def _shown_counter(site: SiteConfig, ticket: Ticket) -> CounterConfig:
    """The counter a ticket names: the one that called it, or while it waits the first counter of its queue."""
    if ticket.counter_id is not None:
        counter = site.counter(ticket.counter_id)
        if counter is not None:
            return counter
    serving = site.counters_serving(ticket.queue_id) or site.counters_serving(ticket.queue_id, backup=True)
    return serving[0] if serving else site.counters[0]


def ticket_created(site: SiteConfig, ticket: Ticket, people_ahead: int, wait: int, *,
                   for_requester: bool) -> m.TicketCreated:
    """The ticket as the requesting kiosk gets it (with its request id and code), or as TVs and admins do."""
    counter = _shown_counter(site, ticket)
    queue = site.queue(ticket.queue_id)
    return m.TicketCreated(
        m.TicketCreatedPayload(
            ticket_id=ticket.ticket_id,
            ticket_number=ticket.number,
            counter_id=counter.id,
            counter_name=counter.name,
            procedure_name=ticket.procedure_name,
            created_at=m.utc_timestamp(ticket.created_at),
            estimated_wait_time=wait,
            procedure_id=ticket.procedure_id,
            people_ahead=people_ahead,
            request_id=ticket.request_id if for_requester else None,
            ticket_code=ticket.code if for_requester else None,
            service_day=ticket.service_day.isoformat(),
            queue_id=ticket.queue_id,
            queue_name=queue.name if queue else None,
            priority=ticket.priority,
            priority_reason=ticket.priority_reason,
            status=ticket.status,
            counter_ids=[c.id for c in site.counters_serving(ticket.queue_id)],
            ticket_label=ticket_label(site, ticket),
        )
    )


def for_requester(created: m.TicketCreated, ticket: Ticket) -> m.TicketCreated:
    """The TICKET_CREATED everyone hears, as the requesting kiosk gets it: with its request id and code."""
    return m.TicketCreated(msgspec.structs.replace(created.payload, request_id=ticket.request_id,
                                                   ticket_code=ticket.code))


def announcement_text(site: SiteConfig, ticket: Ticket, counter: CounterConfig) -> str:
    return site.render_announcement(ticket.number, counter, site.queue(ticket.queue_id))


def call_record(site: SiteConfig, ticket: Ticket) -> m.CallRecord:
    counter = _shown_counter(site, ticket)
    assert ticket.called_at is not None
    return m.CallRecord(
        ticket_number=ticket.number,
        counter_id=counter.id,
        counter_name=counter.name,
        announcement_text=announcement_text(site, ticket, counter),
        timestamp=m.utc_timestamp(ticket.called_at),
        counter_number=counter.number,
        queue_id=ticket.queue_id,
        priority=ticket.priority,
        ticket_label=ticket_label(site, ticket),
    )


def call_messages(site: SiteConfig, called: Change, identity: Identity,
                  now: datetime) -> tuple[m.TicketAnnouncement, m.CallTicketOut]:
    """What TVs show and speak for a call, and the call as TVs and admins hear of it."""
    ticket = called.ticket
    counter = _shown_counter(site, ticket)
    queue = site.queue(ticket.queue_id)
    label = ticket_label(site, ticket)
    announcement = m.TicketAnnouncement(
        m.TicketAnnouncementPayload(
            ticket_number=ticket.number,
            counter_id=counter.id,
            counter_name=counter.name,
            announcement_text=announcement_text(site, ticket, counter),
            audio_url=None,
            display_duration=site.display_duration,
            counter_number=counter.number,
            queue_id=ticket.queue_id,
            queue_name=queue.name if queue else None,
            priority=ticket.priority,
            ticket_label=label,
        )
    )
    call = m.CallTicketOut(
        m.CallTicketOutPayload(
            ticket_number=ticket.number,
            counter_id=counter.id,
            counter_name=counter.name,
            called_by=m.CalledBy(user_id=identity.user_id, username=identity.username, full_name=identity.full_name),
            timestamp=m.utc_timestamp(now),
            ticket_id=ticket.ticket_id,
            recall=called.recall,
            queue_id=ticket.queue_id,
            queue_name=queue.name if queue else None,
            priority=ticket.priority,
            counter_number=counter.number,
            ticket_label=label,
        )
    )
    return announcement, call


def ticket_updated(site: SiteConfig, ticket: Ticket, action: str, by: str, now: datetime, *,
                   from_queue_id: int | None = None, from_counter_id: int | None = None,
                   to_counter_id: int | None = None, note: str = "") -> m.TicketUpdated:
    queue = site.queue(ticket.queue_id)
    return m.TicketUpdated(
        m.TicketUpdatedPayload(
            ticket_id=ticket.ticket_id,
            ticket_number=ticket.number,
            queue_id=ticket.queue_id,
            counter_id=ticket.counter_id if ticket.counter_id is not None else from_counter_id,
            status=ticket.status,
            priority=ticket.priority,
            action=action,
            by=by,
            timestamp=m.utc_timestamp(now),
            queue_name=queue.name if queue else None,
            ticket_label=ticket_label(site, ticket),
            from_queue_id=from_queue_id,
            from_counter_id=from_counter_id,
            to_counter_id=to_counter_id,
            note=note,
        )
    )


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


def stats(queue: HallQueue, now: datetime, shipping: ShippingStatus | None = None) -> m.StatsUpdatePayload:
    figures = queue.stats()
    shipping_on = shipping is not None and shipping.enabled
    busiest = figures.busiest_counter
    return m.StatsUpdatePayload(
        total_tickets_today=figures.total_tickets_today,
        active_counters=figures.active_counters,
        average_wait_time=figures.average_wait_minutes,
        busiest_counter=m.BusiestCounter(id=busiest[0], name=busiest[1], queue_length=busiest[2]) if busiest else None,
        timestamp=m.utc_timestamp(now),
        waiting_total=figures.waiting_total,
        served_today=figures.served_today,
        central_pending_events=shipping.pending_events if shipping is not None and shipping_on else None,
        central_lag_seconds=round(shipping.lag_seconds(now), 1) if shipping is not None and shipping_on else None,
        central_problem=shipping.problem if shipping is not None and shipping_on else "",
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
