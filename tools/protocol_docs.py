"""``docs/protocol.md``, generated from the code: a developer's tool, not shipped.

``python -m tools.protocol_docs`` (or ``python tools/protocol_docs.py``) prints the page;
``python -m tools.protocol_docs docs/protocol.md`` (``make docs``) writes it there.
The message list, every JSON Schema, the error codes and the fields beyond the
seed come from :mod:`protocol.messages`; the numbers (port, deadlines, limits)
from the hub's defaults. What the code cannot say --
who may send a message, who hears it, an example -- lives in
:data:`MESSAGE_DOCS`, one entry per message struct.
``tests/protocol/test_docs.py`` fails when a message has no entry, an example
no longer decodes, the who-may-send data disagrees with ``hub.permissions``, or
the page in the repo is not what :func:`render` produces now.

The page is the same byte for byte on every Python and msgspec the project
allows: docstrings go through :func:`inspect.cleandoc` (Python 3.13 strips their
indentation when compiling, and msgspec 0.23 does in the schemas it makes), and
pyproject.toml bounds msgspec to the releases checked to give the same schemas.
To check another release (or Python) before widening the bound, from the repository:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install msgspec==X.Y websockets pyjwt prometheus-client tzdata
    /tmp/v/bin/python -m tools.protocol_docs | cmp - docs/protocol.md
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a script (python tools/protocol_docs.py): the packages it documents are beside tools/.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from hub import server  # noqa: E402
from hub.permissions import CLIENT_TYPE_FOR_ROLE  # noqa: E402
from hub.queue_state import SERVICE_TIME_WINDOW  # noqa: E402
from hub.session_auth import LOGIN_TOKEN_TTL  # noqa: E402
from hub.site_config import SiteConfig  # noqa: E402
from protocol import messages as m  # noqa: E402

# Roles in the order PROTOCOL.md lists senders (devices, then people by rank).
ROLE_ORDER = ("kiosk", "tv", "counter", "officer", "leader", "admin")
ALL_ROLES = ROLE_ORDER


@dataclass(frozen=True)
class ClientMessageDoc:
    """A client -> hub message: who may send it, what the hub does with it, an example payload."""

    may_send: tuple[str, ...]
    handling: str
    example: dict[str, Any]
    # Roles in ``may_send`` that may act only on their own counter.
    own_counter: tuple[str, ...] = ()
    sender_note: str = ""


@dataclass(frozen=True)
class ServerMessageDoc:
    """A hub -> client message: who hears it, when it is sent, an example payload (every field)."""

    hears: str
    when: str
    example: dict[str, Any]


MessageDoc = ClientMessageDoc | ServerMessageDoc

_COUNTER_1 = "Văn phòng đăng ký đất đai"
_COUNTER_2 = "Tư pháp - Hộ tịch"
_PROCEDURE_101 = "Đăng ký đất đai, tài sản gắn liền với đất"
_CALLED_TEXT = "Mời khách hàng số 105 đến quầy số 1"
_QUEUE_1 = "Đất đai"
_ANNOUNCEMENT = {"message": "Thông báo: Hệ thống sẽ bảo trì từ 12:00-13:00", "priority": "high", "duration": 30,
                 "target_displays": ["tv-hall-1", "tv-hall-2"]}
_CURRENT_105 = {"ticket_id": 456, "ticket_number": 105, "queue_id": 1, "priority": False,
                "called_at": "2025-07-19T03:34:00.000Z", "ticket_label": "105"}

# Keyed by struct, not by the "type" string: TICKET_CREATED, CALL_TICKET and
# ANNOUNCEMENT are both client and hub messages, with different payloads.
MESSAGE_DOCS: dict[type, MessageDoc] = {
    # --- client -> hub ---------------------------------------------------------------
    m.Auth: ClientMessageDoc(
        may_send=ALL_ROLES,
        sender_note="also before authentication",
        handling=(
            "Answered by `AUTH_OK`, or `ERROR` `AUTH_FAILED` when the token is invalid or expired, when one of "
            "the seed's optional fields (`user_id`, `role`, `counter_id`) disagrees with the token, when the "
            "token was revoked (`qms-hub token revoke`, or its account was disabled, deleted or given a new "
            "password, role or counter), or when a registered connection would change who it is. May be sent "
            "again later, e.g. with a fresh token."
        ),
        example={
            "token": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoib2ZmaWNlciJ9.c2lnbmF0dXJl",
            "user_id": 789,
            "role": "officer",
            "counter_id": 1,
        },
    ),
    m.Login: ClientMessageDoc(
        may_send=ALL_ROLES,
        sender_note="also before authentication (the account decides the role)",
        handling=(
            "Answered by `LOGIN_OK` with a token, or, after a delay that grows with each failure on the "
            "connection, `ERROR` `AUTH_FAILED`. Attempts count before their password is checked, per username "
            "and address, per address and per username: past a few failures the next attempt is refused "
            "unchecked (`AUTH_FAILED`, saying how many seconds to wait), except the right password from an "
            "address the person logged in from before. More logins at once than the hub checks get "
            "`RATE_LIMITED`. A registered connection cannot log in as someone else (`AUTH_FAILED`)."
        ),
        example={"username": "officer01", "password": "mật-khẩu-của-bạn"},
    ),
    m.RegisterClient: ClientMessageDoc(
        may_send=ALL_ROLES,
        sender_note="once authenticated, as the client type its role allows (see Session)",
        handling=(
            "Answered by `CONNECTION_ACK`, `SNAPSHOT` and one `QUEUE_UPDATE` per counter; admin consoles hear "
            "`CLIENT_CONNECTED`. From then on the connection hears the broadcasts for its client type."
        ),
        example={"client_type": "kiosk", "client_id": "kiosk-001", "location": "main-hall"},
    ),
    m.CounterStatusChange: ClientMessageDoc(
        may_send=("officer", "leader", "admin"),
        own_counter=("officer",),
        handling=(
            "Stored, then `COUNTER_STATUS_UPDATE` to every registered client and the sender, and a "
            "`QUEUE_UPDATE` for the counter. The reason is cleared when the status becomes `active`. A seed "
            "client's `changed_by` and `timestamp` are accepted and ignored: the hub records who from the token. "
            "Errors: `COUNTER_NOT_FOUND`."
        ),
        example={"counter_id": 1, "status": "paused", "reason": "Nghỉ trưa"},
    ),
    m.TicketRequest: ClientMessageDoc(
        may_send=("kiosk", "leader", "admin"),
        handling=(
            "Issues a ticket in the queue of `procedure_id`, or in `queue_id` (`counter_id` alone, as a seed kiosk "
            "sends it: that counter's first queue; with `procedure_id`, the procedure must be one of the "
            "counter's). `priority: true` with a `priority_reason` (`elderly`, `disability`, `pregnant`, "
            "`child`, `merit`, `other`) puts it in the queue's priority line. Answered with `TICKET_CREATED` "
            "once the ticket is on disk. A `request_id` is the kiosk's own: the same id again from the same "
            "kiosk (client_id) the same day returns that ticket instead of a new one. The seed's other fields "
            "are assigned by the hub; values sent for them are ignored. Errors: `COUNTER_NOT_FOUND`, "
            "`COUNTER_PAUSED` (no counter of the queue is open)."
        ),
        example={"procedure_id": 101, "request_id": "kiosk-001-000123", "priority": True,
                 "priority_reason": "elderly"},
    ),
    m.CallTicket: ClientMessageDoc(
        may_send=("officer", "leader", "admin"),
        own_counter=("officer",),
        handling=(
            "Without `ticket_number`: closes the counter's current ticket as done and calls the next one: the "
            "longest-waiting across the counter's queues, priority tickets first unless `priority_streak` "
            "priority calls in a row were made at this counter and a normal ticket waits; the counter's backup "
            "queues the same way, only when its own have nobody waiting. A ticket is never current at two "
            "counters. With `ticket_number` (and `queue_id` when the number is ambiguous): calls that ticket of "
            "a queue the counter serves, or recalls its current one. Stored, then `TICKET_ANNOUNCEMENT`, "
            "`CALL_TICKET`, `TICKET_UPDATED` for the ticket it closed, and `QUEUE_UPDATE`. With nobody "
            "waiting the current ticket is still closed (`TICKET_UPDATED`) and the answer is `QUEUE_EMPTY`. "
            "Errors: `QUEUE_EMPTY`, `COUNTER_PAUSED`, `TICKET_NOT_FOUND`, `COUNTER_NOT_FOUND`."
        ),
        example={"counter_id": 1},
    ),
    m.TicketAction: ClientMessageDoc(
        may_send=("officer", "leader", "admin"),
        own_counter=("officer",),
        handling=(
            "`finish`: the counter's current ticket is done. `no_show`: the citizen did not come. `transfer`: the "
            "current ticket waits again in `to_queue_id` (or the first queue of `to_counter_id`), keeping its "
            "number, ahead of every ticket of that queue issued after it. `return`: the `no_show` ticket "
            "`ticket_number` (of `queue_id` when ambiguous) waits again, first in its queue. `note` is kept with "
            "the ticket's history. Durable before it is answered, audited; answered with `TICKET_UPDATED`, "
            "which TVs, counter displays and admins get too, then `QUEUE_UPDATE`. An action that does not apply "
            "(nothing being served, a ticket that is not a no-show) gets `TICKET_NOT_FOUND` or `INVALID_MESSAGE` "
            "and changes nothing."
        ),
        example={"counter_id": 1, "action": "transfer", "to_counter_id": 4, "note": "Cần thêm hồ sơ bảo hiểm"},
    ),
    m.Rating: ClientMessageDoc(
        may_send=("counter",),
        sender_note="or anyone with the ticket's `ticket_code` (the citizen's status page), before or without AUTH",
        handling=(
            "The citizen's rating of a finished ticket: `score` 4 Rất hài lòng, 3 Hài lòng, 2 Chưa hài lòng, "
            "1 Không hài lòng. A counter display may rate only a ticket its counter served, within 10 minutes "
            "of the finish (a tap made while the hub was unreachable sends `rated_at`, the display's estimate "
            "of the hub's time of the tap); the status page needs the ticket's `ticket_code`. One rating per "
            "ticket, stored with its queue, counter and officer; answered with `RATING_RECORDED`. The same "
            "`request_id` again from the same display is answered again, never stored twice. Errors: "
            "`ALREADY_RATED`, `TICKET_NOT_FOUND` (not that counter's ticket, or a wrong code), `INVALID_MESSAGE` "
            "(not finished, or too late)."
        ),
        example={"ticket_id": 456, "score": 4, "request_id": "counter-01-7f3a"},
    ),
    m.Announcement: ClientMessageDoc(
        may_send=("leader", "admin"),
        handling=(
            "Stored and shown for `duration` seconds; TVs that connect meanwhile find it in their `SNAPSHOT`. "
            "Sent on as `ANNOUNCEMENT`."
        ),
        example=_ANNOUNCEMENT,
    ),
    m.Ping: ClientMessageDoc(
        may_send=ALL_ROLES,
        sender_note="also before authentication",
        handling="Answered by `PONG` with the same `timestamp`. Counts against the rate limit like any frame.",
        example={"timestamp": "2025-07-19T10:30:00Z"},
    ),
    m.DeviceStatus: ClientMessageDoc(
        may_send=("kiosk", "tv", "counter"),
        handling=(
            "Audited. A new problem (`status` `fault` or `warning`, or another `code` than the one last reported "
            "for that device and `component`) raises `SYSTEM_ALERT` `system_error` to admin consoles, severity "
            "`critical` for a fault and `warning` for a warning; the same problem reported again raises nothing. "
            "`ok` after a problem raises an `info` alert that it recovered. Devices report again after "
            "reconnecting, so a restarted hub learns of problems still present. No answer."
        ),
        example={
            "component": "printer",
            "status": "fault",
            "code": "paper_out",
            "message": "Máy in hết giấy",
            "detail": "usb:0x0416:0x5011",
        },
    ),
    # --- people (admins only) ---------------------------------------------------------
    m.UserList: ClientMessageDoc(
        may_send=("admin",),
        handling=(
            "Answered by `USERS`: every account, without password hashes. Admins only: a leader runs the hall's "
            "queues, not its accounts (`FORBIDDEN`)."
        ),
        example={"request_id": "users-1"},
    ),
    m.UserUpdate: ClientMessageDoc(
        may_send=("admin",),
        handling=(
            "`disable`, `enable`, `set_password` (`password`, at least 8 characters, hashed with scrypt off the "
            "event loop), `set_counter` (an officer's `counter_id`), `delete` (`confirm_username`: the account's "
            "username typed again). Saved with its audit row, then `USER_UPDATED` to the sender and every admin "
            "console. All but `enable` end the person's open sessions (closed with code 1008) and revoke their "
            "tokens. Refused with `FORBIDDEN` when it would lock the hall out (an admin disabling or deleting "
            "their own account, or the last admin who can log in), `COUNTER_NOT_FOUND` for an unknown counter, "
            "`INVALID_MESSAGE` for an unknown account, a short password or a wrong confirmation."
        ),
        example={"user_id": 12, "action": "set_counter", "counter_id": 2, "request_id": "users-2"},
    ),
    # --- hub -> client ---------------------------------------------------------------
    m.AuthOk: ServerMessageDoc(
        hears="the sender of `AUTH`",
        when="The token was accepted. Authenticate again before `expires_at`.",
        example={
            "role": "officer",
            "client_id": None,
            "user_id": 789,
            "username": "officer01",
            "full_name": "Nguyễn Văn A",
            "counter_id": 1,
            "expires_at": "2025-07-19T17:30:00.000Z",
        },
    ),
    m.LoginOk: ServerMessageDoc(
        hears="the sender of `LOGIN`",
        when=(
            "The password was right. The connection is now authenticated; `token` serves for `AUTH` on later "
            "connections until `expires_at`."
        ),
        example={
            "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoib2ZmaWNlciJ9.c2lnbmF0dXJl",
            "role": "officer",
            "user_id": 789,
            "username": "officer01",
            "full_name": "Nguyễn Văn A",
            "counter_id": 1,
            "expires_at": "2025-07-19T17:30:00.000Z",
        },
    ),
    m.ConnectionAck: ServerMessageDoc(
        hears="the sender of `REGISTER_CLIENT`",
        when=(
            "First answer to `REGISTER_CLIENT`. `connected_clients` counts registered connections, this one "
            "included."
        ),
        example={
            "client_id": "kiosk-001",
            "server_time": "2025-07-19T03:30:00.000Z",
            "connected_clients": 15,
            "client_type": "kiosk",
            "protocol_version": m.PROTOCOL_VERSION,
            "hub_version": "0.1.0",
        },
    ),
    m.Snapshot: ServerMessageDoc(
        hears="the sender of `REGISTER_CLIENT`, right after `CONNECTION_ACK`",
        when=(
            "Everything needed to draw a screen. Announcements still showing: all of them for admin consoles, "
            "those aimed at it for a TV, none for kiosks and officers. `recent_calls` newest first. `clients`, "
            "`alerts` (newest first) and `stats` only for admin consoles. `public_url`: the site's public address "
            "(kiosks print a QR code of `{public_url}/t/{ticket_code}`), null when the site has none. "
            "`announcement_template`: the site's text for a call (placeholders as in the site file), which TVs "
            "speak. Version 2: `queues` (each line of citizens, the counters serving it, its waiting and "
            "priority counts), `fields` (groups of procedures for the kiosk's menu), `priority_streak`; each "
            "counter's `counter_number`, `queue_ids`, `backup_queue_ids`, `current_ticket` and, when an officer "
            "is logged in there, `officer_name`; each procedure's `queue_id` and `field_id`. "
            "`display_counters` (TVs only): the counters this TV shows, from the site file's `[[displays]]` "
            "entry whose `location` is the TV's `REGISTER_CLIENT` location; empty: every counter."
        ),
        example={
            "site_name": "Trung tâm Phục vụ hành chính công tỉnh",
            "server_time": "2025-07-19T03:35:00.000Z",
            "service_day": "2025-07-19",
            "timezone": "Asia/Ho_Chi_Minh",
            "display_duration": 10,
            "counters": [
                {
                    "counter_id": 1,
                    "counter_name": _COUNTER_1,
                    "status": "active",
                    "reason": "",
                    "changed_by": "",
                    "status_changed_at": None,
                    "procedures": [{"procedure_id": 101, "procedure_name": _PROCEDURE_101, "queue_id": 1,
                                    "field_id": 1}],
                    "current_number": 105,
                    "waiting_count": 3,
                    "next_numbers": [106, 107, 108],
                    "average_wait_time": 12,
                    "officer_connected": True,
                    "counter_number": 1,
                    "queue_ids": [1],
                    "backup_queue_ids": [],
                    "current_ticket": _CURRENT_105,
                    "officer_name": "Nguyễn Văn A",
                },
                {
                    "counter_id": 2,
                    "counter_name": _COUNTER_2,
                    "status": "paused",
                    "reason": "Đi họp",
                    "changed_by": "leader01",
                    "status_changed_at": "2025-07-19T02:10:00.000Z",
                    "procedures": [{"procedure_id": 201, "procedure_name": "Đăng ký khai sinh", "queue_id": 2,
                                    "field_id": 2}],
                    "current_number": None,
                    "waiting_count": 0,
                    "next_numbers": [],
                    "average_wait_time": 0,
                    "officer_connected": False,
                    "counter_number": 2,
                    "queue_ids": [2],
                    "backup_queue_ids": [1],
                    "current_ticket": None,
                    "officer_name": None,
                },
            ],
            "announcements": [
                {
                    "message": "Thông báo: Hệ thống sẽ bảo trì từ 12:00-13:00",
                    "priority": "high",
                    "duration": 600,
                    "target_displays": [],
                    "announcement_id": 7,
                    "sent_by": "admin01",
                    "timestamp": "2025-07-19T03:30:00.000Z",
                    "expires_at": "2025-07-19T03:40:00.000Z",
                }
            ],
            "recent_calls": [
                {
                    "ticket_number": 105,
                    "counter_id": 1,
                    "counter_name": _COUNTER_1,
                    "announcement_text": _CALLED_TEXT,
                    "timestamp": "2025-07-19T03:34:00.000Z",
                    "counter_number": 1,
                    "queue_id": 1,
                    "priority": False,
                    "ticket_label": "105",
                }
            ],
            "clients": [],
            "alerts": [],
            "stats": None,
            "public_url": "https://qms.example.gov.vn",
            "announcement_template": m.DEFAULT_ANNOUNCEMENT_TEMPLATE,
            "queues": [
                {"queue_id": 1, "queue_name": _QUEUE_1, "counter_ids": [1], "waiting_count": 3,
                 "priority_waiting_count": 1, "next_numbers": [106, 107, 108], "average_wait_time": 12, "prefix": "",
                 "backup_counter_ids": [2]},
                {"queue_id": 2, "queue_name": _COUNTER_2, "counter_ids": [2], "waiting_count": 0,
                 "priority_waiting_count": 0, "next_numbers": [], "average_wait_time": 0, "prefix": "",
                 "backup_counter_ids": []},
            ],
            "fields": [
                {"field_id": 1, "field_name": "Đất đai - Nhà ở", "procedure_ids": [101]},
                {"field_id": 2, "field_name": "Tư pháp - Hộ tịch", "procedure_ids": [201]},
            ],
            "priority_streak": 3,
            "display_counters": [],
        },
    ),
    m.CounterStatusUpdate: ServerMessageDoc(
        hears="every registered client, and the sender of `COUNTER_STATUS_CHANGE`",
        when=(
            "A counter was paused, resumed or taken offline. `affected_tickets`: tickets waiting there (they "
            "stay). `changed_by`: who, from the token."
        ),
        example={
            "counter_id": 1,
            "counter_name": _COUNTER_1,
            "status": "paused",
            "reason": "Nghỉ trưa",
            "changed_by": "officer01",
            "timestamp": "2025-07-19T04:30:00.000Z",
            "affected_tickets": 3,
        },
    ),
    m.TicketCreated: ServerMessageDoc(
        hears=(
            "the requester, with `request_id` and `ticket_code`; TVs and admin consoles, with those two null "
            "(a retried `request_id`: the requester alone)"
        ),
        when=(
            "A ticket was issued and is on disk. `people_ahead` and `estimated_wait_time` are as of issue. "
            "`ticket_code` is the ticket's private code, for the printout. Version 2: `queue_id`, `queue_name`, "
            "`priority` (and `priority_reason`), `status`; `counter_id` is the first counter of the ticket's "
            "queue while it waits, `counter_ids` every counter serving it (the ticket names them all); "
            "`ticket_label` is the number as printed (the queue's prefix, then the number)."
        ),
        example={
            "ticket_id": 456,
            "ticket_number": 105,
            "counter_id": 1,
            "counter_name": _COUNTER_1,
            "procedure_name": _PROCEDURE_101,
            "created_at": "2025-07-19T03:30:00.000Z",
            "estimated_wait_time": 15,
            "procedure_id": 101,
            "people_ahead": 3,
            "request_id": "kiosk-001-000123",
            "ticket_code": "q3Jx9dZk1sT-aB7w",
            "service_day": "2025-07-19",
            "queue_id": 1,
            "queue_name": _QUEUE_1,
            "priority": True,
            "priority_reason": "elderly",
            "status": "waiting",
            "counter_ids": [1],
            "ticket_label": "105",
        },
    ),
    m.QueueUpdate: ServerMessageDoc(
        hears="every registered client (and, on registration, one per counter to the newcomer)",
        when=(
            "A counter's queue or status changed: a ticket issued, called, finished, transferred or returned, a "
            "status change, the day turning; one for each counter whose line moved (every counter serving the "
            "queue, own or backup). The seed's fields describe the counter's own queues in the order it calls "
            "them; `queues` has each queue it serves (own, then backup) as a line of its own, `current_ticket` "
            "the ticket it serves. `average_wait_time`: minutes a ticket taken now is expected to wait (see "
            "below)."
        ),
        example={
            "counter_id": 1,
            "current_number": 105,
            "waiting_count": 8,
            "next_numbers": [106, 107, 108],
            "average_wait_time": 12,
            "counter_name": _COUNTER_1,
            "status": "active",
            "queue_ids": [1],
            "queues": [{"queue_id": 1, "waiting_count": 8, "priority_waiting_count": 1,
                        "next_numbers": [106, 107, 108], "average_wait_time": 12}],
            "current_ticket": _CURRENT_105,
            "backup_queue_ids": [],
        },
    ),
    m.CallTicketOut: ServerMessageDoc(
        hears=("TVs, admin consoles, the counter display of the counter, and the connection that called (an "
               "officer hears its own calls only)"),
        when=("A ticket was called; `recall` is true when it had been called before. Version 2: the ticket's "
              "`queue_id`, `queue_name`, `priority`, `status`, the counter's `counter_number`, `ticket_label`."),
        example={
            "ticket_number": 105,
            "counter_id": 1,
            "counter_name": _COUNTER_1,
            "called_by": {"user_id": 789, "username": "officer01", "full_name": "Nguyễn Văn A"},
            "timestamp": "2025-07-19T03:35:00.000Z",
            "ticket_id": 456,
            "recall": False,
            "queue_id": 1,
            "queue_name": _QUEUE_1,
            "priority": False,
            "status": "called",
            "counter_number": 1,
            "ticket_label": "105",
        },
    ),
    m.RatingRecorded: ServerMessageDoc(
        hears="the sender, the display of the counter that served the ticket, and admin consoles",
        when="A rating was stored (or a replayed `request_id` was recognised: the same `rating_id` again).",
        example={
            "rating_id": 12,
            "ticket_id": 456,
            "ticket_number": 105,
            "score": 4,
            "counter_id": 1,
            "source": "counter",
            "timestamp": "2025-07-19T03:47:00.000Z",
            "request_id": "counter-01-7f3a",
        },
    ),
    m.TicketUpdated: ServerMessageDoc(
        hears="TVs, counter displays, admin consoles, and the sender",
        when=(
            "A ticket's status changed other than by being called: `finish` (also when a call closes the "
            "counter's previous ticket), `no_show`, `transfer` (`from_queue_id`, `from_counter_id`, and "
            "`to_counter_id` when one was named; `queue_id` is where it waits now), `return`. `by`: who. Then "
            "`QUEUE_UPDATE` for each counter whose line moved."
        ),
        example={
            "ticket_id": 457,
            "ticket_number": 106,
            "queue_id": 4,
            "counter_id": 1,
            "status": "waiting",
            "priority": False,
            "action": "transfer",
            "by": "officer01",
            "timestamp": "2025-07-19T03:41:00.000Z",
            "queue_name": "Bảo hiểm xã hội",
            "ticket_label": "106",
            "from_queue_id": 1,
            "from_counter_id": 1,
            "to_counter_id": 4,
            "note": "Cần thêm hồ sơ bảo hiểm",
        },
    ),
    m.TicketAnnouncement: ServerMessageDoc(
        hears="TVs",
        when=(
            "A ticket was called: show `announcement_text` for `display_duration` seconds and speak it. "
            "`audio_url` is null: the TV synthesises the speech."
        ),
        example={
            "ticket_number": 105,
            "counter_id": 1,
            "counter_name": _COUNTER_1,
            "announcement_text": _CALLED_TEXT,
            "audio_url": None,
            "display_duration": 10,
            "counter_number": 1,
            "queue_id": 1,
            "queue_name": _QUEUE_1,
            "priority": False,
            "ticket_label": "105",
        },
    ),
    m.AnnouncementOut: ServerMessageDoc(
        hears="TVs named in `target_displays` (all TVs when empty), every admin console, and the sender",
        when="A leader or admin sent `ANNOUNCEMENT`; show it until `expires_at`.",
        example={
            **_ANNOUNCEMENT,
            "announcement_id": 7,
            "sent_by": "admin01",
            "timestamp": "2025-07-19T03:30:00.000Z",
            "expires_at": "2025-07-19T03:30:30.000Z",
        },
    ),
    m.SystemAlert: ServerMessageDoc(
        hears="admin consoles (admin and leader)",
        when=(
            "`counter_offline`: an active counter has had no officer connected for the site's "
            "`counter_offline_minutes` (once, until an officer connects). `high_queue`: more than the site's "
            "`high_queue` people wait at a counter (once, until the queue is back under). `system_error`: the "
            "database failed or a request hit a bug (severity `critical`), or a device reported a problem with "
            "`DEVICE_STATUS` (`critical` for a fault, `warning` for a warning, `info` once it recovered)."
        ),
        example={
            "alert_type": "counter_offline",
            "counter_id": 2,
            "message": "Quầy 2 (Tư pháp - Hộ tịch) không có cán bộ kết nối trong 5 phút",
            "severity": "warning",
            "timestamp": "2025-07-19T03:30:00.000Z",
        },
    ),
    m.StatsUpdate: ServerMessageDoc(
        hears="admin consoles (admin and leader)",
        when=(
            "After a ticket, a call, a status change or the day turning; at most one per the site's "
            "`stats_interval`, always with the latest figures. `average_wait_time`: mean minutes from ticket to "
            "first call, today. When the hall ships its history to the province's database: `central_pending_events` "
            "(not yet confirmed), `central_lag_seconds` (the oldest one's age), `central_problem` (the last failure, "
            "if any); null when shipping is off."
        ),
        example={
            "total_tickets_today": 245,
            "active_counters": 3,
            "average_wait_time": 15,
            "busiest_counter": {"id": 1, "name": _COUNTER_1, "queue_length": 12},
            "timestamp": "2025-07-19T03:30:00.000Z",
            "waiting_total": 31,
            "served_today": 198,
            "central_pending_events": 0,
            "central_lag_seconds": 0.0,
            "central_problem": "",
        },
    ),
    m.ClientConnected: ServerMessageDoc(
        hears="admin consoles (admin and leader), except the one that registered",
        when="A client registered.",
        example={
            "client_id": "kiosk-001",
            "client_type": "kiosk",
            "timestamp": "2025-07-19T03:30:00.000Z",
            "location": "main-hall",
        },
    ),
    m.ClientDisconnected: ServerMessageDoc(
        hears="admin consoles (admin and leader)",
        when=(
            "A registered connection closed or registered anew. `reason`: `manual_disconnect` (closed normally, "
            "or replaced by a newer connection of the same client), `timeout` (did not answer the hub's pings), "
            "`network_error` (anything else, flooding included). `detail`: the close reason in words, e.g. "
            "`replaced by a newer connection`, `keepalive ping timeout`, `rate limit exceeded`, `registered again`."
        ),
        example={
            "client_id": "kiosk-001",
            "reason": "timeout",
            "timestamp": "2025-07-19T03:35:00.000Z",
            "client_type": "kiosk",
            "detail": "keepalive ping timeout",
        },
    ),
    m.Pong: ServerMessageDoc(
        hears="the sender of `PING`",
        when="The answer to `PING`, with its `timestamp` (null if it had none).",
        example={"timestamp": "2025-07-19T10:30:00Z"},
    ),
    m.Error: ServerMessageDoc(
        hears="the sender of the refused frame",
        when=(
            "A frame was refused and changed nothing. `message_type` and `request_id` name the request when "
            "they could be read from it."
        ),
        example={
            "error_code": "COUNTER_PAUSED",
            "message": f"Quầy {_COUNTER_1} đang tạm dừng (counter is paused)",
            "timestamp": "2025-07-19T04:31:00.000Z",
            "message_type": "TICKET_CREATED",
            "request_id": "kiosk-001-000124",
        },
    ),
    # --- people (admins only) ---------------------------------------------------------
    m.Users: ServerMessageDoc(
        hears="the admin who sent `USER_LIST`",
        when="The answer to `USER_LIST`, in username order; `request_id` is the request's.",
        example={
            "users": [
                {"user_id": 3, "username": "canbo1", "full_name": "Nguyễn Thị Lan", "role": "officer",
                 "counter_id": 1, "disabled": False},
                {"user_id": 1, "username": "quantri", "full_name": "Trần Văn Minh", "role": "admin",
                 "counter_id": None, "disabled": False},
            ],
            "request_id": "users-1",
        },
    ),
    m.UserUpdated: ServerMessageDoc(
        hears="the admin who sent `USER_UPDATE`, and every other admin console (role admin)",
        when=(
            "An account was changed and saved. `user`: the account now (null once deleted); `sessions_ended`: "
            "that person's connections the hub closed."
        ),
        example={
            "action": "set_counter",
            "user_id": 12,
            "username": "canbo2",
            "user": {"user_id": 12, "username": "canbo2", "full_name": "Lê Văn Hùng", "role": "officer",
                     "counter_id": 2, "disabled": False},
            "changed_by": "quantri",
            "sessions_ended": 1,
            "timestamp": "2025-07-19T03:30:00.000Z",
            "request_id": "users-2",
        },
    ),
}

# When each error code is sent; where it comes from (the seed, PROTOCOL.md, or this hub).
ERROR_DOCS: dict[str, tuple[str, str]] = {
    "AUTH_FAILED": ("seed", (
        "`AUTH` with an invalid, expired or revoked token, or seed fields that disagree with it; a wrong "
        "`LOGIN`, or one refused unchecked after too many failures; any other request before authentication "
        "or after the token expired; a registered connection authenticating or logging in as someone else."
    )),
    "INVALID_MESSAGE": ("seed", (
        "A frame that is not a valid message: not JSON, a binary frame, an unknown `type`, an unknown or missing "
        "field, a wrong type, a value out of range, a ticket request with neither `counter_id` nor "
        "`procedure_id`."
    )),
    "COUNTER_NOT_FOUND": ("seed", (
        "`TICKET_CREATED`, `CALL_TICKET` or `COUNTER_STATUS_CHANGE` naming a counter the site does not have, or "
        "a `procedure_id` the site (or the named counter) does not have."
    )),
    "FORBIDDEN": ("PROTOCOL.md", (
        "The sender's role may not send this message, or not for this counter; `REGISTER_CLIENT` with a "
        "client type the role does not allow, or a device's other `client_id`; any request but `PING` and "
        "`REGISTER_CLIENT` from an authenticated connection that has not registered yet."
    )),
    "QUEUE_EMPTY": ("PROTOCOL.md", "`CALL_TICKET` without `ticket_number` when nobody is waiting."),
    "COUNTER_PAUSED": ("PROTOCOL.md", "`TICKET_CREATED` or `CALL_TICKET` at a counter that is paused or offline."),
    "RATE_LIMITED": ("PROTOCOL.md", (
        "The connection sends faster than its rate limit; the frame was dropped. At most one a second. Also a "
        "ticket request past the allowance of its token or kiosk (across all their connections), and a "
        "`LOGIN` while more logins wait for their password check than the hub takes."
    )),
    "TICKET_NOT_FOUND": ("PROTOCOL.md", (
        "`CALL_TICKET` with a `ticket_number` not issued today in a queue that counter serves; `TICKET_ACTION` "
        "with nothing being served at the counter, or with a `ticket_number` that is not its current ticket."
    )),
    "COUNTER_BUSY": ("PROTOCOL.md", (
        "`REGISTER_CLIENT` of an officer's console for a counter that has one already; register again with "
        "`take_over: true` to close that one (it is closed with code 4001 and a reason it can show)."
    )),
    "ALREADY_RATED": ("PROTOCOL.md", (
        "`RATING` of a ticket that has its rating already: one per ticket."
    )),
    "INTERNAL_ERROR": ("this hub", (
        "The hub could not carry out the request (the database failed, or a bug); nothing changed, and admin "
        "consoles get a `SYSTEM_ALERT` `system_error`. Retrying is safe."
    )),
}

# The payload fields each message has in the seed (docs/shared/seed/websocket-design.md).
# The seed lists TICKET_CREATED, CALL_TICKET and ANNOUNCEMENT as client messages;
# PROTOCOL.md has the hub send them on with the same fields.
SEED_PAYLOAD_FIELDS: dict[type, tuple[str, ...]] = {
    m.Auth: ("token", "user_id", "role", "counter_id"),
    m.RegisterClient: ("client_type", "client_id", "location"),
    m.CounterStatusChange: ("counter_id", "status", "reason", "changed_by", "timestamp"),
    m.TicketRequest: ("ticket_id", "ticket_number", "counter_id", "counter_name", "procedure_name", "created_at",
                      "estimated_wait_time"),
    m.CallTicket: ("ticket_number", "counter_id", "counter_name", "called_by", "timestamp"),
    m.Announcement: ("message", "priority", "duration", "target_displays"),
    m.Ping: ("timestamp",),
    m.ConnectionAck: ("client_id", "server_time", "connected_clients"),
    m.CounterStatusUpdate: ("counter_id", "counter_name", "status", "reason", "changed_by", "timestamp",
                            "affected_tickets"),
    m.TicketCreated: ("ticket_id", "ticket_number", "counter_id", "counter_name", "procedure_name", "created_at",
                      "estimated_wait_time"),
    m.QueueUpdate: ("counter_id", "current_number", "waiting_count", "next_numbers", "average_wait_time"),
    m.CallTicketOut: ("ticket_number", "counter_id", "counter_name", "called_by", "timestamp"),
    m.TicketAnnouncement: ("ticket_number", "counter_id", "counter_name", "announcement_text", "audio_url",
                           "display_duration"),
    m.AnnouncementOut: ("message", "priority", "duration", "target_displays"),
    m.SystemAlert: ("alert_type", "counter_id", "message", "severity", "timestamp"),
    m.StatsUpdate: ("total_tickets_today", "active_counters", "average_wait_time", "busiest_counter", "timestamp"),
    m.ClientConnected: ("client_id", "client_type", "timestamp"),
    m.ClientDisconnected: ("client_id", "reason", "timestamp"),
    m.Pong: ("timestamp",),
    m.Error: ("error_code", "message", "timestamp"),
}


# --- helpers the page and the tests share ---------------------------------------------


def payload_type(message_struct: type) -> type:
    """The payload struct of a message struct."""
    (payload,) = [f for f in msgspec.structs.fields(message_struct) if f.name == "payload"]
    return payload.type


def payload_fields(message_struct: type) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(payload_type(message_struct))


def direction(message_struct: type) -> str:
    return "client → hub" if message_struct in m.CLIENT_MESSAGE_TYPES else "hub → client"


def example_frame(message_struct: type) -> dict[str, Any]:
    return {"type": m.message_type(message_struct), "payload": MESSAGE_DOCS[message_struct].example}


def senders_text(doc: ClientMessageDoc) -> str:
    """PROTOCOL.md's wording: "officer for its own counter; leader, admin for any"."""
    if set(doc.may_send) == set(ALL_ROLES) and not doc.own_counter:
        text = "anyone"
    else:
        own = [r for r in ROLE_ORDER if r in doc.own_counter]
        others = [r for r in ROLE_ORDER if r in doc.may_send and r not in doc.own_counter]
        parts = []
        if own:
            parts.append(", ".join(own) + " for its own counter")
        if others:
            parts.append(", ".join(others) + (" for any" if own else ""))
        text = "; ".join(parts)
    return f"{text}, {doc.sender_note}" if doc.sender_note else text


def _hub_facts() -> SimpleNamespace:
    """The hub's defaults the page quotes, read from its code so the page cannot drift from them."""
    options = server.HubOptions()
    site = SiteConfig(site_name="defaults")
    return SimpleNamespace(
        port=options.port,
        auth_timeout=options.auth_timeout,
        ping_interval=options.ping_interval,
        ping_timeout=options.ping_timeout,
        login_token_hours=LOGIN_TOKEN_TTL.total_seconds() / 3600,
        client_type_for_role=CLIENT_TYPE_FOR_ROLE,
        rate=site.rate_limit.rate,
        burst=site.rate_limit.burst,
        close_after=site.rate_limit.close_after,
        tickets_per_minute=site.rate_limit.tickets_per_minute,
        ticket_burst=site.rate_limit.ticket_burst,
        connections_per_address=site.rate_limit.connections_per_address,
        connections_per_token=site.rate_limit.connections_per_token,
        unauthenticated_connections=site.rate_limit.unauthenticated_connections,
        display_duration=site.display_duration,
        default_service_minutes=site.default_service_minutes,
        service_time_window=SERVICE_TIME_WINDOW,
        stats_interval=site.stats_interval,
        counter_offline_minutes=site.alerts.counter_offline_minutes,
        high_queue=site.alerts.high_queue,
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _json_block(value: Any) -> list[str]:
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```"]


def _schema(message_struct: type) -> dict[str, Any]:
    schema = _clean_descriptions(msgspec.json.schema(message_struct))
    if "$defs" in schema:
        schema["$defs"] = dict(sorted(schema["$defs"].items()))
    return schema


def _clean_descriptions(value: Any) -> Any:
    """The schema with every ``description`` (a struct's docstring) as :func:`inspect.getdoc` shows it.

    msgspec 0.22 copies ``__doc__`` as it is, which before Python 3.13 keeps the source's
    indentation; msgspec 0.23 cleans it. Cleaned here, the page is the same on each.
    """
    if isinstance(value, dict):
        return {key: inspect.cleandoc(item) if key == "description" and isinstance(item, str)
                else _clean_descriptions(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_descriptions(item) for item in value]
    return value


def _anchor(message_struct: type) -> str:
    side = "client" if message_struct in m.CLIENT_MESSAGE_TYPES else "hub"
    return f"{side}-{m.message_type(message_struct).lower().replace('_', '-')}"


def _all_messages() -> tuple[type, ...]:
    return m.CLIENT_MESSAGE_TYPES + m.SERVER_MESSAGE_TYPES


# --- the page -----------------------------------------------------------------------------


def _intro(facts: SimpleNamespace) -> list[str]:
    kib = m.MAX_MESSAGE_BYTES // 1024
    role_rows = [f"| `{role}` | `{facts.client_type_for_role[role]}` |" for role in ROLE_ORDER]
    return [
        "# The hub protocol",
        "",
        "<!-- Generated by `python -m tools.protocol_docs` from protocol/messages.py and the hub's code. "
        "Do not edit: run `make docs`. -->",
        "",
        "How kiosks, TVs and the officer and admin consoles talk to the hub. It builds on the seed design "
        "([`shared/seed/websocket-design.md`](shared/seed/websocket-design.md)) and the contract "
        "([`shared/PROTOCOL.md`](shared/PROTOCOL.md)), copied here from the team's, and only adds to them: a "
        "client written against the seed, with its message names and payload fields exactly as written there, "
        "works unchanged.",
        "",
        "1. [Transport](#transport)",
        "2. [Session](#session)",
        "3. [Messages](#messages)",
        "4. [Error codes](#error-codes)",
        "5. [Beyond the seed](#beyond-the-seed)",
        "6. [HTTP routes](#http-routes)",
        "7. [Message reference](#message-reference)",
        "",
        "## Transport",
        "",
        f"- One port, default {facts.port} (`qms-hub serve --port`). WebSocket at `/ws`, and at `/` for seed "
        f"clients that connect to `ws://host:{facts.port}`; any other WebSocket path gets HTTP 404.",
        "- The same port answers plain HTTP GET: `/healthz` (JSON: status, version, connected clients, database "
        "ok) and `/metrics` (Prometheus text).",
        f"- Text frames, one JSON object each: `{{\"type\": \"...\", \"payload\": {{...}}}}`, UTF-8. At most "
        f"{kib} KiB ({m.MAX_MESSAGE_BYTES} bytes) a message: a larger frame closes the connection with 1009 "
        "(message too big). Binary frames get `ERROR` `INVALID_MESSAGE`. Compression (permessage-deflate) is "
        "off.",
        "- `wss://` (and `https://`) when the hub is started with `--tls-cert` and `--tls-key` (or `tls_cert` "
        "and `tls_key` in the site file).",
        "- A browser's `Origin` must be the hub's own address or one of the site's `allowed_origins`; others "
        "get HTTP 403.",
        "- The `Host` of every request must be an address or a name of the hub (`localhost`, its host name and "
        "`<host name>.local`, `public_url`'s host, the allowed origins' hosts, the site's `host_names`); any "
        "other gets HTTP 421 (a page on a foreign name pointed at the hub: DNS rebinding).",
        f"- Connections are capped: {facts.connections_per_address} from one address, "
        f"{facts.unauthenticated_connections} not yet authenticated in all (the oldest of the address holding "
        f"most makes room for a newcomer), {facts.connections_per_token} with one token (the oldest is closed "
        "with 1008); the site file's `[rate_limit]` sets them.",
        "- Client messages are checked strictly: an unknown field, a wrong type, a value out of range or an "
        "over-long string gets `ERROR` `INVALID_MESSAGE`, and so does a frame nested too deeply to read. Text "
        "(passwords aside) is NFC-normalised; control, bidirectional (U+202A-U+202E, U+2066-U+2069, ...) and "
        "invisible (zero-width, ...) characters are dropped. Clients must ignore fields they do not know in hub "
        "messages: the hub adds optional fields over time (`CONNECTION_ACK.protocol_version` says which "
        f"protocol it speaks, now {m.PROTOCOL_VERSION}).",
        "- Timestamps are ISO 8601 UTC with `Z`; the hub writes milliseconds (`2025-07-19T10:30:00.000Z`). "
        "Durations are whole minutes (`estimated_wait_time`, `average_wait_time`) or seconds (`duration`, "
        "`display_duration`), as in the seed.",
        "",
        "## Session",
        "",
        f"1. **Authenticate** within {_number(facts.auth_timeout)} s of connecting, or the hub closes the "
        "connection with 1008 (`authentication timeout`). Either `AUTH` with a JWT (a leading `Bearer ` is "
        "accepted) → `AUTH_OK`, or `LOGIN` with a username and password → `LOGIN_OK`, which carries a token "
        f"for later connections (valid {_number(facts.login_token_hours)} h). A failed attempt gets `ERROR` "
        "`AUTH_FAILED` and may be retried while the deadline lasts. Before authentication only `AUTH`, `LOGIN` "
        "and `PING` are served; anything else gets `ERROR` `AUTH_FAILED`. A request after the token expired "
        "gets `AUTH_FAILED` too: send `AUTH` with a fresh token (the connection stays registered). A token "
        "that is revoked while in use closes its connections with 1008 within a few seconds.",
        "2. **Register**: `REGISTER_CLIENT` → `CONNECTION_ACK`, then one `SNAPSHOT` (counters, procedures, "
        "queues, announcements, recent calls), then one `QUEUE_UPDATE` per counter, so a client that knows "
        "only the seed's messages is current at once. The `client_type` must fit the token's role, and a "
        "device registers under the `client_id` its token names:",
        "",
        "   | role | registers as |",
        "   | --- | --- |",
        *[f"   {row}" for row in role_rows],
        "",
        "   Between authenticating and registering only `PING` and `REGISTER_CLIENT` are served (anything "
        "else gets `ERROR` `FORBIDDEN`). Only registered connections hear broadcasts; before that a connection "
        "hears only answers to its own requests. A `client_id` that registers again while its old connection "
        "is still open replaces it (the old one is closed with 1000, `replaced by a newer connection`).",
        "3. **Stay current**: every later change reaches each client as the messages in the table below.",
        f"4. **Heartbeat**: the hub sends WebSocket pings every {_number(facts.ping_interval)} s and closes a "
        f"connection that has not answered within {_number(facts.ping_timeout)} s (admin consoles see "
        "`CLIENT_DISCONNECTED` with reason `timeout`). A client may also send `PING` (the seed sends one every "
        "30 s); the hub answers `PONG` with the same `timestamp`.",
        f"5. **Rate limit**: each connection may send {_number(facts.rate)} messages a second on average, in "
        f"bursts of up to {facts.burst} (the site file's `[rate_limit]`). A frame over the limit is dropped "
        "and answered with `ERROR` `RATE_LIMITED` (at most one a second); a connection that keeps flooding "
        f"({facts.close_after} frames dropped without slowing down) is closed with 1008 (`rate limit "
        "exceeded`). Tickets have an allowance of their own, per token and per kiosk across all their "
        f"connections: {_number(facts.tickets_per_minute)} a minute, {facts.ticket_burst} at once "
        "(`tickets_per_minute`, `ticket_burst`); past it `ERROR` `RATE_LIMITED`. A retry of a request already "
        "answered is not counted.",
        "6. **Reconnect** 5 s after a drop and repeat steps 1 and 2: the `SNAPSHOT` and `QUEUE_UPDATE`s make the "
        "client current again, announcements still on screen included.",
        "",
        "Close codes the hub uses:",
        "",
        "| code | when |",
        "| --- | --- |",
        "| 1000 | the `client_id` registered again on a newer connection |",
        f"| 1008 | no authentication within {_number(facts.auth_timeout)} s; flooding past the rate limit; the "
        "token was revoked; the token is in use on too many newer connections |",
        f"| 1009 | a frame larger than {kib} KiB |",
        "| 1011 | no answer to the hub's pings |",
        "",
    ]


def _message_table() -> list[str]:
    lines = [
        "## Messages",
        "",
        "Who may send each client message follows `hub/permissions.py` (PROTOCOL.md's table); anything else, "
        "or for another counter, gets `ERROR` `FORBIDDEN` and changes nothing. \"Admin consoles\" are "
        "connections registered as `admin`: the admin and leader roles.",
        "",
        "| type | direction | who may send it / who hears it |",
        "| --- | --- | --- |",
    ]
    for struct in _all_messages():
        doc = MESSAGE_DOCS[struct]
        parties = senders_text(doc) if isinstance(doc, ClientMessageDoc) else doc.hears
        lines.append(f"| [`{m.message_type(struct)}`](#{_anchor(struct)}) | {direction(struct)} | {parties} |")
    lines.append("")
    return lines


def _error_table() -> list[str]:
    lines = [
        "## Error codes",
        "",
        "`ERROR` carries `error_code`, a `message` a person can read (Vietnamese, with English in brackets), "
        "`timestamp`, and the `message_type` and `request_id` of the refused request when known. A refused "
        "frame never changes state and never closes the connection by itself.",
        "",
        "| error_code | from | sent when |",
        "| --- | --- | --- |",
    ]
    for code in m.ERROR_CODES:
        origin, when = ERROR_DOCS[code]
        lines.append(f"| `{code}` | {origin} | {when} |")
    beyond = [code for code in m.ERROR_CODES if ERROR_DOCS[code][0] == "this hub"]
    lines += [
        "",
        f"{' and '.join(f'`{c}`' for c in beyond)} go beyond PROTOCOL.md's list; a seed client shows the "
        "`message` of any code it does not know.",
        "",
    ]
    return lines


def _beyond_the_seed(facts: SimpleNamespace) -> list[str]:
    new_types = [s for s in _all_messages() if s not in SEED_PAYLOAD_FIELDS]
    lines = [
        "## Beyond the seed",
        "",
        "Everything here is additive: a seed client works unchanged.",
        "",
        "Message types the seed does not have (a seed client never sends them and ignores them):",
        "",
        *[f"- [`{m.message_type(s)}`](#{_anchor(s)}) ({direction(s)}): {inspect.getdoc(s)}" for s in new_types],
        "",
        "Fields the seed does not have. In client messages they are all optional; in hub messages a seed client "
        "ignores them.",
        "",
        "| type | direction | extra fields |",
        "| --- | --- | --- |",
    ]
    for struct, seed_fields in SEED_PAYLOAD_FIELDS.items():
        extra = [f.name for f in payload_fields(struct) if f.name not in seed_fields]
        cell = ", ".join(f"`{name}`" for name in extra) if extra else "none"
        lines.append(f"| `{m.message_type(struct)}` | {direction(struct)} | {cell} |")
    lines += [
        "",
        "Behaviour the seed leaves open or PROTOCOL.md settles:",
        "",
        "- `TICKET_CREATED` from a kiosk is a request. The hub assigns the number, names and times, ignores "
        "what was sent for them, and answers with the seed's full payload; `request_id` makes a retry return "
        "the same ticket.",
        "- `TICKET_ANNOUNCEMENT` is sent when a ticket is called, not when it is created (the seed's \"customer "
        "gets ticket\" step 3): PROTOCOL.md sends it to TVs on a call only.",
        "- `audio_url` in `TICKET_ANNOUNCEMENT` is null: TVs synthesise the speech from `announcement_text` "
        "themselves, so the hub serves no audio files.",
        "- `CALL_TICKET` is also sent by the hub, as the seed shows it (with `called_by`), to TVs, admin "
        "consoles and the connection that called.",
        "- `CLIENT_DISCONNECTED.detail` says in words why a client went away (the seed's `reason` is one of "
        "three values).",
        "- `QUEUE_UPDATE.average_wait_time` (and `SNAPSHOT`'s per-counter copy) is the estimated wait in "
        "minutes for a ticket taken now: the people waiting times the counter's mean service time (call to "
        f"close) over its last {facts.service_time_window} tickets, rounded up; until a counter has served "
        f"anyone today, {_number(facts.default_service_minutes)} minutes a ticket (the site's "
        "`default_service_minutes`). `TICKET_CREATED.estimated_wait_time` is the same for the people ahead of "
        "that ticket. `STATS_UPDATE.average_wait_time` is the mean wait from ticket to first call today.",
        "- `ERROR` adds `TICKET_NOT_FOUND` and `INTERNAL_ERROR` to the codes, and `message_type` and "
        "`request_id` to the payload.",
        "",
    ]
    return lines


def _reference() -> list[str]:
    lines = [
        "## Message reference",
        "",
        "Each message with its description, an example frame and the JSON Schema of the whole frame, "
        "generated from its msgspec struct. Client messages are checked against it strictly "
        "(`additionalProperties: false`); hub messages may grow optional fields.",
        "",
    ]
    for title, structs in (("Client → hub", m.CLIENT_MESSAGE_TYPES), ("Hub → client", m.SERVER_MESSAGE_TYPES)):
        lines += [f"### {title}", ""]
        for struct in structs:
            doc = MESSAGE_DOCS[struct]
            lines += [
                f'<a id="{_anchor(struct)}"></a>',
                "",
                f"#### `{m.message_type(struct)}` ({direction(struct)})",
                "",
                inspect.getdoc(struct) or "",
                "",
            ]
            if isinstance(doc, ClientMessageDoc):
                lines += [f"- **Who may send it:** {senders_text(doc)}.", f"- **What the hub does:** {doc.handling}"]
            else:
                lines += [f"- **Who hears it:** {doc.hears}.", f"- **When:** {doc.when}"]
            lines += ["", "Example:", "", *_json_block(example_frame(struct)), "", "JSON Schema:", "",
                      *_json_block(_schema(struct)), ""]
    return lines


def _http_routes() -> list[str]:
    """The plain HTTP GETs on the same port (hub/http_gate.py, hub/http_routes.py), reports in full."""
    from hub import http_routes, reports

    pages = ", ".join(f"`{path}`" for path in http_routes.PAGES)
    groupings = "|".join(reports.GROUPINGS)
    periods = ", ".join(f"`{period}`" for period in reports.PERIODS)
    report_paths = ", ".join(f"`{path}`" for path in http_routes.REPORT_FORMATS)
    return [
        "## HTTP routes",
        "",
        "Plain HTTP GET on the WebSocket port (any other method gets 405). Every answer carries the same "
        "security headers, among them `Content-Security-Policy: " + http_routes.CONTENT_SECURITY_POLICY + "`. "
        "The listings and reports want a token in an `Authorization: Bearer <token>` header (never in the "
        "address): without one, or with one the hub does not accept, 401 with `WWW-Authenticate: Bearer`; "
        "with a role that may not see it, 403. Errors are JSON `{error, message}`, the message Vietnamese "
        "first with English in brackets.",
        "",
        "| path | who | answer |",
        "| --- | --- | --- |",
        "| `/healthz` | anyone | JSON: status, version, connected clients, database ok |",
        "| `/metrics` | anyone | Prometheus text |",
        f"| {pages} | anyone (the pages log in over the WebSocket) | the console's pages (HTML); their files "
        "under `/console/`, libraries under `/console/vendor/` |",
        "| `/t/<code>`, `/api/t/<code>` | whoever holds the ticket (its code) | the citizen's ticket page, its "
        "JSON |",
        "| `/api/counter-tickets` | an officer (its counter); leader, admin (`?counter_id=N`) | the counter's "
        "waiting line and its no-shows, JSON |",
        "| `/api/tickets`, `/api/tickets.csv` | leader, admin | a day's tickets (`?date=YYYY-MM-DD`, today by "
        "default), JSON or CSV |",
        f"| {report_paths} | leader, admin | the centre's report: JSON, CSV (UTF-8 with BOM), Excel |",
        "",
        "### Reports",
        "",
        f"`/api/reports?from=YYYY-MM-DD&to=YYYY-MM-DD&by={groupings}`, or `period=` one of {periods} "
        "instead of the two dates (by the hub's clock, in the site's time zone; weeks start on Monday). "
        "Without either: this month so far; without `by`: `queue`. The answer (PROTOCOL.md \"Reports\"): "
        "`{from, to, by, rows, total, wait_distribution, site_name, timezone, definitions}`; each row and "
        "`total` has `key`, `label`, `issued`, `served`, `no_show`, `transferred`, `wait_mean_min`, "
        "`wait_p90_min`, `service_mean_min`, `service_p90_min`, `ratings`, `rating_mean`, `rating_counts` "
        "(`{\"1\": n, ... \"4\": n}`); a mean or percentile with nothing to measure is `null`. "
        "`wait_distribution` lists `{from_min, to_min, label, count}` bars of the range's waits. "
        "[docs/reports.md](reports.md) defines every column. `.csv` is the same table with Vietnamese "
        "headers and a total line; `.xlsx` an Excel workbook (also `by=all`: a sheet per grouping); both "
        "named for the grouping and the range in `Content-Disposition`. Refused with 400: `bad_date` "
        "(not YYYY-MM-DD), `bad_range` (`from` after `to`, or both `period` and dates), `range_too_long` "
        f"(more than {reports.MAX_RANGE_DAYS} days), `bad_grouping`, `bad_period`.",
        "",
    ]


def render() -> str:
    """The whole of docs/protocol.md."""
    facts = _hub_facts()
    lines = [*_intro(facts), *_message_table(), *_error_table(), *_beyond_the_seed(facts), *_http_routes(),
             *_reference()]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.protocol_docs", description="Make docs/protocol.md.")
    parser.add_argument("output", nargs="?", help="write the page here (make docs: docs/protocol.md); "
                                                  "without it, print it")
    args = parser.parse_args(argv)
    # Bytes, not text: the page is UTF-8 whatever the terminal's locale says.
    page = render().encode("utf-8")
    if args.output is None:
        sys.stdout.buffer.write(page)
        return 0
    # Written aside, then renamed: a failed run leaves the old page, never half of one.
    target = Path(args.output)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(page)
    os.replace(partial, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
