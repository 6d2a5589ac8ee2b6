"""Site configuration: the TOML file that describes one waiting hall.

The file is edited by hand by technicians on site, so every mistake is
reported as a single ``SiteConfigError`` line pointing at the file, line and
key to fix. Unknown keys are refused rather than ignored so that a typo such
as ``start_numbr`` cannot silently fall back to a default.

Loading is pure apart from reading the file: referenced TLS files are only
resolved to absolute paths, not opened, because certificates are often
provisioned after the site file is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import string
import tomllib
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any
from urllib.parse import SplitResult, urlsplit

from protocol.messages import DEFAULT_ANNOUNCEMENT_TEMPLATE

__all__ = [
    "AlertThresholds",
    "CounterConfig",
    "DisplayConfig",
    "FieldConfig",
    "Procedure",
    "QueueConfig",
    "RateLimit",
    "SiteConfig",
    "SiteConfigError",
    "load_site_config",
    "parse_site_config",
    "render_template",
    "sample_site",
    "site_to_toml",
]

SITE_NAME_MAX_LENGTH = 200
COUNTER_NAME_MAX_LENGTH = 120
PROCEDURE_NAME_MAX_LENGTH = 200
TEMPLATE_PLACEHOLDERS = ("number", "counter_number", "counter_name", "queue_name", "counter_id")
QUEUE_NAME_MAX_LENGTH = 120
FIELD_NAME_MAX_LENGTH = 120
PREFIX_MAX_LENGTH = 3
# As long as the location a device may send in REGISTER_CLIENT (protocol.messages.ShortText).
LOCATION_MAX_LENGTH = 200


@dataclass(frozen=True)
class QueueConfig:
    """One line of citizens for one kind of work, numbered from ``start_number`` each day."""

    id: int
    name: str
    start_number: int = 1
    # Shown before the number on tickets and screens ("A" makes ticket 12 read "A12"); never spoken.
    prefix: str = ""


@dataclass(frozen=True)
class Procedure:
    id: int
    name: str
    queue_id: int
    field_id: int | None = None


@dataclass(frozen=True)
class FieldConfig:
    """A group of procedures (lĩnh vực) for the kiosk's two-level menu."""

    id: int
    name: str
    procedure_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CounterConfig:
    id: int
    name: str
    # The number painted above the desk, spoken in calls ("đến quầy số hai"); the id unless set.
    number: int = 0
    queue_ids: tuple[int, ...] = ()
    # Served only when the counter's own queues have nobody waiting.
    backup_queue_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.number:
            object.__setattr__(self, "number", self.id)

    @property
    def all_queue_ids(self) -> tuple[int, ...]:
        return self.queue_ids + self.backup_queue_ids


@dataclass(frozen=True)
class DisplayConfig:
    """The TVs of one room: those whose node file says this ``location`` show only these counters."""

    location: str
    counter_ids: tuple[int, ...]


def location_key(location: str) -> str:
    """A location as compared: NFC, single spaces, case folded ("Phòng 2 " is "phòng 2")."""
    return " ".join(unicodedata.normalize("NFC", location).split()).casefold()


@dataclass(frozen=True)
class AlertThresholds:
    counter_offline_minutes: float = 5.0
    high_queue: int = 20


@dataclass(frozen=True)
class BackupSchedule:
    """The hub's own daily backup (hub/backup.py): where, how many kept, at what local time."""

    # Unset: beside the data folder, named after it (on the device /var/lib/qms-backups).
    directory: str | None = None
    keep: int = 14
    time: str = "02:30"


@dataclass(frozen=True)
class CentralConfig:
    """Where the hall ships its history (hub/shipping.py): the province's PostgreSQL, when enabled.

    The password is never in the site file: ``password_file`` (a file only the hub reads) or the
    hub's environment variable QMS_CENTRAL_PASSWORD.
    """

    enabled: bool = False
    url: str = ""
    password_file: str | None = None
    # Events per batch sent to PostgreSQL.
    batch_size: int = 500
    # Admins are alerted when the oldest event not yet in PostgreSQL is older than this.
    lag_alert_minutes: float = 30.0


@dataclass(frozen=True)
class RateLimit:
    rate: float = 20.0
    burst: int = 40
    close_after: int = 100
    # Tickets one token, or one kiosk, may take across all its connections (hub.ticket_limit).
    tickets_per_minute: float = 20.0
    ticket_burst: int = 10
    # Open connections (hub.connection_gate): far above what a hall of tens of devices uses.
    connections_per_address: int = 128
    connections_per_token: int = 16
    unauthenticated_connections: int = 256


@dataclass(frozen=True)
class SiteConfig:
    """One hall: its queues, the procedures citizens choose, the counters that serve the queues, and its rules."""

    site_name: str
    # The hall's stable id in the province's database ("hcm-q1"): never changes once shipping starts.
    site_id: str = ""
    timezone: str = "Asia/Ho_Chi_Minh"
    announcement_template: str = DEFAULT_ANNOUNCEMENT_TEMPLATE
    display_duration: int = 10
    default_service_minutes: float = 5.0
    next_numbers_count: int = 3
    queues: tuple[QueueConfig, ...] = ()
    fields: tuple[FieldConfig, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    counters: tuple[CounterConfig, ...] = ()
    # Rooms whose TVs show only some counters; a TV whose location is in none of them shows every counter.
    displays: tuple[DisplayConfig, ...] = ()
    # After this many priority calls in a row at a counter, a waiting normal ticket goes first.
    priority_streak: int = 3
    # Whether each counter's display (role counter) shows the name of the officer serving there.
    counter_display_shows_officer: bool = False
    alerts: AlertThresholds = AlertThresholds()
    rate_limit: RateLimit = RateLimit()
    backup: BackupSchedule = BackupSchedule()
    central: CentralConfig = CentralConfig()
    stats_interval: float = 1.0
    public_url: str | None = None
    allowed_origins: tuple[str, ...] = ()
    # Names the hub answers to besides its addresses, localhost, its own host name (and .local),
    # public_url and allowed_origins: a request for any other name is refused (DNS rebinding).
    host_names: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        # ZoneInfo keeps its own per-key cache, so this is cheap to call often.
        return zoneinfo.ZoneInfo(self.timezone)

    def counter(self, counter_id: int) -> CounterConfig | None:
        return self._counters_by_id.get(counter_id)

    def queue(self, queue_id: int) -> QueueConfig | None:
        return self._queues_by_id.get(queue_id)

    def procedure(self, procedure_id: int) -> Procedure | None:
        return self._procedures_by_id.get(procedure_id)

    def field(self, field_id: int) -> FieldConfig | None:
        return self._fields_by_id.get(field_id)

    def procedures_of(self, queue_id: int) -> tuple[Procedure, ...]:
        return self._procedures_by_queue.get(queue_id, ())

    def counters_serving(self, queue_id: int, *, backup: bool = False) -> tuple[CounterConfig, ...]:
        """The counters that list the queue as their own (or, with ``backup``, as a backup too), in id order."""
        return (self._counters_serving_or_backing if backup else self._counters_serving).get(queue_id, ())

    def counters_shown_at(self, location: str) -> tuple[int, ...]:
        """The counters a TV at ``location`` shows (its [[displays]] entry); empty: every counter."""
        display = self._displays_by_location.get(location_key(location))
        return display.counter_ids if display is not None else ()

    @cached_property
    def _displays_by_location(self) -> dict[str, DisplayConfig]:
        return {location_key(d.location): d for d in self.displays}

    @cached_property
    def _counters_by_id(self) -> dict[int, CounterConfig]:
        return {c.id: c for c in self.counters}

    @cached_property
    def _queues_by_id(self) -> dict[int, QueueConfig]:
        return {q.id: q for q in self.queues}

    @cached_property
    def _procedures_by_id(self) -> dict[int, Procedure]:
        return {p.id: p for p in self.procedures}

    @cached_property
    def _fields_by_id(self) -> dict[int, FieldConfig]:
        return {f.id: f for f in self.fields}

    # Asked several times for every ticket and every QUEUE_UPDATE: worked out once.
    @cached_property
    def _procedures_by_queue(self) -> dict[int, tuple[Procedure, ...]]:
        return {q.id: tuple(p for p in self.procedures if p.queue_id == q.id) for q in self.queues}

    @cached_property
    def _counters_serving(self) -> dict[int, tuple[CounterConfig, ...]]:
        return {q.id: tuple(c for c in self.counters if q.id in c.queue_ids) for q in self.queues}

    @cached_property
    def _counters_serving_or_backing(self) -> dict[int, tuple[CounterConfig, ...]]:
        return {q.id: tuple(c for c in self.counters if q.id in c.queue_ids or q.id in c.backup_queue_ids)
                for q in self.queues}

    def render_announcement(self, number: int, counter: CounterConfig, queue: QueueConfig | None = None) -> str:
        return render_template(self.announcement_template, number=number, counter=counter, queue=queue)


def render_template(template: str, *, number: int, counter: CounterConfig, queue: QueueConfig | None) -> str:
    """An announcement template filled in for one call (placeholders: TEMPLATE_PLACEHOLDERS)."""
    return template.format(number=number, counter_number=counter.number, counter_name=counter.name,
                           counter_id=counter.id, queue_name=queue.name if queue else counter.name)


class SiteConfigError(Exception):
    """A problem in a site file, as one line a technician can act on.

    ``str(error)`` is ``<path>:<line>: <key path>: <reason>``; the line is left
    out only when no line can be blamed (e.g. a required top-level key is
    missing) and the key path when the problem is not about one key (e.g.
    TOML syntax). Key paths look like ``counters[1].procedures[0].name``,
    with zero-based indices in file order.
    """

    def __init__(self, path: str, line: int | None, key_path: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.key_path = key_path
        # Reasons sometimes quote OS or parser messages; keep the report on one line.
        self.reason = " ".join(reason.split())
        location = path if line is None else f"{path}:{line}"
        super().__init__(": ".join(part for part in (location, key_path, self.reason) if part))


def load_site_config(path: str | os.PathLike[str]) -> SiteConfig:
    display_path = os.fspath(path)
    try:
        with open(path, "rb") as site_file:
            raw = site_file.read()
    except OSError as error:
        raise SiteConfigError(
            display_path, None, "", f"cannot read site file: {error.strerror or error}"
        ) from None
    try:
        # utf-8-sig: Windows editors often prepend a BOM, which tomllib refuses.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise SiteConfigError(
            display_path, line, "", "not valid UTF-8; save the file with UTF-8 encoding"
        ) from None
    return parse_site_config(text, display_path)


def parse_site_config(text: str, path: str = "<site>") -> SiteConfig:
    """Parse and validate site TOML.

    ``path`` names the file in error messages, and relative TLS paths are
    resolved against its folder (the current directory for "<site>").
    """
    path = os.fspath(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(path, text, error) from None
    source = _Source(path, text)
    base_dir = os.path.dirname(os.path.abspath(path))
    return _build_site(_Table(document, (), source, _SITE_KEYS), base_dir)


@cache
def sample_site() -> SiteConfig:
    """The built-in hall used when the hub is started without --config."""
    sample_file = resources.files("hub").joinpath("sample_site.toml")
    return parse_site_config(sample_file.read_text(encoding="utf-8"), str(sample_file))


# --- Building the config from the parsed document ------------------------------

_SITE_KEYS = frozenset(field.name for field in dataclasses.fields(SiteConfig))
_ALERT_KEYS = frozenset(field.name for field in dataclasses.fields(AlertThresholds))
_RATE_LIMIT_KEYS = frozenset(field.name for field in dataclasses.fields(RateLimit))
_CENTRAL_KEYS = frozenset(field.name for field in dataclasses.fields(CentralConfig))
_BACKUP_KEYS = frozenset(field.name for field in dataclasses.fields(BackupSchedule))
_QUEUE_KEYS = frozenset({"id", "name", "start_number", "prefix"})
_FIELD_KEYS = frozenset({"id", "name"})
_PROCEDURE_KEYS = frozenset({"id", "name", "queue", "field"})
_COUNTER_KEYS = frozenset({"id", "name", "number", "queues", "backup_queues"})
_DISPLAY_KEYS = frozenset({"location", "counters"})
# The first shape of the file (until queues were shared): each counter numbered its own tickets
# and listed its procedures. Still read, as one queue per counter; `qms-hub site migrate` rewrites it.
_OLD_COUNTER_KEYS = frozenset({"id", "name", "start_number", "procedures"})
_OLD_PROCEDURE_KEYS = frozenset({"id", "name"})


class _Absent:
    """Marks a key missing from the file, so the dataclass default applies."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not _ABSENT}


def _build_site(top: _Table, base_dir: str) -> SiteConfig:
    tls_path = _file_path(base_dir)
    site_fields = {
        "site_name": top.get("site_name", _text(SITE_NAME_MAX_LENGTH), required=True),
        "site_id": top.get("site_id", _site_id),
        "timezone": top.get("timezone", _timezone),
        "announcement_template": top.get("announcement_template", _announcement_template),
        "display_duration": top.get("display_duration", _integer(1, 600)),
        "default_service_minutes": top.get("default_service_minutes", _positive_number),
        "next_numbers_count": top.get("next_numbers_count", _integer(0, 20)),
        "stats_interval": top.get("stats_interval", _positive_number),
        "public_url": top.get("public_url", _public_url),
        "allowed_origins": top.get("allowed_origins", _array_of(_origin)),
        "host_names": top.get("host_names", _array_of(_host_name)),
        "tls_cert": top.get("tls_cert", tls_path),
        "tls_key": top.get("tls_key", tls_path),
    }
    has_cert = site_fields["tls_cert"] is not _ABSENT
    if has_cert != (site_fields["tls_key"] is not _ABSENT):
        given, missing = ("tls_cert", "tls_key") if has_cert else ("tls_key", "tls_cert")
        raise top.error(given, f"is set but {missing} is not; set both or neither")
    site_fields |= {
        "alerts": _build_alerts(top.table("alerts", _ALERT_KEYS)),
        "rate_limit": _build_rate_limit(top.table("rate_limit", _RATE_LIMIT_KEYS)),
        "backup": _build_backup(top.table("backup", _BACKUP_KEYS), base_dir),
        "central": _build_central(top.table("central", _CENTRAL_KEYS), base_dir),
        "priority_streak": top.get("priority_streak", _integer(1, 100)),
        "counter_display_shows_officer": top.get("counter_display_shows_officer", _boolean),
    }
    if site_fields["central"].enabled and site_fields["site_id"] is _ABSENT:
        raise top.error("site_id", "is required when [central] is enabled: the hall's stable id, e.g. \"hcm-q1\"")
    if top.has("queues") or not _is_old_shape(top):
        site_fields |= _build_hall(top)
    else:
        site_fields |= _build_old_hall(top)
    site_fields["displays"] = _build_displays(top, {counter.id: counter for counter in site_fields["counters"]})
    return SiteConfig(**_present(site_fields))


def _build_displays(top: _Table, counters: dict[int, CounterConfig]) -> tuple[DisplayConfig, ...]:
    """[[displays]]: for a hall of several rooms, which counters the TVs of each room show."""
    displays = []
    owners: dict[str, _Table] = {}
    for table in top.tables("displays", _DISPLAY_KEYS):
        location = table.get("location", _text(LOCATION_MAX_LENGTH), required=True)
        first = owners.setdefault(location_key(location), table)
        if first is not table:
            where = first.describe()
            first_line = first.line_of("location")
            if first_line is not None:
                where += f" at line {first_line}"
            raise table.error("location", f"location {location!r} is already the location of {where}")
        shown = table.get("counters", _array_of(_one_of(counters, "counter")), required=True)
        if not shown:
            raise table.error("counters", "a display shows at least one counter")
        if len(set(shown)) != len(shown):
            raise table.error("counters", "lists a counter twice")
        displays.append(DisplayConfig(location, shown))
    return tuple(displays)


def _build_alerts(table: _Table) -> AlertThresholds:
    return AlertThresholds(**_present({
        "counter_offline_minutes": table.get("counter_offline_minutes", _positive_number),
        "high_queue": table.get("high_queue", _integer(1)),
    }))


def _build_rate_limit(table: _Table) -> RateLimit:
    return RateLimit(**_present({
        "rate": table.get("rate", _positive_number),
        "burst": table.get("burst", _integer(1)),
        "close_after": table.get("close_after", _integer(1)),
        "tickets_per_minute": table.get("tickets_per_minute", _positive_number),
        "ticket_burst": table.get("ticket_burst", _integer(1)),
        "connections_per_address": table.get("connections_per_address", _integer(1)),
        "connections_per_token": table.get("connections_per_token", _integer(1)),
        "unauthenticated_connections": table.get("unauthenticated_connections", _integer(1)),
    }))


def _build_central(table: _Table, base_dir: str) -> CentralConfig:
    return CentralConfig(**_present({
        "enabled": table.get("enabled", _boolean),
        "url": table.get("url", _postgres_url),
        "password_file": table.get("password_file", _file_path(base_dir)),
        "batch_size": table.get("batch_size", _integer(1, 10_000)),
        "lag_alert_minutes": table.get("lag_alert_minutes", _positive_number),
    }))


def _site_id(value: Any) -> str:
    text = _text(40)(value)
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", text):
        raise _Invalid(f"must be lower-case letters, digits, - and _, such as 'hcm-q1', got {text!r}")
    return text


def _postgres_url(value: Any) -> str:
    text = _text(500)(value)
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise _Invalid(f"must be a PostgreSQL address such as 'postgresql://qms_site_hcm_q1@central.example/qms', "
                       f"got {text!r}")
    if parts.password:
        raise _Invalid("must not hold the password: put it in password_file, or QMS_CENTRAL_PASSWORD in the "
                       "hub's environment")
    return text


def _build_backup(table: _Table, base_dir: str) -> BackupSchedule:
    return BackupSchedule(**_present({
        "directory": table.get("directory", _file_path(base_dir)),
        "keep": table.get("keep", _integer(1, 3650)),
        "time": table.get("time", _time_of_day),
    }))


def _time_of_day(value: Any) -> str:
    """A local time written "HH:MM" (24-hour), e.g. "02:30"."""
    text = _text(5)(value) if isinstance(value, str) else None
    parts = text.split(":") if text else []
    if len(parts) != 2 or not all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts) \
            or int(parts[0]) > 23 or int(parts[1]) > 59:
        raise _Invalid(f"must be a time of day written \"HH:MM\" such as \"02:30\", got {value!r}")
    return text  # type: ignore[return-value]


def _is_old_shape(top: _Table) -> bool:
    return any(table.has("procedures") or table.has("start_number") for table in top.raw_tables("counters"))


def _build_hall(top: _Table) -> dict[str, Any]:
    """Queues, fields, procedures and counters, each referring to the others by id."""
    counter_tables = top.tables("counters", _COUNTER_KEYS)
    if top.has("counters") and not counter_tables:
        raise top.error("counters", "at least one [[counters]] table is required")
    queue_tables = top.tables("queues", _QUEUE_KEYS)
    if not queue_tables:
        raise top.error("queues", "at least one [[queues]] table is required")
    queues: dict[int, QueueConfig] = {}
    owners: dict[int, _Table] = {}
    for table in queue_tables:
        queue_id = table.get("id", _integer(1, 1_000_000), required=True)
        _refuse_duplicate(table, queue_id, owners, "queue")
        queues[queue_id] = QueueConfig(**_present({
            "id": queue_id,
            "name": table.get("name", _text(QUEUE_NAME_MAX_LENGTH), required=True),
            "start_number": table.get("start_number", _integer(1, 900_000)),
            "prefix": table.get("prefix", _prefix),
        }))

    fields: dict[int, tuple[str, list[int]]] = {}
    owners = {}
    for table in top.tables("fields", _FIELD_KEYS):
        field_id = table.get("id", _integer(1, 1_000_000), required=True)
        _refuse_duplicate(table, field_id, owners, "field")
        fields[field_id] = (table.get("name", _text(FIELD_NAME_MAX_LENGTH), required=True), [])

    procedure_tables = top.tables("procedures", _PROCEDURE_KEYS)
    if not procedure_tables:
        raise top.error("procedures", "at least one [[procedures]] table is required")
    procedures = []
    owners = {}
    for table in procedure_tables:
        procedure_id = table.get("id", _integer(1, 1_000_000_000), required=True)
        _refuse_duplicate(table, procedure_id, owners, "procedure")
        queue_id = table.get("queue", _one_of(queues, "queue"), required=True)
        field_id = table.get("field", _one_of(fields, "field"), required=bool(fields))
        if field_id is _ABSENT:
            field_id = None
        else:
            fields[field_id][1].append(procedure_id)
        procedures.append(Procedure(procedure_id, table.get("name", _text(PROCEDURE_NAME_MAX_LENGTH), required=True),
                                    queue_id, field_id))
    for field_id, (name, members) in fields.items():
        if not members:
            raise top.error("fields", f"field {field_id} ({name}) has no procedure: give some procedures "
                                      f"field = {field_id}, or remove it")

    if not counter_tables:
        raise top.error("counters", "at least one [[counters]] table is required")
    counters = []
    owners = {}
    numbers: dict[int, _Table] = {}
    for table in counter_tables:
        counter_id = table.get("id", _integer(1, 1_000_000), required=True)
        _refuse_duplicate(table, counter_id, owners, "counter")
        number = table.get("number", _integer(1, 1_000_000))
        shown = counter_id if number is _ABSENT else number
        first = numbers.setdefault(shown, table)
        if first is not table:
            raise table.error("number" if number is not _ABSENT else "id",
                              f"counter number {shown} is already the number of {first.describe()}")
        own = table.get("queues", _array_of(_one_of(queues, "queue")), required=True)
        if not own:
            raise table.error("queues", "a counter serves at least one queue")
        backup = table.get("backup_queues", _array_of(_one_of(queues, "queue")))
        backup = () if backup is _ABSENT else backup
        for key, ids in (("queues", own), ("backup_queues", backup)):
            if len(set(ids)) != len(ids):
                raise table.error(key, "lists a queue twice")
        if set(own) & set(backup):
            raise table.error("backup_queues", "lists a queue the counter already serves as its own")
        counters.append(CounterConfig(**_present({
            "id": counter_id,
            "name": table.get("name", _text(COUNTER_NAME_MAX_LENGTH), required=True),
            "number": number,
            "queue_ids": own,
            "backup_queue_ids": backup,
        })))
    served = {queue_id for counter in counters for queue_id in counter.queue_ids}
    for queue_id, queue in queues.items():
        if queue_id not in served:
            raise top.error("queues", f"queue {queue_id} ({queue.name}) is no counter's own queue: "
                                      "list it in some counter's queues, or citizens would wait there forever")
    return {
        "queues": tuple(queues.values()),
        "fields": tuple(FieldConfig(field_id, name, tuple(members)) for field_id, (name, members) in fields.items()),
        "procedures": tuple(procedures),
        "counters": tuple(counters),
    }


def _build_old_hall(top: _Table) -> dict[str, Any]:
    """The first shape of the file: one queue per counter, with the counter's id, name and numbering."""
    for key in ("fields", "procedures"):
        if top.has(key):
            raise top.error(key, "cannot be mixed with counters that list their own procedures; "
                                 "write [[queues]] (see `qms-hub site migrate`)")
    counter_tables = top.tables("counters", _OLD_COUNTER_KEYS)
    queues, procedures, counters = [], [], []
    counter_owners: dict[int, _Table] = {}
    procedure_owners: dict[int, _Table] = {}
    for table in counter_tables:
        counter_id = table.get("id", _integer(1), required=True)
        _refuse_duplicate(table, counter_id, counter_owners, "counter")
        name = table.get("name", _text(COUNTER_NAME_MAX_LENGTH), required=True)
        start_number = table.get("start_number", _integer(1, 9000))
        procedure_tables = table.tables("procedures", _OLD_PROCEDURE_KEYS)
        if not procedure_tables:
            raise table.error("procedures", "a counter needs at least one [[counters.procedures]] table")
        for procedure_table in procedure_tables:
            procedure_id = procedure_table.get("id", _integer(1), required=True)
            _refuse_duplicate(procedure_table, procedure_id, procedure_owners, "procedure")
            procedures.append(Procedure(
                procedure_id, procedure_table.get("name", _text(PROCEDURE_NAME_MAX_LENGTH), required=True), counter_id))
        queues.append(QueueConfig(**_present({"id": counter_id, "name": name, "start_number": start_number})))
        counters.append(CounterConfig(id=counter_id, name=name, queue_ids=(counter_id,)))
    if not counters:
        raise top.error("counters", "at least one [[counters]] table is required")
    return {"queues": tuple(queues), "procedures": tuple(procedures), "counters": tuple(counters)}


def _refuse_duplicate(table: _Table, item_id: int, owners: dict[int, _Table], kind: str) -> None:
    first = owners.setdefault(item_id, table)
    if first is table:
        return
    where = first.describe()
    first_line = first.line_of("id")
    if first_line is not None:
        where += f" at line {first_line}"
    raise table.error("id", f"duplicate {kind} id {item_id}, already used by {where}")


# --- Value checks: each returns the cleaned value or raises _Invalid -------------


class _Invalid(Exception):
    def __init__(self, reason: str, sub_path: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sub_path = sub_path  # position inside an array value, if any


_TOML_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string",
                    list: "array", dict: "table"}


def _expected(what: str, value: Any) -> _Invalid:
    type_name = _TOML_TYPE_NAMES.get(type(value), "date/time")
    if isinstance(value, (list, dict)):
        shown = ""
    elif isinstance(value, bool):
        shown = " true" if value else " false"  # as written in the file, not Python's True
    else:
        shown = f" {value!r}"
    return _Invalid(f"must be {what}, got {type_name}{shown}")


def _integer(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        # type() rather than isinstance(): TOML true/false must not pass as 1/0.
        if type(value) is not int:
            raise _expected("an integer", value)
        if maximum is not None and not minimum <= value <= maximum:
            raise _Invalid(f"must be between {minimum} and {maximum}, got {value}")
        if value < minimum:
            raise _Invalid(f"must be at least {minimum}, got {value}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _expected("true or false", value)
    return value


def _one_of(known: dict[int, Any], kind: str) -> Callable[[Any], int]:
    """The id of a queue or field defined in the file."""

    def check(value: Any) -> int:
        if type(value) is not int:
            raise _expected(f"a {kind} id", value)
        if value not in known:
            raise _Invalid(f"no [[{kind}s]] table has id {value} (known: {', '.join(map(str, known)) or 'none'})")
        return value

    return check


def _prefix(value: Any) -> str:
    text = _text(PREFIX_MAX_LENGTH)(value)
    if not all(char.isalnum() or char == "-" for char in text):
        raise _Invalid(f"must be letters or digits, such as 'A', got {text!r}")
    return text


def _positive_number(value: Any) -> float:
    if type(value) not in (int, float):
        raise _expected("a number", value)
    # TOML allows inf and nan, neither of which makes sense for a duration or rate.
    if not math.isfinite(value) or value <= 0:
        raise _Invalid(f"must be a number greater than 0, got {value}")
    return float(value)


def _text(max_length: int | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _expected("a string", value)
        # Vietnamese typed on different keyboards/OSes arrives composed or
        # decomposed; NFC makes names compare and render the same everywhere.
        cleaned = unicodedata.normalize("NFC", value).strip()
        if not cleaned:
            raise _Invalid("must not be empty")
        if any(unicodedata.category(char) == "Cc" for char in cleaned):
            raise _Invalid("must not contain control characters such as newlines or tabs")
        if max_length is not None and len(cleaned) > max_length:
            raise _Invalid(f"is {len(cleaned)} characters long, at most {max_length} allowed")
        return cleaned

    return check


def _array_of(check_item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _expected("an array", value)
        items = []
        for index, item in enumerate(value):
            try:
                items.append(check_item(item))
            except _Invalid as invalid:
                raise _Invalid(invalid.reason, (index, *invalid.sub_path)) from None
        return tuple(items)

    return check


def _timezone(value: Any) -> str:
    name = _text()(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _Invalid(
            f"unknown time zone {name!r}; use an IANA name such as 'Asia/Ho_Chi_Minh'"
        ) from None
    return name


def _announcement_template(value: Any) -> str:
    template = _text()(value)
    allowed = ", ".join(f"{{{name}}}" for name in TEMPLATE_PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise _Invalid(
            f"malformed braces ({error}); write {{{{ or }}}} for a literal brace"
        ) from None
    fields = [field for _, field, _, _ in parsed if field is not None]
    for field in fields:
        if field not in TEMPLATE_PLACEHOLDERS:
            raise _Invalid(f"unknown placeholder {{{field}}}; allowed: {allowed}")
    if "number" not in fields:
        raise _Invalid("must contain {number}, or callers would not hear their ticket number")
    try:
        # Format specs such as {number:>4} are only checked by actually formatting.
        template.format(number=1, counter_number=1, counter_name="Quầy", counter_id=1, queue_name="Hàng")
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
        raise _Invalid(f"cannot be formatted: {error}") from None
    return template


def _http_parts(value: Any, example: str) -> tuple[str, SplitResult]:
    text = _text()(value)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        parts = None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(char.isspace() for char in text)):
        raise _Invalid(f"must be an http:// or https:// URL such as {example!r}, got {text!r}")
    return text, parts


def _public_url(value: Any) -> str:
    url, _ = _http_parts(value, "https://qms.example.gov.vn")
    # Without a trailing slash callers can append paths with f"{public_url}/...".
    return url.rstrip("/")


def _host_name(value: Any) -> str:
    text = _text()(value).strip().rstrip(".").lower()
    labels = text.split(".")
    if not text or len(text) > 253 or not all(
            label and len(label) <= 63 and label[0] != "-" and label[-1] != "-"
            and all(char.isascii() and (char.isalnum() or char in "-_") for char in label) for label in labels):
        raise _Invalid(f"must be a host name such as 'hub-01.local' or 'qms.example.gov.vn' (no scheme, no port), "
                       f"got {value!r}")
    return text


def _origin(value: Any) -> str:
    text, parts = _http_parts(value, "https://portal.example.gov.vn")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise _Invalid(f"must be a browser origin, scheme://host[:port] with no path, got {text!r}")
    # Browsers send the Origin header lower-cased and without a trailing slash.
    return f"{parts.scheme}://{parts.netloc}".lower()


def _file_path(base_dir: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return os.path.normpath(os.path.join(base_dir, _text()(value)))

    return check


# --- Tables and error locations ------------------------------------------------

KeyPath = tuple[str | int, ...]


def _format_key_path(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Source:
    """The site file being validated: its name, and line lookup for errors."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self._text = text
        self._key_lines: _KeyLines | None = None

    def line_of(self, key_path: KeyPath) -> int | None:
        if self._key_lines is None:  # only needed once something is wrong
            self._key_lines = _KeyLines(self._text)
        return self._key_lines.line_of(key_path)

    def error(self, key_path: KeyPath, reason: str) -> SiteConfigError:
        line = self.line_of(key_path)
        return SiteConfigError(self.path, line, _format_key_path(key_path), reason)


class _Table:
    """One TOML table under validation; failures are reported at the offending key."""

    def __init__(self, data: dict[str, Any], key_path: KeyPath, source: _Source,
                 allowed_keys: Iterable[str]) -> None:
        self.key_path = key_path
        self._data = data
        self._source = source
        allowed_keys = sorted(allowed_keys)
        for key in data:
            if key not in allowed_keys:
                raise self.error(key, _unknown_key_reason(key, allowed_keys))

    def get(self, key: str, check: Callable[[Any], Any], *, required: bool = False) -> Any:
        if key not in self._data:
            if required:
                raise self.error(key, "is required but missing")
            return _ABSENT
        try:
            return check(self._data[key])
        except _Invalid as invalid:
            key_path = self.key_path + (key, *invalid.sub_path)
            raise self._source.error(key_path, invalid.reason) from None

    def table(self, key: str, allowed_keys: Iterable[str]) -> _Table:
        value = self._data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, _expected(f"a table ([{key}])", value).reason)
        return _Table(value, self.key_path + (key,), self._source, allowed_keys)

    def tables(self, key: str, allowed_keys: Iterable[str]) -> list[_Table]:
        value = self._data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            header = ".".join(part for part in self.key_path + (key,) if isinstance(part, str))
            raise self.error(key, f"must be an array of tables written as [[{header}]]")
        return [_Table(item, self.key_path + (key, index), self._source, allowed_keys)
                for index, item in enumerate(value)]

    def error(self, key: str, reason: str) -> SiteConfigError:
        return self._source.error(self.key_path + (key,), reason)

    def has(self, key: str) -> bool:
        return key in self._data

    def raw_tables(self, key: str) -> list[_Table]:
        """The tables of an array, with no check of their keys (to tell the file's shape)."""
        value = self._data.get(key, [])
        if not isinstance(value, list):
            return []
        return [_Table(item, self.key_path + (key, index), self._source, item.keys())
                for index, item in enumerate(value) if isinstance(item, dict)]

    def line_of(self, key: str) -> int | None:
        return self._source.line_of(self.key_path + (key,))

    def describe(self) -> str:
        return _format_key_path(self.key_path)


def _unknown_key_reason(key: str, allowed_keys: list[str]) -> str:
    suggestions = difflib.get_close_matches(key, allowed_keys, n=1)
    if suggestions:
        return f"unknown key, did you mean {suggestions[0]!r}?"
    return f"unknown key, expected one of: {', '.join(allowed_keys)}"


_TOML_ERROR_POSITION = re.compile(
    r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$"
)


def _syntax_error(path: str, text: str, error: tomllib.TOMLDecodeError) -> SiteConfigError:
    # tomllib only reports the position inside its message text.
    match = _TOML_ERROR_POSITION.match(str(error))
    if match is None:
        return SiteConfigError(path, None, "", f"TOML syntax error: {error}")
    if match["line"] is None:  # "at end of document": blame the last line
        line = text.count("\n") + (0 if text.endswith("\n") else 1)
        reason = f"TOML syntax error: {match['message']} at end of file"
        return SiteConfigError(path, max(line, 1), "", reason)
    reason = f"TOML syntax error: {match['message']} (column {match['column']})"
    return SiteConfigError(path, int(match["line"]), "", reason)


class _KeyLines:
    """Maps key paths such as ("counters", 1, "name") to the line defining them.

    tomllib keeps no positions, so the already-valid TOML text is re-scanned:
    table headers set the current table, ``[[array]]`` headers are counted to
    recover each element's index, and multi-line strings and arrays are skipped
    so that their contents are never mistaken for keys. Keys inside inline
    tables are not indexed; lookups fall back to the nearest enclosing key.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        self._scan(text)

    def line_of(self, key_path: KeyPath) -> int | None:
        while key_path:
            if key_path in self._lines:
                return self._lines[key_path]
            key_path = key_path[:-1]
        return None

    def _scan(self, text: str) -> None:
        table: KeyPath = ()
        array_lengths: dict[KeyPath, int] = {}
        bracket_depth = 0
        open_string: str | None = None  # delimiter of a multi-line string in progress
        # TOML counts only \n as a line break; str.splitlines() would also
        # split on characters such as U+2028 that may appear inside strings.
        for line_number, line in enumerate(text.split("\n"), start=1):
            position = 0
            if open_string is None and bracket_depth == 0:
                position = _skip_blanks(line, 0)
                if line.startswith("[", position):
                    table = self._enter_table(line, position, line_number, array_lengths)
                    continue
                key = _parse_key(line, position)
                if key is not None:
                    parts, position = key
                    for length in range(1, len(parts) + 1):
                        self._lines.setdefault(table + tuple(parts[:length]), line_number)
                    position = _skip_blanks(line, position) + 1  # past the "="
            bracket_depth, open_string = _scan_value(line, position, bracket_depth, open_string)

    def _enter_table(self, line: str, position: int, line_number: int,
                     array_lengths: dict[KeyPath, int]) -> KeyPath:
        is_array = line.startswith("[[", position)
        key = _parse_key(line, position + (2 if is_array else 1))
        if key is None:  # cannot happen for text tomllib accepted
            return ()
        parts = key[0]
        table: KeyPath = ()
        for part in parts[:-1]:
            table += (part,)
            if table in array_lengths:  # [[a.b]] extends the latest [[a]] element
                table += (array_lengths[table] - 1,)
        table += (parts[-1],)
        if is_array:
            index = array_lengths.get(table, 0)
            array_lengths[table] = index + 1
            self._lines.setdefault(table, line_number)
            table += (index,)
        self._lines.setdefault(table, line_number)
        return table


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _skip_blanks(line: str, position: int) -> int:
    while position < len(line) and line[position] in " \t":
        position += 1
    return position


def _parse_key(line: str, position: int) -> tuple[list[str], int] | None:
    """Read a possibly dotted, possibly quoted key; return its parts and end position."""
    parts = []
    while True:
        position = _skip_blanks(line, position)
        if line.startswith(('"', "'"), position):
            quote = line[position]
            end = position + 1
            while end < len(line) and line[end] != quote:
                end += 2 if quote == '"' and line[end] == "\\" else 1
            if end >= len(line):
                return None
            # Let tomllib decode escapes so the key matches the parsed document exactly.
            parts.append(tomllib.loads("k = " + line[position:end + 1])["k"])
            position = end + 1
        else:
            match = _BARE_KEY.match(line, position)
            if match is None:
                return None
            parts.append(match.group())
            position = match.end()
        position = _skip_blanks(line, position)
        if not line.startswith(".", position):
            return parts, position
        position += 1


def _scan_value(line: str, position: int, bracket_depth: int,
                open_string: str | None) -> tuple[int, str | None]:
    """Walk value text, tracking array/inline-table nesting and multi-line strings."""
    while position < len(line):
        if open_string is not None:
            if open_string == '"""' and line[position] == "\\":
                position += 2
            elif line.startswith(open_string, position):
                # A closing delimiter may be preceded by up to two quotes that
                # belong to the content, e.g. """say "hi"""" ends after 5 quotes.
                quote_run_end = position + 3
                while (quote_run_end < len(line) and quote_run_end - position < 5
                       and line[quote_run_end] == open_string[0]):
                    quote_run_end += 1
                position = quote_run_end
                open_string = None
            else:
                position += 1
            continue
        char = line[position]
        if char == "#":
            break
        if line.startswith(('"""', "'''"), position):
            open_string = line[position:position + 3]
            position += 3
        elif char == '"':
            position += 1
            while position < len(line) and line[position] != '"':
                position += 2 if line[position] == "\\" else 1
            position += 1
        elif char == "'":
            closing = line.find("'", position + 1)
            position = (closing if closing != -1 else len(line)) + 1
        else:
            if char in "[{":
                bracket_depth += 1
            elif char in "]}":
                bracket_depth -= 1
            position += 1
    return bracket_depth, open_string


# --- Writing a site file in the current shape (``qms-hub site migrate``) -------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def site_to_toml(site: SiteConfig) -> str:
    """The site as a file of the current shape: what ``qms-hub site migrate`` writes for an old file."""
    lines = ["# Written by `qms-hub site migrate`. Save as UTF-8; unknown keys are refused.", ""]
    defaults = SiteConfig(site_name=site.site_name)
    for name in ("site_name", "timezone", "announcement_template", "display_duration", "default_service_minutes",
                 "next_numbers_count", "stats_interval", "priority_streak", "counter_display_shows_officer",
                 "public_url", "allowed_origins", "host_names", "tls_cert", "tls_key"):
        value = getattr(site, name)
        if value is None or (name != "site_name" and value == getattr(defaults, name)):
            continue
        lines.append(f"{name} = {_toml_value(value)}")
    for table, value, default in (("alerts", site.alerts, AlertThresholds()),
                                  ("rate_limit", site.rate_limit, RateLimit()),
                                  ("backup", site.backup, BackupSchedule())):
        changed = [f.name for f in dataclasses.fields(value) if getattr(value, f.name) != getattr(default, f.name)]
        if changed:
            lines += ["", f"[{table}]"] + [f"{n} = {_toml_value(getattr(value, n))}" for n in changed]
    for queue in site.queues:
        lines += ["", "[[queues]]", f"id = {queue.id}", f"name = {_toml_value(queue.name)}",
                  f"start_number = {queue.start_number}"]
        if queue.prefix:
            lines.append(f"prefix = {_toml_value(queue.prefix)}")
    for field_config in site.fields:
        lines += ["", "[[fields]]", f"id = {field_config.id}", f"name = {_toml_value(field_config.name)}"]
    for procedure in site.procedures:
        lines += ["", "[[procedures]]", f"id = {procedure.id}", f"name = {_toml_value(procedure.name)}",
                  f"queue = {procedure.queue_id}"]
        if procedure.field_id is not None:
            lines.append(f"field = {procedure.field_id}")
    for counter in site.counters:
        lines += ["", "[[counters]]", f"id = {counter.id}", f"name = {_toml_value(counter.name)}"]
        if counter.number != counter.id:
            lines.append(f"number = {counter.number}")
        lines.append(f"queues = {_toml_value(counter.queue_ids)}")
        if counter.backup_queue_ids:
            lines.append(f"backup_queues = {_toml_value(counter.backup_queue_ids)}")
    for display in site.displays:
        lines += ["", "[[displays]]", f"location = {_toml_value(display.location)}",
                  f"counters = {_toml_value(display.counter_ids)}"]
    return "\n".join(lines) + "\n"
