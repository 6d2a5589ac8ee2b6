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
# The numbers painted above those counters' desks (the second one's is two words: "mười hai").
NUMBERS = (1, 12, 3)
CALL = Call(105, "Văn phòng đăng ký đất đai", 1)
# A site that names the counter instead of its number.
NAME_TEMPLATE = "Mời khách hàng số {number} đến quầy {counter_name}"
WARM_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_voice(tmp_path_factory.mktemp("voice"))


def _engines(tiny_voice: Path) -> list[SpeechEngine]:
    engines: list[SpeechEngine] = [PiperEngine(tiny_voice)]
    if shutil.which("espeak-ng"):
        engines.append(EspeakEngine())
    return engines


def test_the_template_splits_into_fixed_parts_and_number_words() -> None:
    template = AnnouncementTemplate(DEFAULT_TEMPLATE)
    assert DEFAULT_TEMPLATE == "Mời khách hàng số {number} đến quầy số {counter_number}"
    assert template.fixed_parts == ("Mời khách hàng số", "đến quầy số")
    assert template.sentence(CALL) == "Mời khách hàng số một trăm lẻ năm đến quầy số một"
    kinds = [(segment.kind, segment.text) for segment in template.segments(CALL)]
    assert kinds == [("text", "Mời khách hàng số"), ("number", "một trăm lẻ năm"),
                     ("text", "đến quầy số"), ("number", "một")]
    # The number painted above the desk, not the id, when the hub sends one.
    assert template.sentence(Call(2014, "Tư pháp - Hộ tịch", counter_id=2, counter_number=12)) == \
        "Mời khách hàng số hai nghìn không trăm mười bốn đến quầy số mười hai"
    assert AnnouncementTemplate(DEFAULT_TEMPLATE, NORTH).sentence(Call(1005, "Quầy 2", 2)) == \
        "Mời khách hàng số một nghìn không trăm linh năm đến quầy số hai"
    assert AnnouncementTemplate(DEFAULT_TEMPLATE, SOUTH).sentence(Call(1005, "A", 25)) == \
        "Mời khách hàng số một ngàn không trăm lẻ năm đến quầy số hai mươi lăm"
    # A call that knows neither the counter's number nor its id says its name there, not nothing.
    assert template.sentence(Call(7, "Đăng ký kinh doanh")) == "Mời khách hàng số bảy đến quầy số Đăng ký kinh doanh"


def test_a_template_may_name_the_counter_or_the_queue() -> None:
    named = AnnouncementTemplate(NAME_TEMPLATE)
    assert named.fixed_parts == ("Mời khách hàng số", "đến quầy")
    assert named.sentence(Call(1005, "Quầy 2", 2)) == "Mời khách hàng số một nghìn không trăm lẻ năm đến quầy Quầy hai"
    by_queue = AnnouncementTemplate("Mời số {number}, {queue_name}, đến quầy số {counter_number}")
    assert by_queue.sentence(Call(21, "Quầy A", 5, 5, "Tư pháp - Hộ tịch")) == \
        "Mời số hai mươi mốt Tư pháp - Hộ tịch đến quầy số năm"
    # A call without its queue's name says the counter's, as the hub's own template filling does.
    assert by_queue.sentence(Call(21, "Quầy A", 5)) == "Mời số hai mươi mốt Quầy A đến quầy số năm"


def test_other_templates_placeholders_and_punctuation() -> None:
    template = AnnouncementTemplate("Xin mời số {number:04d}, đến quầy số {counter_id} ({counter_name}).")
    call = Call(21, "Hộ tịch", counter_id=4)
    assert template.fixed_parts == ("Xin mời số", "đến quầy số")
    assert template.sentence(call) == "Xin mời số hai mươi mốt đến quầy số bốn Hộ tịch"
    with pytest.raises(ValueError, match="unknown placeholder"):
        AnnouncementTemplate("Số {ticket}")


def test_warm_up_caches_fixed_parts_the_counters_numbers_and_every_number_word(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS, queue_names=["Đất đai"], counter_numbers=NUMBERS)
    assert phrases.wait_warm(WARM_TIMEOUT)
    # The default template says the counter's number, not its name nor its queue's: those are not synthesized.
    expected = {"Mời khách hàng số", "đến quầy số", "mười hai", *vocabulary(phrases.style)}
    assert set(engine.texts) == expected
    assert len(engine.texts) == len(expected)  # each once ("một" and "ba" are number words already)
    assert "triệu" in engine.texts and "lẻ" in engine.texts and "nghìn" in engine.texts

    before = len(engine.texts)
    for number in (0, 5, 15, 21, 24, 105, 1005, 2024, 9999):
        which = number % 3
        rendered = phrases.render(Call(number, COUNTERS[which], which + 1, NUMBERS[which]))
        assert rendered.cached and rendered.clip.duration > 0.5
    assert phrases.assemble(Call(1, COUNTERS[1], 2, 12)) is not None
    assert phrases.missing_pieces(Call(1, COUNTERS[1], 2, 12)) == []
    assert len(engine.texts) == before  # nothing synthesized while announcing
    # Warming again (a new SNAPSHOT) synthesizes only what is new.
    phrases.warm_up([*COUNTERS, "Thuế"], counter_numbers=[*NUMBERS, 15])
    assert phrases.wait_warm(WARM_TIMEOUT)
    assert engine.texts[before:] == ["mười lăm"]


def test_warm_up_caches_the_names_a_template_says(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine, "Mời số {number}, {queue_name}, đến {counter_name}")
    phrases.warm_up(COUNTERS, queue_names=["Đất đai", "Tư pháp - Hộ tịch"], counter_numbers=NUMBERS,
                    background=False)
    assert {"Đất đai", "Tư pháp - Hộ tịch", "Văn phòng đăng ký đất đai", "Quầy ba"} <= set(engine.texts)
    assert "mười hai" not in engine.texts  # the counter's number is not said
    assert phrases.render(Call(5, COUNTERS[0], 1, 1, "Đất đai")).cached


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
    phrases.warm_up(COUNTERS, counter_numbers=NUMBERS, background=False)
    assembled = phrases.render(CALL)
    assert assembled.cached and assembled.text == whole.text
    # Not a timing check: the joined pieces must be neither clipped words nor padded silence.
    assert 0.5 * whole.clip.duration < assembled.clip.duration < 1.5 * whole.clip.duration
    assert not assembled.clip.is_silent()


def test_uncached_call_is_synthesized_whole_then_its_missing_piece_is_cached(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine, NAME_TEMPLATE)
    phrases.warm_up(COUNTERS, background=False)
    renamed = Call(7, "Đăng ký kinh doanh", 4)
    first = phrases.render(renamed)
    assert not first.cached
    assert "Mời khách hàng số bảy đến quầy Đăng ký kinh doanh" in engine.texts  # the number already in words
    assert phrases.wait_warm(WARM_TIMEOUT)
    assert "Đăng ký kinh doanh" in engine.texts
    assert phrases.render(Call(8, "Đăng ký kinh doanh", 4)).cached
    assert phrases.misses == 1


def test_a_counter_number_not_warmed_is_joined_from_its_words(tiny_voice: Path) -> None:
    engine = CountingEngine(PiperEngine(tiny_voice))
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS, counter_numbers=NUMBERS, background=False)
    before = len(engine.texts)
    # A counter added since the SNAPSHOT: "hai mươi ba" is not one piece, its words are.
    rendered = phrases.render(Call(3001, "Quầy mới", 23, 23))
    assert rendered.cached and rendered.text == "Mời khách hàng số ba nghìn không trăm lẻ một đến quầy số hai mươi ba"
    assert len(engine.texts) == before


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
    PhraseCache(engine, NAME_TEMPLATE, cache_dir=cache_dir).warm_up(["Thuế"], background=False)
    for path in cache_dir.glob("*.wav"):
        path.write_bytes(b"torn")
    engine.texts.clear()
    with caplog.at_level(logging.WARNING, logger="audio.phrases"):
        phrases = PhraseCache(engine, NAME_TEMPLATE, cache_dir=cache_dir)
        phrases.warm_up(["Thuế"], background=False)
    assert "ignoring unreadable" in caplog.text
    assert "Thuế" in engine.texts and phrases.render(Call(1, "Thuế")).cached

    blocked = tmp_path / "a-file-not-a-dir"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="audio.phrases"):
        phrases = PhraseCache(engine, NAME_TEMPLATE, cache_dir=blocked / "cache")
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
