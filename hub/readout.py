"""What the HTTP pages and ``/metrics`` read of the running hub: a narrow interface, not the Hub itself.

``hub/http_routes.py`` and ``hub/metrics.py`` depend on this Protocol, so they
need not import the server (no import circle in ``hub/``), and a test can hand
them any object with these attributes.
"""

from __future__ import annotations

from typing import Protocol

from hub.auth import TokenAuthority
from hub.clock import Clock
from hub.queue_state import HallQueue
from hub.sessions import ClientRegistry
from hub.shipping import Shipper
from hub.site_config import SiteConfig
from hub.store import Store
from hub.token_registry import TokenRegistry


class HubReadout(Protocol):
    site: SiteConfig
    clock: Clock
    tokens: TokenAuthority
    clients: ClientRegistry
    queue: HallQueue | None
    store: Store | None
    shipper: Shipper | None
    token_registry: TokenRegistry
