"""The TV's way to its first frame imports neither pkg_resources (pygame would) nor numpy (speech loads it after)."""

from __future__ import annotations

from support import free_port
from support.boot import modules_at_first_frame


def test_the_tv_draws_its_first_frame_without_pkg_resources_or_numpy(tmp_path):
    loaded = modules_at_first_frame("tv", tmp_path, free_port())
    assert "pygame" in loaded and "tv_node.app" in loaded  # it did get to its screen
    assert not {"pkg_resources", "numpy", "audio.chime"} & loaded
