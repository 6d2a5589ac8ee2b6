"""AudioClip: mono 16-bit PCM with its sample rate, and what the player needs done to it.

Every engine returns one, the phrase cache stores them (in memory and as WAV
files), and the player converts one to the mixer's format just before playing.
numpy comes with piper-tts (onnxruntime) and pygame's sndarray, so it is no new
dependency of the TV.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_INT16_MAX = 32767


@dataclass(frozen=True)
class AudioClip:
    """Mono signed 16-bit PCM in native byte order, at ``sample_rate`` Hz."""

    pcm: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {self.sample_rate}")
        if len(self.pcm) % 2:
            raise ValueError("16-bit PCM needs an even number of bytes")

    # --- making one ---------------------------------------------------------------

    @classmethod
    def from_samples(cls, samples: np.ndarray, sample_rate: int) -> AudioClip:
        """From int16 samples, or floats in [-1, 1] (clipped)."""
        samples = np.asarray(samples)
        if samples.dtype != np.int16:
            samples = np.clip(np.round(samples.astype(np.float64) * _INT16_MAX), -_INT16_MAX, _INT16_MAX)
        return cls(samples.astype(np.int16).tobytes(), sample_rate)

    @classmethod
    def silence(cls, seconds: float, sample_rate: int) -> AudioClip:
        return cls(bytes(2 * max(0, round(seconds * sample_rate))), sample_rate)

    @classmethod
    def empty(cls, sample_rate: int = 22050) -> AudioClip:
        return cls(b"", sample_rate)

    @classmethod
    def from_wav(cls, data: bytes) -> AudioClip:
        """From a WAV file's bytes: 16-bit, mono or stereo (stereo is mixed down).

        espeak-ng's ``--stdout`` writes a header with a placeholder length (it
        streams), so the frames are whatever follows the header, not the count
        the header claims.
        """
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"expected 16-bit WAV, got {8 * wav.getsampwidth()}-bit")
            channels, rate = wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
        samples = np.frombuffer(frames[: len(frames) - len(frames) % (2 * channels)], dtype="<i2")
        if channels > 1:
            samples = samples.reshape(-1, channels).mean(axis=1)
        return cls.from_samples(samples.astype(np.int16), rate)

    def to_wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes(self.samples().astype("<i2").tobytes())
        return buffer.getvalue()

    # --- looking at one -----------------------------------------------------------

    def samples(self) -> np.ndarray:
        """The samples as a read-only int16 array (no copy)."""
        return np.frombuffer(self.pcm, dtype=np.int16)

    @property
    def frames(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    def peak(self) -> int:
        return int(np.abs(self.samples().astype(np.int32)).max()) if self.frames else 0

    def is_silent(self, threshold: int = 64) -> bool:
        return self.peak() <= threshold

    # --- changing one (each returns a new clip) -----------------------------------

    def resampled(self, sample_rate: int) -> AudioClip:
        """At another rate, by linear interpolation (speech and chimes need no better)."""
        if sample_rate == self.sample_rate:
            return self
        if not self.frames:
            return AudioClip(b"", sample_rate)
        count = max(1, round(self.frames * sample_rate / self.sample_rate))
        source = self.samples().astype(np.float64)
        positions = np.arange(count) * (self.sample_rate / sample_rate)
        resampled = np.interp(positions, np.arange(self.frames), source)
        return AudioClip(np.round(resampled).astype(np.int16).tobytes(), sample_rate)

    def padded(self, before: float = 0.0, after: float = 0.0) -> AudioClip:
        """With ``before``/``after`` seconds of silence added."""
        head = bytes(2 * round(before * self.sample_rate))
        tail = bytes(2 * round(after * self.sample_rate))
        return AudioClip(head + self.pcm + tail, self.sample_rate)

    def trimmed(self, threshold: int = 300, keep: float = 0.02) -> AudioClip:
        """Without the leading and trailing silence (quieter than ``threshold``), keeping ``keep`` s.

        Engines pad a lone word with silence; words joined from the cache would
        otherwise sound ... one ... at ... a ... time.
        """
        samples = self.samples()
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
        if not len(loud):
            return AudioClip(b"", self.sample_rate)
        margin = round(keep * self.sample_rate)
        start = max(0, int(loud[0]) - margin)
        end = min(self.frames, int(loud[-1]) + 1 + margin)
        return AudioClip(self.pcm[2 * start: 2 * end], self.sample_rate)

    def scaled(self, gain: float) -> AudioClip:
        if gain == 1.0:
            return self
        samples = self.samples().astype(np.float64) * gain
        return AudioClip(np.clip(samples, -_INT16_MAX, _INT16_MAX).astype(np.int16).tobytes(), self.sample_rate)

    def to_mixer(self, frequency: int, format_bits: int, channels: int) -> bytes:
        """The bytes for ``pygame.mixer.Sound(buffer=...)`` in the format of ``pygame.mixer.get_init()``.

        pygame does not convert a raw buffer: it must already be in the
        mixer's rate, sample format and channel count.
        """
        clip = self.resampled(frequency)
        samples = clip.samples()
        if format_bits == -16:
            out = samples
        elif format_bits == 16:
            out = (samples.astype(np.int32) + 32768).astype(np.uint16)
        elif format_bits == 32:  # AUDIO_F32
            out = samples.astype(np.float32) / 32768.0
        elif format_bits == -8:
            out = (samples >> 8).astype(np.int8)
        elif format_bits == 8:
            out = ((samples >> 8).astype(np.int16) + 128).astype(np.uint8)
        else:
            raise ValueError(f"unsupported mixer sample format {format_bits}")
        if channels > 1:
            out = np.repeat(out, channels)  # the same sample on every channel, interleaved
        return out.tobytes()


def concatenate(clips: Iterable[AudioClip], gap: float = 0.0, sample_rate: int | None = None) -> AudioClip:
    """The clips one after another, ``gap`` seconds of silence between them, at one rate.

    The rate is ``sample_rate`` or else the first clip's; others are resampled.
    """
    clips = list(clips)
    if sample_rate is None:
        sample_rate = clips[0].sample_rate if clips else 22050
    silence = bytes(2 * round(gap * sample_rate))
    parts: list[bytes] = []
    for index, clip in enumerate(clips):
        if index and silence:
            parts.append(silence)
        parts.append(clip.resampled(sample_rate).pcm)
    return AudioClip(b"".join(parts), sample_rate)

