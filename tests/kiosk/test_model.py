"""The kiosk's state machine on its own: no hub, no screen, no printer, no clock (times are passed in)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from kiosk_node import model as kiosk_model
from kiosk_node.model import (
    MENU_IDLE_SECONDS,
    CheckPrinter,
    FieldTile,
    KioskModel,
    PrintTicket,
    ReportDevice,
    RequestTicket,
    fields_from_state,
    tiles_from_state,
)
from protocol import messages as m
from protocol.client import CounterView, FieldView, HubState, ProcedureView, QueueView

T0 = 1000.0


def hall(*, fields: bool = True, **statuses: str) -> HubState:
    """Queue 1 (procedures 101, 102) at counter 1; queue 2 (201, 202) shared by counters 2 and 5 (painted
    "7" above the desk); ``c2="paused"`` changes counter 2's status. With ``fields``, 101 and 102 are in field
    10 and 201, 202 in field 20."""
    def procedures(queue_id: int, *ids_names: tuple[int, str]) -> tuple[ProcedureView, ...]:
        return tuple(ProcedureView(pid, name, queue_id, (10 if queue_id == 1 else 20) if fields else None)
                     for pid, name in ids_names)

    land = procedures(1, (101, "Đăng ký đất đai"), (102, "Cấp đổi Giấy chứng nhận"))
    civil = procedures(2, (201, "Đăng ký khai sinh"), (202, "Đăng ký kết hôn"))
    counters = {
        1: CounterView(1, "Văn phòng đăng ký đất đai", status=statuses.get("c1", "active"), procedures=land,
                       queue_ids=(1,)),
        2: CounterView(2, "Tư pháp - Hộ tịch", status=statuses.get("c2", "active"), procedures=civil,
                       queue_ids=(2,)),
        5: CounterView(5, "Tư pháp - Hộ tịch", status=statuses.get("c5", "active"), procedures=civil,
                       queue_ids=(2,), number=7),
    }
    queues = {
        1: QueueView(1, "Đất đai", counter_ids=(1,), waiting_count=3, average_wait_time=15),
        2: QueueView(2, "Tư pháp - Hộ tịch", counter_ids=(2, 5), waiting_count=1, priority_waiting_count=1,
                     average_wait_time=5),
    }
    site_fields = (FieldView(10, "Đất đai - Nhà ở", (101, 102)), FieldView(20, "Tư pháp - Hộ tịch", (201, 202)))
    return HubState(connected=True, site_name="Trung tâm", service_day="2025-07-19", timezone="Asia/Ho_Chi_Minh",
                    counters=MappingProxyType(counters), queues=MappingProxyType(queues),
                    fields=site_fields if fields else ())


def created(request_id: str | None, number: int = 105, **v2: object) -> m.TicketCreatedPayload:
    return m.TicketCreatedPayload(ticket_id=1, ticket_number=number, counter_id=1,
                                  counter_name="Văn phòng đăng ký đất đai", procedure_name="Đăng ký đất đai",
                                  created_at="2025-07-19T03:30:00.000Z", estimated_wait_time=15, procedure_id=101,
                                  people_ahead=3, request_id=request_id, ticket_code="abc", service_day="2025-07-19",
                                  **v2)  # type: ignore[arg-type]


def refused(request_id: str, code: str = "COUNTER_PAUSED") -> m.ErrorPayload:
    return m.ErrorPayload(error_code=code, message="Quầy đang tạm dừng", timestamp="2025-07-19T03:30:00.000Z",
                          message_type="TICKET_CREATED", request_id=request_id)


@pytest.fixture
def kiosk() -> KioskModel:
    model = KioskModel(result_seconds=6.0, print_watchdog_seconds=20.0)
    model.hub_changed(hall(fields=False))
    model.connection_changed(True, T0)
    return model


def ticket_printing(kiosk: KioskModel, request_id: str = "kiosk-1-a") -> PrintTicket:
    """Tap 101, the hub answers: the print effect."""
    assert kiosk.tap(101, T0) == [RequestTicket(101, 1)]
    kiosk.request_sent(request_id)
    (effect,) = kiosk.ticket_created(created(request_id), T0 + 0.05)
    assert isinstance(effect, PrintTicket)
    return effect


# --- the ordinary path ---------------------------------------------------------------------------------------


def test_tiles_are_the_procedures_of_open_queues_each_once_in_order():
    assert [t.procedure_id for t in tiles_from_state(hall())] == [101, 102, 201, 202]
    # Queue 2 stays open while either of its counters is.
    assert [t.procedure_id for t in tiles_from_state(hall(c2="paused"))] == [101, 102, 201, 202]
    assert [t.procedure_id for t in tiles_from_state(hall(c5="offline"))] == [101, 102, 201, 202]
    assert [t.procedure_id for t in tiles_from_state(hall(c2="paused", c5="offline"))] == [101, 102]
    assert [t.procedure_id for t in tiles_from_state(hall(c1="offline", c2="paused", c5="paused"))] == []
    land, _, civil, _ = tiles_from_state(hall())
    assert (land.queue_id, land.queue_name, land.counter_numbers, land.waiting_count, land.wait_minutes) == (
        1, "Đất đai", (1,), 3, 15)
    # Every counter of the queue, by the number above its desk (counter 5 is painted 7).
    assert (civil.queue_id, civil.counter_numbers, civil.field_id) == (2, (2, 7), 20)


def test_a_hub_without_queues_has_each_counter_serve_its_own():
    state = hall(fields=False)
    first_version = replace(state, queues=MappingProxyType({}), counters=MappingProxyType({
        cid: replace(c, procedures=tuple(replace(p, queue_id=None) for p in c.procedures), queue_ids=())
        for cid, c in state.counters.items()}))
    tiles = tiles_from_state(first_version)
    assert [(t.procedure_id, t.queue_id, t.counter_numbers) for t in tiles] == [
        (101, 1, (1,)), (102, 1, (1,)), (201, 2, (2,)), (202, 2, (2,))]


def test_fields_list_only_what_is_on_offer():
    assert fields_from_state(hall(), tiles_from_state(hall())) == (
        FieldTile(10, "Đất đai - Nhà ở", (101, 102)), FieldTile(20, "Tư pháp - Hộ tịch", (201, 202)))
    closed = hall(c2="paused", c5="paused")
    assert fields_from_state(closed, tiles_from_state(closed)) == (FieldTile(10, "Đất đai - Nhà ở", (101, 102)),)


def test_tap_request_ticket_print_result_home(kiosk):
    assert kiosk.view(T0).screen == "home"
    assert kiosk.tap(101, T0) == [RequestTicket(procedure_id=101, queue_id=1)]
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
    assert kiosk.tap(101, T0) == [RequestTicket(101, 1)]
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
    kiosk.hub_changed(hall(c2="paused", c5="offline"))
    assert kiosk.tap(201, T0) == []
    assert kiosk.view(T0).refused_code == "COUNTER_PAUSED"
    kiosk.tick(T0 + 10)
    assert kiosk.tap(999, T0 + 10) == []
    assert kiosk.view(T0 + 10).refused_code == "COUNTER_NOT_FOUND"


# --- the menus and priority ------------------------------------------------------------------------------------


@pytest.fixture
def with_fields() -> KioskModel:
    model = KioskModel()
    model.hub_changed(hall())
    model.connection_changed(True, T0)
    return model


def test_a_site_with_fields_offers_its_fields_then_a_fields_procedures_and_back(with_fields):
    view = with_fields.view(T0)
    assert (view.level, [f.field_id for f in view.fields], view.tiles) == ("fields", [10, 20], ())
    assert view.offers_priority and not view.can_go_back
    with_fields.open_field(20, T0 + 1)
    view = with_fields.view(T0 + 1)
    assert (view.level, view.field_name, [t.procedure_id for t in view.tiles]) == (
        "procedures", "Tư pháp - Hộ tịch", [201, 202])
    assert view.can_go_back and not view.offers_priority
    with_fields.back(T0 + 2)
    assert with_fields.view(T0 + 2).level == "fields"
    with_fields.open_field(99, T0 + 3)  # no such field: nothing happens
    assert with_fields.view(T0 + 3).level == "fields"


def test_a_site_without_fields_offers_its_procedures_at_once(kiosk):
    view = kiosk.view(T0)
    assert (view.level, view.fields, [t.procedure_id for t in view.tiles]) == ("procedures", (), [101, 102, 201, 202])
    assert view.offers_priority and not view.can_go_back


def test_priority_asks_which_then_the_same_menus_and_the_request_carries_it(with_fields):
    with_fields.open_priority(T0)
    view = with_fields.view(T0)
    assert (view.level, view.priority_flow, view.priority_reason) == ("reasons", True, None)
    assert view.can_go_back and not view.offers_priority
    with_fields.choose_reason("elderly", T0 + 1)
    view = with_fields.view(T0 + 1)
    assert (view.level, view.priority_reason, [f.field_id for f in view.fields]) == ("fields", "elderly", [10, 20])
    with_fields.open_field(20, T0 + 2)
    assert with_fields.view(T0 + 2).priority_reason == "elderly"
    assert with_fields.tap(202, T0 + 3) == [RequestTicket(202, 2, priority=True, priority_reason="elderly")]


def test_back_from_the_priority_menus_goes_up_one_level_at_a_time(with_fields):
    with_fields.open_priority(T0)
    with_fields.choose_reason("pregnant", T0)
    with_fields.open_field(10, T0)
    levels = []
    for _ in range(3):
        with_fields.back(T0)
        view = with_fields.view(T0)
        levels.append((view.level, view.priority_flow, view.priority_reason))
    assert levels == [("fields", True, "pregnant"), ("reasons", True, None), ("fields", False, None)]
    # Without a priority chosen, a procedure is an ordinary ticket.
    assert with_fields.tap(101, T0) == [RequestTicket(101, 1)]


def test_only_the_reasons_on_screen_can_be_chosen(with_fields):
    with_fields.choose_reason("elderly", T0)  # not asked for: nothing happens
    assert with_fields.view(T0).level == "fields" and not with_fields.view(T0).priority_flow
    with_fields.open_priority(T0)
    with_fields.choose_reason("other", T0)  # PROTOCOL.md's "other" is not a tile
    assert with_fields.view(T0).level == "reasons"


def test_a_menu_left_half_way_returns_to_the_top(with_fields):
    with_fields.open_priority(T0)
    with_fields.choose_reason("child", T0 + 10)
    with_fields.tick(T0 + 10 + MENU_IDLE_SECONDS - 1)
    assert with_fields.view(T0 + 60).priority_reason == "child"  # still being used
    with_fields.tick(T0 + 10 + MENU_IDLE_SECONDS)
    view = with_fields.view(T0 + 10 + MENU_IDLE_SECONDS)
    assert (view.level, view.priority_flow) == ("fields", False)


def test_the_next_citizen_starts_at_the_top_of_the_menus(with_fields):
    with_fields.open_priority(T0)
    with_fields.choose_reason("merit", T0)
    with_fields.open_field(10, T0)
    with_fields.tap(101, T0)
    with_fields.request_sent("kiosk-1-a")
    (effect,) = with_fields.ticket_created(created("kiosk-1-a", priority=True, priority_reason="merit"), T0 + 0.1)
    with_fields.print_finished(effect.job_id, T0 + 0.2)
    with_fields.tick(T0 + 10)
    view = with_fields.view(T0 + 10)
    assert (view.screen, view.level, view.priority_flow) == ("home", "fields", False)


def test_menus_take_no_touch_while_a_ticket_is_on_its_way_or_the_hub_is_away(with_fields):
    with_fields.open_field(10, T0)
    with_fields.tap(101, T0)  # printing: the menu stays as it was
    with_fields.back(T0)
    with_fields.open_priority(T0)
    assert with_fields.menu.field_id == 10 and not with_fields.menu.priority
    with_fields.request_sent("kiosk-1-a")
    with_fields.request_refused(refused("kiosk-1-a"), T0)
    with_fields.open_priority(T0)  # the refusal is showing
    assert not with_fields.menu.priority
    with_fields.tick(T0 + kiosk_model.REFUSED_SECONDS)
    assert with_fields.view(T0 + 10).level == "fields"  # home, at the top
    with_fields.connection_changed(False, T0 + 10)
    with_fields.open_priority(T0 + 10)
    assert not with_fields.menu.priority


def test_an_open_field_whose_queues_all_close_goes_back_to_the_fields(with_fields):
    with_fields.open_field(20, T0)
    with_fields.hub_changed(hall(c2="paused", c5="paused"))
    view = with_fields.view(T0)
    assert (view.level, [f.field_id for f in view.fields]) == ("fields", [10])


def test_the_ticket_names_its_queue_every_counter_serving_it_its_label_and_priority(with_fields):
    with_fields.open_priority(T0)
    with_fields.choose_reason("disability", T0)
    with_fields.open_field(20, T0)
    with_fields.tap(201, T0)
    with_fields.request_sent("kiosk-1-a")
    (effect,) = with_fields.ticket_created(created(
        "kiosk-1-a", 2001, queue_id=2, queue_name="Tư pháp - Hộ tịch", counter_ids=[2, 5], ticket_label="B2001",
        priority=True, priority_reason="disability"), T0 + 0.1)
    ticket = effect.ticket
    assert (ticket.queue_id, ticket.queue_name, ticket.counter_numbers) == (2, "Tư pháp - Hộ tịch", (2, 7))
    assert (ticket.shown_label, ticket.priority, ticket.priority_reason) == ("B2001", True, "disability")
    # A first-version answer: the counter is the queue, the number the label.
    old = kiosk_model.ticket_from_payload(created("x"))
    assert (old.queue_id, old.queue_name, old.counter_numbers, old.shown_label, old.priority) == (
        1, "Văn phòng đăng ký đất đai", (1,), "105", False)


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
