"""What the counter display shows and does, as a state machine free of I/O.

The app feeds it what happened (the hub's mirror changed, a ticket was
finished at this counter, a tap, the hub's answer to a rating, the time) and
carries out the :data:`Effect` values it returns: send a RATING, save the
ratings not yet acknowledged. The screen is drawn from :meth:`CounterModel.view`,
an immutable value, so the app redraws only when it changes. Times are
monotonic seconds passed in by the caller (the app's injectable clock).

Screens::

    idle <-> serving           (the hub's current ticket for this counter)
      \\-- TICKET_UPDATED finish for this counter --> asking --tap--> thanks --thanks_seconds--> idle/serving
                                                         \\--ask_seconds, no tap: nothing stored--> idle/serving
    paused                     (the counter paused or closed, with the reason)
    offline                    (the hub unreachable: "Mất kết nối")

Asking and thanks come first: a citizen who has just been served may rate
even if the officer pauses the counter or the hub goes away meanwhile. Then
the hub being unreachable, then a paused counter, then what is served.

A rating is a :class:`PendingRating` from the tap until the hub answers it:
saved on the device (:class:`SaveOutbox`), sent (:class:`SendRating`) at once
when connected, again after every reconnect and every ``retry_seconds`` while
unanswered. Its ``request_id`` (the display's client id and a uuid) makes a
repeat harmless: the hub stores it once and answers every copy the same. It is
dropped when RATING_RECORDED or ALREADY_RATED comes back for it, or the hub
refuses it for good (too late, unknown ticket); never on a passing refusal.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol import messages as m
from protocol.client import CounterView, HubState

Screen = Literal["idle", "serving", "asking", "thanks", "paused", "offline"]
LedMode = Literal["on", "blink", "off"]

ASK_SECONDS = 30.0
THANKS_SECONDS = 4.0
# An unanswered rating goes again after this long, while connected (a lost answer, a refusal without an id).
RETRY_SECONDS = 30.0
# Refusals that may pass: the rating stays and is sent again.
PASSING_REFUSALS = frozenset({"RATE_LIMITED", "INTERNAL_ERROR", "AUTH_FAILED"})
# Tickets known rated, so a ticket finished again (a return, a recall) is not asked twice.
RATED_TICKETS_KEPT = 64


@dataclass(frozen=True)
class PendingRating:
    """One citizen's tap, until the hub has it."""

    request_id: str
    ticket_id: int
    ticket_number: int
    ticket_label: str
    score: int
    # The display's estimate of the hub's time of the tap (UTC, the protocol's format).
    rated_at: str
    counter_id: int

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "ticket_id": self.ticket_id, "ticket_number": self.ticket_number,
                "ticket_label": self.ticket_label, "score": self.score, "rated_at": self.rated_at,
                "counter_id": self.counter_id}

    @classmethod
    def from_json(cls, data: Any) -> PendingRating:
        """Raises ValueError for anything that is not a rating this display could have saved."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        try:
            rating = cls(request_id=data["request_id"], ticket_id=data["ticket_id"],
                         ticket_number=data["ticket_number"], ticket_label=data["ticket_label"],
                         score=data["score"], rated_at=data["rated_at"], counter_id=data["counter_id"])
        except KeyError as missing:
            raise ValueError(f"no {missing}") from None
        for name in ("ticket_id", "ticket_number", "score", "counter_id"):
            value = getattr(rating, name)
            if type(value) is not int:
                raise ValueError(f"{name} is not a whole number")
        for name in ("request_id", "ticket_label", "rated_at"):
            if not isinstance(getattr(rating, name), str):
                raise ValueError(f"{name} is not text")
        if not 1 <= rating.score <= 4:
            raise ValueError(f"score {rating.score} is not 1 to 4")
        m.parse_timestamp(rating.rated_at)  # ValueError when unreadable
        return rating

    def message(self) -> m.Rating:
        return m.Rating(m.RatingPayload(ticket_id=self.ticket_id, score=self.score, request_id=self.request_id,
                                        rated_at=self.rated_at))


# --- effects: what the app must do -------------------------------------------------------------


@dataclass(frozen=True)
class SendRating:
    rating: PendingRating


@dataclass(frozen=True)
class SaveOutbox:
    """Write these (all the ratings not yet acknowledged) to the device's file, replacing what is there."""

    ratings: tuple[PendingRating, ...]


Effect = SendRating | SaveOutbox


# --- the view ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    screen: Screen
    counter_number: int
    counter_name: str = ""
    officer_name: str | None = None
    # The number being served, as printed ("A2001"); None when nobody is.
    ticket_label: str | None = None
    # paused or offline (the counter's status, on the paused screen), and why.
    status: str = "active"
    reason: str = ""
    # Asking and thanks: the ticket being rated, whole seconds left to tap, the score tapped.
    rating_label: str = ""
    seconds_left: int | None = None
    chosen: int | None = None
    # Ratings kept on the device for the hub.
    waiting_ratings: int = 0
    # Offline before the hub has ever answered (starting up) rather than after losing it.
    connecting: bool = False


@dataclass(frozen=True)
class _Asking:
    ticket_id: int
    ticket_number: int
    ticket_label: str


def _label(ticket_label: str, number: int) -> str:
    return ticket_label or str(number)


@dataclass
class CounterModel:
    counter_id: int
    ask_seconds: float = ASK_SECONDS
    thanks_seconds: float = THANKS_SECONDS
    retry_seconds: float = RETRY_SECONDS
    # What an earlier run left unacknowledged (the outbox file), oldest first.
    pending: tuple[PendingRating, ...] = ()

    connected: bool = field(init=False, default=False)
    counter: CounterView | None = field(init=False, default=None)
    _ever_connected: bool = field(init=False, default=False)
    _trouble: bool = field(init=False, default=False)
    _asking: _Asking | None = field(init=False, default=None)
    _phase: Literal["asking", "thanks"] | None = field(init=False, default=None)
    _phase_until: float = field(init=False, default=0.0)
    _chosen: int | None = field(init=False, default=None)
    _sent_at: dict[str, float] = field(init=False, default_factory=dict)
    _rated: deque[int] = field(init=False, default_factory=lambda: deque(maxlen=RATED_TICKETS_KEPT))

    def __post_init__(self) -> None:
        self._rated.extend(r.ticket_id for r in self.pending)

    # --- the hub -------------------------------------------------------------------------------

    def hub_changed(self, state: HubState) -> None:
        """The client's mirror changed: this counter's number, name, status, ticket, officer."""
        self.counter = state.counters.get(self.counter_id, self.counter)
        self.connected = state.connected

    def connection_changed(self, connected: bool, now: float) -> list[Effect]:
        """Registered with the hub (again), or an attempt failed or the connection dropped."""
        self.connected = connected
        if not connected:
            self._trouble = True
            return []
        self._ever_connected = True
        # Whatever was tapped while away, and whatever was sent but not answered before the drop.
        return self._send(self.pending, now)

    def ticket_updated(self, update: m.TicketUpdatedPayload, now: float) -> list[Effect]:
        """A ticket's status changed; a finish at this counter asks the citizen for a rating."""
        if update.action != "finish" or update.status != "done" or update.counter_id != self.counter_id:
            return []
        if update.ticket_id in self._rated:
            return []  # finished again after a return: rated already
        self._asking = _Asking(update.ticket_id, update.ticket_number, _label(update.ticket_label,
                                                                             update.ticket_number))
        self._phase, self._phase_until, self._chosen = "asking", now + self.ask_seconds, None
        return []

    def rating_recorded(self, recorded: m.RatingRecordedPayload) -> list[Effect]:
        """The hub stored a rating: ours (its request_id), or the ticket's from the citizen's own page."""
        self._rated.append(recorded.ticket_id)
        if self._phase == "asking" and self._asking is not None and self._asking.ticket_id == recorded.ticket_id:
            self._end_phase()  # rated on the phone meanwhile: nothing left to ask
        return self._drop(lambda r: r.request_id == recorded.request_id or r.ticket_id == recorded.ticket_id)

    def rating_refused(self, request_id: str | None, error_code: str) -> list[Effect]:
        """An ERROR for a RATING: ALREADY_RATED and every lasting refusal drop it; a passing one keeps it."""
        if request_id is None or error_code in PASSING_REFUSALS:
            return []
        return self._drop(lambda r: r.request_id == request_id)

    # --- the citizen -----------------------------------------------------------------------------

    def tap(self, score: int, now: float, *, rated_at: str, request_id: str) -> list[Effect]:
        """A rating tapped on screen or pressed on a button; ``rated_at`` is the hub's time as the display
        reckons it, ``request_id`` a fresh id for this rating."""
        if self._phase != "asking" or self._asking is None or score not in (1, 2, 3, 4):
            return []
        asking = self._asking
        rating = PendingRating(request_id=request_id, ticket_id=asking.ticket_id,
                               ticket_number=asking.ticket_number, ticket_label=asking.ticket_label, score=score,
                               rated_at=rated_at, counter_id=self.counter_id)
        self.pending = (*self.pending, rating)
        self._rated.append(asking.ticket_id)
        self._phase, self._phase_until, self._chosen = "thanks", now + self.thanks_seconds, score
        return [SaveOutbox(self.pending), *self._send((rating,), now)]

    # --- time ------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Effect]:
        if self._phase is not None and now >= self._phase_until:
            self._end_phase()  # no tap in time: nothing stored
        if not self.connected:
            return []
        # Never sent yet (tapped while away), or sent and not answered for a while.
        due = tuple(r for r in self.pending
                    if (sent := self._sent_at.get(r.request_id)) is None or now - sent >= self.retry_seconds)
        return self._send(due, now)

    # --- output ----------------------------------------------------------------------------------

    @property
    def screen(self) -> Screen:
        if self._phase is not None:
            return self._phase
        if not self.connected:
            return "offline"
        counter = self.counter
        if counter is not None and counter.status in ("paused", "offline"):
            return "paused"
        if counter is not None and (counter.current_ticket is not None or counter.current_number is not None):
            return "serving"
        return "idle"

    def view(self, now: float) -> View:
        screen = self.screen
        counter = self.counter
        current = counter.current_ticket if counter is not None else None
        serving = None
        if current is not None:
            serving = _label(current.ticket_label, current.ticket_number)
        elif counter is not None and counter.current_number is not None:
            serving = str(counter.current_number)
        asking = self._asking if self._phase is not None else None
        return View(
            screen=screen,
            counter_number=counter.shown_number if counter is not None else self.counter_id,
            counter_name=counter.name if counter is not None else "",
            officer_name=(counter.officer_name or None) if counter is not None else None,
            ticket_label=serving if screen == "serving" else None,
            status=counter.status if counter is not None and screen == "paused" else "active",
            reason=counter.reason if counter is not None and screen == "paused" else "",
            rating_label=asking.ticket_label if asking is not None else "",
            seconds_left=max(0, math.ceil(self._phase_until - now)) if screen == "asking" else None,
            chosen=self._chosen if screen == "thanks" else None,
            waiting_ratings=len(self.pending),
            connecting=screen == "offline" and not self._ever_connected and not self._trouble,
        )

    def led_mode(self) -> LedMode:
        """On while the buttons do something (asking), blinking for the thanks, off otherwise."""
        if self._phase == "asking":
            return "on"
        if self._phase == "thanks":
            return "blink"
        return "off"

    # --- helpers ---------------------------------------------------------------------------------

    def _send(self, ratings: tuple[PendingRating, ...], now: float) -> list[Effect]:
        if not self.connected:
            return []
        for rating in ratings:
            self._sent_at[rating.request_id] = now
        return [SendRating(rating) for rating in ratings]

    def _drop(self, which) -> list[Effect]:
        kept = tuple(r for r in self.pending if not which(r))
        if len(kept) == len(self.pending):
            return []  # not one of ours, or answered before (a repeat's second answer)
        for rating in self.pending:
            if rating not in kept:
                self._sent_at.pop(rating.request_id, None)
        self.pending = kept
        return [SaveOutbox(kept)]

    def _end_phase(self) -> None:
        self._phase, self._asking, self._chosen = None, None, None


__all__ = [
    "ASK_SECONDS", "CounterModel", "Effect", "LedMode", "PendingRating", "SaveOutbox", "Screen", "SendRating",
    "THANKS_SECONDS", "View",
]
