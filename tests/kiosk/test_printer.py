"""Printers: the URL, the virtual twin, python-escpos against a fake network printer on loopback, a file printer.

The ESC/POS bytes are decoded here, independently of python-escpos: ESC @,
GS v 0 raster blocks, ESC d and GS V are the only commands a ticket may
contain, and the raster must be the ticket image dot for dot.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageChops
from support.escpos import decode_escpos, same_picture

from display.fonts import find_fonts
from kiosk_node.printer import (
    EscposPrinter,
    PrinterFault,
    PrinterUrlError,
    VirtualPrinter,
    escpos_bytes,
    open_printer,
    parse_printer_url,
)
from kiosk_node.ticket import TicketContext, render_ticket, sample_ticket

ESC, GS = 0x1B, 0x1D






@pytest.fixture(scope="module")
def ticket_image() -> Image.Image:
    context = TicketContext(site_name="Trung tâm Phục vụ hành chính công", width=576, fonts=find_fonts(),
                            public_url="https://qms.example.gov.vn")
    return render_ticket(sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC)), context)


# --- the URL ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url, kind, target, options", [
    ("usb:0x0416:0x5011", "usb", "0x0416:0x5011", {}),
    ("usb:04b8:0202?timeout=2", "usb", "04b8:0202", {"timeout": "2"}),
    ("network:192.168.1.50", "network", "192.168.1.50", {}),
    ("network:printer.local:9101?status=0", "network", "printer.local:9101", {"status": "0"}),
    ("serial:/dev/ttyUSB0:19200", "serial", "/dev/ttyUSB0:19200", {}),
    ("file:/dev/usb/lp0", "file", "/dev/usb/lp0", {}),
    ("virtual:/var/lib/qms/tickets?fault=paper_out", "virtual", "/var/lib/qms/tickets", {"fault": "paper_out"}),
])
def test_printer_urls(url, kind, target, options):
    spec = parse_printer_url(url)
    assert (spec.kind, spec.target, spec.options) == (kind, target, options)


@pytest.mark.parametrize("url, complaint", [
    ("lpt:1", "expected usb:VID:PID"),
    ("usb:", "nothing after usb:"),
    ("usb:0416", "hexadecimal"),
    ("usb:zz:11", "hexadecimal"),
    ("virtual:/tmp/x?fault=on_fire", "fault must be one of"),
    ("virtual:/tmp/x?colour=red", "unknown option 'colour'"),
    ("network:host?fault=paper_out", "unknown option 'fault'"),
    ("network:host?timeout=soon", "timeout must be a number"),
])
def test_bad_printer_urls_say_what_is_wrong(url, complaint):
    with pytest.raises(PrinterUrlError, match=complaint):
        parse_printer_url(url)


def test_an_unknown_escpos_profile_is_refused_at_once(tmp_path):
    with pytest.raises(PrinterUrlError, match="profile"):
        open_printer(f"virtual:{tmp_path}", paper_width_dots=576, profile="NO-SUCH-PRINTER")


# --- the virtual printer --------------------------------------------------------------------------------------


def test_virtual_printer_writes_the_escpos_bytes_and_the_picture(tmp_path, ticket_image):
    printer = open_printer(f"virtual:{tmp_path / 'tickets'}", paper_width_dots=576)
    assert isinstance(printer, VirtualPrinter)
    assert printer.check() is False
    report = printer.print_image(ticket_image, "q1-105")
    (binary,) = printer.printed()
    assert binary.stem == report.name and binary.name.endswith("q1-105.bin")
    data = binary.read_bytes()
    assert data == escpos_bytes(ticket_image, 576)
    raster = decode_escpos(data)
    assert raster.width == 576
    assert same_picture(raster, ticket_image)
    assert same_picture(Image.open(binary.with_suffix(".png")), ticket_image)
    # python-escpos splits tall images into blocks: a ticket this tall takes more than one.
    assert data.count(b"\x1dv0") == -(-ticket_image.height // 960)


def test_decoding_notices_a_changed_dot(tmp_path, ticket_image):
    data = bytearray(escpos_bytes(ticket_image, 576))
    start = data.index(b"\x1dv0") + 8
    data[start + 576 // 8 * 40 + 3] ^= 0x10  # one dot on row 40
    assert not same_picture(decode_escpos(bytes(data)), ticket_image)


@pytest.mark.parametrize("fault", ["paper_out", "cover_open", "offline", "no_printer", "error"])
def test_virtual_faults_from_the_url_and_cleared_by_method(tmp_path, ticket_image, fault):
    printer = open_printer(f"virtual:{tmp_path}?fault={fault}", paper_width_dots=576)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == fault
    with pytest.raises(PrinterFault):
        printer.check()
    assert printer.printed() == []
    printer.inject_fault(None)
    printer.print_image(ticket_image, "t")
    assert len(printer.printed()) == 1


def test_virtual_timeout_waits_for_the_printer_timeout(tmp_path, ticket_image):
    printer = open_printer(f"virtual:{tmp_path}?fault=timeout&timeout=0.05", paper_width_dots=576)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == "timeout"


def test_virtual_paper_low_prints_with_a_warning(tmp_path, ticket_image):
    printer = open_printer(f"virtual:{tmp_path}?fault=paper_low", paper_width_dots=576)
    assert printer.check() is True
    assert printer.print_image(ticket_image, "t").paper_low is True
    assert len(printer.printed()) == 1


def test_virtual_printer_in_a_directory_it_cannot_write_is_no_printer(tmp_path, ticket_image):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    printer = open_printer(f"virtual:{blocker}/tickets", paper_width_dots=576)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == "no_printer"


# --- python-escpos against a fake network printer --------------------------------------------------------------


class FakeNetworkPrinter:
    """An ESC/POS printer on a loopback TCP port: records what it is sent, answers DLE EOT status requests.

    ``status`` maps n (1: printer, 2: offline cause, 4: paper sensor) to the byte answered; None answers
    nothing (a printer that does not implement status).
    """

    OK = {1: 0x12, 2: 0x12, 4: 0x12}

    def __init__(self, status: dict[int, int] | None = None):
        self.status = dict(self.OK) if status is None else status
        self.received = bytearray()
        self.queries: list[int] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                while True:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    # A status request comes alone and waits for its answer.
                    if len(chunk) == 3 and chunk[:2] == b"\x10\x04":
                        self.queries.append(chunk[2])
                        answer = self.status.get(chunk[2])
                        if answer is not None:
                            connection.sendall(bytes((answer,)))
                    else:
                        self.received += chunk

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def fake_printer():
    printers: list[FakeNetworkPrinter] = []

    def make(status=None) -> FakeNetworkPrinter:
        printer = FakeNetworkPrinter(status)
        printers.append(printer)
        return printer

    yield make
    for printer in printers:
        printer.close()


def _received(fake: FakeNetworkPrinter, length: int) -> bytes:
    for _ in range(200):
        if len(fake.received) >= length:
            break
        threading.Event().wait(0.01)
    return bytes(fake.received)


def test_network_printer_gets_the_same_bytes_as_the_virtual_one(fake_printer, ticket_image):
    fake = fake_printer()
    printer = open_printer(f"network:127.0.0.1:{fake.port}", paper_width_dots=576, timeout=2)
    assert isinstance(printer, EscposPrinter)
    report = printer.print_image(ticket_image, "t")
    printer.close()
    expected = escpos_bytes(ticket_image, 576)
    assert _received(fake, len(expected)) == expected
    assert same_picture(decode_escpos(bytes(fake.received)), ticket_image)
    assert fake.queries[:2] == [1, 4]  # asked whether it is online and has paper, before printing
    assert report.paper_low is False


@pytest.mark.parametrize("status, fault", [
    ({1: 0x1A, 2: 0x32, 4: 0x72}, "paper_out"),   # offline because the paper ran out
    ({1: 0x1A, 2: 0x16, 4: 0x12}, "cover_open"),  # offline because the cover is open
    ({1: 0x1A, 2: 0x12, 4: 0x12}, "offline"),     # offline for another reason
    ({1: 0x12, 2: 0x12, 4: 0x72}, "paper_out"),   # online, but the paper end sensor says so
])
def test_network_printer_status_becomes_the_fault(fake_printer, ticket_image, status, fault):
    fake = fake_printer(status)
    printer = open_printer(f"network:127.0.0.1:{fake.port}", paper_width_dots=576, timeout=2)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == fault
    with pytest.raises(PrinterFault):
        printer.check()
    assert bytes(fake.received) == b""  # nothing printed


def test_network_printer_paper_near_end_is_a_warning(fake_printer, ticket_image):
    fake = fake_printer({1: 0x12, 2: 0x12, 4: 0x1E})
    printer = open_printer(f"network:127.0.0.1:{fake.port}", paper_width_dots=576, timeout=2)
    assert printer.check() is True
    assert printer.print_image(ticket_image, "t").paper_low is True


def test_a_printer_that_never_answers_status_is_printed_to_without_asking(fake_printer, ticket_image):
    fake = fake_printer({})
    printer = open_printer(f"network:127.0.0.1:{fake.port}", paper_width_dots=576, timeout=0.2)
    printer.print_image(ticket_image, "first")
    printer.print_image(ticket_image, "second")
    printer.close()
    expected = escpos_bytes(ticket_image, 576)
    assert _received(fake, 2 * len(expected)) == expected * 2
    assert fake.queries == [1]  # asked once, then never again


def test_no_network_printer_listening_is_no_printer(ticket_image):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    printer = open_printer(f"network:127.0.0.1:{port}", paper_width_dots=576, timeout=1)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == "no_printer"


def test_file_printer_writes_the_ticket(tmp_path, ticket_image):
    device = tmp_path / "lp0"
    printer = open_printer(f"file:{device}", paper_width_dots=576)
    printer.print_image(ticket_image, "t")
    printer.close()
    assert device.read_bytes() == escpos_bytes(ticket_image, 576)


def test_file_printer_that_is_not_there_is_no_printer(tmp_path, ticket_image):
    printer = open_printer(f"file:{tmp_path}/missing/lp0", paper_width_dots=576)
    with pytest.raises(PrinterFault) as raised:
        printer.print_image(ticket_image, "t")
    assert raised.value.code == "no_printer"


def test_serial_and_usb_without_their_drivers_say_what_to_install(ticket_image):
    from escpos.printer import Serial, Usb

    for url, printer_class, package in (("serial:/dev/ttyUSB0", Serial, "pyserial"),
                                        ("usb:0x0416:0x5011", Usb, "pyusb")):
        if printer_class.is_usable():
            continue  # the driver is installed here: nothing to say
        printer = open_printer(url, paper_width_dots=576)
        with pytest.raises(PrinterFault) as raised:
            printer.print_image(ticket_image, "t")
        assert raised.value.code == "no_printer" and package in raised.value.detail


def test_ticket_images_are_the_paper_width(tmp_path):
    fonts = find_fonts()
    ticket = sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC))
    for width in (384, 512, 576):
        image = render_ticket(ticket, TicketContext(site_name="Trung tâm", width=width, fonts=fonts))
        assert image.width == width and image.mode == "1"
        assert decode_escpos(escpos_bytes(image, width)).width == width


def test_a_ticket_only_has_a_qr_code_when_the_site_has_a_public_address():
    fonts = find_fonts()
    ticket = sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC))
    without = render_ticket(ticket, TicketContext(site_name="Trung tâm", width=576, fonts=fonts))
    with_qr = render_ticket(ticket, TicketContext(site_name="Trung tâm", width=576, fonts=fonts,
                                                  public_url="https://qms.example.gov.vn"))
    assert with_qr.height > without.height + 150


def test_ticket_time_is_the_halls_local_time():
    from kiosk_node.ticket import local_time

    moment = datetime(2025, 7, 19, 17, 30, tzinfo=UTC)
    assert local_time(moment, "Asia/Ho_Chi_Minh").strftime("%d/%m/%Y %H:%M") == "20/07/2025 00:30"
    assert local_time(moment, "Not/A_Zone").strftime("%H:%M") == "00:30"


def test_a_priority_ticket_carries_the_mark_and_the_reason_black_on_white():
    from dataclasses import replace

    from kiosk_node.ticket import priority_mark

    ordinary = sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC))
    for width in (576, 384):
        context = TicketContext(site_name="Trung tâm", width=width, fonts=find_fonts())
        mark = priority_mark("elderly", context)
        # Black and white only, as wide as the text, framed: a solid black edge all round.
        histogram = mark.histogram()
        assert histogram[0] + histogram[255] == mark.width * mark.height
        assert mark.width == width - 2 * round(18 * width / 576)
        edges = [mark.getpixel((x, 0)) for x in range(mark.width)] + [mark.getpixel((0, y)) for y in range(mark.height)]
        assert set(edges) == {0}
        # Mostly white: the head is not asked to burn a solid band.
        assert histogram[0] < 0.4 * mark.width * mark.height
        priority = replace(ordinary, priority=True, priority_reason="elderly")
        image = render_ticket(priority, context)
        assert _contains_centred(image, mark)
        assert not _contains_centred(image, priority_mark("merit", context))  # the reason is on it
        assert not _contains_centred(render_ticket(ordinary, context), mark)
        assert image.height > render_ticket(ordinary, context).height + 100
        assert same_picture(decode_escpos(escpos_bytes(image, width)), image)
    # In English the mark stays (officers read it) and the reason is in English.
    context = TicketContext(site_name="Trung tâm", width=576, fonts=find_fonts())
    assert not same_picture(priority_mark("elderly", context, "en"), priority_mark("elderly", context))


def test_the_ticket_prints_its_label_and_every_counter_of_its_queue():
    from dataclasses import replace

    ticket = sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC))
    context = TicketContext(site_name="Trung tâm", width=576, fonts=find_fonts())
    image = render_ticket(ticket, context)
    assert not same_picture(image, render_ticket(replace(ticket, label="A123"), context))
    assert same_picture(image, render_ticket(replace(ticket, label="123"), context))  # the label is the number
    assert not same_picture(image, render_ticket(replace(ticket, counter_numbers=(1,)), context))


def _contains_centred(image: Image.Image, part: Image.Image) -> bool:
    """Whether ``part`` appears, dot for dot, horizontally centred somewhere down ``image``."""
    left = (image.width - part.width) // 2
    part_l = part.convert("L")
    picture = image.convert("L")
    for top in range(image.height - part.height + 1):
        window = picture.crop((left, top, left + part.width, top + part.height))
        if ImageChops.difference(window, part_l).getbbox() is None:
            return True
    return False


def test_the_qr_code_is_the_tickets_status_page():
    from kiosk_node.ticket import qr_image, status_url

    assert status_url("https://qms.example.gov.vn/", "abc") == "https://qms.example.gov.vn/t/abc"
    assert status_url(None, "abc") is None and status_url("https://qms.example.gov.vn", None) is None
    ticket = sample_ticket(datetime(2025, 7, 19, 3, 30, tzinfo=UTC))
    context = TicketContext(site_name="Trung tâm", width=576, fonts=find_fonts(),
                            public_url="https://qms.example.gov.vn")
    image = render_ticket(ticket, context)
    expected = qr_image(f"https://qms.example.gov.vn/t/{ticket.ticket_code}", 200)
    assert _contains_centred(image, expected)
    assert not _contains_centred(image, qr_image("https://qms.example.gov.vn/t/another-code", 200))
