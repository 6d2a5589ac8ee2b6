"""The hub's log: one line per event on stdout, for journald; JSON lines on request."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

EVENT_LOGGER = "qms.event"


class KeyValueFormatter(logging.Formatter):
    """``event=ticket.issued counter_id=1 number=105 actor=kiosk-001``: grep-able, one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [f"{record.levelname.lower()} {record.name}: {record.getMessage()}"]
        for key, value in fields.items():
            text = str(value)
            if not text or any(c.isspace() or c in '"=' for c in text):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return line


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# syslog priorities, which journald reads from a "<N>" line prefix.
_SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalPriorityFormatter(logging.Formatter):
    """Prefix each line with its syslog priority, so `journalctl -p err` finds the hub's errors."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{self._inner.format(record)}"


def configure(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Send every log record to stdout, one line each (journald adds the time)."""
    handler = logging.StreamHandler(sys.stdout)
    formatter: logging.Formatter = JsonLinesFormatter() if json_lines else KeyValueFormatter()
    # systemd sets JOURNAL_STREAM when stdout is the journal.
    if os.environ.get("JOURNAL_STREAM"):
        formatter = JournalPriorityFormatter(formatter)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # websockets logs every failed handshake at INFO with a traceback: too loud for a hall.
    logging.getLogger("websockets").setLevel(logging.WARNING)


def log_event(action: str, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger(EVENT_LOGGER).log(level, action, extra={"fields": fields})
