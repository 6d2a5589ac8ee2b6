"""What every benchmark needs: the hub and the baseline server as subprocesses, the TV fleet
process, a registered client, percentiles, and the machine the numbers came from.

Everything is bounded: each wait has a timeout, and each subprocess is killed when
its ``async with`` block ends, whether the block finished or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import websockets
from websockets.asyncio.client import ClientConnection, connect

from hub.auth import TokenAuthority
from hub.site_config import RateLimit, load_site_config
from protocol import messages as m

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0
REPLY_TIMEOUT = 10.0
TOKEN_TTL = timedelta(hours=2)

# The bench's officer calls some 30 times a second, its kiosks ask for hundreds
# of tickets a second each, and hundreds of TVs connect from one address: far
# past the sample site's flood guard, ticket rate limit and connection caps
# (``[rate_limit]``), which exist for misbehaving clients, not for what is
# measured here. Every limit the hub's RateLimit has is lifted, whichever
# those are; everything else is the sample site.
BENCH_LIMIT = 1_000_000_000


def bench_rate_limit() -> str:
    """The ``[rate_limit]`` table with every field of the hub's RateLimit set far past any load here."""
    lines = ["[rate_limit]"]
    for item in fields(RateLimit):
        lines.append(f"{item.name} = {BENCH_LIMIT}")
    return "\n".join(lines) + "\n\n"


# --- the process itself -------------------------------------------------------------


def raise_open_file_limit(wanted: int) -> int:
    """Lift the soft RLIMIT_NOFILE towards ``wanted`` (never past the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the bench dies, so no hub outlives a crashed run."""
    with contextlib.suppress(Exception):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # The children need the same headroom for sockets as the bench.
    raise_open_file_limit(8192)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99, mean and max of ``samples`` (seconds in, milliseconds out)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        raise ValueError("no samples")

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * n) - 1)] * 1000

    return {"n": n, "p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99),
            "max_ms": ordered[-1] * 1000, "mean_ms": sum(ordered) / n * 1000}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Min, median and max of repeated runs (the figures docs/performance.md reports)."""
    if not values:
        raise ValueError("no runs")
    return {"runs": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "sqlite": sqlite3.sqlite_version,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


# --- the hub -------------------------------------------------------------------------


def write_bench_site(directory: Path, top: str = "", tables: str = "") -> Path:
    """The sample site with every limit lifted (see bench_rate_limit); checked by loading it.

    ``top``: settings put before the sample's own (top-level keys); ``tables``: tables added after them.
    """
    sample = (REPO_ROOT / "hub" / "sample_site.toml").read_text(encoding="utf-8")
    text, replaced = re.subn(r"(?ms)^\[rate_limit\]\n.*?(?=^\[)", lambda _: bench_rate_limit(), sample)
    if replaced != 1:
        raise RuntimeError("hub/sample_site.toml has no [rate_limit] table to replace")
    text = top + text + tables
    path = directory / "bench_site.toml"
    path.write_text(text, encoding="utf-8")
    taken = load_site_config(path).rate_limit
    if any(getattr(taken, item.name) != BENCH_LIMIT for item in fields(RateLimit)):
        raise RuntimeError(f"the bench site did not take its limits: {taken}")
    return path


def pinned(cores: str | None) -> list[str]:
    """The prefix that runs a command on ``cores`` only (util-linux ``taskset``, which execs it: same pid)."""
    if cores is None:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset (util-linux) is needed to pin the hub to a core")
    return [taskset, "-c", cores]


def _hub_command() -> list[str]:
    script = Path(sys.executable).parent / "qms-hub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]


@dataclass
class ServerProcess:
    """A server running as a subprocess of the bench."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    path: str
    log_path: Path | None = None
    data_dir: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}{self.path}"

    def tokens(self) -> TokenAuthority:
        assert self.data_dir is not None
        return TokenAuthority.from_data_dir(self.data_dir)

    def kill_now(self) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


async def _stop(process: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """A plain HTTP/1.1 GET on loopback (no proxy settings can get in the way)."""
    async def fetch() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, body.decode("utf-8", "replace")

    return await asyncio.wait_for(fetch(), timeout)


@contextlib.asynccontextmanager
async def running_hub(work_dir: Path | None = None, cores: str | None = None,
                      site: Callable[[Path], tuple[str, str]] | None = None) -> AsyncIterator[ServerProcess]:
    """``qms-hub --data-dir <tmp> serve`` on a free loopback port, up once /healthz answers.

    ``cores`` (a ``taskset -c`` list, e.g. ``"1"``) pins the hub to those CPUs: one core of this
    machine stands in for a Raspberry Pi hub's slower ones. ``site(folder)`` gives what to add to
    the bench site (``write_bench_site``'s ``top`` and ``tables``), with a folder for its files.
    """
    with tempfile.TemporaryDirectory(prefix="qms-bench-hub-", dir=work_dir) as tmp:
        data_dir = Path(tmp) / "data"
        TokenAuthority.from_data_dir(data_dir)  # the secret exists before the hub reads it
        top, tables = site(Path(tmp)) if site is not None else ("", "")
        site_path = write_bench_site(Path(tmp), top, tables)
        port = free_port()
        log_path = Path(tmp) / "hub.log"
        with open(log_path, "wb") as log_file:  # noqa: ASYNC230 - a local file, opened once before the hub starts
            process = await asyncio.create_subprocess_exec(
                *pinned(cores), *_hub_command(), "--data-dir", str(data_dir), "serve", "--config", str(site_path),
                "--host", LOOPBACK, "--port", str(port),
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                cwd=REPO_ROOT, preexec_fn=_die_with_parent,
            )
        hub = ServerProcess("hub", process, port, "/ws", log_path, data_dir)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the hub exited ({process.returncode}): {log_path.read_text()[-2000:]}")
                with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError, IndexError):
                    status, body = await http_get(port, "/healthz", timeout=1.0)
                    if status == 200 and json.loads(body)["status"] == "ok":
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the hub did not answer /healthz within {START_TIMEOUT}s")
                await asyncio.sleep(0.05)
            yield hub
        finally:
            await _stop(process)


@contextlib.asynccontextmanager
async def running_bare_server(cores: str | None = None) -> AsyncIterator[ServerProcess]:
    """The baseline: ``bench.bare_server``, bare websockets.broadcast to every TV (``cores``: as the hub's)."""
    process = await asyncio.create_subprocess_exec(
        *pinned(cores), sys.executable, "-m", "bench.bare_server",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT, preexec_fn=_die_with_parent,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        if not line:
            raise RuntimeError("the bare server exited before it was listening")
        yield ServerProcess("websockets", process, json.loads(line)["port"], "/")
    finally:
        await _stop(process)


# --- the TV fleet --------------------------------------------------------------------


class Fleet:
    """The ``bench.tv_fleet`` process: N TV connections that report when a round has reached all of them."""

    def __init__(self, process: asyncio.subprocess.Process, count: int):
        self.process = process
        self.count = count

    async def next_event(self, timeout: float) -> dict[str, Any]:
        event = await self.poll(timeout)
        if event is None:
            raise RuntimeError(f"the TV fleet reported nothing within {timeout}s")
        return event

    async def quiet(self, timeout: float) -> None:
        """Wait until nothing has reached the fleet for a few ms: everything a round sent has been read."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"quiet\n")
        await self.process.stdin.drain()
        event = await self.next_event(timeout)
        if event.get("event") != "quiet":
            raise RuntimeError(f"the TV fleet answered {event} to quiet")

    async def poll(self, timeout: float) -> dict[str, Any] | None:
        """The fleet's next report, or None if it has nothing to say within ``timeout``."""
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            return None
        if not line:
            raise RuntimeError(f"the TV fleet exited ({await self.process.wait()})")
        event = json.loads(line)
        if event["event"] == "error":
            raise RuntimeError(f"the TV fleet failed: {event['problem']}")
        return event


@contextlib.asynccontextmanager
async def running_fleet(server: ServerProcess, count: int, id_prefix: str = "tv-bench",
                        cores: str | None = None) -> AsyncIterator[Fleet]:
    """Open ``count`` TV connections from another process; yields once all are registered (``cores``: a
    ``taskset -c`` list to run the fleet on)."""
    mode = "hub" if server.name == "hub" else "bare"
    args = [*pinned(cores), sys.executable, "-m", "bench.tv_fleet", "--url", server.url, "--count", str(count),
            "--mode", mode, "--id-prefix", id_prefix]
    if mode == "hub":
        args += ["--data-dir", str(server.data_dir)]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT,
        preexec_fn=_die_with_parent,
    )
    fleet = Fleet(process, count)
    try:
        ready = await fleet.next_event(timeout=START_TIMEOUT + count * 0.05)
        if ready != {"event": "ready", "connected": count}:
            raise RuntimeError(f"the TV fleet is not ready: {ready}")
        yield fleet
    finally:
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()  # EOF: the fleet closes its connections and exits
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 15)
        await _stop(process, grace=2.0)


# --- clients of the hub --------------------------------------------------------------


async def open_connection(url: str) -> ClientConnection:
    # proxy=None: loopback only, whatever the environment says; no keepalive
    # pings from clients, so the only pings are the servers' own.
    return await connect(url, proxy=None, compression=None, ping_interval=None, open_timeout=REPLY_TIMEOUT,
                         max_size=m.MAX_MESSAGE_BYTES)


async def expect(ws: ClientConnection, message_type: str, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
    """Read until a message of this type arrives; its payload. An ERROR on the way fails."""
    async def read() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == message_type:
                return message["payload"]
            if message["type"] == "ERROR":
                raise RuntimeError(f"the hub answered ERROR while waiting for {message_type}: {message['payload']}")

    return await asyncio.wait_for(read(), timeout)


async def send(ws: ClientConnection, message_type: str, payload: dict[str, Any]) -> None:
    await ws.send(json.dumps({"type": message_type, "payload": payload}, ensure_ascii=False))


async def registered_client(url: str, token: str, client_type: str, client_id: str) -> ClientConnection:
    """A connection that has sent AUTH and REGISTER_CLIENT and seen CONNECTION_ACK."""
    ws = await open_connection(url)
    try:
        await send(ws, "AUTH", {"token": f"Bearer {token}"})
        await expect(ws, "AUTH_OK")
        await send(ws, "REGISTER_CLIENT", {"client_type": client_type, "client_id": client_id, "location": "bench"})
        await expect(ws, "CONNECTION_ACK")
    except BaseException:
        await ws.close()
        raise
    return ws


def kiosk_token(tokens: TokenAuthority, client_id: str) -> str:
    return tokens.issue("kiosk", client_id=client_id, ttl=TOKEN_TTL)


def officer_token(tokens: TokenAuthority, counter_id: int) -> str:
    return tokens.issue("officer", user_id=900 + counter_id, username=f"bench-officer-{counter_id}",
                        full_name="Cán bộ đo hiệu năng", counter_id=counter_id, ttl=TOKEN_TTL)


# --- memory ----------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process ``pid`` has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def settled_rss(pid: int, *, quiet: float = 64 * 1024, interval: float = 0.5, limit: float = 15.0) -> int:
    """RSS once two readings ``interval`` apart differ by less than ``quiet`` bytes (or after ``limit`` s)."""
    deadline = time.monotonic() + limit
    previous = rss_bytes(pid)
    while True:
        await asyncio.sleep(interval)
        current = rss_bytes(pid)
        if abs(current - previous) < quiet or time.monotonic() > deadline:
            return current
        previous = current


# --- what else the machine was doing ---------------------------------------------------


class LoadMeter:
    """CPU used outside this benchmark (its process and the children it has waited for) over a span.

    The figures are only comparable on a machine otherwise at rest; this says how far from rest it was.
    """

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        cpu = psutil.cpu_times()
        busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
        own = self._me.cpu_times()
        mine = own.user + own.system + own.children_user + own.children_system
        # Children still running (the hub, a fleet) are counted as well.
        for child in self._me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                mine += times.user + times.system
        return time.monotonic(), busy, mine

    def stop(self) -> dict[str, float]:
        (t0, busy0, mine0), (t1, busy1, mine1) = self._start, self._sample()
        wall = max(t1 - t0, 1e-9)
        return {
            "seconds": wall,
            "bench_cores": (mine1 - mine0) / wall,
            "other_cores": max(0.0, (busy1 - busy0) - (mine1 - mine0)) / wall,
            "loadavg_1min": os.getloadavg()[0],
        }


def progress(text: str) -> None:
    """Progress lines go to stderr: stdout carries the results."""
    print(text, file=sys.stderr, flush=True)
