"""Every message of the hub protocol, as msgspec structs.

The one module the hub, the kiosk, the TV and the console tooling share. Names
and fields follow ``shared/seed/websocket-design.md`` exactly; the rules that
the seed leaves open are in ``shared/PROTOCOL.md`` and ``docs/protocol.md``
(generated from this file by ``python -m tools.protocol_docs``).

Two unions:

* :data:`ClientMessage` -- what a client may send. Decoded strictly: wrong
  types, unknown fields, out-of-range values and over-long strings are refused,
  and text is NFC-normalised with control characters stripped.
* :data:`ServerMessage` -- what the hub sends. Decoded leniently (unknown fields
  ignored) so an older node keeps working against a newer hub.

Every frame is ``{"type": "...", "payload": {...}}``; the ``type`` is the
struct's msgspec tag.
"""


import functools
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta, Struct, field

PROTOCOL_VERSION = 2
MAX_MESSAGE_BYTES = 64 * 1024
# What a TV shows and says for a call unless the site file sets its own (PROTOCOL.md).
# The hub sends the site's template in every SNAPSHOT; this is the one default.
DEFAULT_ANNOUNCEMENT_TEMPLATE = "Mời khách hàng số {number} đến quầy số {counter_number}"

# --- bounded scalar types ---------------------------------------------------

CounterId = Annotated[int, Meta(ge=1, le=1_000_000)]
QueueId = Annotated[int, Meta(ge=1, le=1_000_000)]
TicketId = Annotated[int, Meta(ge=1, le=2**53)]
ProcedureId = Annotated[int, Meta(ge=1, le=1_000_000_000)]
TicketNumber = Annotated[int, Meta(ge=0, le=999_999)]
UserId = Annotated[int, Meta(ge=0, le=2**53)]
# Device and console ids show up in logs, TV targets and admin screens: keep
# them to a safe alphabet.
ClientId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]
RequestId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Timestamp = Annotated[str, Meta(max_length=40)]
ShortText = Annotated[str, Meta(max_length=200)]
Reason = Annotated[str, Meta(max_length=200)]
AnnouncementText = Annotated[str, Meta(min_length=1, max_length=500)]

ClientType = Literal["kiosk", "tv", "counter", "officer", "admin"]
Role = Literal["admin", "leader", "officer", "kiosk", "tv", "counter"]
TicketStatus = Literal["waiting", "called", "done", "no_show", "cancelled", "expired"]
PriorityReason = Literal["elderly", "disability", "pregnant", "child", "merit", "other"]
TicketActionName = Literal["finish", "no_show", "transfer", "return"]
CounterStatus = Literal["active", "paused", "offline"]
Priority = Literal["high", "medium", "low"]
AlertType = Literal["counter_offline", "high_queue", "system_error"]
Severity = Literal["critical", "warning", "info"]
DisconnectReason = Literal["network_error", "manual_disconnect", "timeout"]
ErrorCode = Literal[
    "AUTH_FAILED",
    "INVALID_MESSAGE",
    "COUNTER_NOT_FOUND",
    "FORBIDDEN",
    "QUEUE_EMPTY",
    "COUNTER_PAUSED",
    "RATE_LIMITED",
    # Beyond PROTOCOL.md's list; a seed client shows `message` for any code.
    "TICKET_NOT_FOUND",
    "INTERNAL_ERROR",
    # PROTOCOL.md Version 2.
    "COUNTER_BUSY",
    "ALREADY_RATED",
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)

# Control characters (C0, DEL, C1) never belong in text a person typed; they
# can break logs, terminals and the TV's renderer.
_CONTROL_CODES = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
# Bidirectional controls reorder what a TV shows (U+202E turns "Quầy 1" around, or hides
# text behind a trusted-looking start); invisible characters make a message that looks empty,
# or two names that look alike. Vietnamese needs none of them.
_BIDI_CONTROLS = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_INVISIBLE = [
    0x00AD, 0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E,  # soft hyphen, grapheme joiner, fillers
    *range(0x200B, 0x200E), *range(0x2060, 0x2065), *range(0x206A, 0x2070),  # zero-width, invisible operators
    0x2800, 0x3164, 0xFEFF, 0xFFA0, *range(0xFFF9, 0xFFFC),  # blank braille, fillers, BOM, annotations
    *range(0xE0000, 0xE0080),  # tag characters
]
_CONTROL_CHARS = dict.fromkeys([*_CONTROL_CODES, *_BIDI_CONTROLS, *_INVISIBLE], None)


def clean_text(text: str) -> str:
    """NFC-normalise, drop control, bidirectional and invisible characters, trim: every inbound text."""
    return unicodedata.normalize("NFC", text.translate(_CONTROL_CHARS)).strip()


def has_visible_text(text: str) -> bool:
    """Whether ``text`` has a letter, digit, punctuation mark or symbol: something a TV would show."""
    return any(unicodedata.category(char)[0] in "LNPS" for char in text)


# The last second utc_timestamp formatted, and its text: the hub and the nodes stamp many
# messages a second, and strftime cost more than the rest of building a message.
# One tuple, swapped whole, so threads (the kiosk's hub client) never see half of it.
_SECOND_FORMAT = "%Y-%m-%dT%H:%M:%S."
_last_second: tuple[datetime, str] = (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00.")
_MILLISECONDS = tuple(f"{ms:03d}Z" for ms in range(1000))


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and milliseconds, as the protocol requires."""
    global _last_second
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    second = moment.replace(microsecond=0)
    cached_second, text = _last_second
    if second != cached_second:
        text = moment.strftime(_SECOND_FORMAT)
        _last_second = (second, text)
    return text + _MILLISECONDS[moment.microsecond // 1000]


def parse_timestamp(text: str) -> datetime:
    """The inverse of :func:`utc_timestamp` (accepts any ISO 8601 with an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


class _Inbound(Struct, forbid_unknown_fields=True, kw_only=True):
    """A client's payload: unknown fields refused, every string cleaned."""

    def __post_init__(self) -> None:
        limits = _text_limits(type(self))
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str):
                cleaned = clean_text(value)
                # msgspec checked the length as sent; NFC can triple some characters (composition exclusions).
                if name in limits and len(cleaned) > limits[name]:
                    raise ValueError(f"`{name}` is longer than {limits[name]} characters once normalised")
                setattr(self, name, cleaned)


_TEXT_LIMITS: dict[type, dict[str, int]] = {}


def _text_limits(cls: type) -> dict[str, int]:
    """The declared ``max_length`` of each text field of an inbound struct (computed once per class)."""
    limits = _TEXT_LIMITS.get(cls)
    if limits is None:
        limits = {}
        struct_info = msgspec.inspect.type_info(cls)
        assert isinstance(struct_info, msgspec.inspect.StructType), f"{cls.__name__} is not a Struct"
        for info in struct_info.fields:
            for kind in getattr(info.type, "types", (info.type,)):
                if isinstance(kind, msgspec.inspect.StrType) and kind.max_length is not None:
                    limits[info.name] = kind.max_length
        _TEXT_LIMITS[cls] = limits
    return limits


class _Outbound(Struct, kw_only=True):
    """A hub payload: lenient, so old clients ignore fields they do not know."""


# --- shared pieces ----------------------------------------------------------


class ChangedBy(_Inbound):
    """Who changed a counter, as a seed client may send it (ignored: the hub uses the token)."""

    user_id: UserId | None = None
    username: ShortText | None = None
    role: ShortText | None = None
    full_name: ShortText | None = None


class CalledBy(_Outbound):
    user_id: int | None
    username: str | None
    full_name: str | None


# --- client -> hub ------------------------------------------------------------


class AuthPayload(_Inbound):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]
    # The seed's other fields: optional, and must agree with the token.
    user_id: UserId | None = None
    role: Role | None = None
    counter_id: CounterId | None = None


class Auth(Struct, tag="AUTH", tag_field="type", forbid_unknown_fields=True):
    """Authenticate the connection with a JWT (``Bearer `` prefix accepted)."""

    payload: AuthPayload


class LoginPayload(_Inbound):
    username: Annotated[str, Meta(min_length=1, max_length=64)]
    password: Annotated[str, Meta(min_length=1, max_length=256)]

    def __post_init__(self) -> None:
        # Passwords are compared byte for byte: only the username is cleaned.
        self.username = clean_text(self.username)


class Login(Struct, tag="LOGIN", tag_field="type", forbid_unknown_fields=True):
    """A person logs in with a username and password; answered by LOGIN_OK with a token."""

    payload: LoginPayload


class RegisterClientPayload(_Inbound):
    client_type: ClientType
    client_id: ClientId
    location: ShortText = ""
    # An officer's console for a counter that has one already: close that one and take the counter.
    take_over: bool = False


class RegisterClient(Struct, tag="REGISTER_CLIENT", tag_field="type", forbid_unknown_fields=True):
    """Join the hall as a kiosk, TV, officer or admin console; answered by CONNECTION_ACK and the state."""

    payload: RegisterClientPayload


class CounterStatusChangePayload(_Inbound):
    counter_id: CounterId
    status: CounterStatus
    reason: Reason = ""
    # Sent by seed clients; the hub records who changed it from the token instead.
    changed_by: ChangedBy | None = None
    timestamp: Timestamp | None = None


class CounterStatusChange(Struct, tag="COUNTER_STATUS_CHANGE", tag_field="type", forbid_unknown_fields=True):
    """Pause, resume or take a counter offline."""

    payload: CounterStatusChangePayload


class TicketRequestPayload(_Inbound):
    """A kiosk's ticket request: ``counter_id`` or ``procedure_id``, and a ``request_id`` for retries.

    The seed's other TICKET_CREATED fields may be present (a seed kiosk sends
    the whole payload); the hub assigns them and ignores what was sent.
    """

    counter_id: CounterId | None = None
    procedure_id: ProcedureId | None = None
    queue_id: QueueId | None = None
    request_id: RequestId | None = None
    priority: bool = False
    priority_reason: PriorityReason | None = None
    ticket_id: int | None = None
    ticket_number: int | None = None
    counter_name: ShortText | None = None
    procedure_name: ShortText | None = None
    created_at: Timestamp | None = None
    estimated_wait_time: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.counter_id is None and self.procedure_id is None and self.queue_id is None:
            raise ValueError("a ticket request needs `procedure_id`, `queue_id` or `counter_id`")
        if self.priority_reason is not None and not self.priority:
            raise ValueError("`priority_reason` is for a priority ticket: send `priority: true` with it")


class TicketRequest(Struct, tag="TICKET_CREATED", tag_field="type", forbid_unknown_fields=True):
    """Ask for a new ticket (the seed's TICKET_CREATED from a kiosk)."""

    payload: TicketRequestPayload


class CallTicketPayload(_Inbound):
    counter_id: CounterId
    # Absent: call the next ticket. Present: call or recall that number (of `queue_id` when ambiguous).
    ticket_number: TicketNumber | None = None
    queue_id: QueueId | None = None
    counter_name: ShortText | None = None
    called_by: ChangedBy | None = None
    timestamp: Timestamp | None = None


class CallTicket(Struct, tag="CALL_TICKET", tag_field="type", forbid_unknown_fields=True):
    """Call the next ticket of a counter, or (re)call a given number."""

    payload: CallTicketPayload


class TicketActionPayload(_Inbound):
    """``finish``, ``no_show`` or ``transfer`` the counter's current ticket; ``return`` a no-show to its queue."""

    counter_id: CounterId
    action: TicketActionName
    ticket_number: TicketNumber | None = None
    queue_id: QueueId | None = None
    to_queue_id: QueueId | None = None
    to_counter_id: CounterId | None = None
    note: Reason = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action == "transfer" and self.to_queue_id is None and self.to_counter_id is None:
            raise ValueError("a transfer needs `to_queue_id` or `to_counter_id`")
        if self.action == "return" and self.ticket_number is None:
            raise ValueError("`return` needs the `ticket_number` of the no-show ticket")


class TicketAction(Struct, tag="TICKET_ACTION", tag_field="type", forbid_unknown_fields=True):
    """An officer finishes the current ticket, marks a no-show, transfers it, or returns a no-show."""

    payload: TicketActionPayload


class RatingPayload(_Inbound):
    """A citizen's rating of a finished ticket: 4 Rất hài lòng, 3 Hài lòng, 2 Chưa hài lòng, 1 Không hài lòng.

    From the counter display of the counter that served it (within 10 minutes of the finish; a rating
    tapped while the hub was unreachable carries ``rated_at``, the display's estimate of the hub's time
    of the tap), or from the citizen's status page with the ticket's ``ticket_code`` (no token needed).
    ``request_id``: the same rating sent again (a replay after a lost connection) is answered again,
    never stored twice.
    """

    ticket_id: TicketId
    score: Annotated[int, Meta(ge=1, le=4)]
    comment: Annotated[str, Meta(max_length=500)] = ""
    request_id: RequestId | None = None
    ticket_code: Annotated[str, Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    rated_at: Timestamp | None = None


class Rating(Struct, tag="RATING", tag_field="type", forbid_unknown_fields=True):
    """Rate the service of a finished ticket (once per ticket); answered by RATING_RECORDED."""

    payload: RatingPayload


class AnnouncementPayload(_Inbound):
    message: AnnouncementText
    priority: Priority = "medium"
    duration: Annotated[int, Meta(ge=1, le=86_400)] = 30
    target_displays: Annotated[list[ClientId], Meta(max_length=200)] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not has_visible_text(self.message):
            raise ValueError("an announcement needs a `message` with visible text")


class Announcement(Struct, tag="ANNOUNCEMENT", tag_field="type", forbid_unknown_fields=True):
    """Show a message on every TV, or on the TVs named in ``target_displays``."""

    payload: AnnouncementPayload


class PingPayload(_Inbound):
    timestamp: Timestamp | None = None


class Ping(Struct, tag="PING", tag_field="type", forbid_unknown_fields=True):
    """Application heartbeat; answered by PONG with the same timestamp."""

    payload: PingPayload = field(default_factory=PingPayload)


class DeviceStatusPayload(_Inbound):
    """A device's component and its state: ``code`` names the problem, ``message`` says it in Vietnamese."""

    component: Literal["printer", "gpio", "display"]
    status: Literal["ok", "warning", "fault"]
    code: Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")] = "ok"
    message: ShortText = ""
    # Technical detail for whoever fixes it (the printer's address, the driver's error text).
    detail: ShortText = ""


class DeviceStatus(Struct, tag="DEVICE_STATUS", tag_field="type", forbid_unknown_fields=True):
    """A kiosk or TV reports a hardware fault (printer out of paper) or its recovery; admins get a SYSTEM_ALERT."""

    payload: DeviceStatusPayload


# --- people (admins only) ---------------------------------------------------------------------

UserAction = Literal["disable", "enable", "set_password", "set_counter", "delete"]


class UserListPayload(_Inbound):
    request_id: RequestId | None = None


class UserList(Struct, tag="USER_LIST", tag_field="type", forbid_unknown_fields=True):
    """An admin asks for the accounts that log in at the console; answered by USERS."""

    payload: UserListPayload = field(default_factory=UserListPayload)


class UserUpdatePayload(_Inbound):
    user_id: UserId
    action: UserAction
    # set_password: the new password (at least 8 characters; compared byte for byte, so never cleaned).
    password: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    # set_counter: the officer's new counter.
    counter_id: CounterId | None = None
    # delete: the account's username typed again, the console's confirmation.
    confirm_username: Annotated[str, Meta(max_length=64)] | None = None
    request_id: RequestId | None = None

    def __post_init__(self) -> None:
        # Not the base class's cleaning: the password is compared byte for byte, like LOGIN's.
        if self.confirm_username is not None:
            self.confirm_username = clean_text(self.confirm_username)
            if len(self.confirm_username) > 64:
                raise ValueError("`confirm_username` is longer than 64 characters once normalised")
        if self.action == "set_password" and self.password is None:
            raise ValueError("set_password needs a `password`")
        if self.action == "set_counter" and self.counter_id is None:
            raise ValueError("set_counter needs a `counter_id`")


class UserUpdate(Struct, tag="USER_UPDATE", tag_field="type", forbid_unknown_fields=True):
    """An admin disables, enables or deletes an account, sets its password or an officer's counter."""

    payload: UserUpdatePayload


ClientMessage = (
    Auth | Login | RegisterClient | CounterStatusChange | TicketRequest | CallTicket | TicketAction | Announcement
    | Ping | DeviceStatus | Rating | UserList | UserUpdate
)
CLIENT_MESSAGE_TYPES: tuple[type, ...] = get_args(ClientMessage)


# --- hub -> client ------------------------------------------------------------


class AuthOkPayload(_Outbound):
    role: str
    client_id: str | None
    user_id: int | None
    username: str | None
    full_name: str | None
    counter_id: int | None
    expires_at: str


class AuthOk(Struct, tag="AUTH_OK", tag_field="type"):
    """The token was accepted: who the connection now is."""

    payload: AuthOkPayload


class LoginOkPayload(_Outbound):
    token: str
    role: str
    user_id: int
    username: str
    full_name: str | None
    counter_id: int | None
    expires_at: str


class LoginOk(Struct, tag="LOGIN_OK", tag_field="type"):
    """The password was right: a token for this and later connections (the connection is authenticated)."""

    payload: LoginOkPayload


class ConnectionAckPayload(_Outbound):
    client_id: str
    server_time: str
    connected_clients: int
    client_type: str | None = None
    protocol_version: int = PROTOCOL_VERSION
    hub_version: str | None = None


class ConnectionAck(Struct, tag="CONNECTION_ACK", tag_field="type"):
    """Registration accepted; ``server_time`` is the hall's clock for nodes without one."""

    payload: ConnectionAckPayload


class ProcedureInfo(_Outbound):
    procedure_id: int
    procedure_name: str
    queue_id: int | None = None
    field_id: int | None = None


class CurrentTicket(_Outbound):
    ticket_id: int
    ticket_number: int
    queue_id: int
    priority: bool
    called_at: str | None
    ticket_label: str = ""


class QueueInfo(_Outbound):
    """One line of citizens: who serves it and how long it is."""

    queue_id: int
    queue_name: str
    counter_ids: list[int]
    waiting_count: int
    priority_waiting_count: int
    next_numbers: list[int]
    average_wait_time: int
    prefix: str = ""
    backup_counter_ids: list[int] = field(default_factory=list)


class FieldInfo(_Outbound):
    field_id: int
    field_name: str
    procedure_ids: list[int]


class QueueLine(_Outbound):
    """A queue's waiting line, as a QUEUE_UPDATE carries it for each queue its counter serves."""

    queue_id: int
    waiting_count: int
    priority_waiting_count: int
    next_numbers: list[int]
    average_wait_time: int


class CounterState(_Outbound):
    counter_id: int
    counter_name: str
    status: str
    reason: str
    changed_by: str
    status_changed_at: str | None
    procedures: list[ProcedureInfo]
    current_number: int | None
    waiting_count: int
    next_numbers: list[int]
    average_wait_time: int
    officer_connected: bool = False
    counter_number: int | None = None
    queue_ids: list[int] = field(default_factory=list)
    backup_queue_ids: list[int] = field(default_factory=list)
    current_ticket: CurrentTicket | None = None
    # The officer's name at the counter (for the counter display), when one is logged in.
    officer_name: str | None = None


class CallRecord(_Outbound):
    ticket_number: int
    counter_id: int
    counter_name: str
    announcement_text: str
    timestamp: str
    # PROTOCOL.md Version 2: what a TV shows of a call, also for the calls of a SNAPSHOT.
    counter_number: int | None = None
    queue_id: int | None = None
    priority: bool = False
    ticket_label: str = ""


class AnnouncementOutPayload(_Outbound):
    message: str
    priority: str
    duration: int
    target_displays: list[str]
    announcement_id: int | None = None
    sent_by: str | None = None
    timestamp: str | None = None
    expires_at: str | None = None


class AnnouncementOut(Struct, tag="ANNOUNCEMENT", tag_field="type"):
    """An announcement delivered to TVs (and echoed to its sender)."""

    payload: AnnouncementOutPayload


class ClientInfo(_Outbound):
    client_id: str
    client_type: str
    location: str
    role: str
    username: str | None
    connected_since: str


class SystemAlertPayload(_Outbound):
    alert_type: str
    counter_id: int | None
    message: str
    severity: str
    timestamp: str


class SystemAlert(Struct, tag="SYSTEM_ALERT", tag_field="type"):
    """Something an admin should see: a counter with no officer, a long queue, a fault."""

    payload: SystemAlertPayload


class BusiestCounter(_Outbound):
    id: int
    name: str
    queue_length: int


class StatsUpdatePayload(_Outbound):
    total_tickets_today: int
    active_counters: int
    average_wait_time: int
    busiest_counter: BusiestCounter | None
    timestamp: str
    waiting_total: int = 0
    served_today: int = 0
    # The shipping of the hall's history to the province's database, when it is on.
    central_pending_events: int | None = None
    central_lag_seconds: float | None = None
    central_problem: str = ""


class StatsUpdate(Struct, tag="STATS_UPDATE", tag_field="type"):
    """The day's figures for the admin dashboard (sent on change, throttled)."""

    payload: StatsUpdatePayload


class SnapshotPayload(_Outbound):
    site_name: str
    server_time: str
    service_day: str
    timezone: str
    display_duration: int
    counters: list[CounterState]
    announcements: list[AnnouncementOutPayload]
    recent_calls: list[CallRecord]
    # Admin and leader consoles only; empty for devices and officers.
    clients: list[ClientInfo] = field(default_factory=list)
    alerts: list[SystemAlertPayload] = field(default_factory=list)
    stats: StatsUpdatePayload | None = None
    # The site's public address (ticket status pages, printed as a QR code), when it has one.
    public_url: str | None = None
    # The site's announcement template (placeholders as in the site file): what TVs speak for a call.
    announcement_template: str = DEFAULT_ANNOUNCEMENT_TEMPLATE
    queues: list[QueueInfo] = field(default_factory=list)
    fields: list[FieldInfo] = field(default_factory=list)
    priority_streak: int = 3
    # TVs only: the counters this TV shows (the site file's [[displays]] entry for its location); empty: all.
    display_counters: list[int] = field(default_factory=list)


class Snapshot(Struct, tag="SNAPSHOT", tag_field="type"):
    """Everything a client needs to draw its screen, sent after CONNECTION_ACK."""

    payload: SnapshotPayload


class CounterStatusUpdatePayload(_Outbound):
    counter_id: int
    counter_name: str
    status: str
    reason: str
    changed_by: str
    timestamp: str
    affected_tickets: int


class CounterStatusUpdate(Struct, tag="COUNTER_STATUS_UPDATE", tag_field="type"):
    """A counter was paused, resumed or taken offline."""

    payload: CounterStatusUpdatePayload


class TicketCreatedPayload(_Outbound):
    ticket_id: int
    ticket_number: int
    counter_id: int
    counter_name: str
    procedure_name: str
    created_at: str
    estimated_wait_time: int
    procedure_id: int | None = None
    people_ahead: int = 0
    # Only in the requesting kiosk's copy:
    request_id: str | None = None
    ticket_code: str | None = None
    service_day: str | None = None
    # PROTOCOL.md Version 2: the queue; counter_id is its first counter while the ticket waits.
    queue_id: int | None = None
    queue_name: str | None = None
    priority: bool = False
    priority_reason: str | None = None
    status: str = "waiting"
    # Every counter that serves the queue (the ticket names them all), and the number as printed.
    counter_ids: list[int] = field(default_factory=list)
    ticket_label: str = ""


class TicketCreated(Struct, tag="TICKET_CREATED", tag_field="type"):
    """A ticket was issued (durably): to the requesting kiosk, TVs and admins."""

    payload: TicketCreatedPayload


class QueueUpdatePayload(_Outbound):
    counter_id: int
    current_number: int | None
    waiting_count: int
    next_numbers: list[int]
    # Whole minutes a ticket taken now is expected to wait (measured service times).
    average_wait_time: int
    counter_name: str | None = None
    status: str | None = None
    # PROTOCOL.md Version 2: the counter's own queues and its backups (as in SNAPSHOT), and a line for each.
    queue_ids: list[int] = field(default_factory=list)
    queues: list[QueueLine] = field(default_factory=list)
    current_ticket: CurrentTicket | None = None
    backup_queue_ids: list[int] = field(default_factory=list)


class QueueUpdate(Struct, tag="QUEUE_UPDATE", tag_field="type"):
    """A counter's queue changed."""

    payload: QueueUpdatePayload


class CallTicketOutPayload(_Outbound):
    ticket_number: int
    counter_id: int
    counter_name: str
    called_by: CalledBy
    timestamp: str
    ticket_id: int | None = None
    recall: bool = False
    queue_id: int | None = None
    queue_name: str | None = None
    priority: bool = False
    status: str = "called"
    counter_number: int | None = None
    ticket_label: str = ""


class CallTicketOut(Struct, tag="CALL_TICKET", tag_field="type"):
    """A ticket was called (to TVs, admins, and the officer who called it)."""

    payload: CallTicketOutPayload


class TicketUpdatedPayload(_Outbound):
    ticket_id: int
    ticket_number: int
    queue_id: int
    counter_id: int | None
    status: str
    priority: bool
    # finish, no_show, transfer, return, call (a call closed it), expire
    action: str
    by: str
    timestamp: str
    queue_name: str | None = None
    ticket_label: str = ""
    # A transfer: where it came from and where it went.
    from_queue_id: int | None = None
    from_counter_id: int | None = None
    to_counter_id: int | None = None
    note: str = ""


class TicketUpdated(Struct, tag="TICKET_UPDATED", tag_field="type"):
    """A ticket's status changed (finished, no-show, transferred, returned): to TVs, counters, admins, the sender."""

    payload: TicketUpdatedPayload


class RatingRecordedPayload(_Outbound):
    rating_id: int
    ticket_id: int
    ticket_number: int
    score: int
    counter_id: int | None
    # counter (the counter display) or status_page (the citizen's page).
    source: str
    timestamp: str
    request_id: str | None = None


class RatingRecorded(Struct, tag="RATING_RECORDED", tag_field="type"):
    """A rating is stored: to its sender (again for a replayed request_id), the counter's display and admins."""

    payload: RatingRecordedPayload


class TicketAnnouncementPayload(_Outbound):
    ticket_number: int
    counter_id: int
    counter_name: str
    announcement_text: str
    audio_url: str | None
    display_duration: int
    counter_number: int | None = None
    queue_id: int | None = None
    queue_name: str | None = None
    priority: bool = False
    ticket_label: str = ""


class TicketAnnouncement(Struct, tag="TICKET_ANNOUNCEMENT", tag_field="type"):
    """What TVs show and speak for a call (speech is synthesised on the TV: ``audio_url`` is null)."""

    payload: TicketAnnouncementPayload


class ClientConnectedPayload(_Outbound):
    client_id: str
    client_type: str
    timestamp: str
    location: str = ""


class ClientConnected(Struct, tag="CLIENT_CONNECTED", tag_field="type"):
    """A client registered (to admins and leaders)."""

    payload: ClientConnectedPayload


class ClientDisconnectedPayload(_Outbound):
    client_id: str
    reason: str
    timestamp: str
    client_type: str | None = None
    detail: str = ""


class ClientDisconnected(Struct, tag="CLIENT_DISCONNECTED", tag_field="type"):
    """A registered client went away, and why (to admins and leaders)."""

    payload: ClientDisconnectedPayload


class PongPayload(_Outbound):
    timestamp: str | None


class Pong(Struct, tag="PONG", tag_field="type"):
    """The answer to PING, with its timestamp."""

    payload: PongPayload


class ErrorPayload(_Outbound):
    error_code: str
    message: str
    timestamp: str
    # Which request failed, so a client can match the error to it.
    message_type: str | None = None
    request_id: str | None = None


class Error(Struct, tag="ERROR", tag_field="type"):
    """A request was refused; nothing changed."""

    payload: ErrorPayload


# --- people (admins only) ---------------------------------------------------------------------


class UserInfo(_Outbound):
    user_id: int
    username: str
    full_name: str | None
    role: str
    counter_id: int | None
    disabled: bool


class UsersPayload(_Outbound):
    users: list[UserInfo]
    request_id: str | None = None


class Users(Struct, tag="USERS", tag_field="type"):
    """Every account that logs in at the console (never a password hash), in username order."""

    payload: UsersPayload


class UserUpdatedPayload(_Outbound):
    action: str
    user_id: int
    username: str
    # The account as it is now; null once deleted.
    user: UserInfo | None
    changed_by: str
    # Connections of that person the hub closed (close code 1008): they log in again.
    sessions_ended: int
    timestamp: str
    request_id: str | None = None


class UserUpdated(Struct, tag="USER_UPDATED", tag_field="type"):
    """An account was changed (and is saved): to the admin who changed it and every other admin console."""

    payload: UserUpdatedPayload


ServerMessage = (
    AuthOk
    | LoginOk
    | ConnectionAck
    | Snapshot
    | CounterStatusUpdate
    | TicketCreated
    | QueueUpdate
    | CallTicketOut
    | TicketAnnouncement
    | AnnouncementOut
    | SystemAlert
    | StatsUpdate
    | ClientConnected
    | ClientDisconnected
    | Pong
    | Error
    | TicketUpdated
    | RatingRecorded
    | Users
    | UserUpdated
)
SERVER_MESSAGE_TYPES: tuple[type, ...] = get_args(ServerMessage)


# --- codecs -------------------------------------------------------------------

@functools.cache
def _client_decoder() -> msgspec.json.Decoder[ClientMessage]:
    # Built on first use: a node never decodes what clients send, the hub never what it sends itself,
    # and building one reads the type of every field of every message (part of a node's boot).
    return msgspec.json.Decoder(ClientMessage)


@functools.cache
def _server_decoder() -> msgspec.json.Decoder[ServerMessage]:
    return msgspec.json.Decoder(ServerMessage)


_encoder = msgspec.json.Encoder()


class InvalidMessage(ValueError):
    """A frame that is not a valid message; ``str()`` says what is wrong and where."""

    def __init__(self, reason: str, message_type: str | None = None, request_id: str | None = None):
        super().__init__(reason)
        self.message_type = message_type
        self.request_id = request_id


def _peek(raw: str | bytes) -> tuple[str | None, str | None]:
    """Best-effort type and request_id of a bad frame, so its ERROR can name them."""
    try:
        data = msgspec.json.decode(raw)
    # Untyped decoding recurses once per nesting level: a few KiB of "[[[[..." exhaust the stack.
    except (msgspec.DecodeError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    message_type = data.get("type") if isinstance(data.get("type"), str) else None
    payload = data.get("payload")
    request_id = payload.get("request_id") if isinstance(payload, dict) else None
    return (
        message_type[:40] if message_type else None,
        request_id[:64] if isinstance(request_id, str) else None,
    )


def decode_client_message(raw: str | bytes) -> ClientMessage:
    """Decode and validate one frame from a client, or raise :class:`InvalidMessage`."""
    try:
        return _client_decoder().decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message_type, request_id = _peek(raw)
        raise InvalidMessage(str(exc), message_type, request_id) from None
    except RecursionError:
        # msgspec skips a field it does not know (or one before the tag) by recursing into it:
        # thousands of nested arrays exhaust the stack. Still just a bad frame.
        raise InvalidMessage(_TOO_DEEP) from None


def decode_server_message(raw: str | bytes) -> ServerMessage:
    """Decode one frame from the hub (lenient about unknown fields)."""
    try:
        return _server_decoder().decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidMessage(str(exc)) from None
    except RecursionError:
        raise InvalidMessage(_TOO_DEEP) from None


_TOO_DEEP = "JSON nested too deeply"


def encode(message: Struct) -> bytes:
    """UTF-8 JSON of a message (send as a text frame)."""
    return _encoder.encode(message)


def message_type(message: Struct | type[Struct]) -> str:
    """The protocol ``type`` of a message struct or class."""
    cls = message if isinstance(message, type) else type(message)
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), f"{cls.__name__} is not a message"  # every message is tagged with its type
    return tag


def to_builtins(message: Struct) -> Any:
    return msgspec.to_builtins(message)
