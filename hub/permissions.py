"""Who may send what: PROTOCOL.md's table, as a pure function of the identity and the message."""

from __future__ import annotations

from hub.auth import DEVICE_ROLES, Identity
from protocol import messages as m

# REGISTER_CLIENT.client_type each role may register as.
CLIENT_TYPE_FOR_ROLE = {
    "kiosk": "kiosk",
    "tv": "tv",
    "officer": "officer",
    "admin": "admin",
    "leader": "admin",
    "counter": "counter",
}

PEOPLE_WHO_RUN_THE_HALL = ("leader", "admin")


def check(identity: Identity, message: m.ClientMessage) -> str | None:
    """None if ``identity`` may send ``message``; otherwise why not, in words a person can read."""
    role = identity.role
    if isinstance(message, (m.Ping, m.Auth, m.Login)):
        return None
    if isinstance(message, m.RegisterClient):
        wanted = message.payload.client_type
        if CLIENT_TYPE_FOR_ROLE.get(role) != wanted:
            return f"a {role} token cannot register as a {wanted} client"
        if role in DEVICE_ROLES and message.payload.client_id != identity.client_id:
            return f"this device's token is for client_id {identity.client_id!r}, not {message.payload.client_id!r}"
        return None
    if isinstance(message, m.TicketRequest):
        if role in ("kiosk", *PEOPLE_WHO_RUN_THE_HALL):
            return None
        return f"a {role} cannot issue tickets"
    if isinstance(message, (m.CallTicket, m.TicketAction, m.CounterStatusChange)):
        if role in PEOPLE_WHO_RUN_THE_HALL:
            return None
        if role == "officer":
            if message.payload.counter_id == identity.counter_id:
                return None
            return f"an officer of counter {identity.counter_id} cannot act on counter {message.payload.counter_id}"
        what = {m.CallTicket: "call tickets", m.TicketAction: "act on tickets"}.get(type(message),
                                                                                  "change counter status")
        return f"a {role} cannot {what}"
    if isinstance(message, m.Announcement):
        if role in PEOPLE_WHO_RUN_THE_HALL:
            return None
        return f"a {role} cannot send announcements"
    if isinstance(message, m.Rating):
        # With the ticket's code (the citizen's page) the hub needs no token; with a token, only a counter display.
        if role == "counter":
            return None
        return f"a {role} cannot rate a ticket (the counter display or the ticket's page does)"
    if isinstance(message, m.DeviceStatus):
        if role in DEVICE_ROLES:
            return None
        return f"a {role} has no device to report on"
    if isinstance(message, (m.UserList, m.UserUpdate)):
        # Admins only: leaders run the hall's queues, not its accounts, and the list names every account.
        if role == "admin":
            return None
        return f"a {role} cannot manage accounts: ask an admin"
    return f"{m.message_type(message)} is not allowed"
