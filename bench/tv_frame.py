"""The hall TV's cost: idle CPU of the real ``qms-tv`` process, and the cost of a frame at 1080p.

``.venv/bin/python -m bench.tv_frame [--seconds 10] [--frames 60] [--json FILE]``

1. **Idle CPU**: the hub (``qms-hub serve``, a subprocess, as in the other
   benchmarks) and ``qms-tv --voice none --windowed --size 1920x1080`` (another
   subprocess; SDL's dummy video driver, its disk audio driver writing to
   /dev/null so the mixer thread runs as it would on ALSA). Once the TV has
   registered and settled, its process CPU time (every thread: frames, hub
   client, mixer) is read over ``--seconds``: percent of one core. Measured
   twice: a quiet hall, and with a long announcement scrolling in the ticker
   (30 frames a second).
2. **Frame cost at 1920x1080**, in this process, on the same sample hall:
   a full redraw (every region; and again with no rendered text cached)
   against the incremental frames the TV
   actually draws: the clock's second, a call arriving (call panel and one
   row), and a frame where nothing changed. Median and p95 over ``--frames``
   frames each, and full / incremental as a ratio from the same run.
   Each frame includes building the view and handing the changed rectangles
   to SDL (``display.update``), as in ``TvApp.step``.

Results go to docs/tv.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.harness import REPO_ROOT, TOKEN_TTL, http_get, machine, registered_client, running_hub, send

TV_SIZE = (1920, 1080)
SETTLE = 3.0
REGISTER_TIMEOUT = 30.0
TICKER_TEXT = ("Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì định kỳ; quý khách đã lấy số vui lòng chờ "
               "đến lượt. Xin cảm ơn quý khách!")


# --- idle CPU of the real process ------------------------------------------------------------


def _tv_command() -> list[str]:
    script = Path(sys.executable).parent / "qms-tv"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tv_node.cli"]


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def measure_idle(seconds: float, log=print) -> dict[str, Any]:
    results: dict[str, Any] = {"seconds": seconds}
    async with running_hub() as hub:
        with tempfile.TemporaryDirectory(prefix="qms-bench-tv-") as tmp:
            token_file = Path(tmp) / "device.token"
            token_file.write_text(hub.tokens().issue("tv", client_id="tv-bench", ttl=TOKEN_TTL))
            env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=os.devnull,
                       XDG_CACHE_HOME=str(Path(tmp) / "cache"), PYGAME_HIDE_SUPPORT_PROMPT="1")
            env.pop("QMS_TOKEN", None)
            with open(Path(tmp) / "tv.log", "wb") as tv_log:  # noqa: ASYNC230 - local, once before the TV starts
                process = await asyncio.create_subprocess_exec(
                    *_tv_command(), "--config", os.devnull, "--hub", hub.url, "--token-file", str(token_file),
                    "--voice", "none", "--windowed", "--size", f"{TV_SIZE[0]}x{TV_SIZE[1]}",
                    stdin=asyncio.subprocess.DEVNULL, stdout=tv_log, stderr=asyncio.subprocess.STDOUT,
                    cwd=REPO_ROOT)
            try:
                tv = psutil.Process(process.pid)
                await _until_registered(hub.port, process)
                await asyncio.sleep(SETTLE)
                results["quiet"] = await _cpu_percent(tv, seconds)
                log(f"idle TV, quiet hall: {results['quiet']:.2f}% of one core over {seconds:.0f} s")

                admin = await registered_client(hub.url, hub.tokens().issue(
                    "admin", user_id=1, username="bench-admin", ttl=TOKEN_TTL), "admin", "bench-admin")
                try:
                    await send(admin, "ANNOUNCEMENT", {"message": TICKER_TEXT, "priority": "high",
                                                       "duration": int(seconds + 60)})
                    await asyncio.sleep(SETTLE)
                    results["ticker"] = await _cpu_percent(tv, seconds)
                    log(f"TV with the ticker scrolling: {results['ticker']:.2f}% of one core")
                finally:
                    await admin.close()
            finally:
                if process.returncode is None:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 10)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
            results["exit_code"] = process.returncode
    return results


async def _until_registered(port: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"qms-tv exited with {process.returncode}")
        with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError):
            status, body = await http_get(port, "/healthz", timeout=1.0)
            if status == 200 and json.loads(body)["connected_clients"] >= 1:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("qms-tv did not register with the hub")
        await asyncio.sleep(0.1)


async def _cpu_percent(process: psutil.Process, seconds: float) -> float:
    start_cpu, start = cpu_seconds(process), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (cpu_seconds(process) - start_cpu) / (time.monotonic() - start)


# --- the cost of a frame ---------------------------------------------------------------------


def measure_frames(frames: int) -> dict[str, Any]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from display.fonts import find_fonts
    from display.text_cache import TextCache
    from protocol import messages as m
    from protocol.client import apply_message
    from tv_node.app import DisplayScreen
    from tv_node.render import TvRenderer
    from tv_node.sample import SAMPLE_NOW, sample_state
    from tv_node.view import build_view

    screen = DisplayScreen(TV_SIZE, fullscreen=False)
    try:
        renderer = TvRenderer(screen.surface, TextCache(find_fonts()))
        idle = sample_state(calls_ago=(40.0,))

        def frame(state, at: float, *, full: bool = False) -> int:
            view = build_view(state, SAMPLE_NOW + timedelta(seconds=at))
            changed = renderer.draw(view, at, full=full)
            if changed:
                screen.present(changed)
            return len(changed)

        regions: dict[str, set[int]] = {}

        def timed(case: str, prepare, run) -> list[float]:
            samples = []
            for i in range(frames + 5):  # the first few warm the caches
                prepare(i)
                start = time.perf_counter()
                changed = run(i)
                if i >= 5:
                    samples.append(time.perf_counter() - start)
                    regions.setdefault(case, set()).add(changed)
            return samples

        # A full redraw, every region, as after a layout change.
        frame(idle, 0.0)
        full = timed("full", lambda i: None, lambda i: frame(idle, 0.0, full=True))
        # The same with every text drawn afresh (the first frame, or after the screen size changed).
        full_cold = timed("full_cold", lambda i: renderer.fonts.clear(),
                          lambda i: frame(idle, 0.0, full=True))
        # The clock's second: each frame a new second (its text is drawn for the first time).
        clock = timed("clock_tick", lambda i: None, lambda i: frame(idle, 1.0 + i))
        # Nothing changed: an idle frame within the same second.
        frame(idle, 500.0)
        unchanged = timed("unchanged", lambda i: None, lambda i: frame(idle, 500.0))

        # A call arriving (a fresh number each time): the hall is drawn idle, then the call comes
        # within the same second, so only the call panel and the counter's row change.
        called: list[Any] = []

        def before_call(i: int) -> None:
            at = 1000.0 + 2 * i + 0.1
            number = 5000 + i
            state = apply_message(idle, m.CallTicketOut(m.CallTicketOutPayload(
                ticket_number=number, counter_id=2, counter_name="Tư pháp - Hộ tịch",
                timestamp=m.utc_timestamp(SAMPLE_NOW + timedelta(seconds=at)),
                called_by=m.CalledBy(user_id=1, username="canbo", full_name=None))))
            state = apply_message(state, m.QueueUpdate(m.QueueUpdatePayload(
                counter_id=2, current_number=number, waiting_count=3, next_numbers=[number + 1, number + 2],
                average_wait_time=4)))
            called[:] = [state, at + 0.05]
            frame(idle, at)

        call = timed("call_arrives", before_call, lambda i: frame(called[0], called[1]))
    finally:
        screen.close()
        pygame.display.quit()

    def summary(samples: list[float]) -> dict[str, float]:
        ordered = sorted(samples)
        return {"median_ms": 1000 * statistics.median(ordered),
                "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}

    results: dict[str, Any] = {
        "size": list(TV_SIZE), "frames": frames, "full": summary(full), "full_cold": summary(full_cold),
        "clock_tick": summary(clock),
        "call_arrives": summary(call), "unchanged": summary(unchanged),
        "rects_per_frame": {case: sorted(counts) for case, counts in regions.items()}}
    results["ratio_full_to_clock_tick"] = results["full"]["median_ms"] / results["clock_tick"]["median_ms"]
    results["ratio_full_to_call"] = results["full"]["median_ms"] / results["call_arrives"]["median_ms"]
    return results


def report(results: dict[str, Any]) -> str:
    frames = results["frames"]
    idle = results.get("idle")
    lines = [f"machine: {results['machine']}", "",
             f"frame at {frames['size'][0]}x{frames['size'][1]} (median / p95, ms):"]
    for key, label in (("full", "full redraw"), ("full_cold", "full redraw, text not cached"),
                       ("clock_tick", "clock second (incremental)"),
                       ("call_arrives", "call arrives (incremental)"), ("unchanged", "nothing changed")):
        lines.append(f"  {label:30s} {frames[key]['median_ms']:7.2f} / {frames[key]['p95_ms']:7.2f}")
    lines.append(f"  full / clock second: {frames['ratio_full_to_clock_tick']:.1f}x;"
                 f" full / call: {frames['ratio_full_to_call']:.1f}x")
    if idle:
        lines += ["", f"qms-tv CPU over {idle['seconds']:.0f} s (percent of one core):",
                  f"  quiet hall: {idle['quiet']:.2f}%", f"  ticker scrolling: {idle['ticker']:.2f}%"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU measuring span per case")
    parser.add_argument("--frames", type=int, default=60, help="frames timed per case")
    parser.add_argument("--skip-idle", action="store_true", help="frame costs only")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    results["frames"] = measure_frames(args.frames)
    if not args.skip_idle:
        results["idle"] = asyncio.run(measure_idle(args.seconds, log=lambda text: print(text, file=sys.stderr)))
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
