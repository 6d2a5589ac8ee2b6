"""The benchmark harness works end to end at its smallest: no timings are checked here (they belong in bench/)."""

from __future__ import annotations

import pytest

# bench/ runs from the checkout and is not an installed package; `python -m pytest`
# from the root finds it anyway, a bare `pytest` needs the root on the path.
# All of them, so a benchmark that no longer imports fails here rather than at `make bench`.
from bench import call_fanout, idle_memory, node_imports, run_all, shipping_overhead, ticket_throughput  # noqa: E402
from bench.ticket_throughput import Variant


def quiet(_text: str) -> None:
    pass


async def test_call_fanout_measures_every_round_for_the_hub_and_the_baselines():
    results = await call_fanout.measure([3], rounds=3, warmup=1, repeats=1, pinned=[3], log=quiet)

    assert [(row["tvs"], row["pinned"]) for row in results["sizes"]] == [(3, False), (3, True)]
    for run in results["runs"]:
        # A call sends a TV its announcement and more; the baselines sent the very frames the hub did.
        assert run["frames_per_call"] >= 2
        for system in ("hub", "baseline", "baseline_3"):
            assert run[system]["last"]["n"] == 3
            assert run[system]["first"]["n"] == 3
    for row in results["sizes"]:
        assert row["ratio_p95"]["runs"] == 1 and row["hub"]["p95_ms"]["median"] > 0


@pytest.mark.slow
async def test_the_whole_report_is_made_from_every_part_at_its_smallest():
    variants = (Variant(2, 0), Variant(2, 3, pinned=True))
    results = {
        "started_at": "now", "machine": run_all.machine(), "config": {"repeats": 1}, "fsync": run_all.fsync_latency(5),
        "call_fanout": await call_fanout.measure([3], rounds=2, warmup=1, repeats=1, log=quiet),
        "ticket_throughput": await ticket_throughput.measure(0.5, variants, repeats=1, log=quiet),
        "idle_memory": await idle_memory.measure(20, repeats=1, log=quiet),
        "node_imports": await node_imports.measure(1, log=quiet),
    }
    results["load"] = {"all": results["node_imports"]["load"]}

    tickets = results["ticket_throughput"]["hub"]
    assert set(tickets) == {"2x0", "2x3-1core"}
    assert all(row["runs"][0]["tickets"] > 0 and row["lost_after_sigkill"] == 0 for row in tickets.values())
    assert results["idle_memory"]["hub"]["kib_per_connection"]["runs"] == 1
    for node in ("kiosk", "tv"):
        assert results["node_imports"][node]["import_ms"]["median"] > 0
        assert "pkg_resources" not in results["node_imports"][node]["forbidden"]
    assert results["node_imports"]["kiosk"]["forbidden"] == []
    assert results["node_imports"]["tv"]["forbidden"] == []
    text = run_all.report(results)
    for heading in ("Call fan-out", "Durable tickets", "Memory per idle", "Node boot"):
        assert heading in text


@pytest.mark.slow
async def test_shipping_overhead_runs_both_hubs_with_the_province_down_and_without_it():
    result = await shipping_overhead.measure(repeats=1, seconds=0.5, rounds=2, tvs=3, log=quiet)
    for mode in shipping_overhead.MODES:
        (run,) = result["runs"][mode]
        assert run["tickets"]["tickets"] > 0 and run["tickets"]["lost_after_sigkill"] == 0
        assert run["fanout"]["last"]["n"] == 2
    # The "down" hub really ships: it keeps trying a PostgreSQL it cannot reach.
    down = result["runs"]["down"][0]["fanout"]["central"]
    assert down["enabled"] and down["pending_events"] > 0 and "connection" in down["problem"].lower()
    assert not result["runs"]["off"][0]["fanout"]["central"]["enabled"]
    assert "PostgreSQL down" in shipping_overhead.report(result)
