"""How the TV speaks a call: a small seam in front of the audio package.

The frame loop calls :meth:`Speaker.announce` for each TICKET_ANNOUNCEMENT and
:meth:`Speaker.prewarm` for each SNAPSHOT. Both return at once: the audio
package's :class:`~audio.player.Announcer` queues the call and a worker thread
synthesizes and plays it, and :meth:`~audio.phrases.PhraseCache.warm_up`
synthesizes the counter names in a background thread. Nothing here ever
synthesizes on the pygame frame loop or the hub client's asyncio loop.

:class:`AnnouncerSpeaker` is the real one; :class:`RecordingSpeaker` records
what it was asked, for tests that are about the screen.

The spoken sentence follows the hub's ``announcement_text``. When that text
is the phrase cache's template filled in with the call (the usual case), the
call is spoken from cached pieces (fast). A site with its own template is
recognised from its first call: the template is recovered from the text, and
a phrase cache for it replaces the default one, warmed with the counter names,
so later calls are fast too. Until then (or if the text cannot be matched)
the text itself is spoken, its numbers read in Vietnamese words.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from protocol import messages as m

log = logging.getLogger("qms.tv.speech")


class Speaker(Protocol):
    def start(self) -> None:
        """Open the audio output; never raises for want of audio."""

    def prewarm(self, counter_names: Sequence[str]) -> None:
        """Prepare the speech of these counter names ahead (returns at once)."""

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float) -> None:
        """Queue the spoken call (returns at once); ``arrived_at`` is ``time.monotonic()`` at arrival."""

    def stop(self) -> None:
        """Drop what is queued and close the audio output."""


@dataclass
class RecordingSpeaker:
    """A speaker that only records what it was asked (tests about the screen)."""

    started: bool = False
    stopped: bool = False
    announced: list[m.TicketAnnouncementPayload] = field(default_factory=list)
    prewarmed: list[tuple[str, ...]] = field(default_factory=list)

    def start(self) -> None:
        self.started = True

    def prewarm(self, counter_names: Sequence[str]) -> None:
        self.prewarmed.append(tuple(counter_names))

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float) -> None:
        self.announced.append(call)

    def stop(self) -> None:
        self.stopped = True


def template_of(text: str, number: int, counter_name: str, counter_id: int) -> str | None:
    """The hub's template behind one announcement, or None when the text does not show it unambiguously.

    "Mời khách hàng số 105 đến quầy Tư pháp" with 105 and "Tư pháp" gives
    "Mời khách hàng số {number} đến quầy {counter_name}".
    """
    if not text or text.count(str(number)) != 1:
        return None
    template = text.replace("{", "{{").replace("}", "}}")
    if counter_name and counter_name in template:
        if template.count(counter_name) != 1 or str(number) in counter_name:
            return None
        template = template.replace(counter_name, "{counter_name}")
    template = template.replace(str(number), "{number}")
    if str(counter_id) in template.replace("{number}", "").replace("{counter_name}", ""):
        # A bare counter id could be {counter_id} or a digit of the fixed text: say the text as it is.
        return None
    return template


def default_cache_dir() -> Path:
    """Where spoken pieces are kept between starts: systemd's CacheDirectory, else the user's cache."""
    systemd_cache = os.environ.get("CACHE_DIRECTORY")
    if systemd_cache:
        return Path(systemd_cache.split(":")[0]) / "speech"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qms-tv" / "speech"


class AnnouncerSpeaker:
    """The audio package's Announcer and PhraseCache behind the :class:`Speaker` seam."""

    def __init__(self, voice: str = "espeak", *, dialect: str = "standard", repeat: int = 2, chime: bool = True,
                 volume: float = 1.0, cache_dir: str | os.PathLike | None = None, engine=None,
                 **announcer_options):
        """``voice`` is the ``[tv] voice`` setting; ``engine`` (an audio SpeechEngine) replaces it when given."""
        from audio import Announcer, PhraseCache, engine_from_setting, style_for_dialect

        self._PhraseCache = PhraseCache
        self.style = style_for_dialect(dialect)
        # Loads a piper voice (seconds on a Pi): at start-up, before the first frame.
        self.engine = engine if engine is not None else engine_from_setting(voice, dialect=dialect)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.phrases = PhraseCache(self.engine, style=self.style, cache_dir=self.cache_dir)
        self.announcer = Announcer(self.phrases, repeat=max(1, repeat), chime=chime,
                                   volume=max(0.0, min(1.0, volume)), **announcer_options)
        self._counter_names: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.engine.describe()

    def start(self) -> None:
        if not self.announcer.start():
            log.error("speech: no audio output (%s); calls will be shown, not heard", self.announcer.silent_reason)

    def prewarm(self, counter_names: Sequence[str]) -> None:
        self._counter_names = tuple(counter_names)
        # A background thread of the phrase cache does the synthesis; pieces already cached are skipped.
        self.phrases.warm_up(self._counter_names)

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float | None = None) -> None:
        arrived_at = time.monotonic() if arrived_at is None else arrived_at
        text = call.announcement_text.strip()
        if not text or self._matches(self.phrases, call):
            self.announcer.announce_call(call.ticket_number, call.counter_name, call.counter_id,
                                         arrived_at=arrived_at)
            return
        template = template_of(text, call.ticket_number, call.counter_name, call.counter_id)
        if template is not None:
            self._adopt_template(template)
            if self._matches(self.phrases, call):
                self.announcer.announce_call(call.ticket_number, call.counter_name, call.counter_id,
                                             arrived_at=arrived_at)
                return
        # Not a template we can rebuild: the hub's text as it is (its numbers still read in words).
        log.info("speech: speaking the hub's text as is: %r", text)
        self.announcer.announce(text, arrived_at=arrived_at)

    def _matches(self, phrases, call: m.TicketAnnouncementPayload) -> bool:
        try:
            expected = phrases.template.template.format(
                number=call.ticket_number, counter_name=call.counter_name, counter_id=call.counter_id)
        except (KeyError, ValueError, IndexError):
            return False
        return " ".join(expected.split()) == " ".join(call.announcement_text.split())

    def _adopt_template(self, template: str) -> None:
        with self._lock:
            if self.phrases.template.template == template:
                return
            try:
                phrases = self._PhraseCache(self.engine, template, style=self.style, cache_dir=self.cache_dir)
            except ValueError as error:
                log.warning("speech: cannot use the site's announcement template %r: %s", template, error)
                return
            log.info("speech: the site's announcement template is %r", template)
            self.phrases = phrases
            # The worker reads announcer.phrases per request: the next call uses the new pieces.
            self.announcer.phrases = phrases
            phrases.warm_up(self._counter_names)

    def stop(self) -> None:
        self.announcer.stop()
