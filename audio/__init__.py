"""Vietnamese speech for the hall TVs: number reading, engines, phrase cache, chime, playback queue.

Depends on nothing but the standard library, numpy, pygame (playback) and
piper-tts (the neural voice, imported only when a piper voice is configured).

    from audio import Announcer, PhraseCache, engine_from_setting, style_for_dialect

    engine = engine_from_setting(config.tv.voice, dialect=config.tv.dialect)
    phrases = PhraseCache(engine, template, style=style_for_dialect(config.tv.dialect), cache_dir=...)
    phrases.warm_up(counter_names, counter_numbers=numbers)   # background; again at each SNAPSHOT
    announcer = Announcer(phrases, repeat=config.tv.repeat, chime=config.tv.chime, volume=config.tv.volume)
    announcer.start()
    announcer.announce_call(105, "Tư pháp - Hộ tịch", 2, counter_number=2)   # returns at once: "… đến quầy số hai"
"""

from audio.chime import make_chime
from audio.clip import AudioClip, concatenate
from audio.engines import (
    EngineUnavailable,
    EspeakEngine,
    PiperEngine,
    SilentEngine,
    SpeechEngine,
    engine_from_setting,
)
from audio.numbers import NORTH, SOUTH, STANDARD, NumberStyle, read_number, speakable, style_for_dialect
from audio.phrases import DEFAULT_TEMPLATE, AnnouncementTemplate, Call, PhraseCache, Rendered
from audio.player import Announcer, PlaybackEvent

__all__ = [
    "AnnouncementTemplate", "Announcer", "AudioClip", "Call", "DEFAULT_TEMPLATE", "EngineUnavailable",
    "EspeakEngine", "NORTH", "NumberStyle", "PhraseCache", "PiperEngine", "PlaybackEvent", "Rendered",
    "SOUTH", "STANDARD", "SilentEngine", "SpeechEngine", "concatenate", "engine_from_setting", "make_chime",
    "read_number", "speakable", "style_for_dialect",
]
