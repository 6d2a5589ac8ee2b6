"""Developer tools, run from a checkout (``python -m tools.NAME``); not shipped in the wheel."""
