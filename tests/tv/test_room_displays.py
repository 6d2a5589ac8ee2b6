"""TVs of one room showing some counters only: the site file's [[displays]] and the SNAPSHOT that carries it.

A hall of several rooms lists, per room, the location its TVs' node files
say and the counters they show. The hub checks the table when it loads the
file (every mistake one line naming file, line and key, as the rest of the
site file) and tells each TV its counters in its SNAPSHOT
(``display_counters``); the TV side is in test_view.py and test_live.py.
"""

from __future__ import annotations

import pytest
from support import HallHarness, start_hub

from hub.site_config import (
    DisplayConfig,
    SiteConfigError,
    location_key,
    parse_site_config,
    sample_site,
    site_to_toml,
)

ROOMS = '''
[[displays]]
location = "Phòng 2 - Tầng 2"
counters = [2, 5]

[[displays]]
location = "Sảnh chính"
counters = [1, 3, 4]
'''


def sample_text() -> str:
    from importlib import resources

    return resources.files("hub").joinpath("sample_site.toml").read_text(encoding="utf-8")


def with_rooms(extra: str) -> str:
    return sample_text() + extra


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``needle`` (comments, such as the sample
    site's commented example of a room, do not count)."""
    hits = [number for number, line in enumerate(text.split("\n"), start=1)
            if needle in line and not line.lstrip().startswith("#")]
    return hits[occurrence - 1]


def test_rooms_are_read_and_a_location_is_matched_whatever_its_case_and_spaces():
    site = parse_site_config(with_rooms(ROOMS), "site.toml")
    assert site.displays == (DisplayConfig("Phòng 2 - Tầng 2", (2, 5)), DisplayConfig("Sảnh chính", (1, 3, 4)))
    assert site.counters_shown_at("Phòng 2 - Tầng 2") == (2, 5)
    assert site.counters_shown_at("  phòng 2 -   TẦNG 2 ") == (2, 5)
    assert location_key("SẢNH CHÍNH") == location_key("sảnh chính")
    # A location of no room: every counter.
    assert site.counters_shown_at("Phòng 9") == () and site.counters_shown_at("") == ()
    assert sample_site().displays == ()


def test_rooms_survive_site_migrate():
    site = parse_site_config(with_rooms(ROOMS), "site.toml")
    again = parse_site_config(site_to_toml(site), "migrated.toml")
    assert again.displays == site.displays


@pytest.mark.parametrize("extra, key, needle, reason", [
    ('[[displays]]\nlocation = "Phòng 2"\ncounters = [2, 9]\n', "displays[0].counters[1]", "counters = [2, 9]",
     "no [[counters]] table has id 9 (known: 1, 2, 3, 4, 5)"),
    ('[[displays]]\nlocation = "Phòng 2"\ncounters = []\n', "displays[0].counters", "counters = []",
     "a display shows at least one counter"),
    ('[[displays]]\nlocation = "Phòng 2"\ncounters = [2, 2]\n', "displays[0].counters", "counters = [2, 2]",
     "lists a counter twice"),
    ('[[displays]]\ncounters = [2]\n', "displays[0].location", "[[displays]]", "is required but missing"),
    ('[[displays]]\nlocation = "  "\ncounters = [2]\n', "displays[0].location", 'location = "  "',
     "must not be empty"),
    ('[[displays]]\nlocation = "Phòng 2"\ncounter = [2]\n', "displays[0].counter", "counter = [2]",
     "unknown key, did you mean 'counters'?"),
    ('[[displays]]\nlocation = "Phòng 2"\n', "displays[0].counters", "[[displays]]", "is required but missing"),
])
def test_a_mistake_in_a_room_names_the_file_line_and_key(extra, key, needle, reason):
    text = with_rooms(extra)
    with pytest.raises(SiteConfigError) as raised:
        parse_site_config(text, "site.toml")
    assert str(raised.value) == f"site.toml:{line_of(text, needle)}: {key}: {reason}"


def test_two_rooms_with_one_location_are_refused_naming_the_first():
    text = with_rooms('[[displays]]\nlocation = "Phòng 2"\ncounters = [2]\n\n'
                      '[[displays]]\nlocation = "phòng  2"\ncounters = [5]\n')
    with pytest.raises(SiteConfigError) as raised:
        parse_site_config(text, "site.toml")
    first, second = line_of(text, "location = \"Phòng 2\""), line_of(text, "location = \"phòng  2\"")
    assert str(raised.value) == (f"site.toml:{second}: displays[1].location: location 'phòng 2' is already the "
                                 f"location of displays[0] at line {first}")


async def test_each_tv_learns_its_rooms_counters_in_its_snapshot(tmp_path):
    site = parse_site_config(with_rooms(ROOMS), "site.toml")
    hub = await start_hub(tmp_path / "data", site=site)
    hall = HallHarness(hub)
    try:
        room = await hall.client("tv", location="phòng 2 - tầng 2")
        lobby = await hall.client("tv", location="Sảnh chính")
        elsewhere = await hall.client("tv", location="Kho")
        admin = await hall.client("admin", location="Phòng 2 - Tầng 2")
        assert room.snapshot["display_counters"] == [2, 5]
        assert lobby.snapshot["display_counters"] == [1, 3, 4]
        assert elsewhere.snapshot["display_counters"] == []
        assert admin.snapshot["display_counters"] == []  # only TVs: a console shows the whole hall
        # Every counter is still in the SNAPSHOT: the TV chooses what to draw (a backup counter may serve its line).
        assert [c["counter_id"] for c in room.snapshot["counters"]] == [c.id for c in sample_site().counters]
    finally:
        await hall.close_all()
        await hub.stop()
