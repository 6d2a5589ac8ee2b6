"""The file of unacknowledged ratings: written whole and atomically, off the caller's thread, read at start."""

from __future__ import annotations

import json
import os
import threading

import pytest

from counter_node import outbox as outbox_module
from counter_node.model import PendingRating
from counter_node.outbox import FILE_NAME, Outbox

RATED_AT = "2026-11-25T02:06:00.000Z"


def rating(n: int) -> PendingRating:
    return PendingRating(f"counter-02-{n:032x}", n, 2000 + n, f"{2000 + n}", 1 + n % 4, RATED_AT, 2)


@pytest.fixture
def box(tmp_path):
    outbox = Outbox(tmp_path / "state")
    outbox.start()
    yield outbox
    outbox.close()


def test_what_is_saved_is_read_back_by_the_next_run(tmp_path, box):
    assert box.load() == (), "no file yet: nothing waiting"
    box.save((rating(1), rating(2)))
    assert box.flush()
    document = json.loads((tmp_path / "state" / FILE_NAME).read_text(encoding="utf-8"))
    assert document["version"] == 1 and [r["ticket_id"] for r in document["ratings"]] == [1, 2]
    assert Outbox(tmp_path / "state").load() == (rating(1), rating(2))
    box.save(())
    assert box.flush()
    assert Outbox(tmp_path / "state").load() == ()
    assert not list((tmp_path / "state").glob("*.partial")), "no temporary file left behind"


def test_writing_happens_on_the_outbox_thread_and_only_the_newest_list_when_they_pile_up(tmp_path, monkeypatch):
    writers: list[str] = []
    release = threading.Event()
    real_write = outbox_module.write_atomically

    def slow_write(path, data):
        writers.append(threading.current_thread().name)
        release.wait(10)
        real_write(path, data)

    monkeypatch.setattr(outbox_module, "write_atomically", slow_write)
    box = Outbox(tmp_path)
    box.start()
    try:
        box.save((rating(1),))  # returns while the (held) write is under way: the caller never waits for the disk
        for n in range(2, 6):
            box.save(tuple(rating(i) for i in range(1, n + 1)))
        assert not box.flush(timeout=0.05), "still held"
        release.set()
        assert box.flush()
    finally:
        box.close()
    assert writers and set(writers) == {"counter-outbox"}
    assert len(writers) <= 2, f"a burst of saves wrote {len(writers)} times"
    assert Outbox(tmp_path).load() == tuple(rating(i) for i in range(1, 6))


def test_a_file_that_is_not_a_ratings_file_is_moved_aside_not_lost(tmp_path):
    (tmp_path / FILE_NAME).write_text("{ half a fi", encoding="utf-8")
    assert Outbox(tmp_path).load() == ()
    assert (tmp_path / (FILE_NAME + ".unreadable")).read_text(encoding="utf-8") == "{ half a fi"
    assert not (tmp_path / FILE_NAME).exists()


def test_a_failed_write_is_reported_and_the_next_change_writes_everything(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder should be")
    box = Outbox(blocked)
    box.start()
    try:
        box.save((rating(1),))
        assert box.flush()
        assert isinstance(box.last_error, OSError)
    finally:
        box.close()
    os.unlink(blocked)
    box = Outbox(blocked)
    box.start()
    try:
        box.save((rating(1), rating(2)))
        assert box.flush() and box.last_error is None
    finally:
        box.close()
    assert Outbox(blocked).load() == (rating(1), rating(2))
