"""The hub's log: one line per event on stdout, for journald; JSON lines on request.

The lines are formatted and written by a thread of their own (the standard
library's ``QueueListener``): a ticket's log line costs the event loop a
record kept in a list, handed to that thread with the others every
``HAND_OVER_EVERY``, not the formatting and a ``write`` to journald's
socket, which blocks while journald is busy. Stopping (normally, or on an
uncaught exception: ``atexit``) writes what is still queued; a SIGKILL can
lose the last lines (those of the last 20 ms among them), never an audit
row (those are in ``qms.db``).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import json
import logging
import logging.handlers
import os
import queue
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


# How long the records logged on the event loop wait to be handed to the writer thread together. A hand-over
# wakes that thread, which takes the GIL from the loop for its formatting: once per record, that was a switch
# forced in the middle of each ticket's work, and in a call's, between its commit and its fan-out.
HAND_OVER_EVERY = 0.02


class _RecordQueueHandler(logging.handlers.QueueHandler):
    """Queues the record itself: the listener's thread formats it (the base class formats it here, to
    pickle it for another process; this queue stays in the process).

    Records logged on a running event loop are gathered and handed over as one list, ``HAND_OVER_EVERY``
    after the first of them; records from any other thread go at once.
    """

    def __init__(self, records: queue.SimpleQueue[Any]):
        super().__init__(records)
        self._batch: list[logging.LogRecord] = []
        self._batch_loop: asyncio.AbstractEventLoop | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on an event loop's thread
            self.queue.put_nowait(record)
            return
        if not self._batch or loop is not self._batch_loop:
            self.hand_over()  # what another loop (one that has stopped since) left
            self._batch_loop = loop
            loop.call_later(HAND_OVER_EVERY, self.hand_over)
        self._batch.append(record)

    def hand_over(self) -> None:
        """Give the writer thread what the loop has logged since the last hand-over."""
        batch, self._batch = self._batch, []
        if batch:
            self.queue.put_nowait(batch)


class _LinesHandler(logging.StreamHandler):
    """Formats each record as it comes and writes the lines of a burst together: one ``write`` for all the
    records the listener found queued (:class:`_BurstListener`), where it was one per record. Each write
    hands the GIL to the event loop and takes it back, and a busy loop lets go of it only at its switch
    interval: a write per ticket cost the loop a forced switch per ticket."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - the standard library's way: report it, carry on
            self.handleError(record)

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            with contextlib.suppress(OSError, ValueError):  # journald gone, stdout closed: nothing to tell
                self.stream.write("".join(lines))
        super().flush()


class _BurstListener(logging.handlers.QueueListener):
    """Writes what it has formatted before it waits for the next record (``dequeue`` is the documented
    place to change how records are taken)."""

    def __init__(self, records: queue.SimpleQueue[Any], handler: logging.Handler):
        super().__init__(records, handler)
        self._records = records
        self._backlog: collections.deque[logging.LogRecord] = collections.deque()

    def dequeue(self, block: bool) -> Any:
        if self._backlog:
            return self._backlog.popleft()
        try:
            item = self._records.get_nowait()
        except queue.Empty:
            if not block:
                raise
            for handler in self.handlers:
                handler.flush()
            item = self._records.get(block)
        if isinstance(item, list):  # what the event loop logged since its last hand-over (never empty)
            self._backlog.extend(item)
            return self._backlog.popleft()
        return item


_listener: logging.handlers.QueueListener | None = None
_queueing: _RecordQueueHandler | None = None


def configure(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Send every log record to stdout, one line each (journald adds the time), from a writer thread."""
    global _listener, _queueing
    handler = _LinesHandler(sys.stdout)
    formatter: logging.Formatter = JsonLinesFormatter() if json_lines else KeyValueFormatter()
    # systemd sets JOURNAL_STREAM when stdout is the journal.
    if os.environ.get("JOURNAL_STREAM"):
        formatter = JournalPriorityFormatter(formatter)
    handler.setFormatter(formatter)
    stop_writing()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = _BurstListener(records, handler)
    _listener.start()
    atexit.register(stop_writing)
    root = logging.getLogger()
    _queueing = _RecordQueueHandler(records)
    root.handlers[:] = [_queueing]
    root.setLevel(level)
    # What no line of ours shows, not gathered for every record (the logging docs' "Optimization"):
    # the caller's file and line is a walk up the stack on each call, on the event loop.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # websockets logs every failed handshake at INFO with a traceback: too loud for a hall.
    logging.getLogger("websockets").setLevel(logging.WARNING)


def stop_writing() -> None:
    """Write every line still queued and end the writer thread (at exit; safe to call twice)."""
    global _listener, _queueing
    if _queueing is not None:
        _queueing.hand_over()  # what the loop logged last, before the listener's end of queue
        _queueing = None
    if _listener is not None:
        listener, _listener = _listener, None
        listener.stop()
        for handler in listener.handlers:
            handler.flush()  # the lines of the last burst: its thread has ended, this one writes them
        sys.stdout.flush()


def log_event(action: str, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger(EVENT_LOGGER).log(level, action, extra={"fields": fields})
