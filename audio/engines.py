"""Speech engines behind one interface: piper-tts, espeak-ng, and none.

- ``PiperEngine``: a piper-tts voice (an ``.onnx`` model with its ``.onnx.json``
  config), loaded once; neural, natural. Production voice: vi_VN-vais1000-medium.
- ``EspeakEngine``: the ``espeak-ng`` program (Debian package ``espeak-ng``), run
  once per text; robotic but tiny, fast and always there. The fallback.
- ``SilentEngine``: says nothing; the TV still chimes.

``engine_from_setting`` turns the ``[tv] voice`` setting into an engine and, by
default, never fails: a missing voice falls back to espeak-ng, a missing
espeak-ng to silence, each with a warning in the log. A TV must never stop
showing numbers because it cannot speak them.

Nothing here downloads anything: the voice files are put in place by the deploy
scripts, and piper's Vietnamese phonemizer (its bundled espeak-ng data) is local.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
import shutil
import subprocess
import threading
import unicodedata
from pathlib import Path

from audio.clip import AudioClip, concatenate

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"standard": "vi", "north": "vi", "south": "vi-vn-x-south", "central": "vi-vn-x-central"}
ESPEAK_TIMEOUT = 30.0


class EngineUnavailable(RuntimeError):
    """The configured engine cannot run here (missing voice file or program); the message says why."""


class SpeechEngine(abc.ABC):
    """Turns Vietnamese text into an AudioClip. Implementations are safe to call from any thread."""

    #: "piper", "espeak" or "none"
    name: str = ""
    #: False only for the silent engine (the player then skips synthesis altogether).
    speaks: bool = True

    @property
    @abc.abstractmethod
    def cache_id(self) -> str:
        """Identifies engine + voice + settings: cached clips of one never stand in for another's."""

    @property
    @abc.abstractmethod
    def sample_rate(self) -> int:
        """The rate of the clips ``synthesize`` returns."""

    @abc.abstractmethod
    def synthesize(self, text: str) -> AudioClip:
        """The spoken text. Numbers should already be words (see audio.numbers.speakable)."""

    def describe(self) -> str:
        return self.name


class SilentEngine(SpeechEngine):
    """The "none" setting: no speech (the chime still plays)."""

    name = "none"
    speaks = False

    def __init__(self, sample_rate: int = 22050):
        self._sample_rate = sample_rate

    @property
    def cache_id(self) -> str:
        return "none"

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def synthesize(self, text: str) -> AudioClip:
        return AudioClip.empty(self._sample_rate)


class EspeakEngine(SpeechEngine):
    """espeak-ng as a subprocess: ``espeak-ng -v vi --stdout``, the text on stdin as UTF-8."""

    name = "espeak"

    def __init__(self, voice: str = "vi", *, speed: int | None = None, pitch: int | None = None,
                 executable: str = "espeak-ng"):
        path = shutil.which(executable)
        if path is None:
            raise EngineUnavailable(
                f"{executable} is not installed (Debian: apt-get install espeak-ng); cannot speak with espeak"
            )
        self.executable = path
        self.voice = voice
        self.speed = speed  # words per minute; espeak-ng's default is 175
        self.pitch = pitch  # 0..99; default 50
        self._version = self._read_version()
        self._sample_rate: int | None = None

    def _read_version(self) -> str:
        try:
            done = subprocess.run([self.executable, "--version"], capture_output=True, timeout=ESPEAK_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise EngineUnavailable(f"{self.executable} does not run: {error}") from None
        return done.stdout.decode("utf-8", "replace").strip()

    @property
    def cache_id(self) -> str:
        return f"espeak|{self._version}|{self.voice}|{self.speed}|{self.pitch}"

    @property
    def sample_rate(self) -> int:
        if self._sample_rate is None:
            self._sample_rate = self.synthesize("a").sample_rate
        return self._sample_rate

    def describe(self) -> str:
        return f"espeak-ng ({self.voice})"

    def synthesize(self, text: str) -> AudioClip:
        # Text on stdin, never as an argument: a text starting with "-" is not an option.
        # -b 1: the input is UTF-8, whatever the locale of the service says.
        command = [self.executable, "-v", self.voice, "-b", "1", "--stdin", "--stdout"]
        if self.speed is not None:
            command += ["-s", str(self.speed)]
        if self.pitch is not None:
            command += ["-p", str(self.pitch)]
        done = subprocess.run(
            command,
            input=unicodedata.normalize("NFC", text).encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"espeak-ng failed ({done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()}"
            )
        clip = AudioClip.from_wav(done.stdout)
        self._sample_rate = clip.sample_rate
        return clip


class PiperEngine(SpeechEngine):
    """A piper-tts voice: ``voice_path`` is the ``.onnx``; its config is ``voice_path + ".json"``."""

    name = "piper"

    def __init__(self, voice_path: str | os.PathLike[str], *, config_path: str | os.PathLike[str] | None = None,
                 length_scale: float | None = None, volume: float = 1.0, sentence_silence: float = 0.2):
        self.voice_path = Path(voice_path)
        self.config_path = Path(config_path) if config_path else Path(f"{self.voice_path}.json")
        for path, what in ((self.voice_path, "voice model"), (self.config_path, "voice config")):
            if not path.is_file():
                raise EngineUnavailable(
                    f"piper {what} {path} not found; install the voice (.onnx and .onnx.json) "
                    "or set voice = \"espeak\""
                )
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as error:
            raise EngineUnavailable(f"piper-tts is not installed ({error}); pip install piper-tts") from None
        try:
            self._voice = PiperVoice.load(self.voice_path, config_path=self.config_path)
        except Exception as error:  # onnxruntime and json raise many kinds; all mean "bad voice file"
            raise EngineUnavailable(f"piper voice {self.voice_path} cannot be loaded: {error}") from None
        self._syn_config = SynthesisConfig(length_scale=length_scale, volume=volume)
        self.sentence_silence = sentence_silence
        # The config and the model's size and time identify the voice without hashing 60 MB.
        stat = self.voice_path.stat()
        digest = hashlib.sha256(self.config_path.read_bytes())
        digest.update(f"{stat.st_size}|{stat.st_mtime_ns}".encode())
        self._cache_id = f"piper|{digest.hexdigest()[:16]}|{length_scale}|{volume}"
        # onnxruntime sessions may be run from several threads, but one run at a
        # time is what a Raspberry Pi can afford anyway, and it keeps latency predictable.
        self._lock = threading.Lock()

    @property
    def cache_id(self) -> str:
        return self._cache_id

    @property
    def sample_rate(self) -> int:
        return self._voice.config.sample_rate

    @property
    def espeak_voice(self) -> str:
        return self._voice.config.espeak_voice

    def describe(self) -> str:
        return f"piper ({self.voice_path.name})"

    def synthesize(self, text: str) -> AudioClip:
        text = unicodedata.normalize("NFC", text)
        with self._lock:
            chunks = [
                AudioClip(chunk.audio_int16_bytes, chunk.sample_rate)
                for chunk in self._voice.synthesize(text, syn_config=self._syn_config)
            ]
        if not chunks:
            return AudioClip.empty(self.sample_rate)
        # piper yields one chunk per sentence and no pause between them.
        return concatenate(chunks, gap=self.sentence_silence)


def engine_from_setting(setting: str, *, dialect: str = "standard", fallback: bool = True,
                        espeak_executable: str = "espeak-ng") -> SpeechEngine:
    """The engine for a ``[tv] voice`` setting: a piper ``.onnx`` path, "espeak" or "none".

    ``"espeak:VOICE"`` picks an espeak-ng voice explicitly; plain "espeak" picks
    the one of the dialect (the southern voice for "south").

    With ``fallback`` (the default) a missing piper voice falls back to espeak-ng
    and a missing espeak-ng to silence, each logged as a warning; without it the
    EngineUnavailable is raised, its message saying what is missing.
    """
    setting = setting.strip()
    espeak_voice = ESPEAK_VOICES.get(dialect, "vi")

    def espeak(voice: str) -> SpeechEngine:
        try:
            return EspeakEngine(voice, executable=espeak_executable)
        except EngineUnavailable as error:
            if not fallback:
                raise
            log.warning("speech: %s; the TV will only chime", error)
            return SilentEngine()

    if setting.lower() in ("", "none", "off"):
        return SilentEngine()
    if setting.lower() in ("espeak", "espeak-ng"):
        return espeak(espeak_voice)
    if setting.lower().startswith(("espeak:", "espeak-ng:")):
        return espeak(setting.split(":", 1)[1] or espeak_voice)
    try:
        return PiperEngine(setting)
    except EngineUnavailable as error:
        if not fallback:
            raise
        log.warning("speech: %s; falling back to espeak-ng", error)
        return espeak(espeak_voice)

