"""The tests' PostgreSQL: central.scratch_server's throwaway server; a missing PostgreSQL fails the test."""

from __future__ import annotations

import pytest

from central.scratch_server import SUPERUSER, SUPERUSER_PASSWORD, PostgresMissing
from central.scratch_server import PostgresServer as _Server

__all__ = ["SUPERUSER", "SUPERUSER_PASSWORD", "PostgresServer"]


class PostgresServer(_Server):
    def __init__(self) -> None:
        try:
            super().__init__()
        except PostgresMissing as exc:
            pytest.fail(f"the central tests need PostgreSQL: {exc}", pytrace=False)
