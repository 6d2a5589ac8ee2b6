"""The hub's log lines: key=value or JSON, with journald priorities under systemd."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading

from hub import event_log


def _keep_logging_settings(monkeypatch) -> None:
    """configure() changes the logging module's process-wide knobs: put them back after the test."""
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))


def _capture(capsys, monkeypatch, journal: bool, json_lines: bool) -> list[str]:
    _keep_logging_settings(monkeypatch)
    if journal:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    else:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        event_log.configure(json_lines=json_lines)
        event_log.log_event("ticket.issued", counter_id=1, number=105, actor="kiosk-001", note="Đi họp lúc 9 giờ")
        logging.getLogger("qms.store").error("store commit failed: disk full")
    finally:
        event_log.stop_writing()  # the writer thread writes what is queued, then ends
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return capsys.readouterr().out.splitlines()


def test_key_value_lines(capsys, monkeypatch):
    info, error = _capture(capsys, monkeypatch, journal=False, json_lines=False)
    assert info == 'info qms.event: ticket.issued counter_id=1 number=105 actor=kiosk-001 note="Đi họp lúc 9 giờ"'
    assert error.startswith("error qms.store: store commit failed")


def test_journald_gets_priorities(capsys, monkeypatch):
    info, error = _capture(capsys, monkeypatch, journal=True, json_lines=False)
    assert info.startswith("<6>info qms.event: ticket.issued")
    assert error.startswith("<3>error qms.store:")


def test_json_lines(capsys, monkeypatch):
    info, error = _capture(capsys, monkeypatch, journal=False, json_lines=True)
    entry = json.loads(info)
    assert entry == {**entry, "message": "ticket.issued", "counter_id": 1, "number": 105, "level": "info"}
    assert json.loads(error)["level"] == "error"


def test_the_lines_are_formatted_and_written_off_the_callers_thread(monkeypatch):
    """A log line costs the event loop a queued record: the formatting and the write happen elsewhere."""
    writers: list[str] = []

    class Watched(event_log.KeyValueFormatter):
        def format(self, record):
            writers.append(threading.current_thread().name)
            return super().format(record)

    _keep_logging_settings(monkeypatch)
    monkeypatch.setattr(event_log, "KeyValueFormatter", Watched)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        event_log.configure()
        event_log.log_event("ticket.issued", number=105)
    finally:
        event_log.stop_writing()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert out.getvalue() == "info qms.event: ticket.issued number=105\n"
    assert writers and threading.current_thread().name not in writers


def test_a_burst_of_lines_is_written_together_and_none_is_lost_at_the_stop(monkeypatch):
    """The lines the writer thread finds queued go out in one write (one GIL hand-over, not one per line);
    the last burst is written when logging stops."""
    writes: list[str] = []

    class Counted(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)

    _keep_logging_settings(monkeypatch)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = Counted()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    held = threading.Event()
    try:
        event_log.configure()
        # Keep the writer thread busy with a first record while a burst of 200 is queued behind it.
        event_log.log_event("first", wait=_Held(held))
        for number in range(200):
            event_log.log_event("ticket.issued", number=number)
        held.set()
    finally:
        event_log.stop_writing()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = out.getvalue().splitlines()
    assert lines == ["info qms.event: first wait=held"] + [
        f"info qms.event: ticket.issued number={n}" for n in range(200)]
    assert len(writes) <= 3  # the first line, the burst, and at most one straggler; it was 201


class _Held:
    """A field whose text waits until the test lets it go: the writer thread formats it, and waits."""

    def __init__(self, event: threading.Event):
        self._event = event

    def __str__(self) -> str:
        self._event.wait(5)
        return "held"


def test_what_the_event_loop_logs_is_handed_over_together_and_none_is_lost(monkeypatch):
    """Records logged on the event loop reach the writer thread as one hand-over every HAND_OVER_EVERY (one
    wake-up of that thread, not one per record); a record from another thread goes at once; what is still
    gathered when logging stops is written."""
    _keep_logging_settings(monkeypatch)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handed: list[object] = []

    class Watched:
        """The records queue, noting each hand-over."""

        def __init__(self, inner):
            self.inner = inner

        def put_nowait(self, item):
            handed.append(item)
            self.inner.put_nowait(item)

    async def on_the_loop() -> list[int]:
        for number in range(50):
            event_log.log_event("ticket.issued", number=number)
        await asyncio.to_thread(event_log.log_event, "from.a.thread")
        before = len(handed)  # the thread's record only: the loop's fifty are still gathered
        await asyncio.sleep(event_log.HAND_OVER_EVERY * 3)
        event_log.log_event("ticket.issued", number=50)  # the last: logging stops before it is handed over
        return [before, len(handed)]

    try:
        event_log.configure()
        queueing = root.handlers[0]
        queueing.queue = Watched(queueing.queue)
        counts = asyncio.run(on_the_loop())
    finally:
        event_log.stop_writing()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert counts == [1, 2]
    assert isinstance(handed[0], logging.LogRecord) and [len(batch) for batch in handed[1:]] == [50, 1]
    lines = out.getvalue().splitlines()
    assert lines == ["info qms.event: from.a.thread"] + [
        f"info qms.event: ticket.issued number={n}" for n in range(51)]
