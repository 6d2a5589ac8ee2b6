"""Announcer: the playback queue that speaks calls in the hall, one at a time, in call order.

``announce()`` only puts a request on a queue and returns: it is called from the
pygame frame loop or the asyncio loop, which must never wait for speech. One
worker thread takes requests in order and, for each, hands the chime to the
mixer at once, prepares the speech meanwhile (joined from cached pieces, or
synthesized whole), queues it on the same mixer channel right behind the chime,
and waits until the channel is quiet before the next request. So announcements
never overlap, and the chime covers the synthesis time of an uncached sentence.

Playback is pygame.mixer (SDL_mixer): on the TV, the HDMI or analogue output;
in tests, ``SDL_AUDIODRIVER=disk`` writes the exact samples to
``SDL_DISKAUDIOFILE``. If no mixer can be opened (no audio device, no driver)
the Announcer logs it once and stays silent; the TV keeps working.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from audio.chime import make_chime
from audio.clip import AudioClip, concatenate
from audio.engines import SilentEngine, SpeechEngine
from audio.phrases import Call, PhraseCache, Rendered

if TYPE_CHECKING:
    import pygame

log = logging.getLogger(__name__)

# Seconds past a clip's own length before a channel that is still "busy" is
# declared stuck (a wedged audio device) and stopped, so the queue moves on.
STUCK_MARGIN = 5.0
POLL_INTERVAL = 0.01

EventKind = Literal["started", "speech", "finished", "dropped", "failed"]


@dataclass(frozen=True)
class PlaybackEvent:
    """What happened to one request, with ``time.monotonic()`` stamps.

    - "started": the first sample of the request (the chime, or the speech when
      there is no chime) was handed to the mixer;
    - "speech": the speech was handed to the mixer (``cached`` says how it was made);
    - "finished": the channel went quiet after it;
    - "dropped": not played (silent mixer, queue overflow, stop());
    - "failed": an exception while preparing or playing it (logged).
    """

    kind: EventKind
    request_id: int
    text: str
    arrived_at: float
    at: float
    cached: bool | None = None

    @property
    def latency(self) -> float:
        """Seconds from the message's arrival to this event."""
        return self.at - self.arrived_at


@dataclass
class _Request:
    request_id: int
    what: Call | str
    arrived_at: float


class _Stop:
    """Queued by stop(): the worker ends when it takes this."""


_STOP = _Stop()


class Announcer:
    """Speaks calls through pygame.mixer: chime, then the speech ``repeat`` times, never overlapping.

    ``phrases`` is the PhraseCache to speak with (its engine and template); an
    engine alone gets a cache with the default template; None is silence.
    ``on_event`` is called from the worker thread with each PlaybackEvent: keep
    it short. The latest stamps are also kept in ``last_started_at`` and
    ``last_speech_at``, and the last ``history`` events in ``events``.
    """

    def __init__(self, phrases: PhraseCache | SpeechEngine | None = None, *, repeat: int = 2, chime: bool = True,
                 volume: float = 1.0, repeat_gap: float = 0.8, chime_gap: float = 0.25, after_gap: float = 0.6,
                 mixer_frequency: int = 22050, mixer_channels: int = 1, mixer_buffer: int = 1024,
                 max_pending: int = 32, on_event: Callable[[PlaybackEvent], None] | None = None,
                 history: int = 256):
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        if phrases is None:
            phrases = SilentEngine()
        if isinstance(phrases, SpeechEngine):
            phrases = PhraseCache(phrases)
        self.phrases = phrases
        self.repeat = repeat
        self.chime = chime
        self.volume = volume
        self.repeat_gap = repeat_gap
        self.chime_gap = chime_gap
        self.after_gap = after_gap
        self.mixer_frequency = mixer_frequency
        self.mixer_channels = mixer_channels
        self.mixer_buffer = mixer_buffer
        self.max_pending = max_pending
        self.on_event = on_event
        self.events: collections.deque[PlaybackEvent] = collections.deque(maxlen=history)
        self.last_started_at: float | None = None
        self.last_speech_at: float | None = None
        self.mixer_format: tuple[int, int, int] | None = None  # pygame.mixer.get_init() once open
        self.silent = False  # True when no mixer could be opened
        self.silent_reason = ""

        self._ids = itertools.count(1)
        self._queue: collections.deque[_Request | _Stop] = collections.deque()
        self._state = threading.Condition()
        self._busy = False
        self._started = False
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._owns_mixer = False
        self._channel: pygame.mixer.Channel | None = None
        self._chime_sound: pygame.mixer.Sound | None = None
        self._sound_class: type[pygame.mixer.Sound] | None = None

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> bool:
        """Open the mixer (or adopt the one pygame already opened) and start the worker; True if audible.

        Call once at start-up. Never raises for want of audio: it logs and goes silent.
        """
        with self._state:
            if self._started:
                return not self.silent
            self._started = True
            self._stopping = False
        self.silent, self.silent_reason = False, ""
        self._open_mixer()
        self._worker = threading.Thread(target=self._run, name="announcer", daemon=True)
        self._worker.start()
        return not self.silent

    def stop(self, timeout: float = 5.0) -> None:
        """Stop now: drop what is queued, cut what plays, end the worker, close the mixer if we opened it.

        A later announce() starts it again.
        """
        with self._state:
            if not self._started:
                return
            dropped = [item for item in self._queue if isinstance(item, _Request)]
            self._queue.clear()
            self._stopping = True
            self._queue.append(_STOP)
            self._state.notify_all()
        for request in dropped:
            self._emit("dropped", request)
        if self._channel is not None:
            with contextlib.suppress(Exception):  # the mixer may already be gone (pygame.quit() by the app)
                self._halt(self._channel)
        if self._worker is not None:
            self._worker.join(timeout)
        if self._owns_mixer:
            import pygame

            pygame.mixer.quit()
            self._owns_mixer = False
        with self._state:
            self._started = False
            self._busy = False
            self._queue.clear()
            self._state.notify_all()

    def __enter__(self) -> Announcer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- asking for speech ------------------------------------------------------------

    def announce(self, what: Call | str, *, arrived_at: float | None = None) -> int:
        """Queue a call (spoken from the template) or a free text; returns at once with the request id.

        ``arrived_at`` is when the message reached the TV (``time.monotonic()``),
        for the latency stamps; default: now.
        """
        request = _Request(next(self._ids), what, time.monotonic() if arrived_at is None else arrived_at)
        overflow: list[_Request] = []
        with self._state:
            auto_start = not self._started
            self._queue.append(request)
            while sum(isinstance(item, _Request) for item in self._queue) > self.max_pending:
                # A hall that falls this far behind wants the newest calls, not a minute-old backlog.
                oldest = next(item for item in self._queue if isinstance(item, _Request))
                self._queue.remove(oldest)
                overflow.append(oldest)
            self._state.notify_all()
        for dropped in overflow:
            log.warning("speech: queue full, dropping %r", dropped.what)
            self._emit("dropped", dropped)
        if auto_start:
            self.start()
        return request.request_id

    def announce_call(self, number: int, counter_name: str, counter_id: int | None = None, *,
                      counter_number: int | None = None, queue_name: str = "",
                      arrived_at: float | None = None) -> int:
        """Queue the spoken call "Mời khách hàng số <number> đến quầy số <counter_number>" (the template's words)."""
        return self.announce(Call(number, counter_name, counter_id, counter_number, queue_name),
                             arrived_at=arrived_at)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything queued has been played; False on timeout. For `say` and tests, not the TV loop."""
        with self._state:
            return self._state.wait_for(
                lambda: not self._busy and not any(isinstance(i, _Request) for i in self._queue), timeout
            )

    @property
    def pending(self) -> int:
        with self._state:
            return sum(isinstance(item, _Request) for item in self._queue) + (1 if self._busy else 0)

    # --- rendering (also used by `say --output`) ---------------------------------------

    def render(self, what: Call | str) -> Rendered:
        """The speech of one request (from the cache or synthesized), without chime or repeats."""
        if isinstance(what, Call):
            return self.phrases.render(what)
        return self.phrases.render_text(what)

    def speech_body(self, speech: AudioClip) -> AudioClip:
        """What follows the chime: a short gap, the speech ``repeat`` times with gaps, a closing gap."""
        repeated = concatenate([speech] * self.repeat, gap=self.repeat_gap) if speech.frames else speech
        lead = self.chime_gap if self.chime and speech.frames else 0.0
        return repeated.padded(before=lead, after=self.after_gap)

    def full_clip(self, what: Call | str, sample_rate: int | None = None) -> AudioClip:
        """Chime + speech body as one clip, as it would be heard (for files and checks)."""
        speech = self.render(what).clip
        rate = sample_rate or self.mixer_frequency
        parts = [make_chime(rate)] if self.chime else []
        parts.append(self.speech_body(speech).resampled(rate))
        return concatenate(parts, sample_rate=rate)

    # --- the worker ---------------------------------------------------------------------

    def _open_mixer(self) -> None:
        try:
            os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
            import pygame

            if pygame.mixer.get_init() is None:
                # allowedchanges=0: SDL converts to the device's own format, so the
                # samples we hand over are exactly in the format we asked for.
                pygame.mixer.init(frequency=self.mixer_frequency, size=-16, channels=self.mixer_channels,
                                  buffer=self.mixer_buffer, allowedchanges=0)
                self._owns_mixer = True
            self.mixer_format = pygame.mixer.get_init()
            if self.mixer_format is None:
                raise RuntimeError("pygame.mixer did not initialise")
            # Channel 0 is ours: Sound.play() elsewhere in the app never takes it.
            if pygame.mixer.get_num_channels() < 1:
                pygame.mixer.set_num_channels(8)
            pygame.mixer.set_reserved(1)
            self._channel = pygame.mixer.Channel(0)
            self._sound_class = pygame.mixer.Sound
            frequency, _format, _channels = self.mixer_format
            self._chime_sound = self._sound(make_chime(frequency)) if self.chime else None
        except Exception as error:  # pygame.error, ImportError, a bad device: speech is optional
            self.silent = True
            self.silent_reason = str(error) or type(error).__name__
            self._channel = None
            log.error("speech: no audio output (%s); announcements will be shown but not heard", self.silent_reason)

    @staticmethod
    def _mixer_closed() -> bool:
        import pygame

        return pygame.mixer.get_init() is None

    def _sound(self, clip: AudioClip) -> pygame.mixer.Sound:
        assert self.mixer_format is not None and self._sound_class is not None, "the mixer is not open"
        frequency, format_bits, channels = self.mixer_format
        return self._sound_class(buffer=clip.scaled(self.volume).to_mixer(frequency, format_bits, channels))

    def _run(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: bool(self._queue))
                item = self._queue.popleft()
                if isinstance(item, _Stop):
                    return
                self._busy = True
            try:
                self._play(item)
            except Exception:
                log.exception("speech: announcement %r failed", item.what)
                self._emit("failed", item)
            finally:
                with self._state:
                    self._busy = False
                    self._state.notify_all()

    def _play(self, request: _Request) -> None:
        if not self.silent and self._mixer_closed():
            self.silent = True
            self.silent_reason = "the mixer was closed (pygame.quit()?)"
            log.error("speech: %s; announcements will be shown but not heard", self.silent_reason)
        if self.silent:
            self._emit("dropped", request)
            return
        channel = self._channel
        assert channel is not None, "not silent, so the mixer is open"
        expected = 0.0
        if self._chime_sound is not None:
            channel.play(self._chime_sound)
            expected += self._chime_sound.get_length()
            self.last_started_at = self._emit("started", request).at
        try:
            rendered = self.render(request.what)
            if rendered.clip.frames and not self._stopping:
                body = self._sound(self.speech_body(rendered.clip))
                expected += body.get_length()
                # queue(): starts right after the chime, sample-exact; or at once if the chime is over.
                if self._chime_sound is None:
                    channel.play(body)
                    self.last_started_at = self._emit("started", request, rendered.cached).at
                else:
                    channel.queue(body)
                self.last_speech_at = self._emit("speech", request, rendered.cached, text=rendered.text).at
            elif self._chime_sound is None:
                self._emit("dropped", request, rendered.cached)  # nothing to play: no chime, no speech
                return
        finally:
            # Even when the speech failed, let the chime end: the next request would cut it.
            self._wait_quiet(channel, expected)
        self._emit("finished", request, rendered.cached)

    @staticmethod
    def _playing(channel: pygame.mixer.Channel) -> bool:
        # get_busy() alone is not enough: when the chime ends, SDL_mixer marks the
        # channel idle and only then does pygame's end-of-sound callback (which
        # needs the GIL) start the queued speech. In that gap get_busy() is False
        # while the channel still holds a sound; once everything has played,
        # the callback clears it.
        return bool(channel.get_busy() or channel.get_sound() is not None or channel.get_queue() is not None)

    def _wait_quiet(self, channel: pygame.mixer.Channel, expected: float) -> None:
        deadline = time.monotonic() + expected + STUCK_MARGIN
        while self._playing(channel) and not self._stopping:
            if time.monotonic() > deadline:
                log.error("speech: audio output stuck; cutting the announcement short")
                self._halt(channel)
                return
            time.sleep(POLL_INTERVAL)

    def _halt(self, channel: pygame.mixer.Channel) -> None:
        # Halting a channel starts its queued sound (pygame's end callback), so halt until it is empty.
        for _ in range(3):
            channel.stop()
            if channel.get_sound() is None and channel.get_queue() is None:
                return

    def _emit(self, kind: EventKind, request: _Request, cached: bool | None = None, *,
              text: str | None = None) -> PlaybackEvent:
        if text is None:
            what = request.what
            text = what if isinstance(what, str) else f"{what.number} → {what.counter_name}"
        event = PlaybackEvent(kind, request.request_id, text, request.arrived_at, time.monotonic(), cached)
        self.events.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("speech: on_event hook failed")
        return event
