"""The benchmark harness works end to end at its smallest: no timings are checked here (they belong in bench/)."""

from __future__ import annotations

# bench/ runs from the checkout and is not an installed package; `python -m pytest`
# from the root finds it anyway, a bare `pytest` needs the root on the path.
# All of them, so a benchmark that no longer imports fails here rather than at `make bench`.
from bench import call_fanout, idle_memory, run_all, ticket_throughput  # noqa: E402,F401


async def test_call_fanout_measures_every_round_for_the_hub_and_the_baseline():
    rows = await call_fanout.measure([3], rounds=3, warmup=1, log=lambda _text: None)

    assert [row["tvs"] for row in rows] == [3]
    for system in ("hub", "baseline", "baseline_3"):
        assert rows[0][system]["last"]["n"] == 3
        assert rows[0][system]["first"]["n"] == 3

