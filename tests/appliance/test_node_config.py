"""The device settings file every node reads."""

from __future__ import annotations

import textwrap

import pytest

from appliance.node_config import (
    NodeConfig,
    NodeConfigError,
    load_node_config,
    parse_node_config,
)


def test_defaults_and_a_full_file(tmp_path):
    assert parse_node_config("") == NodeConfig()
    path = tmp_path / "node.toml"
    path.write_text(textwrap.dedent("""\
        role = "tv"
        hub_url = "wss://hub.local:3001/ws"
        client_id = "tv-hall-1"
        ca_file = "/etc/qms/site-ca.crt"
        [display]
        rotation = 90
        [kiosk.gpio]
        buttons = { "101" = 17 }
        [tv]
        voice = "none"
        repeat = 3
        dialect = "south"
        volume = 0.5
    """), encoding="utf-8")
    config = load_node_config(path)
    assert (config.role, config.client_id, config.display.rotation) == ("tv", "tv-hall-1", 90)
    assert config.kiosk.gpio.buttons == {"101": 17}
    assert (config.tv.voice, config.tv.repeat, config.tv.dialect, config.tv.volume) == ("none", 3, "south", 0.5)


@pytest.mark.parametrize("text, complaint", [
    ('role = "printer"', "role: must be one of"),
    ('rol = "tv"', "rol: unknown key"),
    ('[tv]\nrepeat = "2"', "tv.repeat: expected a whole number"),
    ('[tv]\nrepeat = true', "tv.repeat: expected a whole number"),
    ('[display]\nrotation = 45', "display.rotation: must be one of"),
    ('[kiosk.gpio]\nbuttons = { "101" = "x" }', "kiosk.gpio.buttons: expected a table"),
    ('hub_url = ', "node.toml"),
])
def test_bad_settings_are_refused_with_the_key(text, complaint):
    with pytest.raises(NodeConfigError) as err:
        parse_node_config(text, "node.toml")
    assert complaint in str(err.value)


def test_token_file(tmp_path, monkeypatch):
    monkeypatch.delenv("QMS_TOKEN", raising=False)
    token = tmp_path / "device.token"
    token.write_text("abc.def.ghi\n")
    assert NodeConfig(token_file=str(token)).read_token() == "abc.def.ghi"
    with pytest.raises(NodeConfigError, match="cannot read"):
        NodeConfig(token_file=str(tmp_path / "missing")).read_token()
