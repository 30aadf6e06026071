"""Fixtures shared by the whole suite.

Databases:
- ``pg_url``: a fresh, empty PostgreSQL database for one test (dropped afterwards), on a
  server this pytest process starts on first use (see tests/pgserver.py).
- ``db_url``: runs the test twice, once with a fresh SQLite file URL and once with a fresh
  PostgreSQL URL (marked ``postgres``), so code taking it is tested on both dialects.

Without PostgreSQL binaries the PostgreSQL tests fail, saying to run ``make test`` (which
installs them); set ``KASSA_SKIP_PG=1`` to skip them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as _hypothesis_settings

# Speed is measured in benchmarks, never asserted in tests: on a loaded 2-core machine a
# single example can take far longer than hypothesis's 200 ms default deadline.
_hypothesis_settings.register_profile("kassa", deadline=None)
_hypothesis_settings.load_profile("kassa")


if TYPE_CHECKING:
    from pgserver import PgServer, PgServerError, find_bin_dir, start_server
else:
    try:  # tests/ is a plain directory today; keep working if it becomes a package
        from tests.pgserver import PgServer, PgServerError, find_bin_dir, start_server
    except ModuleNotFoundError:
        from pgserver import PgServer, PgServerError, find_bin_dir, start_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """This process's PostgreSQL server, started on first use, stopped at session end."""
    if os.environ.get("KASSA_SKIP_PG") == "1":
        pytest.skip("KASSA_SKIP_PG=1: PostgreSQL tests skipped")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        where = os.environ.get("KASSA_PG_BIN") or "/usr/lib/postgresql/*/bin"
        pytest.fail(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found in {where}: run "
            "`make test`, which installs them, or set KASSA_SKIP_PG=1 to skip these tests",
            pytrace=False,
        )
    try:
        server = start_server(bin_dir)
    except PgServerError as exc:
        pytest.fail(f"cannot start the test PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A URL to a new empty PostgreSQL database, dropped after the test."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL of each kind: the test runs once per dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kassa.db'}"  # tmp_path is absolute: four slashes
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (marked anyio) run on asyncio, as Kassa does."""
    return "asyncio"
