"""Test helpers: SDL's disk audio capture, read back and cut into sounds; an engine that counts its calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.clip import AudioClip
from audio.engines import SpeechEngine


def read_capture(path: str | Path, channels: int = 1) -> np.ndarray:
    """The raw samples SDL's disk driver wrote (the mixer's format: int16 here), first channel only."""
    samples = np.fromfile(path, dtype=np.int16)
    return samples[: len(samples) - len(samples) % channels].reshape(-1, channels)[:, 0]


@dataclass(frozen=True)
class Sound:
    start: int
    end: int

    def seconds(self, rate: int) -> float:
        return (self.end - self.start) / rate


def sounds(samples: np.ndarray, rate: int, *, threshold: int = 200, bridge: float = 0.2) -> list[Sound]:
    """Stretches louder than ``threshold``; quiet gaps shorter than ``bridge`` seconds are inside a sound."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if not len(loud):
        return []
    gaps = np.flatnonzero(np.diff(loud) > bridge * rate)
    starts = np.concatenate(([loud[0]], loud[gaps + 1]))
    ends = np.concatenate((loud[gaps] + 1, [loud[-1] + 1]))
    return [Sound(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


class CountingEngine(SpeechEngine):
    """Wraps an engine and records every text it was asked to synthesize."""

    def __init__(self, inner: SpeechEngine):
        self.inner = inner
        self.name = inner.name
        self.speaks = inner.speaks
        self.texts: list[str] = []
        self._lock = threading.Lock()

    @property
    def cache_id(self) -> str:
        return self.inner.cache_id

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    def synthesize(self, text: str) -> AudioClip:
        with self._lock:
            self.texts.append(text)
        return self.inner.synthesize(text)
