"""The hub's benchmarks: `make bench` (or `.venv/bin/python -m bench.run_all`).

Every measurement runs the real hub as a subprocess on loopback, puts the
clients that matter (the TV fleet) in another process, and measures a
baseline in the same run, so results are read as ratios against what bare
websockets or bare SQLite do on the same machine at the same moment.
Results go to docs/performance.md by hand; bench/results/latest.json holds
the last run.
"""
