"""bench/tv_frame.py works end to end at its smallest; no timings are checked here (they belong in bench/)."""

from __future__ import annotations

# bench/ runs from the checkout and is not an installed package.
from bench import tv_frame  # noqa: E402


def test_frame_costs_time_the_frames_the_tv_really_draws(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    results = tv_frame.measure_frames(frames=3)
    # What each case redrew: the whole screen, the clock alone, the call panel and one row, nothing.
    assert results["rects_per_frame"] == {"full": [1], "full_cold": [1], "clock_tick": [1], "call_arrives": [2],
                                          "unchanged": [0]}
    assert results["ratio_full_to_clock_tick"] > 0 and results["ratio_full_to_call"] > 0
    assert "full redraw" in tv_frame.report({"machine": {}, "frames": results})


async def test_idle_cpu_is_read_from_a_running_qms_tv():
    results = await tv_frame.measure_idle(0.5, log=lambda _text: None)
    assert results["quiet"] >= 0 and results["ticker"] >= 0
    assert results["exit_code"] == 0  # stopped cleanly by SIGTERM
