"""The counter display's state machine, driven directly: no hub, no screen, time passed in by the test."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from counter_node.model import CounterModel, PendingRating, SaveOutbox, SendRating
from protocol import messages as m
from protocol.client import CounterView, HubState

COUNTER = 2
RATED_AT = "2026-11-25T02:06:00.000Z"


def hub(connected: bool = True, **counter: object) -> HubState:
    view = CounterView(counter_id=COUNTER, name="Tư pháp - Hộ tịch", number=2)
    view = replace(view, **counter)  # type: ignore[arg-type]
    return HubState(connected=connected, counters=MappingProxyType({COUNTER: view}))


def finished(ticket_id: int = 7, number: int = 2001, counter_id: int = COUNTER, action: str = "finish",
             status: str = "done") -> m.TicketUpdatedPayload:
    return m.TicketUpdatedPayload(ticket_id=ticket_id, ticket_number=number, queue_id=2, counter_id=counter_id,
                                  status=status, priority=False, action=action, by="canbo2",
                                  timestamp=RATED_AT, ticket_label=str(number))


def recorded(rating: PendingRating | None = None, *, ticket_id: int | None = None,
             request_id: str | None = None, source: str = "counter") -> m.RatingRecordedPayload:
    return m.RatingRecordedPayload(rating_id=1, ticket_id=ticket_id if ticket_id is not None else rating.ticket_id,
                                   ticket_number=2001, score=4, counter_id=COUNTER, source=source,
                                   timestamp=RATED_AT,
                                   request_id=request_id if request_id is not None or rating is None
                                   else rating.request_id)


def connected_model(**kw) -> CounterModel:
    model = CounterModel(COUNTER, **kw)
    model.hub_changed(hub())
    model.connection_changed(True, 0.0)
    return model


def test_a_finish_at_this_counter_asks_and_one_tap_saves_and_sends_one_rating():
    model = connected_model()
    assert model.screen == "idle"
    model.hub_changed(hub(current_number=2001, current_ticket=m.CurrentTicket(
        ticket_id=7, ticket_number=2001, queue_id=2, priority=False, called_at=RATED_AT, ticket_label="2001")))
    assert model.view(1.0).screen == "serving" and model.view(1.0).ticket_label == "2001"
    assert model.ticket_updated(finished(), 10.0) == []
    view = model.view(10.0)
    assert (view.screen, view.rating_label, view.seconds_left) == ("asking", "2001", 30)
    assert model.led_mode() == "on"
    effects = model.tap(3, 12.0, rated_at=RATED_AT, request_id="counter-02-aa")
    rating = PendingRating("counter-02-aa", 7, 2001, "2001", 3, RATED_AT, COUNTER)
    assert effects == [SaveOutbox((rating,)), SendRating(rating)]
    assert model.view(12.0).screen == "thanks" and model.view(12.0).chosen == 3
    assert model.led_mode() == "blink"
    # A second tap while the thanks show is nothing.
    assert model.tap(1, 12.5, rated_at=RATED_AT, request_id="counter-02-bb") == []
    assert model.pending == (rating,)
    # The hub stored it: dropped from the outbox.
    assert model.rating_recorded(recorded(rating)) == [SaveOutbox(())]
    assert model.rating_recorded(recorded(rating)) == [], "a repeat's second answer changes nothing"
    model.hub_changed(hub())
    assert model.tick(12.0 + 3.9) == [] and model.screen == "thanks"
    model.tick(12.0 + 4.0)
    assert model.screen == "idle" and model.led_mode() == "off"


def test_no_tap_within_thirty_seconds_goes_back_and_stores_nothing():
    model = connected_model()
    model.ticket_updated(finished(), 100.0)
    assert model.tick(129.9) == [] and model.screen == "asking"
    assert model.view(129.9).seconds_left == 1
    assert model.tick(130.0) == []
    assert model.screen == "idle" and model.pending == ()
    assert model.tap(4, 130.1, rated_at=RATED_AT, request_id="late") == []
    assert model.pending == ()


@pytest.mark.parametrize("update", [
    finished(counter_id=5),             # another counter's ticket
    finished(action="no_show", status="no_show"),
    finished(action="transfer", status="waiting"),
    finished(action="return", status="waiting"),
], ids=["other-counter", "no-show", "transfer", "return"])
def test_only_a_finish_here_asks(update):
    model = connected_model()
    model.ticket_updated(update, 1.0)
    assert model.screen == "idle"


def test_a_tap_while_the_hub_is_away_is_kept_and_sent_on_reconnect_then_retried_until_answered():
    model = connected_model(retry_seconds=30.0)
    model.ticket_updated(finished(), 1.0)
    model.connection_changed(False, 2.0)
    model.hub_changed(hub(connected=False))
    # Asking survives the hub going away: the citizen may still rate.
    assert model.screen == "asking"
    effects = model.tap(4, 3.0, rated_at=RATED_AT, request_id="counter-02-off")
    (saved,) = effects
    assert isinstance(saved, SaveOutbox) and len(saved.ratings) == 1, "saved, not sent"
    model.tick(3.0 + 4.0)
    view = model.view(7.5)
    assert (view.screen, view.waiting_ratings, view.connecting) == ("offline", 1, False)
    assert model.tick(200.0) == [], "nothing goes out while away"
    model.hub_changed(hub())
    assert model.connection_changed(True, 300.0) == [SendRating(saved.ratings[0])]
    assert model.tick(329.0) == []
    assert model.tick(330.0) == [SendRating(saved.ratings[0])], "unanswered: the same request again"
    assert model.rating_refused("counter-02-off", "RATE_LIMITED") == []
    assert model.pending == saved.ratings, "a passing refusal keeps it"
    assert model.rating_refused("counter-02-off", "ALREADY_RATED") == [SaveOutbox(())]


@pytest.mark.parametrize("code", ["INVALID_MESSAGE", "TICKET_NOT_FOUND", "FORBIDDEN"])
def test_a_lasting_refusal_drops_the_rating(code):
    rating = PendingRating("r1", 7, 2001, "2001", 2, RATED_AT, COUNTER)
    model = CounterModel(COUNTER, pending=(rating,))
    assert model.rating_refused("r1", code) == [SaveOutbox(())]
    assert model.rating_refused(None, code) == []


def test_ratings_from_an_earlier_run_go_once_connected_and_their_tickets_are_not_asked_again():
    rating = PendingRating("r1", 7, 2001, "2001", 2, RATED_AT, COUNTER)
    model = CounterModel(COUNTER, pending=(rating,))
    assert model.view(0.0).connecting and model.view(0.0).waiting_ratings == 1
    model.hub_changed(hub())
    assert model.connection_changed(True, 1.0) == [SendRating(rating)]
    model.ticket_updated(finished(ticket_id=7), 2.0)
    assert model.screen == "idle", "ticket 7 is rated already"


def test_a_rating_from_the_citizens_page_ends_the_question():
    model = connected_model()
    model.ticket_updated(finished(), 1.0)
    assert model.rating_recorded(recorded(ticket_id=7, request_id=None, source="status_page")) == []
    assert model.screen == "idle"


def test_what_comes_first_on_screen():
    model = connected_model()
    model.hub_changed(hub(status="paused", reason="Nghỉ trưa", current_number=2001))
    view = model.view(0.0)
    assert (view.screen, view.reason, view.status) == ("paused", "Nghỉ trưa", "paused")
    model.ticket_updated(finished(), 1.0)
    assert model.screen == "asking", "a citizen just served may rate even when the counter pauses"
    model.tick(31.0)
    model.hub_changed(hub(connected=False, status="paused"))
    assert model.screen == "offline", "the hub away: the pause shown may be stale"


def test_the_officer_and_the_counters_number_come_from_the_hub():
    model = connected_model()
    model.hub_changed(hub(officer_name="Nguyễn Thị Ánh Tuyết", number=12))
    view = model.view(0.0)
    assert (view.counter_number, view.counter_name, view.officer_name) == (12, "Tư pháp - Hộ tịch",
                                                                          "Nguyễn Thị Ánh Tuyết")


def test_a_rating_round_trips_through_json_and_odd_ones_are_refused():
    rating = PendingRating("counter-02-aa", 7, 2001, "A2001", 4, RATED_AT, COUNTER)
    assert PendingRating.from_json(rating.to_json()) == rating
    for broken in ({**rating.to_json(), "score": 5}, {**rating.to_json(), "ticket_id": "7"},
                   {**rating.to_json(), "rated_at": "yesterday"}, {"request_id": "x"}, []):
        with pytest.raises(ValueError):
            PendingRating.from_json(broken)
    message = rating.message()
    assert (message.payload.ticket_id, message.payload.score, message.payload.request_id,
            message.payload.rated_at) == (7, 4, "counter-02-aa", RATED_AT)
    # What goes out is a RATING the hub's own schema accepts.
    assert m.decode_client_message(m.encode(message)) == message
