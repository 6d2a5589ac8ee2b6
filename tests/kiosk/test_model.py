"""The kiosk's state machine on its own: no hub, no screen, no printer, no clock (times are passed in)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from kiosk_node import model as kiosk_model
from kiosk_node.model import (
    CheckPrinter,
    KioskModel,
    PrintTicket,
    ReportDevice,
    RequestTicket,
    tiles_from_state,
)
from protocol import messages as m
from protocol.client import CounterView, HubState, ProcedureView

T0 = 1000.0


def hall(**statuses: str) -> HubState:
    """Two counters with two procedures each; ``c2="paused"`` changes counter 2's status."""
    counters = {
        1: CounterView(1, "Văn phòng đăng ký đất đai", status=statuses.get("c1", "active"), waiting_count=3,
                       average_wait_time=15, procedures=(ProcedureView(101, "Đăng ký đất đai"),
                                                         ProcedureView(102, "Cấp đổi Giấy chứng nhận"))),
        2: CounterView(2, "Tư pháp - Hộ tịch", status=statuses.get("c2", "active"),
                       procedures=(ProcedureView(201, "Đăng ký khai sinh"), ProcedureView(202, "Đăng ký kết hôn"))),
    }
    return HubState(connected=True, site_name="Trung tâm", service_day="2025-07-19", timezone="Asia/Ho_Chi_Minh",
                    counters=MappingProxyType(counters))


def created(request_id: str | None, number: int = 105) -> m.TicketCreatedPayload:
    return m.TicketCreatedPayload(ticket_id=1, ticket_number=number, counter_id=1,
                                  counter_name="Văn phòng đăng ký đất đai", procedure_name="Đăng ký đất đai",
                                  created_at="2025-07-19T03:30:00.000Z", estimated_wait_time=15, procedure_id=101,
                                  people_ahead=3, request_id=request_id, ticket_code="abc", service_day="2025-07-19")


def refused(request_id: str, code: str = "COUNTER_PAUSED") -> m.ErrorPayload:
    return m.ErrorPayload(error_code=code, message="Quầy đang tạm dừng", timestamp="2025-07-19T03:30:00.000Z",
                          message_type="TICKET_CREATED", request_id=request_id)


@pytest.fixture
def kiosk() -> KioskModel:
    model = KioskModel(result_seconds=6.0, print_watchdog_seconds=20.0)
    model.hub_changed(hall())
    model.connection_changed(True, T0)
    return model


def ticket_printing(kiosk: KioskModel, request_id: str = "kiosk-1-a") -> PrintTicket:
    """Tap 101, the hub answers: the print effect."""
    assert kiosk.tap(101, T0) == [RequestTicket(1, 101)]
    kiosk.request_sent(request_id)
    (effect,) = kiosk.ticket_created(created(request_id), T0 + 0.05)
    assert isinstance(effect, PrintTicket)
    return effect


# --- the ordinary path ---------------------------------------------------------------------------------------


def test_tiles_are_the_procedures_of_active_counters_in_order():
    assert [t.procedure_id for t in tiles_from_state(hall())] == [101, 102, 201, 202]
    assert [t.procedure_id for t in tiles_from_state(hall(c2="paused"))] == [101, 102]
    assert [t.procedure_id for t in tiles_from_state(hall(c1="offline", c2="paused"))] == []
    tile = tiles_from_state(hall())[0]
    assert (tile.counter_id, tile.waiting_count, tile.wait_minutes) == (1, 3, 15)


def test_tap_request_ticket_print_result_home(kiosk):
    assert kiosk.view(T0).screen == "home"
    assert kiosk.tap(101, T0) == [RequestTicket(counter_id=1, procedure_id=101)]
    assert kiosk.view(T0).screen == "printing"
    assert kiosk.view(T0).request_pending
    kiosk.request_sent("kiosk-1-a")
    # Another kiosk's request id (or an old answer) changes nothing.
    assert kiosk.ticket_created(created("kiosk-2-b"), T0) == []
    assert kiosk.ticket_created(created(None), T0) == []
    (effect,) = kiosk.ticket_created(created("kiosk-1-a"), T0 + 0.1)
    assert isinstance(effect, PrintTicket) and effect.ticket.number == 105 and effect.language == "vi"
    assert effect.ticket.created_at.isoformat() == "2025-07-19T03:30:00+00:00"
    view = kiosk.view(T0 + 0.1)
    assert view.screen == "printing" and not view.request_pending and view.ticket.number == 105
    assert kiosk.print_finished(effect.job_id, T0 + 0.3) == []
    view = kiosk.view(T0 + 0.3)
    assert view.screen == "result" and view.ticket.people_ahead == 3 and view.countdown == 6
    assert kiosk.view(T0 + 4.0).countdown == 3
    kiosk.tick(T0 + 6.2)
    assert kiosk.screen == "result"
    kiosk.tick(T0 + 6.3)
    assert kiosk.view(T0 + 6.3).screen == "home" and kiosk.ticket is None


def test_a_second_tap_while_one_is_in_flight_does_nothing(kiosk):
    assert kiosk.tap(101, T0) == [RequestTicket(1, 101)]
    assert kiosk.tap(101, T0 + 0.05) == []
    assert kiosk.tap(201, T0 + 0.05) == []
    kiosk.request_sent("kiosk-1-a")
    kiosk.request_sent("kiosk-1-z")  # a second id never replaces the first
    assert kiosk.pending_request_id == "kiosk-1-a"
    (effect,) = kiosk.ticket_created(created("kiosk-1-a"), T0 + 0.1)
    assert kiosk.tap(101, T0 + 0.1) == []  # printing
    kiosk.print_finished(effect.job_id, T0 + 0.2)
    assert kiosk.tap(101, T0 + 0.3) == []  # showing the result


def test_the_result_is_not_dismissed_by_a_double_tap(kiosk):
    effect = ticket_printing(kiosk)
    kiosk.print_finished(effect.job_id, T0 + 0.2)
    kiosk.dismiss(T0 + 0.4)
    assert kiosk.screen == "result"
    kiosk.dismiss(T0 + 0.2 + kiosk_model.RESULT_MIN_SECONDS)
    assert kiosk.screen == "home"


def test_english_lasts_one_citizen(kiosk):
    kiosk.toggle_language()
    assert kiosk.view(T0).language == "en"
    effect = ticket_printing(kiosk)
    assert effect.language == "en"
    kiosk.toggle_language()  # not on the printing screen
    assert kiosk.language == "en"
    kiosk.print_finished(effect.job_id, T0 + 0.2)
    kiosk.tick(T0 + 10)
    assert kiosk.view(T0 + 10).language == "vi"


def test_the_hub_refuses_and_the_kiosk_says_why_then_goes_home(kiosk):
    kiosk.tap(201, T0)
    kiosk.request_sent("kiosk-1-a")
    assert kiosk.request_refused(refused("kiosk-1-other"), T0) == []
    assert kiosk.screen == "printing"
    kiosk.request_refused(refused("kiosk-1-a"), T0 + 0.1)
    view = kiosk.view(T0 + 0.1)
    assert view.screen == "refused" and view.refused_code == "COUNTER_PAUSED"
    kiosk.tick(T0 + 0.1 + kiosk_model.REFUSED_SECONDS)
    assert kiosk.view(T0 + 10).screen == "home"


def test_a_button_for_a_procedure_not_offered_is_refused_with_the_reason(kiosk):
    kiosk.hub_changed(hall(c2="paused"))
    assert kiosk.tap(201, T0) == []
    assert kiosk.view(T0).refused_code == "COUNTER_PAUSED"
    kiosk.tick(T0 + 10)
    assert kiosk.tap(999, T0 + 10) == []
    assert kiosk.view(T0 + 10).refused_code == "COUNTER_NOT_FOUND"


# --- the hub unreachable ----------------------------------------------------------------------------------------


def test_unreachable_covers_home_and_a_request_waiting_for_the_hub(kiosk):
    kiosk.connection_changed(False, T0)
    assert kiosk.view(T0).screen == "unreachable"
    assert kiosk.tap(101, T0) == []  # nothing the hub would not know about
    kiosk.connection_changed(True, T0 + 1)
    kiosk.tap(101, T0 + 1)
    kiosk.request_sent("kiosk-1-a")
    kiosk.connection_changed(False, T0 + 1.1)
    view = kiosk.view(T0 + 1.1)
    assert view.screen == "unreachable" and view.request_pending
    kiosk.connection_changed(True, T0 + 5)
    assert kiosk.view(T0 + 5).screen == "printing"
    # The client resent it with the same id: the answer is still ours.
    (effect,) = kiosk.ticket_created(created("kiosk-1-a"), T0 + 5.1)
    assert isinstance(effect, PrintTicket)


def test_a_ticket_already_issued_is_printed_and_shown_even_if_the_hub_goes_away(kiosk):
    effect = ticket_printing(kiosk)
    kiosk.connection_changed(False, T0 + 0.1)
    assert kiosk.view(T0 + 0.1).screen == "printing"
    kiosk.print_finished(effect.job_id, T0 + 0.2)
    assert kiosk.view(T0 + 0.2).screen == "result"


def test_the_led_says_what_needs_attention(kiosk):
    assert kiosk.led_mode() == "on"
    kiosk.connection_changed(False, T0)
    assert kiosk.led_mode() == "slow_blink"
    kiosk.printer_checked("paper_out", "", T0)
    assert kiosk.led_mode() == "fast_blink"  # someone must come to the kiosk either way


# --- the printer ---------------------------------------------------------------------------------------------------


def test_a_failed_print_is_reported_once_and_reprinted(kiosk):
    effect = ticket_printing(kiosk)
    reports = kiosk.print_failed(effect.job_id, "paper_out", "virtual: injected", T0 + 0.2)
    assert reports == [ReportDevice("printer", "fault", "paper_out", "virtual: injected")]
    view = kiosk.view(T0 + 0.2)
    assert view.screen == "print_failed" and view.printer_problem == "paper_out" and view.ticket.number == 105
    (again,) = kiosk.reprint(T0 + 1)
    assert isinstance(again, PrintTicket) and again.ticket == effect.ticket and again.job_id != effect.job_id
    assert kiosk.print_failed(again.job_id, "paper_out", "virtual: injected", T0 + 1.1) == []  # already reported
    (third,) = kiosk.reprint(T0 + 2)
    assert kiosk.print_finished(third.job_id, T0 + 2.1) == [ReportDevice("printer", "ok", "ok")]
    assert kiosk.view(T0 + 2.1).screen == "result"


def test_done_on_a_failed_print_goes_home_with_the_fault_banner(kiosk):
    effect = ticket_printing(kiosk)
    kiosk.print_failed(effect.job_id, "cover_open", "", T0 + 0.2)
    kiosk.dismiss(T0 + 0.3)
    view = kiosk.view(T0 + 0.3)
    assert view.screen == "home" and view.printer_fault and view.printer_problem == "cover_open"
    assert kiosk.reprint(T0 + 0.4) == []  # nothing to reprint from home


def test_a_print_that_never_finishes_is_a_timeout(kiosk):
    effect = ticket_printing(kiosk)
    assert kiosk.tick(T0 + 5) == []
    (report,) = kiosk.tick(T0 + 21)
    assert report == ReportDevice("printer", "fault", "timeout", "the print job did not finish")
    assert kiosk.screen == "print_failed"
    # The stuck job finishing late is not taken for the reprint's success.
    assert kiosk.print_finished(effect.job_id, T0 + 25) == []
    assert kiosk.screen == "print_failed"


def test_a_faulty_printer_is_checked_until_it_works(kiosk):
    assert kiosk.printer_checked("no_printer", "usb: not found", T0) == [
        ReportDevice("printer", "fault", "no_printer", "usb: not found")]
    assert kiosk.tick(T0 + 1) == []
    assert kiosk.tick(T0 + kiosk_model.PRINTER_CHECK_SECONDS) == [CheckPrinter()]
    assert kiosk.printer_checked("no_printer", "usb: not found", T0 + 10.5) == []
    assert kiosk.printer_checked(None, "", T0 + 21) == [ReportDevice("printer", "ok", "ok")]
    # Working again: back to the routine check.
    assert kiosk.tick(T0 + 21 + kiosk_model.PRINTER_CHECK_SECONDS) == []
    assert kiosk.tick(T0 + 21 + kiosk_model.PRINTER_ROUTINE_CHECK_SECONDS) == [CheckPrinter()]


def test_a_working_printer_is_checked_now_and_then_but_never_while_printing(kiosk):
    kiosk.print_watchdog_seconds = 1000  # a slow printer: still printing when the check is due
    assert kiosk.tick(T0) == []  # schedules the first routine check
    assert kiosk.tick(T0 + 30) == []
    effect = ticket_printing(kiosk)
    assert kiosk.tick(T0 + kiosk_model.PRINTER_ROUTINE_CHECK_SECONDS + 1) == []  # busy printing
    kiosk.print_finished(effect.job_id, T0 + 70)
    assert kiosk.tick(T0 + 71) == []  # the print was the check
    assert CheckPrinter() in kiosk.tick(T0 + 70 + kiosk_model.PRINTER_ROUTINE_CHECK_SECONDS)


def test_paper_low_is_a_warning_from_either_sensor(kiosk):
    assert kiosk.paper_sensor(True) == [ReportDevice("printer", "warning", "paper_low")]
    effect = ticket_printing(kiosk)
    assert kiosk.print_finished(effect.job_id, T0 + 0.2, paper_low=True) == []
    assert kiosk.view(T0 + 0.2).printer_problem == "paper_low" and not kiosk.view(T0 + 0.2).printer_fault
    assert kiosk.paper_sensor(False) == []  # the printer itself still reports it
    kiosk.tick(T0 + 10)
    effect = ticket_printing(kiosk, "kiosk-1-b")
    assert kiosk.print_finished(effect.job_id, T0 + 10.2) == [ReportDevice("printer", "ok", "ok")]


def test_nothing_is_reported_when_nothing_was_ever_wrong(kiosk):
    assert kiosk.printer_checked(None, "", T0) == []
    assert kiosk.device_problem("gpio", "ok", "ok") == []


def test_reports_are_sent_again_after_reconnecting(kiosk):
    kiosk.printer_checked("paper_out", "", T0)
    kiosk.device_problem("gpio", "fault", "gpio_unavailable", "no lgpio")
    assert kiosk.connection_changed(True, T0) == []  # no change
    kiosk.connection_changed(False, T0 + 1)
    assert kiosk.connection_changed(True, T0 + 2) == [
        ReportDevice("printer", "fault", "paper_out", ""),
        ReportDevice("gpio", "fault", "gpio_unavailable", "no lgpio"),
    ]


def test_views_are_equal_when_nothing_changed(kiosk):
    # The app redraws only when the view changes: an idle kiosk's views must compare equal.
    assert kiosk.view(T0, "10:30") == kiosk.view(T0 + 30, "10:30")
    assert kiosk.view(T0, "10:30") != kiosk.view(T0, "10:31")
    kiosk.hub_changed(replace(hall(), site_name="Trung tâm mới"))
    assert kiosk.view(T0, "10:30").site_name == "Trung tâm mới"
