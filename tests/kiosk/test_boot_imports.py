"""The kiosk's way to its first frame imports neither pkg_resources nor numpy (pygame would pull in both, and its
sound mixer, which no kiosk uses), nor what only printing needs (Pillow, qrcode, python-escpos: the printer
thread loads them once the screen is up), nor what only the hub connection needs (asyncio, websockets, ssl: the
hub client's thread, started once the screen is up, loads them)."""

from __future__ import annotations

from support import free_port
from support.boot import modules_at_first_frame


def test_the_kiosk_draws_its_first_frame_without_pkg_resources_numpy_or_the_printing_libraries(tmp_path):
    loaded = modules_at_first_frame("kiosk", tmp_path, free_port())
    assert "pygame" in loaded and "kiosk_node.app" in loaded  # it did get to its screen
    assert not {"pkg_resources", "numpy", "PIL", "qrcode", "escpos"} & loaded
    assert "pygame.mixer" not in loaded  # no kiosk plays a sound


def test_the_kiosk_draws_its_first_frame_before_its_hub_client_loads_asyncio_and_websockets(tmp_path):
    loaded = modules_at_first_frame("kiosk", tmp_path, free_port())
    assert "protocol.client" in loaded  # the screen is drawn from the client's (empty) mirror
    loaded_early = {"asyncio", "websockets", "ssl"} & loaded
    assert not loaded_early
