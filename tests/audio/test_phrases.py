"""The announcement template and the phrase cache: warm-up, assembly from pieces, the disk cache."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from support.capture import CountingEngine
from support.tiny_voice import write_tiny_voice

from audio.engines import EspeakEngine, PiperEngine, SilentEngine, SpeechEngine
from audio.numbers import NORTH, SOUTH, vocabulary
from audio.phrases import DEFAULT_TEMPLATE, AnnouncementTemplate, Call, PhraseCache

COUNTERS = ["Văn phòng đăng ký đất đai", "Tư pháp - Hộ tịch", "Quầy 3"]
CALL = Call(105, "Văn phòng đăng ký đất đai")
WARM_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_voice(tmp_path_factory.mktemp("voice"))


def _engines(tiny_voice: Path) -> list[SpeechEngine]:
    engines: list[SpeechEngine] = [PiperEngine(tiny_voice)]
    if shutil.which("espeak-ng"):
        engines.append(EspeakEngine())
    return engines


def test_the_template_splits_into_fixed_parts_names_and_number_words() -> None:
    template = AnnouncementTemplate(DEFAULT_TEMPLATE)
    assert template.fixed_parts == ("Mời khách hàng số", "đến quầy")
    assert template.sentence(CALL) == "Mời khách hàng số một trăm lẻ năm đến quầy Văn phòng đăng ký đất đai"
    kinds = [(segment.kind, segment.text) for segment in template.segments(CALL)]
    assert kinds == [("text", "Mời khách hàng số"), ("number", "một trăm lẻ năm"),
                     ("text", "đến quầy"), ("text", "Văn phòng đăng ký đất đai")]
    assert AnnouncementTemplate(DEFAULT_TEMPLATE, NORTH).sentence(Call(1005, "Quầy 2")) == \
        "Mời khách hàng số một nghìn không trăm linh năm đến quầy Quầy hai"
    assert AnnouncementTemplate(DEFAULT_TEMPLATE, SOUTH).sentence(Call(1005, "A")) == \
        "Mời khách hàng số một ngàn không trăm lẻ năm đến quầy A"


def test_other_templates_placeholders_and_punctuation() -> None:
    template = AnnouncementTemplate("Xin mời số {number:04d}, đến quầy số {counter_id} ({counter_name}).")
    call = Call(21, "Hộ tịch", counter_id=4)
    assert template.fixed_parts == ("Xin mời số", "đến quầy số")
    assert template.sentence(call) == "Xin mời số hai mươi mốt đến quầy số bốn Hộ tịch"
    with pytest.raises(ValueError, match="unknown placeholder"):
        AnnouncementTemplate("Số {ticket}")


def test_warm_up_caches_fixed_parts_names_and_every_number_word(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS)
    assert phrases.wait_warm(WARM_TIMEOUT)
    expected = {"Mời khách hàng số", "đến quầy", *[name.replace("3", "ba") for name in COUNTERS],
                *vocabulary(phrases.style)}
    assert set(engine.texts) == expected
    assert len(engine.texts) == len(expected)  # each once
    assert "triệu" in engine.texts and "lẻ" in engine.texts and "nghìn" in engine.texts

    before = len(engine.texts)
    for number in (0, 5, 15, 21, 24, 105, 1005, 2024, 9999):
        rendered = phrases.render(Call(number, COUNTERS[number % 3]))
        assert rendered.cached and rendered.clip.duration > 0.5
    assert len(engine.texts) == before  # nothing synthesized while announcing
    # Warming again (a new SNAPSHOT) synthesizes only what is new.
    phrases.warm_up([*COUNTERS, "Thuế"])
    assert phrases.wait_warm(WARM_TIMEOUT)
    assert engine.texts[before:] == ["Thuế"]


def test_warm_up_runs_in_the_background(tiny_voice: Path) -> None:
    import threading

    release = threading.Event()

    class SlowEngine(CountingEngine):
        def synthesize(self, text: str):
            release.wait(WARM_TIMEOUT)
            return super().synthesize(text)

    phrases = PhraseCache(SlowEngine(PiperEngine(tiny_voice)))
    phrases.warm_up(COUNTERS)  # returns although the engine is blocked
    assert not phrases.warm
    release.set()
    assert phrases.wait_warm(WARM_TIMEOUT) and phrases.warm


@pytest.mark.parametrize("which", ["piper", "espeak"])
def test_assembled_call_lasts_about_as_long_as_the_whole_sentence(tiny_voice: Path, which: str) -> None:
    engines = {engine.name: engine for engine in _engines(tiny_voice)}
    if which not in engines:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; .ci/run installs it)")
    engine = engines[which]
    phrases = PhraseCache(engine)
    whole = phrases.render(CALL)
    assert not whole.cached
    phrases = PhraseCache(engine)  # a fresh cache: the whole sentence is not in it
    phrases.warm_up(COUNTERS, background=False)
    assembled = phrases.render(CALL)
    assert assembled.cached and assembled.text == whole.text
    # Not a timing check: the joined pieces must be neither clipped words nor padded silence.
    assert 0.5 * whole.clip.duration < assembled.clip.duration < 1.5 * whole.clip.duration
    assert not assembled.clip.is_silent()


def test_uncached_call_is_synthesized_whole_then_its_missing_piece_is_cached(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS, background=False)
    renamed = Call(7, "Đăng ký kinh doanh")
    first = phrases.render(renamed)
    assert not first.cached
    assert "Mời khách hàng số bảy đến quầy Đăng ký kinh doanh" in engine.texts  # the number already in words
    assert phrases.wait_warm(WARM_TIMEOUT)
    assert "Đăng ký kinh doanh" in engine.texts
    assert phrases.render(Call(8, "Đăng ký kinh doanh")).cached
    assert phrases.misses == 1


def test_recalls_and_prefetched_sentences_come_from_memory(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine)
    phrases.render(CALL)
    assert phrases.wait_warm(WARM_TIMEOUT)  # the missing pieces it cached in the background
    calls_before = len(engine.texts)
    assert phrases.render(CALL).cached and len(engine.texts) == calls_before
    phrases.prefetch([Call(106, CALL.counter_name)])
    assert phrases.wait_warm(WARM_TIMEOUT)
    assert phrases.render(Call(106, CALL.counter_name)).cached


def test_disk_cache_survives_a_restart_and_is_keyed_by_voice(tmp_path: Path, tiny_voice: Path) -> None:
    cache_dir = tmp_path / "speech-cache"
    first = CountingEngine(PiperEngine(tiny_voice))
    PhraseCache(first, cache_dir=cache_dir).warm_up(COUNTERS, background=False)
    files = sorted(cache_dir.glob("*.wav"))
    assert len(files) == len(first.texts) > 20

    again = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(again, cache_dir=cache_dir)
    phrases.warm_up(COUNTERS, background=False)
    assert again.texts == []  # everything came from disk
    assert phrases.render(CALL).cached

    other_voice = write_tiny_voice(tmp_path / "other", tone_hz=330.0, sample_rate=22050)
    other = CountingEngine(PiperEngine(other_voice))
    PhraseCache(other, cache_dir=cache_dir).warm_up(COUNTERS, background=False)
    assert len(other.texts) == len(first.texts)  # another voice's clips are never reused


def test_unreadable_or_unwritable_disk_cache_degrades_to_memory(
        tmp_path: Path, tiny_voice: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache_dir = tmp_path / "cache"
    engine = CountingEngine(PiperEngine(tiny_voice))
    PhraseCache(engine, cache_dir=cache_dir).warm_up(["Thuế"], background=False)
    for path in cache_dir.glob("*.wav"):
        path.write_bytes(b"torn")
    engine.texts.clear()
    with caplog.at_level(logging.WARNING, logger="audio.phrases"):
        phrases = PhraseCache(engine, cache_dir=cache_dir)
        phrases.warm_up(["Thuế"], background=False)
    assert "ignoring unreadable" in caplog.text
    assert "Thuế" in engine.texts and phrases.render(Call(1, "Thuế")).cached

    blocked = tmp_path / "a-file-not-a-dir"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="audio.phrases"):
        phrases = PhraseCache(engine, cache_dir=blocked / "cache")
        phrases.warm_up(["Thuế"], background=False)
    assert "caching in memory only" in caplog.text
    assert phrases.render(Call(1, "Thuế")).cached


def test_silent_engine_renders_nothing_and_warms_nothing() -> None:
    engine = CountingEngine(SilentEngine())
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS)
    assert phrases.wait_warm(1.0)
    assert engine.texts == []
    assert phrases.render(CALL).clip.frames == 0
    assert phrases.render_text("Xin chào").clip.frames == 0


def test_free_text_reads_numbers_in_words(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine, style=SOUTH)
    rendered = phrases.render_text("Quầy 2 tạm nghỉ đến 1005 giờ.")
    assert rendered.text == "Quầy hai tạm nghỉ đến một ngàn không trăm lẻ năm giờ."
    assert engine.texts == [rendered.text] and not rendered.cached
    assert phrases.render_text("Quầy 2 tạm nghỉ đến 1005 giờ.").cached
