"""Speech engines: the real piper path with a tiny voice the test builds, espeak-ng, none, and the fallbacks."""

from __future__ import annotations

import io
import logging
import shutil
import wave
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from support.tiny_voice import TINY_SAMPLE_RATE, TINY_SAMPLES_PER_ID, write_tiny_voice

from audio.clip import AudioClip, concatenate
from audio.engines import (
    EngineUnavailable,
    EspeakEngine,
    PiperEngine,
    SilentEngine,
    engine_from_setting,
)

SENTENCE = "Mời khách hàng số một trăm lẻ năm đến quầy Văn phòng đăng ký đất đai"
# Every Vietnamese letter and tone mark, for the phoneme coverage check.
ALL_LETTERS = (
    "a à á ả ã ạ ă ằ ắ ẳ ẵ ặ â ầ ấ ẩ ẫ ậ b c d đ e è é ẻ ẽ ẹ ê ề ế ể ễ ệ g h i ì í ỉ ĩ ị k l m n "
    "o ò ó ỏ õ ọ ô ồ ố ổ ỗ ộ ơ ờ ớ ở ỡ ợ p q r s t u ù ú ủ ũ ụ ư ừ ứ ử ữ ự v x y ỳ ý ỷ ỹ ỵ. "
    "Nguyễn Thị Hướng, quầy Tư pháp - Hộ tịch: khuya, nghiêng, giặt, trường, chuyện, gửi, khoẻ!"
)
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (Debian package espeak-ng; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_voice(tmp_path_factory.mktemp("voice"))


def test_the_tiny_voice_runs_in_onnxruntime_with_the_shape_piper_expects(tiny_voice: Path) -> None:
    session = onnxruntime.InferenceSession(str(tiny_voice), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input", "input_lengths", "scales"]
    ids = np.zeros((1, 10), dtype=np.int64)
    (audio,) = session.run(None, {
        "input": ids,
        "input_lengths": np.array([10], dtype=np.int64),
        "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32),
    })
    assert audio.shape == (1, 1, 1, 10 * TINY_SAMPLES_PER_ID)
    assert audio.dtype == np.float32 and np.abs(audio).max() > 0.1


def test_piper_engine_speaks_the_sentence(tiny_voice: Path) -> None:
    engine = PiperEngine(tiny_voice)
    clip = engine.synthesize(SENTENCE)
    assert engine.sample_rate == clip.sample_rate == TINY_SAMPLE_RATE
    assert clip.duration > 1.0 and not clip.is_silent()
    # Longer text, longer audio: the model really got the phoneme ids of the text.
    assert engine.synthesize("số năm").duration < clip.duration / 3
    assert engine.cache_id.startswith("piper|")


def test_piper_embedded_phonemizer_covers_vietnamese_with_the_voice_id_map(
        tiny_voice: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = PiperEngine(tiny_voice)
    with caplog.at_level(logging.WARNING, logger="piper"):
        clip = engine.synthesize(ALL_LETTERS)
    assert clip.frames
    missing = [r.getMessage() for r in caplog.records if "Missing phoneme" in r.getMessage()]
    assert missing == []


def test_piper_reads_several_sentences_as_one_clip(tiny_voice: Path) -> None:
    engine = PiperEngine(tiny_voice, sentence_silence=0.25)
    one = engine.synthesize("Xin chào.")
    two = engine.synthesize("Xin chào. Xin chào.")
    assert two.duration == pytest.approx(2 * one.duration + 0.25, abs=0.01)


def test_piper_missing_or_broken_voice_is_a_clear_error(tmp_path: Path, tiny_voice: Path) -> None:
    with pytest.raises(EngineUnavailable, match="voice model .*nope.onnx not found"):
        PiperEngine(tmp_path / "nope.onnx")
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(tiny_voice, lonely)
    with pytest.raises(EngineUnavailable, match="voice config .*lonely.onnx.json not found"):
        PiperEngine(lonely)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    shutil.copy(f"{tiny_voice}.json", f"{broken}.json")
    with pytest.raises(EngineUnavailable, match="cannot be loaded"):
        PiperEngine(broken)


@needs_espeak
def test_espeak_engine_speaks_the_sentence() -> None:
    engine = EspeakEngine("vi")
    clip = engine.synthesize(SENTENCE)
    assert clip.sample_rate == engine.sample_rate == 22050
    assert clip.duration > 1.0 and not clip.is_silent()
    assert "espeak" in engine.cache_id and "vi" in engine.cache_id


@needs_espeak
def test_espeak_takes_text_on_stdin_so_a_dash_is_not_an_option() -> None:
    clip = EspeakEngine().synthesize("--version -v en")
    assert clip.duration > 0.3 and not clip.is_silent()


def test_espeak_missing_is_a_clear_error() -> None:
    with pytest.raises(EngineUnavailable, match="no-such-espeak is not installed .*apt-get install espeak-ng"):
        EspeakEngine(executable="no-such-espeak")


def test_silent_engine_says_nothing() -> None:
    engine = SilentEngine()
    assert not engine.speaks
    assert engine.synthesize(SENTENCE).frames == 0


@needs_espeak
def test_settings_pick_the_engine(tiny_voice: Path) -> None:
    assert isinstance(engine_from_setting("none"), SilentEngine)
    assert isinstance(engine_from_setting(""), SilentEngine)
    espeak = engine_from_setting("espeak")
    assert isinstance(espeak, EspeakEngine) and espeak.voice == "vi"
    south = engine_from_setting("espeak", dialect="south")
    assert isinstance(south, EspeakEngine) and south.voice == "vi-vn-x-south"
    assert engine_from_setting("espeak:vi-vn-x-central").voice == "vi-vn-x-central"
    assert isinstance(engine_from_setting(str(tiny_voice)), PiperEngine)


@needs_espeak
def test_a_missing_piper_voice_falls_back_to_espeak_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="audio.engines"):
        engine = engine_from_setting(str(tmp_path / "vi_VN-vais1000-medium.onnx"))
    assert isinstance(engine, EspeakEngine)
    assert "vi_VN-vais1000-medium.onnx not found" in caplog.text and "falling back to espeak-ng" in caplog.text


def test_without_espeak_everything_falls_back_to_silence(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="audio.engines"):
        engine = engine_from_setting(str(tmp_path / "gone.onnx"), espeak_executable="no-such-espeak")
        also = engine_from_setting("espeak", espeak_executable="no-such-espeak")
    assert isinstance(engine, SilentEngine) and isinstance(also, SilentEngine)
    assert "only chime" in caplog.text


def test_strict_settings_raise_instead_of_falling_back(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="gone.onnx not found"):
        engine_from_setting(str(tmp_path / "gone.onnx"), fallback=False)
    with pytest.raises(EngineUnavailable, match="no-such-espeak"):
        engine_from_setting("espeak", fallback=False, espeak_executable="no-such-espeak")


# --- AudioClip ------------------------------------------------------------------------


def _tone(seconds: float, rate: int, hz: float = 440.0) -> AudioClip:
    t = np.arange(round(seconds * rate)) / rate
    return AudioClip.from_samples(0.5 * np.sin(2 * np.pi * hz * t), rate)


def test_clip_resampling_keeps_duration_and_pitch() -> None:
    clip = _tone(1.0, 16000)
    up = clip.resampled(22050)
    assert up.sample_rate == 22050 and up.frames == 22050
    spectrum = np.abs(np.fft.rfft(up.samples()))
    assert np.argmax(spectrum) * 22050 / up.frames == pytest.approx(440, abs=2)


def test_clip_concatenation_silence_and_trimming() -> None:
    a, b = _tone(0.5, 22050), _tone(0.25, 16000)
    joined = concatenate([a, b], gap=0.1)
    assert joined.sample_rate == 22050
    assert joined.duration == pytest.approx(0.85, abs=0.001)
    padded = a.padded(before=0.3, after=0.2)
    assert padded.duration == pytest.approx(1.0, abs=0.001)
    assert padded.trimmed(keep=0.0).duration == pytest.approx(0.5, abs=0.001)
    assert AudioClip.silence(0.5, 8000).is_silent() and AudioClip.silence(0.5, 8000).frames == 4000


def test_clip_to_mixer_formats() -> None:
    clip = _tone(0.1, 22050)
    stereo = np.frombuffer(clip.to_mixer(44100, -16, 2), dtype=np.int16).reshape(-1, 2)
    assert len(stereo) == 4410 and np.array_equal(stereo[:, 0], stereo[:, 1])
    floats = np.frombuffer(clip.to_mixer(22050, 32, 1), dtype=np.float32)
    assert len(floats) == 2205 and 0.4 < np.abs(floats).max() <= 0.5001
    with pytest.raises(ValueError):
        clip.to_mixer(22050, 24, 1)


def test_clip_reads_espeaks_streaming_wav_header() -> None:
    # espeak-ng --stdout writes 0x7ffff... as the data length: it does not know it yet.
    clip = _tone(0.2, 22050)
    wav = bytearray(clip.to_wav())
    data_at = wav.index(b"data") + 4
    wav[4:8] = (0x7FFFFFFF).to_bytes(4, "little")
    wav[data_at:data_at + 4] = (0x7FFFF000).to_bytes(4, "little")
    assert AudioClip.from_wav(bytes(wav)) == clip


def test_clip_wav_round_trip_and_stereo_mixdown() -> None:
    clip = _tone(0.2, 16000)
    assert AudioClip.from_wav(clip.to_wav()) == clip
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.repeat(clip.samples(), 2).astype("<i2").tobytes())
    assert AudioClip.from_wav(buffer.getvalue()) == clip
