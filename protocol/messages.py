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

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta, Struct, field

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
# What a TV shows and says for a call unless the site file sets its own (PROTOCOL.md).
# The hub sends the site's template in every SNAPSHOT; this is the one default.
DEFAULT_ANNOUNCEMENT_TEMPLATE = "Mời khách hàng số {number} đến quầy {counter_name}"

# --- bounded scalar types ---------------------------------------------------

CounterId = Annotated[int, Meta(ge=1, le=1_000_000)]
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

ClientType = Literal["kiosk", "tv", "officer", "admin"]
Role = Literal["admin", "leader", "officer", "kiosk", "tv"]
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
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)

# Control characters (C0, DEL, C1) never belong in text a person typed; they
# can break logs, terminals and the TV's renderer.
_CONTROL_CHARS = dict.fromkeys(
    [*range(0x00, 0x20), *range(0x7F, 0xA0)], None
)


def clean_text(text: str) -> str:
    """NFC-normalise, drop control characters, trim: what every inbound text goes through."""
    return unicodedata.normalize("NFC", text.translate(_CONTROL_CHARS)).strip()


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and milliseconds, as the protocol requires."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
    request_id: RequestId | None = None
    ticket_id: int | None = None
    ticket_number: int | None = None
    counter_name: ShortText | None = None
    procedure_name: ShortText | None = None
    created_at: Timestamp | None = None
    estimated_wait_time: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.counter_id is None and self.procedure_id is None:
            raise ValueError("a ticket request needs `counter_id` or `procedure_id`")


class TicketRequest(Struct, tag="TICKET_CREATED", tag_field="type", forbid_unknown_fields=True):
    """Ask for a new ticket (the seed's TICKET_CREATED from a kiosk)."""

    payload: TicketRequestPayload


class CallTicketPayload(_Inbound):
    counter_id: CounterId
    # Absent: call the longest-waiting ticket. Present: call or recall that number.
    ticket_number: TicketNumber | None = None
    counter_name: ShortText | None = None
    called_by: ChangedBy | None = None
    timestamp: Timestamp | None = None


class CallTicket(Struct, tag="CALL_TICKET", tag_field="type", forbid_unknown_fields=True):
    """Call the next ticket of a counter, or (re)call a given number."""

    payload: CallTicketPayload


class AnnouncementPayload(_Inbound):
    message: AnnouncementText
    priority: Priority = "medium"
    duration: Annotated[int, Meta(ge=1, le=86_400)] = 30
    target_displays: Annotated[list[ClientId], Meta(max_length=200)] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.message:
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


ClientMessage = (
    Auth | Login | RegisterClient | CounterStatusChange | TicketRequest | CallTicket | Announcement | Ping
    | DeviceStatus
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


class CallRecord(_Outbound):
    ticket_number: int
    counter_id: int
    counter_name: str
    announcement_text: str
    timestamp: str


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


class CallTicketOut(Struct, tag="CALL_TICKET", tag_field="type"):
    """A ticket was called (to TVs, admins, and the officer who called it)."""

    payload: CallTicketOutPayload


class TicketAnnouncementPayload(_Outbound):
    ticket_number: int
    counter_id: int
    counter_name: str
    announcement_text: str
    audio_url: str | None
    display_duration: int


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
)
SERVER_MESSAGE_TYPES: tuple[type, ...] = get_args(ServerMessage)


# --- codecs -------------------------------------------------------------------

_client_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
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
        return _client_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message_type, request_id = _peek(raw)
        raise InvalidMessage(str(exc), message_type, request_id) from None


def decode_server_message(raw: str | bytes) -> ServerMessage:
    """Decode one frame from the hub (lenient about unknown fields)."""
    try:
        return _server_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidMessage(str(exc)) from None


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
