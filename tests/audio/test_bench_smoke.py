"""The speech latency benchmark runs end to end at its smallest: no timings are checked here (bench/ reports them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import audio_latency  # noqa: E402


def test_audio_latency_measures_every_mode_for_every_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(tmp_path / "bench.raw"))
    monkeypatch.setenv("SDL_DISKAUDIODELAY", "1")
    rows = audio_latency.measure(rounds=1, log=lambda _text: None)

    assert any(row["engine"].startswith("piper") for row in rows)
    for row in rows:
        assert row["rtf"]["audio_s"] > 1.0
        for mode in ("cached_chime", "uncached_chime", "cached_no_chime", "uncached_no_chime"):
            assert row[mode]["first_sample"]["n"] == row[mode]["speech"]["n"] == 1
