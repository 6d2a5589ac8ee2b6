"""The Announcer heard through SDL's disk audio driver: chime, repeats, call order, no overlap, no crash.

The disk driver writes exactly the samples the mixer produced to SDL_DISKAUDIOFILE;
the tests cut that recording into sounds (loud stretches between gaps) and
compare them with the clips that were queued.
"""

from __future__ import annotations

import logging
import threading
import wave
from pathlib import Path

import pytest
from support.capture import CountingEngine, read_capture, sounds
from support.tiny_voice import write_tiny_voice

from audio.chime import make_chime
from audio.clip import AudioClip
from audio.engines import PiperEngine, SilentEngine
from audio.phrases import Call, PhraseCache
from audio.player import Announcer, PlaybackEvent
from audio.say import main as say_main

pygame = pytest.importorskip("pygame")

RATE = 22050  # the Announcer's default mixer rate
WAIT = 60.0
SHORT_TEMPLATE = "Số {number} quầy {counter_name}"
# Durations are compared sample-exactly but for where the threshold cuts the
# soft ends of a sound: the chime fades out, a sine starts at zero.
CHIME_SLACK = 0.12
SPEECH_SLACK = 0.03


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_voice(tmp_path_factory.mktemp("voice"), samples_per_id=160)


@pytest.fixture
def disk_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SDL's disk audio driver recording to a file; the mixer is closed again afterwards."""
    capture = tmp_path / "hall-speaker.raw"
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(capture))
    # Milliseconds per buffer: faster than real time; the samples written are the same.
    monkeypatch.setenv("SDL_DISKAUDIODELAY", "10")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.mixer.quit()
    yield capture
    pygame.mixer.quit()


def _ids(events: list[PlaybackEvent], kind: str) -> list[int]:
    return [event.request_id for event in events if event.kind == kind]


def test_two_announcements_in_call_order_each_chime_then_speech_twice(disk_audio: Path, tiny_voice: Path) -> None:
    phrases = PhraseCache(PiperEngine(tiny_voice), SHORT_TEMPLATE)
    first, second = Call(5, "Một"), Call(1005, "Văn phòng đăng ký đất đai")
    phrases.warm_up([first.counter_name, second.counter_name], background=False)
    events: list[PlaybackEvent] = []
    announcer = Announcer(phrases, repeat=2, repeat_gap=0.4, chime_gap=0.3, after_gap=0.4, on_event=events.append)
    with announcer:
        assert announcer.start()
        ids = [announcer.announce(first), announcer.announce(second)]
        assert announcer.wait_idle(WAIT)
    # stop() closed the mixer: the recording is complete.

    chime = make_chime(RATE).duration
    speech = [phrases.render(call).clip.resampled(RATE).duration for call in (first, second)]
    assert speech[0] < speech[1] - 0.5  # different enough to tell the order apart
    heard = [sound.seconds(RATE) for sound in sounds(read_capture(disk_audio), RATE)]
    expected = [chime, speech[0], speech[0], chime, speech[1], speech[1]]
    assert len(heard) == len(expected), heard
    for got, want, slack in zip(heard, expected, [CHIME_SLACK, SPEECH_SLACK, SPEECH_SLACK] * 2, strict=True):
        assert got == pytest.approx(want, abs=slack), (heard, expected)
    # Never overlapping: the recording holds every clip and every gap, one after another.
    gaps = 2 * (0.3 + 0.4 + 0.4)
    assert len(read_capture(disk_audio)) / RATE >= sum(expected) + gaps

    assert _ids(events, "started") == ids and _ids(events, "speech") == ids and _ids(events, "finished") == ids
    assert all(event.cached for event in events if event.kind == "speech")
    started = [event for event in events if event.kind == "started"]
    assert all(event.at >= event.arrived_at for event in started)
    assert announcer.last_started_at == started[-1].at


def test_announce_returns_while_the_engine_is_still_busy(disk_audio: Path, tiny_voice: Path) -> None:
    release = threading.Event()

    class BlockedEngine(CountingEngine):
        def synthesize(self, text: str) -> AudioClip:
            release.wait(WAIT)
            return super().synthesize(text)

    engine = BlockedEngine(PiperEngine(tiny_voice))
    with Announcer(PhraseCache(engine, SHORT_TEMPLATE), repeat=1) as announcer:
        announcer.announce_call(12, "Hộ tịch")
        announcer.announce("Xin chào")
        # Both calls came back although the engine has not produced a sample yet.
        assert not release.is_set() and announcer.pending == 2
        release.set()
        assert announcer.wait_idle(WAIT)
    # (The cache also fills its missing pieces in the background: other texts come in between.)
    assert engine.texts.index("Số mười hai quầy Hộ tịch") < engine.texts.index("Xin chào")


def test_no_audio_device_means_silent_not_crashed(
        monkeypatch: pytest.MonkeyPatch, tiny_voice: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "no-such-audio-driver")
    pygame.mixer.quit()
    events: list[PlaybackEvent] = []
    with caplog.at_level(logging.ERROR, logger="audio.player"):
        announcer = Announcer(PhraseCache(PiperEngine(tiny_voice)), on_event=events.append)
        assert announcer.start() is False
    assert announcer.silent and "no-such-audio-driver" in announcer.silent_reason
    assert "no audio output" in caplog.text
    request = announcer.announce_call(105, "Văn phòng đăng ký đất đai")
    assert announcer.wait_idle(WAIT)
    assert _ids(events, "dropped") == [request]
    announcer.stop()
    assert pygame.mixer.get_init() is None


def test_a_mixer_the_app_opened_is_used_as_it_is_and_left_open(disk_audio: Path, tiny_voice: Path) -> None:
    # pygame.init() on the TV may open the mixer first, at the device's 44.1 kHz stereo.
    pygame.mixer.init(frequency=44100, size=-16, channels=2, allowedchanges=0)
    phrases = PhraseCache(PiperEngine(tiny_voice))
    with Announcer(phrases, repeat=1, after_gap=0.3) as announcer:
        assert announcer.mixer_format == (44100, -16, 2)
        announcer.announce("Xin chào quý khách")
        assert announcer.wait_idle(WAIT)
    assert pygame.mixer.get_init() == (44100, -16, 2)
    pygame.mixer.quit()
    heard = [s.seconds(44100) for s in sounds(read_capture(disk_audio, channels=2), 44100)]
    speech = phrases.render_text("Xin chào quý khách").clip.duration
    assert len(heard) == 2
    assert heard[0] == pytest.approx(make_chime(44100).duration, abs=CHIME_SLACK)
    assert heard[1] == pytest.approx(speech, abs=SPEECH_SLACK)


def test_silent_engine_still_chimes_and_no_chime_setting_skips_it(disk_audio: Path, tiny_voice: Path) -> None:
    with Announcer(SilentEngine()) as announcer:
        announcer.announce_call(3, "Quầy 1")
        assert announcer.wait_idle(WAIT)
    heard = sounds(read_capture(disk_audio), RATE)
    assert len(heard) == 1 and heard[0].seconds(RATE) == pytest.approx(make_chime(RATE).duration, abs=CHIME_SLACK)

    events: list[PlaybackEvent] = []
    with Announcer(PiperEngine(tiny_voice), chime=False, repeat=3, repeat_gap=0.3, on_event=events.append) as quiet:
        quiet.announce("Số chín")
        assert quiet.wait_idle(WAIT)
    heard = sounds(read_capture(disk_audio), RATE)
    assert len(heard) == 3  # three times the speech, no chime
    assert [e.kind for e in events] == ["started", "speech", "finished"]


def test_stop_cuts_playback_and_accounts_for_every_request(disk_audio: Path, tiny_voice: Path) -> None:
    events: list[PlaybackEvent] = []
    announcer = Announcer(PhraseCache(PiperEngine(tiny_voice)), on_event=events.append)
    announcer.start()
    ids = [announcer.announce_call(number, "Văn phòng đăng ký đất đai") for number in (1, 2, 3)]
    announcer.stop()
    assert announcer.pending == 0
    for request in ids:
        outcomes = [e.kind for e in events if e.request_id == request and e.kind in ("finished", "dropped")]
        assert len(outcomes) == 1, (request, events)
    assert "dropped" in [e.kind for e in events]


def test_say_speaks_through_the_speaker(disk_audio: Path, tiny_voice: Path) -> None:
    assert say_main(["--voice", str(tiny_voice), "--repeat", "2", "Mời khách hàng số 105"]) == 0
    heard = sounds(read_capture(disk_audio), RATE)
    assert len(heard) == 3  # chime, then the text twice


def test_say_writes_a_wav_file(tmp_path: Path, tiny_voice: Path) -> None:
    out = tmp_path / "say.wav"
    assert say_main(["--voice", str(tiny_voice), "--no-chime", "--output", str(out), "số 21"]) == 0
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == RATE and wav.getnframes() > RATE // 4


def test_say_without_audio_device_exits_2(monkeypatch: pytest.MonkeyPatch, tiny_voice: Path) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "no-such-audio-driver")
    pygame.mixer.quit()
    assert say_main(["--voice", "none", "xin chào"]) == 2


def test_say_strict_with_a_missing_voice_exits_1(tmp_path: Path) -> None:
    assert say_main(["--strict", "--voice", str(tmp_path / "missing.onnx"), "xin chào"]) == 1
