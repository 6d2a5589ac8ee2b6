"""One PostgreSQL server for the central tests (started once), a fresh database for each test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from support.postgres import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.init()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def central_url(postgres: PostgresServer) -> str:
    """A new, empty database: its superuser URL."""
    return postgres.create_database(f"qms_test_{next(_databases)}")
