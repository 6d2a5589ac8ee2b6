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
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import SplitResult, urlsplit

from protocol.messages import DEFAULT_ANNOUNCEMENT_TEMPLATE

__all__ = [
    "AlertThresholds",
    "CounterConfig",
    "Procedure",
    "RateLimit",
    "SiteConfig",
    "SiteConfigError",
    "load_site_config",
    "parse_site_config",
    "sample_site",
]

SITE_NAME_MAX_LENGTH = 200
COUNTER_NAME_MAX_LENGTH = 120
PROCEDURE_NAME_MAX_LENGTH = 200
TEMPLATE_PLACEHOLDERS = ("number", "counter_name", "counter_id")


@dataclass(frozen=True)
class Procedure:
    id: int
    name: str
    counter_id: int


@dataclass(frozen=True)
class CounterConfig:
    id: int
    name: str
    start_number: int = 1
    procedures: tuple[Procedure, ...] = ()


@dataclass(frozen=True)
class AlertThresholds:
    counter_offline_minutes: float = 5.0
    high_queue: int = 20


@dataclass(frozen=True)
class RateLimit:
    rate: float = 20.0
    burst: int = 40
    close_after: int = 100


@dataclass(frozen=True)
class SiteConfig:
    site_name: str
    timezone: str = "Asia/Ho_Chi_Minh"
    announcement_template: str = DEFAULT_ANNOUNCEMENT_TEMPLATE
    display_duration: int = 10
    default_service_minutes: float = 5.0
    next_numbers_count: int = 3
    counters: tuple[CounterConfig, ...] = ()
    alerts: AlertThresholds = AlertThresholds()
    rate_limit: RateLimit = RateLimit()
    stats_interval: float = 1.0
    public_url: str | None = None
    allowed_origins: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        # ZoneInfo keeps its own per-key cache, so this is cheap to call often.
        return zoneinfo.ZoneInfo(self.timezone)

    def counter(self, counter_id: int) -> CounterConfig | None:
        return next((c for c in self.counters if c.id == counter_id), None)

    def procedure(self, procedure_id: int) -> Procedure | None:
        return next(
            (p for c in self.counters for p in c.procedures if p.id == procedure_id),
            None,
        )

    def render_announcement(self, number: int, counter: CounterConfig) -> str:
        return self.announcement_template.format(
            number=number, counter_name=counter.name, counter_id=counter.id
        )


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
_COUNTER_KEYS = frozenset(field.name for field in dataclasses.fields(CounterConfig))
# counter_id is not written in the file: it comes from the enclosing [[counters]].
_PROCEDURE_KEYS = frozenset({"id", "name"})


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
        "timezone": top.get("timezone", _timezone),
        "announcement_template": top.get("announcement_template", _announcement_template),
        "display_duration": top.get("display_duration", _integer(1, 600)),
        "default_service_minutes": top.get("default_service_minutes", _positive_number),
        "next_numbers_count": top.get("next_numbers_count", _integer(0, 20)),
        "stats_interval": top.get("stats_interval", _positive_number),
        "public_url": top.get("public_url", _public_url),
        "allowed_origins": top.get("allowed_origins", _array_of(_origin)),
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
        "counters": _build_counters(top),
    }
    return SiteConfig(**_present(site_fields))


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
    }))


def _build_counters(top: _Table) -> tuple[CounterConfig, ...]:
    counter_tables = top.tables("counters", _COUNTER_KEYS)
    if not counter_tables:
        raise top.error("counters", "at least one [[counters]] table is required")

    # Where each id was first defined, to point at both copies of a duplicate.
    counter_id_owners: dict[int, _Table] = {}
    procedure_id_owners: dict[int, _Table] = {}
    counters = []
    for counter_table in counter_tables:
        counter_id = counter_table.get("id", _integer(1), required=True)
        _refuse_duplicate(counter_table, counter_id, counter_id_owners, "counter")
        name = counter_table.get("name", _text(COUNTER_NAME_MAX_LENGTH), required=True)
        start_number = counter_table.get("start_number", _integer(1, 9000))

        procedure_tables = counter_table.tables("procedures", _PROCEDURE_KEYS)
        if not procedure_tables:
            raise counter_table.error(
                "procedures", "a counter needs at least one [[counters.procedures]] table"
            )
        procedures = []
        for procedure_table in procedure_tables:
            procedure_id = procedure_table.get("id", _integer(1), required=True)
            _refuse_duplicate(procedure_table, procedure_id, procedure_id_owners, "procedure")
            procedure_name = procedure_table.get(
                "name", _text(PROCEDURE_NAME_MAX_LENGTH), required=True
            )
            procedures.append(Procedure(procedure_id, procedure_name, counter_id))

        counters.append(CounterConfig(**_present({
            "id": counter_id,
            "name": name,
            "start_number": start_number,
            "procedures": tuple(procedures),
        })))
    return tuple(counters)


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
        template.format(number=1, counter_name="Quầy", counter_id=1)
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
