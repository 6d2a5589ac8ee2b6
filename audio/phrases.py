"""Announcement sentences, and the cache of spoken pieces that makes them start fast.

A call is spoken from the site's template, by default "Mời khách hàng số
{number} đến quầy số {counter_number}". The template splits into fixed parts
("Mời khách hàng số", "đến quầy số"), names (``{counter_name}``,
``{queue_name}``) and numbers in words (the ticket's, the counter's). The
fixed parts, the names the template uses and every counter's number (from the
hub's SNAPSHOT), and every number word are synthesized ahead of time by a
background thread and kept (in memory, and optionally as WAV files keyed by
engine + voice + text), so a call is assembled by joining clips: a few
milliseconds, on any CPU.

When a piece is missing (a counter renamed since the last SNAPSHOT, the cache
still warming up) the whole sentence is synthesized instead, the number already
in words, so every engine says it right; the missing piece is then cached for
next time.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import string
import tempfile
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audio.clip import AudioClip, concatenate
from audio.engines import SpeechEngine
from audio.numbers import STANDARD, NumberStyle, number_words, speakable, vocabulary
from protocol.messages import DEFAULT_ANNOUNCEMENT_TEMPLATE

log = logging.getLogger(__name__)

# The protocol's default; a TV uses the template its hub sends in SNAPSHOT.
DEFAULT_TEMPLATE = DEFAULT_ANNOUNCEMENT_TEMPLATE
# The placeholders a site's template may use (as the hub's site file allows them).
TEMPLATE_FIELDS = ("number", "counter_number", "counter_name", "queue_name", "counter_id")
# Around a piece: quieter than this counts as the engine's padding (trimmed before joining).
TRIM_THRESHOLD = 300
SENTENCE_CACHE_SIZE = 64
_EDGE_PUNCTUATION = " \t\r\n,.;:!?-–—…\"'()[]"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Call:
    """One ticket call to speak: the number and where to go.

    A template's ``{counter_number}`` is the number painted above the desk
    (spoken "quầy số hai"), else the id; a call that has neither says the
    counter's name there rather than nothing.
    """

    number: int
    counter_name: str
    counter_id: int | None = None
    counter_number: int | None = None
    queue_name: str = ""


@dataclass(frozen=True)
class Segment:
    """One piece of a spoken call: fixed or named text, or a number (with its words)."""

    kind: Literal["text", "number"]
    text: str
    words: tuple[str, ...] = ()


class AnnouncementTemplate:
    """A site's announcement template (the hub's placeholders: TEMPLATE_FIELDS).

    Format specs such as ``{number:03d}`` are accepted and ignored: a number is
    always spoken in words.
    """

    def __init__(self, template: str = DEFAULT_TEMPLATE, style: NumberStyle = STANDARD):
        self.template = _nfc(template)
        self.style = style
        self._parts: list[tuple[str, str | None]] = []  # (literal text, field or None)
        for literal, field, _spec, _conversion in string.Formatter().parse(self.template):
            if field is not None and field not in TEMPLATE_FIELDS:
                raise ValueError(f"unknown placeholder {{{field}}} in announcement template")
            self._parts.append((literal, field))

    @property
    def fields(self) -> frozenset[str]:
        """The placeholders the template uses."""
        return frozenset(field for _, field in self._parts if field is not None)

    @property
    def fixed_parts(self) -> tuple[str, ...]:
        """The template's own words, as they are synthesized and cached."""
        cleaned = (_clean(speakable(literal, self.style)) for literal, _ in self._parts)
        return tuple(part for part in cleaned if part)

    def segments(self, call: Call) -> list[Segment]:
        segments: list[Segment] = []
        for literal, field in self._parts:
            text = _clean(speakable(literal, self.style))
            if text:
                segments.append(Segment("text", text))
            value = {"number": call.number, "counter_id": call.counter_id,
                     "counter_number": call.counter_number if call.counter_number is not None
                     else call.counter_id}.get(field or "")
            if value is not None:
                words = tuple(number_words(value, self.style))
                segments.append(Segment("number", " ".join(words), words))
            elif field is not None:
                # The queue's name (the counter's when the call has none), or the counter's in place of a number.
                name = _clean(speakable(call.queue_name if field == "queue_name" and call.queue_name
                                        else call.counter_name, self.style))
                if name:
                    segments.append(Segment("text", name))
        return segments

    def sentence(self, call: Call) -> str:
        """The whole sentence as an engine should get it: NFC, numbers in words."""
        return " ".join(segment.text for segment in self.segments(call))

    def counter_name_text(self, counter_name: str) -> str:
        return _clean(speakable(counter_name, self.style))

    def number_text(self, number: int) -> str:
        """A number as one spoken piece ("mười hai"): how a counter's number is cached whole."""
        return " ".join(number_words(number, self.style))


def _clean(text: str) -> str:
    """Text as one spoken piece: NFC, single spaces, no punctuation at its ends."""
    return " ".join(_nfc(text).split()).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True)
class Rendered:
    """A spoken call or text, and whether it came from cached pieces (fast) or whole synthesis."""

    clip: AudioClip
    cached: bool
    text: str


class PhraseCache:
    """Spoken pieces for one engine and template: warm them ahead, assemble calls from them."""

    def __init__(self, engine: SpeechEngine, template: AnnouncementTemplate | str = DEFAULT_TEMPLATE, *,
                 style: NumberStyle | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 word_gap: float = 0.03, phrase_gap: float = 0.12):
        if isinstance(template, str):
            template = AnnouncementTemplate(template, style or STANDARD)
        self.engine = engine
        self.template = template
        self.style = template.style
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.word_gap = word_gap
        self.phrase_gap = phrase_gap
        self._lock = threading.Lock()
        self._pieces: dict[str, AudioClip] = {}
        self._sentences: collections.OrderedDict[str, AudioClip] = collections.OrderedDict()
        self._disk_failed = False
        # The warm-up queue: one background thread synthesizing what is asked, in order.
        self._pending: collections.deque[tuple[str, bool]] = collections.deque()
        self._pending_changed = threading.Condition(self._lock)
        self._busy = False
        self._worker: threading.Thread | None = None
        self.hits = 0
        self.misses = 0

    # --- warming --------------------------------------------------------------------

    def texts_to_warm(self, counter_names: Iterable[str] = (), *, queue_names: Iterable[str] = (),
                      counter_numbers: Iterable[int] = ()) -> list[str]:
        """Fixed parts, the names and counter numbers the template says, then every number word, each once.

        Only what the template speaks: counter names for ``{counter_name}``,
        queue names for ``{queue_name}``, each counter's number for
        ``{counter_number}`` or ``{counter_id}`` (whole, so "mười hai" is one
        piece with one piece's prosody; its words are in the vocabulary too).
        """
        fields = self.template.fields
        names = list(counter_names) if "counter_name" in fields else []
        lines = list(queue_names) if "queue_name" in fields else []
        numbers = list(counter_numbers) if fields & {"counter_number", "counter_id"} else []
        texts = [*self.template.fixed_parts,
                 *(self.template.counter_name_text(name) for name in names),
                 *(self.template.counter_name_text(name) for name in lines),
                 *(self.template.number_text(number) for number in numbers),
                 *vocabulary(self.style)]
        return [text for text in dict.fromkeys(texts) if text]

    def warm_up(self, counter_names: Iterable[str] = (), extra_texts: Iterable[str] = (), *,
                queue_names: Iterable[str] = (), counter_numbers: Iterable[int] = (),
                background: bool = True) -> None:
        """Synthesize (or load from the disk cache) every piece a call needs; in a background thread by default.

        Call again with the new names when a SNAPSHOT renames counters: cached
        pieces are not synthesized twice.
        """
        texts = self.texts_to_warm(counter_names, queue_names=queue_names, counter_numbers=counter_numbers) \
            + [_clean(text) for text in extra_texts]
        self._enqueue(((text, False) for text in texts if text), background=background)

    def prefetch(self, calls: Iterable[Call], *, background: bool = True) -> None:
        """Synthesize whole sentences ahead (e.g. each counter's next numbers): natural prosody when called."""
        self._enqueue(((self.template.sentence(call), True) for call in calls), background=background)

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Block until the warm-up queue is empty; False on timeout."""
        with self._pending_changed:
            return self._pending_changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    @property
    def warm(self) -> bool:
        with self._lock:
            return not self._pending and not self._busy

    def _enqueue(self, items: Iterable[tuple[str, bool]], *, background: bool) -> None:
        if not self.engine.speaks:
            return
        if not background:
            for text, whole in items:
                self._ensure(text, whole)
            return
        with self._pending_changed:
            self._pending.extend(items)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._warm_loop, name="phrase-warm-up", daemon=True)
                self._worker.start()
            self._pending_changed.notify_all()

    def _warm_loop(self) -> None:
        while True:
            with self._pending_changed:
                if not self._pending:
                    self._busy = False
                    self._pending_changed.notify_all()
                    self._worker = None
                    return
                text, whole = self._pending.popleft()
                self._busy = True
            try:
                self._ensure(text, whole)
            except Exception:  # one bad piece must not stop the others; the call falls back to whole synthesis
                log.exception("speech: could not pre-synthesize %r", text)

    def _ensure(self, text: str, whole: bool) -> None:
        if self.cached(text) is None:
            self._store(text, self.engine.synthesize(text), whole=whole)

    # --- the cache itself -----------------------------------------------------------

    def cached(self, text: str) -> AudioClip | None:
        """The clip of ``text`` from memory or the disk cache, or None."""
        text = _nfc(text)
        with self._lock:
            clip = self._pieces.get(text)
            if clip is None:
                clip = self._sentences.get(text)
                if clip is not None:
                    self._sentences.move_to_end(text)
        if clip is None:
            clip = self._load(text)
            if clip is not None:
                with self._lock:
                    self._pieces[text] = clip
        return clip

    def synthesize(self, text: str) -> AudioClip:
        """The clip of ``text``: cached, or synthesized now (and kept in the in-memory sentence cache)."""
        text = _nfc(text)
        clip = self.cached(text)
        if clip is None:
            clip = self.engine.synthesize(text)
            self._store(text, clip, whole=True)
        return clip

    def _store(self, text: str, clip: AudioClip, *, whole: bool) -> None:
        with self._lock:
            if whole:
                self._sentences[text] = clip
                self._sentences.move_to_end(text)
                while len(self._sentences) > SENTENCE_CACHE_SIZE:
                    self._sentences.popitem(last=False)
            else:
                self._pieces[text] = clip
        if not whole:
            # Only pieces go to disk: a bounded set. Sentences (a new one per number) stay in memory.
            self._save(text, clip)

    def _path(self, text: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{self.engine.cache_id}\0{text}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{key}.wav"

    def _load(self, text: str) -> AudioClip | None:
        path = self._path(text)
        if path is None or not path.is_file():
            return None
        try:
            return AudioClip.from_wav(path.read_bytes())
        except Exception as error:  # a torn or foreign file: synthesize again, overwrite it
            log.warning("speech cache: ignoring unreadable %s: %s", path, error)
            return None

    def _save(self, text: str, clip: AudioClip) -> None:
        path = self._path(text)
        if path is None or self._disk_failed:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a power cut leaves the old file or none, never half a clip.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
                handle.write(clip.to_wav())
            os.replace(handle.name, path)
        except OSError as error:
            self._disk_failed = True  # a full or read-only disk: keep working from memory, say it once
            log.warning("speech cache: cannot write to %s (%s); caching in memory only", self.cache_dir, error)

    # --- speaking calls -------------------------------------------------------------

    def assemble(self, call: Call) -> AudioClip | None:
        """The call joined from cached pieces, or None if any piece is missing."""
        pieces: list[AudioClip] = []
        for segment in self.template.segments(call):
            clip = self.cached(segment.text)
            if clip is None and segment.kind == "number":
                words = [self.cached(word) for word in segment.words]
                found = [word for word in words if word is not None]
                if len(found) < len(words):
                    return None
                clip = concatenate([word.trimmed(TRIM_THRESHOLD) for word in found], gap=self.word_gap)
            if clip is None:
                return None
            pieces.append(clip.trimmed(TRIM_THRESHOLD))
        return concatenate(pieces, gap=self.phrase_gap)

    def missing_pieces(self, call: Call) -> list[str]:
        """The texts assemble() would need and the cache does not have."""
        missing: list[str] = []
        for segment in self.template.segments(call):
            if self.cached(segment.text) is not None:
                continue
            if segment.kind == "number":
                missing += [word for word in segment.words if self.cached(word) is None]
            else:
                missing.append(segment.text)
        return list(dict.fromkeys(missing))

    def render(self, call: Call) -> Rendered:
        """The spoken call: from cached pieces when all are there, else synthesized whole."""
        sentence = self.template.sentence(call)
        if not self.engine.speaks:
            return Rendered(AudioClip.empty(self.engine.sample_rate), True, sentence)
        whole = self.cached(sentence)
        if whole is not None:
            self.hits += 1
            return Rendered(whole, True, sentence)
        assembled = self.assemble(call)
        if assembled is not None:
            self.hits += 1
            return Rendered(assembled, True, sentence)
        self.misses += 1
        missing = self.missing_pieces(call)
        clip = self.engine.synthesize(sentence)
        self._store(sentence, clip, whole=True)  # a recall of the same number is then instant
        # Cache what was missing (usually a counter name the SNAPSHOT did not have) for next time.
        self._enqueue(((text, False) for text in missing), background=True)
        return Rendered(clip, False, sentence)

    def render_text(self, text: str) -> Rendered:
        """Free text (an ANNOUNCEMENT, ``qms-tv say``): numbers read out, whole sentence, cached if seen before."""
        sentence = " ".join(speakable(text, self.style).split())
        if not self.engine.speaks or not sentence:
            return Rendered(AudioClip.empty(self.engine.sample_rate), True, sentence)
        clip = self.cached(sentence)
        if clip is not None:
            self.hits += 1
            return Rendered(clip, True, sentence)
        self.misses += 1
        clip = self.engine.synthesize(sentence)
        self._store(sentence, clip, whole=True)
        return Rendered(clip, False, sentence)
