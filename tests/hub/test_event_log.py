"""The hub's log lines: key=value or JSON, with journald priorities under systemd."""

from __future__ import annotations

import json
import logging

from hub import event_log


def _capture(capsys, monkeypatch, journal: bool, json_lines: bool) -> list[str]:
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
