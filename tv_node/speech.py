"""How the TV speaks a call: a small seam in front of the audio package.

The frame loop calls :meth:`Speaker.announce` for each TICKET_ANNOUNCEMENT and
:meth:`Speaker.prewarm` for each SNAPSHOT. Both return at once: the audio
package's :class:`~audio.player.Announcer` queues the call and a worker thread
synthesizes and plays it, and :meth:`~audio.phrases.PhraseCache.warm_up`
synthesizes the counter names in a background thread. Nothing here ever
synthesizes on the pygame frame loop or the hub client's asyncio loop.

:class:`AnnouncerSpeaker` is the real one; :class:`RecordingSpeaker` records
what it was asked, for tests that are about the screen.

The spoken sentence follows the site's announcement template, which the hub
sends in every SNAPSHOT (``announcement_template``): :meth:`Speaker.prewarm`
gets it with the counter names, a phrase cache for it replaces the one in use
when it differs, and its fixed words, the counter names and the number words
are synthesized ahead. A call whose ``announcement_text`` is that template
filled in (always, from a hub that sent it) is then joined from cached pieces
and starts at once. A text that does not match (a template the phrase cache
cannot use, a hub that changed it since) is spoken as it is, its numbers read
in Vietnamese words.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from protocol import messages as m

if TYPE_CHECKING:
    from audio import PhraseCache
    from audio.engines import SpeechEngine

log = logging.getLogger("qms.tv.speech")


class Speaker(Protocol):
    def start(self) -> None:
        """Open the audio output; never raises for want of audio."""

    def prewarm(self, counter_names: Sequence[str], template: str) -> None:
        """Prepare the speech of calls to these counters with the site's template ahead (returns at once)."""

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
    templates: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.started = True

    def prewarm(self, counter_names: Sequence[str], template: str) -> None:
        self.prewarmed.append(tuple(counter_names))
        self.templates.append(template)

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float) -> None:
        self.announced.append(call)

    def stop(self) -> None:
        self.stopped = True


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFC", text).split()


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
                 volume: float = 1.0, cache_dir: str | os.PathLike[str] | None = None,
                 engine: SpeechEngine | None = None, **announcer_options: Any):
        """``voice`` is the ``[tv] voice`` setting; ``engine`` (an audio SpeechEngine) replaces it when given."""
        from audio import Announcer, PhraseCache, engine_from_setting, style_for_dialect

        self._PhraseCache = PhraseCache
        self.style = style_for_dialect(dialect)
        # Loads a piper voice (seconds on a Pi): at start-up, before the first frame.
        self.engine = engine if engine is not None else engine_from_setting(voice, dialect=dialect)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        # The protocol's default template until the hub's SNAPSHOT says the site's.
        self.phrases = PhraseCache(self.engine, m.DEFAULT_ANNOUNCEMENT_TEMPLATE, style=self.style,
                                   cache_dir=self.cache_dir)
        self.announcer = Announcer(self.phrases, repeat=max(1, repeat), chime=chime,
                                   volume=max(0.0, min(1.0, volume)), **announcer_options)
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.engine.describe()

    def start(self) -> None:
        if not self.announcer.start():
            log.error("speech: no audio output (%s); calls will be shown, not heard", self.announcer.silent_reason)

    def prewarm(self, counter_names: Sequence[str], template: str) -> None:
        """Use the site's ``template`` from now on and synthesize its pieces and ``counter_names`` in the background.

        A template the phrase cache cannot use is logged and the one in use is
        kept: calls then do not match it and are spoken as the hub wrote them.
        """
        with self._lock:
            phrases = self.phrases
            if unicodedata.normalize("NFC", template) != phrases.template.template:
                try:
                    phrases = self._PhraseCache(self.engine, template, style=self.style, cache_dir=self.cache_dir)
                except ValueError as error:
                    log.warning("speech: cannot use the site's announcement template %r: %s", template, error)
                else:
                    log.info("speech: the site's announcement template is %r", template)
                    self.phrases = phrases
                    # The worker reads announcer.phrases per request: the next call uses the new pieces.
                    self.announcer.phrases = phrases
        # A background thread of the phrase cache does the synthesis; pieces already cached are skipped.
        phrases.warm_up(tuple(counter_names))

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float | None = None) -> None:
        arrived_at = time.monotonic() if arrived_at is None else arrived_at
        text = call.announcement_text.strip()
        if not text or self._matches(self.phrases, call):
            self.announcer.announce_call(call.ticket_number, call.counter_name, call.counter_id,
                                         arrived_at=arrived_at)
            return
        # Not the site's template filled in: the hub's text as it is (its numbers still read in words).
        log.info("speech: speaking the hub's text as is: %r", text)
        self.announcer.announce(text, arrived_at=arrived_at)

    @staticmethod
    def _matches(phrases: PhraseCache, call: m.TicketAnnouncementPayload) -> bool:
        try:
            expected = phrases.template.template.format(
                number=call.ticket_number, counter_name=call.counter_name, counter_id=call.counter_id)
        except (KeyError, ValueError, IndexError):
            return False
        return _words(expected) == _words(call.announcement_text)

    def stop(self) -> None:
        self.announcer.stop()
