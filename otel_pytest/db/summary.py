"""The database work in a set of spans: one fold, shared by the plugin (``db.summary.*`` on
each test at its end) and the analyzer (the work inside fixtures, other tools' spans).

Pure: spans come in as ``(name, attributes, duration in ns)``, counts and seconds go out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from otel_pytest.db.statements import DDL_VERBS, describe

COUNT_KEYS = (
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
TIME_KEYS = ("query_time", "commit_time", "rollback_time", "ddl_time", "connection_time", "engine_time")
PREFIX = "db.summary."
_SECONDS = 1e-9

DbSpan = tuple[str, Mapping[str, object], int]


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def fold(spans: Iterable[DbSpan]) -> dict[str, float]:
    """Counts and times (seconds) of the database work in ``spans``; ``{}`` when there is none.

    A transaction step counts as a step, never as a query; a ROLLBACK TO SAVEPOINT ends no
    transaction and is counted apart from ROLLBACK; the pool's rollback-on-return is a
    reset, not the application's rollback. A statement from another tool (no fingerprint
    of ours) has its step read from its text.
    """
    counts = dict.fromkeys(COUNT_KEYS, 0)
    times = dict.fromkeys(TIME_KEYS, 0)
    wait = 0.0
    seen = False
    for name, attributes, duration in spans:
        step = attributes.get("pytest.db.transaction.step")
        text = attributes.get("db.query.text", attributes.get("db.statement"))
        if step is None and isinstance(text, str) and "pytest.db.fingerprint.id" not in attributes:
            step = describe(text).transaction_step
        if step is not None:
            seen = True
            if step == "BEGIN":
                counts["transactions"] += 1
            elif step == "COMMIT":
                counts["commits"] += 1
                times["commit_time"] += duration
            elif attributes.get("pytest.db.transaction.reset"):
                counts["pool_resets"] += 1
            elif step == "ROLLBACK":
                counts["rollbacks"] += 1
                times["rollback_time"] += duration
            elif step == "ROLLBACK TO SAVEPOINT":
                counts["savepoint_rollbacks"] += 1
            elif step == "SAVEPOINT":
                counts["savepoints"] += 1
        elif isinstance(text, str):
            seen = True
            counts["queries"] += 1
            times["query_time"] += duration
            operation = attributes.get("db.operation.name")
            if operation is None:
                operation = describe(text).operation
            if operation in DDL_VERBS:
                counts["ddl"] += 1
                times["ddl_time"] += duration
        elif name == "connect":
            seen = True
            counts["connections"] += 1
            times["connection_time"] += duration
        elif name == "pool checkout":
            seen = True
            counts["checkouts"] += 1
            wait += _seconds(attributes.get("pytest.db.connection.wait_time", 0.0))
        elif name in ("engine create", "engine dispose"):
            seen = True
            counts["engines_created" if name == "engine create" else "engines_disposed"] += 1
            times["engine_time"] += duration
    if not seen:
        return {}
    work: dict[str, float] = dict(counts)
    work.update({key: value * _SECONDS for key, value in times.items()})
    work["pool_wait_time"] = wait
    return work
