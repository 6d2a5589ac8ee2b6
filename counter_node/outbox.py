"""The ratings the hub has not acknowledged yet, in one small file of the display's state directory.

A tap made while the hub is unreachable must survive a restart of the node
(a power cut, a watchdog restart, an update) and be sent once the hub is
back. The file is JSON, ``{"version": 1, "ratings": [...]}``, replaced whole
on each change: written to a temporary file beside it, flushed to disk, then
renamed over the old one (and the folder synced), so a reader, or a restart
in the middle, sees the old list or the new one, never half of one.

Writing happens on a thread of its own (:class:`Outbox` hands it the latest
list and returns at once): the frame loop never waits for the SD card. A
burst of changes writes only the newest list. :meth:`Outbox.flush` waits for
the writes asked for so far (at shutdown, and in tests). Reading is done once,
at start, before the first frame; a file that cannot be read is moved aside
(``*.unreadable``, for a technician) rather than silently dropped or retried.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from counter_node.model import PendingRating

log = logging.getLogger("qms.counter.outbox")

FILE_NAME = "unsent-ratings.json"
FORMAT_VERSION = 1


def encode(ratings: tuple[PendingRating, ...]) -> bytes:
    document = {"version": FORMAT_VERSION, "ratings": [r.to_json() for r in ratings]}
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def decode(data: bytes) -> tuple[PendingRating, ...]:
    """The ratings in a file's bytes; ValueError when it is not such a file."""
    document = json.loads(data.decode("utf-8"))
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} ratings file")
    items = document.get("ratings")
    if not isinstance(items, list):
        raise ValueError("no list of ratings")
    return tuple(PendingRating.from_json(item) for item in items)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path``, or ``path`` as it was (OSError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    # The rename itself is on disk only once the folder is.
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class Outbox:
    """The file of unacknowledged ratings in ``directory``, written off the caller's thread."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.path = Path(directory) / FILE_NAME
        self._changed = threading.Condition()
        self._latest: tuple[PendingRating, ...] | None = None
        self._asked = 0  # saves asked for
        self._done = 0  # of those, the last one written (or given up on)
        self._stopping = False
        self._thread: threading.Thread | None = None
        # The last write that failed, for the logs and the tests; None after a good one.
        self.last_error: OSError | None = None
        self.writes = 0

    def load(self) -> tuple[PendingRating, ...]:
        """What the file holds now (empty when there is none); an unreadable file is moved aside."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            log.error("cannot read %s: %s; starting without the ratings it may hold", self.path, exc)
            return ()
        try:
            ratings = decode(data)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error("%s is not a ratings file (%s): moved to %s", self.path, exc, aside)
            try:
                os.replace(self.path, aside)
            except OSError as move_error:
                log.error("cannot move %s aside: %s", self.path, move_error)
            return ()
        if ratings:
            log.info("%d rating(s) from before the restart to send: %s", len(ratings),
                     ", ".join(r.request_id for r in ratings))
        return ratings

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="counter-outbox", daemon=True)
        self._thread.start()

    def save(self, ratings: tuple[PendingRating, ...]) -> None:
        """Have the file hold exactly ``ratings``; returns at once (the writer thread writes it)."""
        with self._changed:
            self._latest = ratings
            self._asked += 1
            self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every save asked for so far is written; whether it was within ``timeout``."""
        with self._changed:
            target = self._asked
            return self._changed.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is asked for, then stop the writer."""
        if self._thread is None:
            return
        self.flush(timeout)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._latest is not None or self._stopping)
                if self._latest is None:
                    return
                ratings, asked, self._latest = self._latest, self._asked, None
            try:
                write_atomically(self.path, encode(ratings))
            except OSError as exc:
                self.last_error = exc
                log.error("cannot write %s: %s; %d rating(s) are only in memory until the next change",
                          self.path, exc, len(ratings))
            else:
                self.last_error = None
                self.writes += 1
            with self._changed:
                self._done = asked
                self._changed.notify_all()
