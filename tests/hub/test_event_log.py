"""The hub's log lines: key=value or JSON, with journald priorities under systemd."""

from __future__ import annotations

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
