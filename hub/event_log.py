"""The hub's log: one line per event on stdout, for journald; JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
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
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Send every log record to stdout, one line each (journald adds the time)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLinesFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # websockets logs every failed handshake at INFO with a traceback: too loud for a hall.
    logging.getLogger("websockets").setLevel(logging.WARNING)


def log_event(action: str, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger(EVENT_LOGGER).log(level, action, extra={"fields": fields})
