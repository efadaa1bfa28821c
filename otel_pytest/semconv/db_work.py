"""The database work in a set of spans: one fold, shared by the plugin (``db.summary.*`` on
each test at its end) and the analyzer (the work inside fixtures, other tools' spans), and
which spans are statements.

Pure: spans come in as ``(name, attributes, duration in ns)``, counts and seconds go out,
keyed by :data:`COUNT_KEYS`, :data:`TIME_KEYS` and ``pool_wait_time`` (written on a test
span after :data:`~otel_pytest.semconv.attributes.DB_SUMMARY_PREFIX`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.semconv.statements import DDL_VERBS, describe

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
        step = attributes.get(attr.DB_TRANSACTION_STEP)
        text = attributes.get(attr.DB_QUERY_TEXT, attributes.get(attr.DB_STATEMENT))
        if step is None and isinstance(text, str) and attr.DB_FINGERPRINT_ID not in attributes:
            step = describe(text).transaction_step
        if step is not None:
            seen = True
            if step == "BEGIN":
                counts["transactions"] += 1
            elif step == "COMMIT":
                counts["commits"] += 1
                times["commit_time"] += duration
            elif attributes.get(attr.DB_TRANSACTION_RESET):
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
            operation = attributes.get(attr.DB_OPERATION_NAME)
            if operation is None:
                operation = describe(text).operation
            if operation in DDL_VERBS:
                counts["ddl"] += 1
                times["ddl_time"] += duration
        elif name == span_names.CONNECT:
            seen = True
            counts["connections"] += 1
            times["connection_time"] += duration
        elif name == span_names.POOL_CHECKOUT:
            seen = True
            counts["checkouts"] += 1
            wait += _seconds(attributes.get(attr.DB_CONNECTION_WAIT_TIME, 0.0))
        elif name in (span_names.ENGINE_CREATE, span_names.ENGINE_DISPOSE):
            seen = True
            counts["engines_created" if name == span_names.ENGINE_CREATE else "engines_disposed"] += 1
            times["engine_time"] += duration
    if not seen:
        return {}
    work: dict[str, float] = dict(counts)
    work.update({key: value * _SECONDS for key, value in times.items()})
    work["pool_wait_time"] = wait
    return work


def statement_of(attributes: Mapping[str, object]) -> tuple[str, str, str] | None:
    """``(fingerprint id, fingerprint, operation)`` of a statement span, else ``None``: the
    spans :func:`fold` counts as queries (a transaction step is none). Its fingerprint is
    the plugin's ``pytest.db.fingerprint(.id)``, or, for another tool's spans, computed
    from the text."""
    fingerprint_id = attributes.get(attr.DB_FINGERPRINT_ID)
    if isinstance(fingerprint_id, str):
        if attr.DB_TRANSACTION_STEP in attributes:
            return None
        return (
            fingerprint_id,
            str(attributes.get(attr.DB_FINGERPRINT, "")),
            str(attributes.get(attr.DB_OPERATION_NAME, "")),
        )
    text = attributes.get(attr.DB_QUERY_TEXT, attributes.get(attr.DB_STATEMENT))
    if not isinstance(text, str) or attr.DB_TRANSACTION_STEP in attributes:
        return None
    facts = describe(text)
    if facts.transaction_step:
        return None
    return facts.fingerprint_id, facts.fingerprint, facts.operation
