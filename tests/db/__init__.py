"""Database instrumentation against a real PostgreSQL: helpers shared by the test modules.

One server serves the whole test session (see ``conftest.py``); each test writes a small
suite, runs it in a subprocess under ``pytest --otel`` with the server's URL in
``DATABASE_URL``, and reads the stored run back as span trees.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.spantree import Node, Run

# A bound value that must never reach the store (see Suite.run).
SECRET_PARAMETER = "hunter2-SECRET"

# The per-test counts of ``db.summary.*``; the times are checked against the spans instead.
SUMMARY_COUNTS = (
    "queries",
    "transactions",
    "commits",
    "rollbacks",
    "savepoints",
    "savepoint_rollbacks",
    "pool_resets",
    "ddl",
    "connections",
    "checkouts",
    "engines_created",
    "engines_disposed",
)
_DDL = frozenset({"CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "GRANT", "REVOKE"})


@dataclass(frozen=True)
class Database:
    """The session's PostgreSQL, in the form each client takes."""

    url: str  # SQLAlchemy + asyncpg: what DATABASE_URL is set to
    sync_url: str  # SQLAlchemy + psycopg 3
    dsn: str  # asyncpg.connect
    password: str  # in all three; must never reach the store


# Written beside every generated suite: the three URLs, derived from DATABASE_URL (a
# unix-socket host stays in ``?host=``).
URLS_MODULE = f"""
import os

from sqlalchemy.engine import make_url

_URL = make_url(os.environ["DATABASE_URL"])
ASYNC_URL = _URL.render_as_string(hide_password=False)
SYNC_URL = _URL.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
DSN = _URL.set(drivername="postgresql").render_as_string(hide_password=False)
SECRET = "{SECRET_PARAMETER}"
"""

# pytest-asyncio with one loop for the session, as a shared async engine needs (and as
# the demo shop runs); warnings are errors, as in this project's own suite.
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
filterwarnings = error
"""


class Suite:
    """A generated test suite run under ``pytest --otel`` against the session's database."""

    def __init__(self, pytester: pytest.Pytester, database: Database) -> None:
        self.pytester = pytester
        self.database = database
        pytester.makefile(".ini", pytest=INI)
        pytester.makepyfile(dburls=URLS_MODULE)

    def run(self, *args: str) -> tuple[pytest.RunResult, Run]:
        result = self.pytester.runpytest_subprocess("--otel", "-p", "no:anyio", *args)
        store = self.pytester.path / ".otel-pytest"
        assert_absent(store, self.database.password, SECRET_PARAMETER)
        return result, Run.from_store(store)


def assert_absent(store: Path, *secrets: str) -> None:
    """No file of the store (spans, metrics, index) holds any of the secrets (raw bytes:
    the store is UTF-8 JSON, and these secrets need no escaping)."""
    files = [path for path in store.rglob("*") if path.is_file()]
    assert files, f"nothing stored in {store}"
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} leaked into {path}"


def summary(test: Node) -> dict[str, object]:
    """The test's ``db.summary.*`` counts, keyed without the prefix."""
    return {key: test.attributes[f"db.summary.{key}"] for key in SUMMARY_COUNTS}


def counts(**nonzero: int) -> dict[str, object]:
    """An expected summary: every count zero except those given."""
    unknown = set(nonzero) - set(SUMMARY_COUNTS)
    assert not unknown, f"not summary counts: {unknown}"
    return {key: nonzero.get(key, 0) for key in SUMMARY_COUNTS}


def assert_summary_times_match_spans(test: Node) -> None:
    """The summary's times are the sums of its spans' durations (summed in nanoseconds)."""
    query = ddl = rollback = connection = engine = 0
    for node in test.walk():
        attributes = node.attributes
        step = attributes.get("pytest.db.transaction.step")
        if step is None and "db.query.text" in attributes:
            query += node.duration_ns
            if attributes.get("db.operation.name") in _DDL:
                ddl += node.duration_ns
        elif step == "ROLLBACK" and not attributes.get("pytest.db.transaction.reset"):
            rollback += node.duration_ns
        elif node.name == "connect":
            connection += node.duration_ns
        elif node.name in ("engine create", "engine dispose"):
            engine += node.duration_ns
    attributes = test.attributes
    assert attributes["db.summary.query_time"] == query * 1e-9
    assert attributes["db.summary.ddl_time"] == ddl * 1e-9
    assert attributes["db.summary.rollback_time"] == rollback * 1e-9
    assert attributes["db.summary.connection_time"] == connection * 1e-9
    assert attributes["db.summary.engine_time"] == engine * 1e-9


def db_nodes(nodes: Iterable[Node]) -> list[Node]:
    """The database spans: those with ``db.*`` or ``pytest.db.*`` attributes (a test's
    ``db.summary.*`` do not make it one)."""
    return [
        node
        for node in nodes
        if any(key.startswith(("db.", "pytest.db.")) and not key.startswith("db.summary.") for key in node.attributes)
    ]


Shape = tuple[str, tuple["Shape", ...]]


def span(name: str, *children: Shape) -> Shape:
    """An expected span and its children, as :meth:`Node.shape` gives them."""
    return (name, children)


def trace(
    nodeid: str, setup: tuple[Shape, ...] = (), call: tuple[Shape, ...] = (), teardown: tuple[Shape, ...] = ()
) -> Shape:
    """An expected test trace: the root span and its three phases."""
    return span(nodeid, span("setup", *setup), span("call", *call), span("teardown", *teardown))


# A checkout that opened a new physical connection, one served from the pool, and the
# return to the pool with and without the pool's rollback-on-return.
NEW_CHECKOUT = span("pool checkout", span("connect"))
# An engine's first connection: the dialect's first-connect checks end with a rollback,
# the pool's own (a reset), not the application's.
FIRST_CHECKOUT = span("pool checkout", span("connect"), span("ROLLBACK"))
CHECKOUT = span("pool checkout")
RESET_CHECKIN = span("pool checkin", span("ROLLBACK"))
CHECKIN = span("pool checkin")


def without_plugin_fixtures(node: Node) -> tuple[str, tuple[object, ...]]:
    """The node's shape without pytest-asyncio's own fixtures (``_session_scoped_runner``
    and the like, whose names change between its versions)."""
    kept = tuple(
        without_plugin_fixtures(child)
        for child in node.children
        if not child.name.startswith(("fixture _", "fixture event_loop_policy"))
    )
    return (node.name, kept)


def assert_each_round_trip_once(test: Node) -> None:
    """Under SQLAlchemy + asyncpg no round trip is recorded by both layers: no SQLAlchemy
    span has an asyncpg-layer child or sibling with its fingerprint, and the only
    asyncpg-layer spans are the adapter's lazily sent BEGINs, each the first child of the
    SQLAlchemy statement that sent it."""
    parents = {child.span_id: node for node in test.walk() for child in node.children}
    for node in test.walk():
        if node.attributes.get("pytest.db.layer") != "sqlalchemy":
            continue
        fingerprint = node.attributes["pytest.db.fingerprint"]
        relatives = [*node.children, *parents[node.span_id].children]
        doubles = [
            relative.name
            for relative in relatives
            if relative.attributes.get("pytest.db.layer") == "asyncpg"
            and relative.attributes["pytest.db.fingerprint"] == fingerprint
        ]
        assert doubles == [], f"{node.name} recorded twice in {test.name}"
    for node in test.walk():
        if node.attributes.get("pytest.db.layer") == "asyncpg":
            parent = parents[node.span_id]
            assert node.name == "BEGIN", f"{node.name} from asyncpg under SQLAlchemy in {test.name}"
            assert node.attributes["db.query.text"] == "BEGIN;"
            assert parent.attributes["pytest.db.layer"] == "sqlalchemy"
            assert parent.children[0] is node


def shop_suite(fixtures: str, store: Path, *options: str) -> list[str]:
    """The command that runs the demo shop's tests with ``examples.shop.fixtures_<fixtures>``
    under ``pytest --otel``, storing the run in ``store``; from the repository root."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "--otel",
        *options,
        f"--otel-store={store}",
        "-p",
        f"examples.shop.fixtures_{fixtures}",
        "-c",
        "examples/shop/pytest.ini",
        "-p",
        "no:cacheprovider",
        "-q",
        "examples/shop/tests",
    ]
