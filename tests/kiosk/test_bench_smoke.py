"""bench/kiosk_latency.py works end to end at its smallest; its timings are checked by the bench, not here."""

from __future__ import annotations

from bench import kiosk_latency  # noqa: E402


async def test_the_kiosk_bench_measures_every_part():
    results = await kiosk_latency.run(taps=2, idle_seconds=0.5, log=lambda _text: None)
    assert results["baseline_hub_round_trip"]["n"] == 2
    assert results["ticket_pipeline"]["n"] == 2
    assert results["tap_to_print"]["n"] == 2
    assert results["tap_to_screen"]["n"] == 2
    assert [idle["size"] for idle in results["idle"]] == ["800x480", "1920x1080"]
    assert "tap → last byte to the printer" in kiosk_latency.report(results)
