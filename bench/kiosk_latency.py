"""The kiosk's speed: tap to the last byte handed to the printer, and its CPU when idle.

``python -m bench.kiosk_latency [--taps 100] [--idle-seconds 10] [--json PATH]``

The hub runs as a subprocess on loopback (``bench.harness.running_hub``). Three
measurements in one run, against the same hub:

1. **Baseline, the hub's round trip alone**: a raw WebSocket kiosk sends
   TICKET_CREATED and waits for its TICKET_CREATED, back to back. No kiosk can
   print sooner than this.
2. **The ticket pipeline alone**: drawing a ticket with Pillow and turning it
   into ESC/POS bytes, no hub, no screen.
3. **Tap to print**: a real :class:`~kiosk_node.app.KioskApp` running its own
   frame loop (``app.run()``, the frame cap included) under SDL's dummy video
   driver, printing to the virtual printer. A tap is a pygame event posted
   from another thread; the clock stops when the printer has been handed the
   last byte of the ticket (the virtual printer's ``.bin`` is written; a real
   printer's mechanics are not counted). Also reported: tap to "Đang in vé…"
   drawn (the one-frame promise).

Then **idle CPU**: the real ``qms-kiosk`` program as a subprocess, connected
and showing its home screen, measured over ``--idle-seconds`` (process CPU
time, user+system, all threads, in % of one core) at 800x480 and 1920x1080.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import psutil  # noqa: E402
import pygame  # noqa: E402
from PIL import Image  # noqa: E402

from bench.harness import (  # noqa: E402
    REPO_ROOT,
    expect,
    kiosk_token,
    machine,
    percentiles,
    registered_client,
    running_hub,
    send,
)
from display.fonts import find_fonts  # noqa: E402
from kiosk_node import app as kiosk_app  # noqa: E402
from kiosk_node.app import KioskApp, KioskSettings  # noqa: E402
from kiosk_node.printer import PrintReport, VirtualPrinter, escpos_bytes  # noqa: E402
from kiosk_node.ticket import TicketContext, render_ticket, sample_ticket  # noqa: E402
from kiosk_node.ui import NAVY, FieldAction, ProcedureAction  # noqa: E402
from protocol.client import HubClientConfig  # noqa: E402

P95_TARGET_MS = 300
IDLE_CPU_TARGET_PERCENT = 5.0
WAIT = 15.0


# --- 1. the hub alone -------------------------------------------------------------------------------------------


async def hub_round_trips(url: str, token: str, client_id: str, count: int) -> list[float]:
    ws = await registered_client(url, token, "kiosk", client_id)
    samples = []
    try:
        for i in range(count):
            request_id = f"{client_id}-{i}"
            started = time.perf_counter()
            await send(ws, "TICKET_CREATED", {"procedure_id": (101, 201, 301, 401)[i % 4], "request_id": request_id})
            while (await expect(ws, "TICKET_CREATED"))["request_id"] != request_id:
                pass
            samples.append(time.perf_counter() - started)
    finally:
        await ws.close()
    return samples


# --- 2. the ticket pipeline alone ---------------------------------------------------------------------------------


def pipeline_times(count: int, width: int = 576) -> list[float]:
    context = TicketContext(site_name="Trung tâm Phục vụ hành chính công tỉnh", width=width, fonts=find_fonts(),
                            public_url="https://qms.example.gov.vn")
    ticket = sample_ticket(datetime.now(UTC))
    escpos_bytes(render_ticket(ticket, context), width)  # warm: fonts, QR, python-escpos loaded
    samples = []
    for i in range(count):
        started = time.perf_counter()
        escpos_bytes(render_ticket(ticket.__class__(**{**ticket.__dict__, "number": 100 + i}), context), width)
        samples.append(time.perf_counter() - started)
    return samples


# --- 3. tap to print ----------------------------------------------------------------------------------------------


class TimedPrinter(VirtualPrinter):
    """The virtual printer, telling the bench when each ticket's last byte was handed over."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reports: list[PrintReport] = []
        self.printed_event = threading.Event()

    def print_image(self, image, name):
        report = super().print_image(image, name)
        self.reports.append(report)
        self.printed_event.set()
        return report


class DrawTimes:
    """Wraps the UI's draw: when each screen was first drawn (perf_counter)."""

    def __init__(self, app: KioskApp):
        self.first_printing_after: float | None = None
        self.mark = 0.0
        draw = app.ui.draw

        def timed(view):
            drawn = draw(view)
            if drawn and view.screen == "printing" and self.first_printing_after is None:
                self.first_printing_after = time.perf_counter()
            return drawn

        app.ui.draw = timed  # type: ignore[method-assign] # this instance's draw, instrumented

    def arm(self) -> None:
        self.first_printing_after = None


async def _until(predicate, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.002)


async def tap_to_print(url: str, token: str, client_id: str, taps: int, work: Path) -> dict[str, list[float]]:
    printer = TimedPrinter(work / "tickets", paper_width_dots=576, timeout=5.0)
    settings = KioskSettings(
        client=HubClientConfig(url=url, token=token, client_type="kiosk", client_id=client_id, location="bench"),
        fonts=find_fonts(), printer=f"virtual:{work / 'tickets'}", result_seconds=0.2, size=(800, 480),
        fullscreen=False)
    app = KioskApp(settings, printer=printer)
    draws = DrawTimes(app)
    stop = threading.Event()

    def kiosk_thread() -> None:
        # pygame is used from this one thread only; the bench posts events to it (thread-safe).
        with app:
            app.run(stop)

    running = asyncio.get_running_loop().run_in_executor(None, kiosk_thread)
    to_print, to_screen = [], []
    pacing = random.Random(20250719)
    try:
        def at_home() -> bool:
            shown = app.ui.shown
            return shown is not None and shown.screen == "home" and bool(shown.tiles or shown.fields) \
                and app.model.connected and app.model.screen == "home"

        def at_procedures() -> bool:
            shown = app.ui.shown
            return at_home() and shown is not None and shown.level == "procedures"

        for i in range(taps + 3):
            await _until(at_home, "the home screen")
            fields = [a for _, a in list(app.ui.regions) if isinstance(a, FieldAction)]
            if fields:
                # A site with fields (the sample site): the field's tap first, not timed; the procedure's is.
                field = app.ui.center_of(fields[i % len(fields)])
                pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=field, button=1))
                await _until(at_procedures, "a field's procedures")
            # A finger lands at any moment of a frame, not in step with the screen appearing.
            await asyncio.sleep(pacing.uniform(0.05, 0.3))
            choices = [a for _, a in list(app.ui.regions) if isinstance(a, ProcedureAction)]
            action = choices[i % len(choices)]
            position = app.ui.center_of(action)
            printer.printed_event.clear()
            draws.arm()
            printed_before = len(printer.reports)
            tapped = time.perf_counter()
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=position, button=1))
            await _until(lambda before=printed_before: len(printer.reports) > before, f"ticket {i} printed")
            if i >= 3:  # the first few warm up the connection's and the renderer's caches
                to_print.append(printer.reports[-1].handed_over_at - tapped)
                if draws.first_printing_after is not None:
                    to_screen.append(draws.first_printing_after - tapped)
        if app.model.printer_fault:
            raise RuntimeError(f"the virtual printer reported {app.model.printer_fault}")
    finally:
        stop.set()
        await running
    return {"tap_to_print": to_print, "tap_to_screen": to_screen}


# --- idle CPU --------------------------------------------------------------------------------------------------------


async def idle_cpu(url: str, token: str, client_id: str, seconds: float, size: str, work: Path) -> dict[str, Any]:
    token_file = work / f"{client_id}.token"
    token_file.write_text(token)
    screenshot = work / f"{client_id}.png"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    env.pop("QMS_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kiosk_node.cli", "--hub", url, "--token-file", str(token_file), "--windowed",
        "--size", size, "--printer", f"virtual:{work / 'idle-tickets'}", "--screenshot", str(screenshot),
        env=env, cwd=REPO_ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        watched = psutil.Process(process.pid)

        def home_shown() -> bool:
            # The first screens say "unreachable" (slate) until the kiosk has registered and drawn its tiles.
            try:
                return Image.open(screenshot).convert("RGB").getpixel((3, 3)) == NAVY
            except (OSError, ValueError):
                return False

        await _until(home_shown, "the kiosk's home screen", timeout=30)
        await asyncio.sleep(2.0)  # the print worker's warm-up done, nothing left to settle
        before, started = watched.cpu_times(), time.monotonic()
        await asyncio.sleep(seconds)
        after, elapsed = watched.cpu_times(), time.monotonic() - started
        used = (after.user - before.user) + (after.system - before.system)
        return {"size": size, "seconds": round(elapsed, 2), "cpu_seconds": round(used, 3),
                "percent_of_one_core": round(100 * used / elapsed, 2),
                "rss_mib": round(watched.memory_info().rss / 2**20, 1)}
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)


# --- the run ----------------------------------------------------------------------------------------------------------


async def run(taps: int, idle_seconds: float, log=print) -> dict[str, Any]:
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine(), "taps": taps, "idle_fps": kiosk_app.IDLE_FPS,
                               "busy_fps": kiosk_app.BUSY_FPS}
    with tempfile.TemporaryDirectory(prefix="qms-bench-kiosk-") as tmp:
        work = Path(tmp)
        async with running_hub() as hub:
            tokens = hub.tokens()
            log("hub round trip (baseline)...")
            baseline = await hub_round_trips(hub.url, kiosk_token(tokens, "kiosk-rtt"), "kiosk-rtt", taps + 10)
            results["baseline_hub_round_trip"] = percentiles(baseline[10:])
            log("ticket pipeline (render + ESC/POS)...")
            results["ticket_pipeline"] = percentiles(pipeline_times(taps))
            log("tap to print...")
            measured = await tap_to_print(hub.url, kiosk_token(tokens, "kiosk-bench"), "kiosk-bench", taps, work)
            results["tap_to_print"] = percentiles(measured["tap_to_print"])
            results["tap_to_screen"] = percentiles(measured["tap_to_screen"])
            results["idle"] = []
            for size in ("800x480", "1920x1080"):
                log(f"idle CPU at {size}...")
                client_id = f"kiosk-idle-{size}"
                results["idle"].append(await idle_cpu(hub.url, kiosk_token(tokens, client_id), client_id,
                                                      idle_seconds, size, work))
    return results


def report(results: dict[str, Any]) -> str:
    def row(name: str, figures: dict[str, float]) -> str:
        return (f"| {name} | {figures['n']} | {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} | "
                f"{figures['p99_ms']:.1f} | {figures['max_ms']:.1f} |")

    tap = results["tap_to_print"]
    lines = [
        f"Machine: {results['machine']['cpu_model']}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}; kiosk frame cap {results['idle_fps']} fps idle, "
        f"{results['busy_fps']} fps while a ticket is on its way.",
        "",
        "| measurement | n | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- |",
        row("baseline: hub round trip (TICKET_CREATED → TICKET_CREATED)", results["baseline_hub_round_trip"]),
        row("ticket pipeline alone (Pillow ticket → ESC/POS bytes)", results["ticket_pipeline"]),
        row("**tap → last byte to the printer**", tap),
        row("tap → \"Đang in vé…\" on screen", results["tap_to_screen"]),
        "",
        f"Tap to print p95 {tap['p95_ms']:.0f} ms (target ≤ {P95_TARGET_MS} ms): "
        f"{'met' if tap['p95_ms'] <= P95_TARGET_MS else 'NOT met'}; "
        f"{tap['p50_ms'] / max(results['baseline_hub_round_trip']['p50_ms'], 1e-9):.1f}× the hub round trip at p50.",
        "",
        "| idle kiosk | seconds | CPU % of one core | RSS MiB |",
        "| --- | --- | --- | --- |",
    ]
    for idle in results["idle"]:
        lines.append(f"| {idle['size']} | {idle['seconds']} | {idle['percent_of_one_core']} | {idle['rss_mib']} |")
    worst = max(idle["percent_of_one_core"] for idle in results["idle"])
    lines.append("")
    lines.append(f"Idle CPU at most {worst}% of one core (target ≤ {IDLE_CPU_TARGET_PERCENT}%): "
                 f"{'met' if worst <= IDLE_CPU_TARGET_PERCENT else 'NOT met'}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taps", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args.taps, args.idle_seconds, log=lambda text: print(text, file=sys.stderr)))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
