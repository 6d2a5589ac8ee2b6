"""Printers behind one small interface: python-escpos for real ones, and a virtual twin.

Chosen by a URL (``[kiosk] printer`` in node.toml, or ``--printer``)::

    usb:VID:PID            usb:0x0416:0x5011      (hex; needs pyusb)
    network:HOST[:PORT]    network:192.168.1.50   (port 9100 by default)
    serial:DEVICE[:BAUD]   serial:/dev/ttyUSB0:19200 (9600 by default; needs pyserial)
    file:PATH              file:/dev/usb/lp0      (the kernel's usblp driver; cannot report status)
    virtual:DIR            virtual:/var/lib/qms-kiosk/tickets

Options follow a ``?``: ``timeout=SECONDS`` (every kind), ``status=0`` to skip
asking a real printer for its status before each ticket, and for
``virtual:`` ``fault=CODE`` (a fault every print reports until cleared:
``paper_out``, ``cover_open``, ``offline``, ``no_printer``, ``timeout``,
``error``, or ``paper_low``, a warning that still prints) and ``delay=SECONDS``
(a slow printer).

Each ticket goes out as ESC @ (initialise), the image as GS v 0 raster
commands, then a feed and a cut: the same bytes for every kind, since the
virtual printer renders them with python-escpos's own Dummy printer. The
virtual printer writes each ticket's bytes to ``DIR/<name>.bin`` and the image
to ``DIR/<name>.png``, for technicians without a printer and for tests.

Faults are :class:`PrinterFault` with a ``code`` the kiosk shows in words and
reports to the hub. A real printer is asked for its status (DLE EOT) before
each ticket where the connection can read; one that never answers is then
printed to without asking.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("qms.kiosk.printer")

# python-escpos caches its printer database in a fresh temporary directory on every start unless told
# where: one directory per user instead, so a kiosk restarted for months does not fill /tmp.
if "ESCPOS_CAPABILITIES_PICKLE_DIR" not in os.environ:
    # The service's cache directory (XDG_CACHE_HOME in qms-kiosk.service), else one per user in /tmp.
    if os.environ.get("XDG_CACHE_HOME"):
        _cache = os.path.join(os.environ["XDG_CACHE_HOME"], "python-escpos")
    else:
        import tempfile  # only here: a device has XDG_CACHE_HOME, and its start need not load tempfile

        _cache = os.path.join(tempfile.gettempdir(), f"qms-escpos-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(_cache, mode=0o700, exist_ok=True)
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = _cache
    except OSError:
        pass  # python-escpos falls back to a temporary directory of its own

FAULT_CODES = ("no_printer", "offline", "paper_out", "cover_open", "timeout", "error")
WARNING_CODES = ("paper_low",)
DEFAULT_TIMEOUT = 5.0
NETWORK_PORT = 9100
SERIAL_BAUD = 9600


class PrinterFault(Exception):
    """The ticket was not printed: ``code`` says why (one of :data:`FAULT_CODES`), ``detail`` for technicians."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code if code in FAULT_CODES else "error"
        self.detail = detail


class PrinterUrlError(ValueError):
    """A printer URL that cannot be used, and why."""


@dataclass(frozen=True)
class PrintReport:
    """A ticket handed to the printer: when the last byte went, and whether paper is running low."""

    handed_over_at: float  # time.perf_counter()
    paper_low: bool = False
    name: str = ""


class Printer(Protocol):
    """What the kiosk needs of a printer. Called from the print worker thread only."""

    description: str

    def print_image(self, image: Image.Image, name: str) -> PrintReport:
        """Print ``image`` (1-bit, the paper's width) and cut; raise :class:`PrinterFault` when it cannot."""

    def check(self) -> bool:
        """Raise :class:`PrinterFault` if the printer cannot print now; whether paper is running low."""

    def close(self) -> None:
        """Let go of the connection (it is opened again when needed)."""


# --- the URL --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterSpec:
    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def timeout(self) -> float | None:
        value = self.options.get("timeout")
        return float(value) if value is not None else None


def parse_printer_url(url: str) -> PrinterSpec:
    kind, sep, rest = url.partition(":")
    if not sep or kind not in ("usb", "network", "serial", "file", "virtual"):
        raise PrinterUrlError(f"printer {url!r}: expected usb:VID:PID, network:HOST[:PORT], serial:DEVICE[:BAUD], "
                              "file:PATH or virtual:DIR")
    target, _, query = rest.partition("?")
    if not target:
        raise PrinterUrlError(f"printer {url!r}: nothing after {kind}:")
    options = dict(parse_qsl(query, keep_blank_values=True))
    known = {"timeout", "status", "profile"} | ({"fault", "delay"} if kind == "virtual" else set())
    unknown = sorted(set(options) - known)
    if unknown:
        raise PrinterUrlError(f"printer {url!r}: unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for number in ("timeout", "delay"):
        if number in options:
            try:
                if float(options[number]) < 0:
                    raise ValueError
            except ValueError:
                raise PrinterUrlError(f"printer {url!r}: {number} must be a number of seconds") from None
    if kind == "virtual" and options.get("fault", "") not in ("", *FAULT_CODES, *WARNING_CODES):
        raise PrinterUrlError(f"printer {url!r}: fault must be one of {', '.join(FAULT_CODES + WARNING_CODES)}")
    if kind == "usb":
        _usb_ids(target, url)
    return PrinterSpec(kind, target, options)


def _usb_ids(target: str, url: str) -> tuple[int, int]:
    parts = target.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        return int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        raise PrinterUrlError(f"printer {url!r}: expected usb:VID:PID in hexadecimal, e.g. usb:0x04b8:0x0202") from None


def _host_port(target: str) -> tuple[str, int]:
    if target.startswith("["):  # [IPv6]:port
        host, _, port = target[1:].partition("]")
        port = port.lstrip(":")
    elif target.count(":") == 1:
        host, port = target.split(":")
    else:
        host, port = target, ""
    return host, int(port) if port else NETWORK_PORT


def open_printer(url: str, *, paper_width_dots: int, profile: str = "", timeout: float = DEFAULT_TIMEOUT) -> Printer:
    """The printer ``url`` names. Nothing is opened yet: the first ticket or check does that."""
    spec = parse_printer_url(url)
    timeout = spec.timeout if spec.timeout is not None else timeout
    profile = spec.options.get("profile", profile)
    if spec.kind == "virtual":
        printer = VirtualPrinter(Path(spec.target), paper_width_dots=paper_width_dots, profile=profile,
                                 timeout=timeout, delay=float(spec.options.get("delay", 0)))
        if spec.options.get("fault"):
            printer.inject_fault(spec.options["fault"])
        return printer
    ask_status = spec.options.get("status", "1") not in ("0", "false", "no") and spec.kind != "file"
    return EscposPrinter(spec, paper_width_dots=paper_width_dots, profile=profile, timeout=timeout,
                         ask_status=ask_status, description=url)


# --- python-escpos ----------------------------------------------------------------------------------------


def escpos_profile(name: str, paper_width_dots: int) -> Any:
    """A python-escpos profile (``name`` or the generic one) whose paper is ``paper_width_dots`` wide."""
    from escpos.capabilities import BaseProfile, get_profile_class

    try:
        base = get_profile_class(name or "default")
    except KeyError:
        raise PrinterUrlError(f"unknown python-escpos printer profile {name!r}") from None
    data = copy.deepcopy(base.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = paper_width_dots
    # A class of its own: profile_data is class-level and shared by every printer of the base profile.
    return type(f"Qms{base.__name__}", (BaseProfile,), {"profile_data": data})()


def ticket_bytes_to(device: Any, image: Image.Image) -> None:
    """Send one ticket to an escpos printer object: initialise, the raster image, feed, cut."""
    device.hw("INIT")
    # GS v 0: the one image command nearly every ESC/POS printer understands.
    device.image(image, impl="bitImageRaster", center=False)
    device.cut()


def escpos_bytes(image: Image.Image, paper_width_dots: int, profile: str = "") -> bytes:
    """The exact bytes :func:`ticket_bytes_to` sends, collected by python-escpos's Dummy printer."""
    from escpos.printer import Dummy

    dummy = Dummy()
    dummy.profile = escpos_profile(profile, paper_width_dots)
    ticket_bytes_to(dummy, image)
    return dummy.output


# DLE EOT n real-time status (Epson ESC/POS): which bits mean what.
DLE_EOT = b"\x10\x04"
STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER = 1, 2, 4
OFFLINE = 0x08            # n=1
COVER_OPEN = 0x04         # n=2
PAPER_END_STOP = 0x20     # n=2
PAPER_NEAR_END = 0x0C     # n=4
PAPER_END = 0x60          # n=4


class EscposPrinter:
    """A real printer through python-escpos, opened on first use and re-opened after a failure."""

    def __init__(self, spec: PrinterSpec, *, paper_width_dots: int, profile: str = "",
                 timeout: float = DEFAULT_TIMEOUT, ask_status: bool = True, description: str = ""):
        self.spec = spec
        self.paper_width_dots = paper_width_dots
        self.profile_name = profile
        self.timeout = timeout
        self.ask_status = ask_status
        self.description = description or f"{spec.kind}:{spec.target}"
        self._device = None
        # python-escpos's profile database takes 100-200 ms to load: a named profile is checked now (an
        # unknown name is refused at start-up), the default one built on first use, in the printer thread.
        self._profile_object = escpos_profile(profile, paper_width_dots) if profile else None

    @property
    def _profile(self) -> Any:
        if self._profile_object is None:
            self._profile_object = escpos_profile(self.profile_name, self.paper_width_dots)
        return self._profile_object

    # --- connection ----------------------------------------------------------------------------

    def _create(self) -> Any:
        from escpos import printer as escpos

        spec = self.spec
        if spec.kind == "usb":
            vendor, product = _usb_ids(spec.target, self.description)
            if not escpos.Usb.is_usable():
                raise PrinterFault("no_printer", "pyusb is not installed: pip install 'python-escpos[usb]'")
            device = escpos.Usb(vendor, product, timeout=int(self.timeout * 1000))
        elif spec.kind == "network":
            host, port = _host_port(spec.target)
            device = escpos.Network(host, port=port, timeout=self.timeout)
        elif spec.kind == "serial":
            path, _, baud = spec.target.partition(":")
            if not escpos.Serial.is_usable():
                raise PrinterFault("no_printer", "pyserial is not installed: pip install 'python-escpos[serial]'")
            device = escpos.Serial(devfile=path, baudrate=int(baud or SERIAL_BAUD), timeout=self.timeout)
        elif spec.kind == "file":
            device = escpos.File(devfile=spec.target)
        else:  # pragma: no cover - parse_printer_url refuses other kinds
            raise PrinterFault("error", f"cannot print to {spec.kind}")
        device.profile = self._profile
        device.open()
        return device

    def _connected(self) -> Any:
        if self._device is None:
            self._device = self._create()
        return self._device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too; it is gone either way
                log.debug("closing the printer failed", exc_info=True)

    # --- status ------------------------------------------------------------------------------------

    def _status(self, device: Any, n: int) -> int | None:
        """One DLE EOT status byte, or None if the printer does not answer (then it is never asked again)."""
        try:
            device._raw(DLE_EOT + bytes((n,)))
            answer = device._read()
        except (NotImplementedError, TimeoutError):
            answer = b""
        except Exception as exc:  # noqa: BLE001 - e.g. pyusb's USBTimeoutError: no answer is not a fault
            if _is_timeout(exc):
                answer = b""
            else:
                raise
        if not answer:
            log.info("%s does not answer status requests; printing without asking", self.description)
            self.ask_status = False
            return None
        return answer[0]

    def _ask(self, device: Any) -> bool:
        """Raise the printer's fault if it reports one; whether its paper is running low."""
        if not self.ask_status:
            return False
        printer = self._status(device, STATUS_PRINTER)
        if printer is None:
            return False
        paper = self._status(device, STATUS_PAPER) if self.ask_status else None
        if printer & OFFLINE:
            cause = self._status(device, STATUS_OFFLINE_CAUSE) or 0
            if cause & COVER_OPEN:
                raise PrinterFault("cover_open", self.description)
            if cause & PAPER_END_STOP or (paper is not None and paper & PAPER_END == PAPER_END):
                raise PrinterFault("paper_out", self.description)
            raise PrinterFault("offline", self.description)
        if paper is not None and paper & PAPER_END == PAPER_END:
            raise PrinterFault("paper_out", self.description)
        return paper is not None and paper & PAPER_NEAR_END == PAPER_NEAR_END

    # --- the interface -----------------------------------------------------------------------------

    def check(self) -> bool:
        try:
            return self._ask(self._connected())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a fault the kiosk can show
            self.close()
            raise _fault(exc, self.description) from exc

    def print_image(self, image: Image.Image, name: str) -> PrintReport:
        try:
            device = self._connected()
            paper_low = self._ask(device)
            ticket_bytes_to(device, image)
            handed_over = time.perf_counter()
            if hasattr(device, "flush"):
                device.flush()
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise _fault(exc, self.description) from exc
        return PrintReport(handed_over, paper_low, name)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, socket.timeout)) or type(exc).__name__ in ("USBTimeoutError",
                                                                                     "SerialTimeoutException")


def _fault(exc: BaseException, where: str) -> PrinterFault:
    """What a failure from python-escpos or the operating system means for the kiosk."""
    if isinstance(exc, PrinterFault):
        return exc
    detail = f"{where}: {type(exc).__name__}: {exc}".strip()[:200]
    name = type(exc).__name__
    if _is_timeout(exc):
        return PrinterFault("timeout", detail)
    if name in ("DeviceNotFoundError", "USBNotFoundError") or isinstance(exc, (FileNotFoundError,
                                                                                 PermissionError)):
        return PrinterFault("no_printer", detail)
    if isinstance(exc, OSError) and exc.errno in (errno.ENODEV, errno.ENXIO, errno.ENOENT):
        return PrinterFault("no_printer", detail)
    if isinstance(exc, (ConnectionError, OSError)) or name in ("USBError", "SerialException"):
        return PrinterFault("offline", detail)
    return PrinterFault("error", detail)


# --- the virtual twin ------------------------------------------------------------------------------------


class VirtualPrinter:
    """Writes each ticket's ESC/POS bytes (``.bin``) and image (``.png``) to a directory.

    Faults are injected with ``?fault=CODE`` in the URL or :meth:`inject_fault`;
    ``timeout`` waits the printer timeout before failing, as a real one would.
    """

    def __init__(self, directory: Path, *, paper_width_dots: int, profile: str = "",
                 timeout: float = DEFAULT_TIMEOUT, delay: float = 0.0):
        self.directory = directory
        self.paper_width_dots = paper_width_dots
        self.profile = profile
        self.timeout = timeout
        self.delay = delay
        self.description = f"virtual:{directory}"
        self._fault: str | None = None
        self._lock = threading.Lock()
        self._sequence = 0
        if profile:
            # An unknown profile name fails now, not at the first ticket (the default one always exists,
            # and loading python-escpos's profiles takes 100-200 ms: the first ticket's thread does that).
            escpos_profile(profile, paper_width_dots)

    def inject_fault(self, code: str | None) -> None:
        """From now on every print and check fails with ``code``; None clears.

        ``paper_low`` is a warning: prints go through, with it reported.
        """
        if code is not None and code not in FAULT_CODES + WARNING_CODES:
            raise ValueError(f"unknown printer fault {code!r}")
        with self._lock:
            self._fault = code

    @property
    def fault(self) -> str | None:
        with self._lock:
            return self._fault

    def _problem(self) -> bool:
        fault = self.fault
        if fault == "timeout":
            time.sleep(self.timeout)
            raise PrinterFault("timeout", f"{self.description}: no answer within {self.timeout:g} s (injected)")
        if fault in FAULT_CODES:
            raise PrinterFault(fault, f"{self.description}: injected fault")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PrinterFault("no_printer", f"{self.description}: {exc.strerror}") from None
        if not os.access(self.directory, os.W_OK):
            raise PrinterFault("no_printer", f"{self.description}: the directory is not writable")
        return fault == "paper_low"

    def check(self) -> bool:
        return self._problem()

    def print_image(self, image: Image.Image, name: str) -> PrintReport:
        paper_low = self._problem()
        data = escpos_bytes(image, self.paper_width_dots, self.profile)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self._sequence += 1
            stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{self._sequence:04d}-{name}"
        binary = self.directory / f"{stem}.bin"
        try:
            _write_atomically(binary, data)
            handed_over = time.perf_counter()
            picture = self.directory / f"{stem}.png"
            image.save(picture.with_suffix(".png.tmp"), format="PNG")
            os.replace(picture.with_suffix(".png.tmp"), picture)
        except OSError as exc:
            raise PrinterFault("no_printer", f"{self.description}: {exc.strerror}") from None
        return PrintReport(handed_over, paper_low, stem)

    def close(self) -> None:
        pass

    def printed(self) -> list[Path]:
        """The ``.bin`` files written so far, oldest first."""
        return sorted(self.directory.glob("*.bin"))


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
