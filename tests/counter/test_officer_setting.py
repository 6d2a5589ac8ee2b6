"""The site's ``counter_display_shows_officer``: the officer's name reaches counter displays only when set."""

from __future__ import annotations

import dataclasses

import pytest
from support import HallHarness, start_hub

from hub.site_config import SiteConfigError, parse_site_config, sample_site, site_to_toml


@pytest.mark.parametrize("shows", [False, True], ids=["default-off", "on"])
async def test_the_officer_name_is_in_the_snapshot_only_where_the_site_allows_it(tmp_path, shows):
    site = dataclasses.replace(sample_site(), counter_display_shows_officer=shows) if shows else sample_site()
    hub = await start_hub(tmp_path / "data", site=site)
    hall = HallHarness(hub)
    try:
        await hall.client("officer", counter_id=2, username="canbo2", full_name="Nguyễn Thị Ánh Tuyết")
        display = await hall.client("counter", client_id="counter-02", counter_id=2)
        names = {c["counter_id"]: c["officer_name"] for c in display.snapshot["counters"]}
        assert names[2] == ("Nguyễn Thị Ánh Tuyết" if shows else None)
        assert names[1] is None, "no officer at counter 1"
    finally:
        await hall.close_all()
        await hub.stop()


def test_the_setting_is_checked_like_the_others_and_written_back():
    base = site_to_toml(sample_site())
    assert "counter_display_shows_officer" not in base, "the default is not written out"
    assert parse_site_config(base).counter_display_shows_officer is False
    on = parse_site_config("counter_display_shows_officer = true\n" + base)
    assert on.counter_display_shows_officer is True
    assert parse_site_config(site_to_toml(on)).counter_display_shows_officer is True
    with pytest.raises(SiteConfigError, match="counter_display_shows_officer: must be true or false, got string 'yes'"):
        parse_site_config('counter_display_shows_officer = "yes"\n' + base)
