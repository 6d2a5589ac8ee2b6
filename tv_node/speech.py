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
gets it with the names and numbers of the counters this TV shows and of their
queues, a phrase cache for it replaces the one in use when it differs, and
its fixed words, what of those it speaks (by default the counters' numbers:
"đến quầy số hai") and the number words are synthesized ahead. A call whose ``announcement_text`` is that template
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from protocol import messages as m

if TYPE_CHECKING:
    from audio import PhraseCache
    from audio.engines import SpeechEngine

log = logging.getLogger("qms.tv.speech")


class Speaker(Protocol):
    def start(self) -> None:
        """Open the audio output; never raises for want of audio."""

    def prewarm(self, counter_names: Sequence[str], template: str, *, queue_names: Sequence[str] = (),
                counter_numbers: Sequence[int] = ()) -> None:
        """Prepare the speech of calls to these counters with the site's template ahead (returns at once)."""

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float) -> None:
        """Queue the spoken call (returns at once); ``arrived_at`` is ``time.monotonic()`` at arrival."""

    def stop(self) -> None:
        """Drop what is queued and close the audio output."""


SpeakerT = TypeVar("SpeakerT", bound=Speaker)


@dataclass
class RecordingSpeaker:
    """A speaker that only records what it was asked (tests about the screen)."""

    started: bool = False
    stopped: bool = False
    announced: list[m.TicketAnnouncementPayload] = field(default_factory=list)
    prewarmed: list[tuple[str, ...]] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    # Per prewarm: the queue names and the counter numbers it was given.
    queue_names: list[tuple[str, ...]] = field(default_factory=list)
    counter_numbers: list[tuple[int, ...]] = field(default_factory=list)

    def start(self) -> None:
        self.started = True

    def prewarm(self, counter_names: Sequence[str], template: str, *, queue_names: Sequence[str] = (),
                counter_numbers: Sequence[int] = ()) -> None:
        self.prewarmed.append(tuple(counter_names))
        self.templates.append(template)
        self.queue_names.append(tuple(queue_names))
        self.counter_numbers.append(tuple(counter_numbers))

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


class BackgroundSpeaker(Generic[SpeakerT]):
    """A speaker made ready in a thread of its own, so that the board does not wait for it.

    Making the real speaker imports the audio package and numpy and loads the
    voice (a piper voice takes seconds on a Pi); :meth:`start` does that in
    the background, and the TV starts it once its first frame is on screen.
    Until the speaker is ready, what the TV asks of it waits, in order (only
    the latest ``prewarm``: each SNAPSHOT replaces the one before), and is
    passed on as soon as it is; a call is shown meanwhile, and spoken once the
    voice is there. If the speaker cannot be made, calls are shown, not heard,
    as with no audio output.
    """

    def __init__(self, make: Callable[[], SpeakerT], *, describe: Callable[[SpeakerT], str] | None = None):
        self._make = make
        self._describe = describe
        self._lock = threading.Lock()
        self._speaker: Speaker | None = None
        # What was asked before the speaker was ready: ("prewarm" | "announce", the call to make on it).
        self._waiting: list[tuple[str, Callable[[Speaker], None]]] = []
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._prepare, name="tv-speech-start", daemon=True)
            self._thread.start()

    def _prepare(self) -> None:
        try:
            speaker = self._make()
            if self._describe is not None:
                log.info("speech: %s", self._describe(speaker))
            speaker.start()
        except Exception:
            log.exception("speech: could not be prepared; calls will be shown, not heard")
            with self._lock:
                self._waiting.clear()
            self.ready.set()
            return
        with self._lock:
            stopped = self._stopped
            if not stopped:
                # Under the lock, so that nothing asked meanwhile overtakes what was waiting.
                for _, action in self._waiting:
                    action(speaker)
                self._waiting = []
                self._speaker = speaker
        if stopped:
            speaker.stop()
        self.ready.set()

    def _pass_on(self, kind: str, action: Callable[[Speaker], None]) -> None:
        with self._lock:
            speaker = self._speaker
            if speaker is None:
                # Kept until the speaker is ready; dropped once it is stopped or could not be made.
                if not self._stopped and not self.ready.is_set():
                    if kind == "prewarm":
                        self._waiting = [item for item in self._waiting if item[0] != "prewarm"]
                    self._waiting.append((kind, action))
                return
        action(speaker)

    def prewarm(self, counter_names: Sequence[str], template: str, *, queue_names: Sequence[str] = (),
                counter_numbers: Sequence[int] = ()) -> None:
        names, queues, numbers = tuple(counter_names), tuple(queue_names), tuple(counter_numbers)
        self._pass_on("prewarm", lambda speaker: speaker.prewarm(names, template, queue_names=queues,
                                                                 counter_numbers=numbers))

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float) -> None:
        self._pass_on("announce", lambda speaker: speaker.announce(call, arrived_at))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            speaker, self._speaker = self._speaker, None
            self._waiting.clear()
        if speaker is not None:
            speaker.stop()


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

    def prewarm(self, counter_names: Sequence[str], template: str, *, queue_names: Sequence[str] = (),
                counter_numbers: Sequence[int] = ()) -> None:
        """Use the site's ``template`` from now on and synthesize its pieces in the background.

        The pieces: its fixed words, the number words, and what of ``counter_names``,
        ``queue_names`` and ``counter_numbers`` the template speaks.

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
        phrases.warm_up(tuple(counter_names), queue_names=tuple(queue_names), counter_numbers=tuple(counter_numbers))

    def announce(self, call: m.TicketAnnouncementPayload, arrived_at: float | None = None) -> None:
        arrived_at = time.monotonic() if arrived_at is None else arrived_at
        text = call.announcement_text.strip()
        if not text or self._matches(self.phrases, call):
            self.announcer.announce_call(call.ticket_number, call.counter_name, call.counter_id,
                                         counter_number=call.counter_number, queue_name=call.queue_name or "",
                                         arrived_at=arrived_at)
            return
        # Not the site's template filled in: the hub's text as it is (its numbers still read in words).
        log.info("speech: speaking the hub's text as is: %r", text)
        self.announcer.announce(text, arrived_at=arrived_at)

    @staticmethod
    def _matches(phrases: PhraseCache, call: m.TicketAnnouncementPayload) -> bool:
        try:
            expected = phrases.template.template.format(
                number=call.ticket_number, counter_name=call.counter_name, counter_id=call.counter_id,
                counter_number=call.counter_number if call.counter_number is not None else call.counter_id,
                queue_name=call.queue_name or call.counter_name)
        except (KeyError, ValueError, IndexError):
            return False
        return _words(expected) == _words(call.announcement_text)

    def stop(self) -> None:
        self.announcer.stop()
