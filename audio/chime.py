"""The two-tone "ding-dong" played before each announcement, generated here (no asset file).

Two bell-like tones a major third apart (E5 then C5, the familiar public-address
interval), each a fundamental with a little of its octave, a 10 ms attack so it
does not click, and an exponential decay. The second tone starts while the
first still rings, so the chime is one continuous sound; a short fade at the end
takes it cleanly to zero.
"""

from __future__ import annotations

import numpy as np

from audio.clip import AudioClip

DING_HZ = 659.25  # E5
DONG_HZ = 523.25  # C5


def make_chime(sample_rate: int = 22050, *, tones: tuple[float, ...] = (DING_HZ, DONG_HZ),
               spacing: float = 0.42, ring: float = 0.9, volume: float = 0.6) -> AudioClip:
    """The chime at ``sample_rate``: ``tones`` start ``spacing`` s apart, each ringing ``ring`` s."""
    duration = spacing * (len(tones) - 1) + ring
    count = round(duration * sample_rate)
    t = np.arange(count) / sample_rate
    mix = np.zeros(count)
    attack, decay_time = 0.010, ring / 4  # amplitude e^-4 (about 2%) when the ring ends
    for index, frequency in enumerate(tones):
        local = t - index * spacing
        active = local >= 0
        envelope = np.where(active, np.minimum(local / attack, 1.0) * np.exp(-np.maximum(local, 0) / decay_time), 0.0)
        bell = np.sin(2 * np.pi * frequency * local) + 0.25 * np.sin(2 * np.pi * 2 * frequency * local)
        mix += np.where(active, envelope * bell, 0.0)
    fade = min(count, round(0.05 * sample_rate))
    mix[count - fade:] *= np.linspace(1.0, 0.0, fade)
    mix *= volume / max(1e-9, float(np.max(np.abs(mix))))
    return AudioClip.from_samples(mix, sample_rate)
