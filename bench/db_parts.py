"""Where the CPU of a database query goes in ``pytest --otel``: the database hot path, part by part.

``bench/db.py`` measures whole pytest processes against PostgreSQL, where a few tens of µs
per query are within the noise of a shared machine. This measures the parts in one process,
each many times, as the best of several repeats (the least disturbed), in CPU µs per call:

* the parts on their own: a bare span record (``Recorder.start_span`` + ``end_span``), the
  statement's shared attributes when cached and the statement facts on first sight (the
  fingerprint, summary and sanitised text: once per distinct text), a query span through
  ``DbSpans`` (no metrics), the duration histogram, a transaction step span, the database
  summary at the test's end (per database span), the span's OTLP JSON encoding for the
  store (a query's, a transaction step's) and the test's own records found at its end;
* the whole: SQLAlchemy on an in-memory SQLite (stdlib, no server), tests of ten
  ``exec_driver_sql`` queries each, with the plugin's recorder, store encoding and database
  instrumentation, against the same tests with the recorder and encoding but no database
  instrumentation. Their difference per query is what ``--otel-db`` adds to a query, the
  wrappers' frames included; the driver and SQLAlchemy's own work cancel out.

Run from the repository root (prints Markdown and replaces this benchmark's section of
``docs/benchmarks.md``; ``--no-docs`` to skip)::

    .venv/bin/python -m bench.db_parts
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import command_line, machine_facts, package_version, positive, publish, section_head
from otel_pytest.db import DbInstrumentation
from otel_pytest.db.metrics import DbMetrics
from otel_pytest.db.spans import DbSpans, EngineInfo, summary_attributes
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.recorder import Recorder, TestInfo, _subtree
from otel_pytest.records import SpanRecord
from otel_pytest.semconv.statements import describe, sanitize

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
QUERIES_PER_TEST = 10
STATEMENTS = (
    "INSERT INTO bench_item (name, qty) VALUES ($1::VARCHAR, $2::INTEGER) RETURNING bench_item.id",
    "UPDATE bench_item SET qty=$1::INTEGER WHERE bench_item.id = $2::INTEGER",
    "SELECT bench_item.id, bench_item.name, bench_item.qty FROM bench_item WHERE bench_item.id = $1::INTEGER",
)
SQLITE_STATEMENT = "SELECT 1"
# A test's steps in bench/db.py: the transaction, its savepoint, both rolled back.
STEPS = ("BEGIN", "SAVEPOINT", "ROLLBACK TO SAVEPOINT", "ROLLBACK")


class EncodingSink:
    """The store's work without the file: every record encoded as the store writer does."""

    def __init__(self) -> None:
        self.encoder = OtlpJsonEncoder(ExportShape({"service.name": "bench"}, "0" * 16, package_version("otel-pytest")))
        self.encoded = 0

    def add(self, records: list[SpanRecord]) -> None:
        self.encoded += len(self.encoder.line(records))


def new_recorder() -> Recorder:
    return Recorder(EncodingSink(), trace_per_test=True, session_parent=None, session_attributes={})


def test_info(number: int) -> TestInfo:
    return TestInfo(f"test_db.py::test_{number}", "test_db.py", "test_db", "test_db.py", 1, f"test_{number}")


def best_us(run: Callable[[int], None], calls: int, repeats: int) -> float:
    """CPU µs per call of ``run`` (given the call's number), the best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        for number in range(calls):
            run(number)
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


@dataclass(frozen=True)
class Part:
    name: str
    us: float
    note: str


def isolated_parts(calls: int, repeats: int) -> list[Part]:
    """Each part of a query's recording on its own, inside one open test."""
    recorder = new_recorder()
    spans = DbSpans(recorder)
    metrics = DbMetrics({}, "0")
    info = EngineInfo("postgresql", "asyncpg", "bench", "/tmp/pg", 5432)
    recorder.test_start(test_info(0))
    recorder.phase_start("call")

    def keep_test_small() -> None:
        del recorder._test_records[:]  # a test of millions of records is no test's shape

    def span_record(number: int) -> None:
        recorder.end_span(recorder.start_span("span", info.base))

    def cached_attributes(number: int) -> None:
        info.statement_attributes(STATEMENTS[number % 3], "sqlalchemy")

    first_sight = describe.__wrapped__

    def statement_facts(number: int) -> None:
        text = f"{STATEMENTS[number % 3]} AND bench_item.qty > {number}"
        first_sight(text)
        sanitize(text)

    def query_span(number: int) -> None:
        spans.end_query(spans.start_query(STATEMENTS[number % 3], info, "sqlalchemy"))

    record = spans.start_query(STATEMENTS[0], info, "sqlalchemy")
    assert record is not None, "the recorder failed"
    spans.end_query(record)

    def histogram(number: int) -> None:
        metrics.operation(record, None)

    connection = type("Connection", (), {"dbapi_connection": object()})()

    def step_span(number: int) -> None:
        # A test's steps in turn: its depths stay those of a real test (one SAVEPOINT after
        # another would nest them thousands deep).
        spans.timed_step(STEPS[number % len(STEPS)], info, lambda dialect, connection: None, None, connection)

    measured = [
        Part("span record (`Recorder.start_span` + `end_span`)", best_us(span_record, calls, repeats), "every span"),
        Part("statement attributes, cached", best_us(cached_attributes, calls, repeats), "every query"),
        Part(
            "statement facts on first sight (fingerprint, summary, sanitised text)",
            best_us(statement_facts, calls // 10, repeats),
            "once per distinct statement text (cached)",
        ),
        Part("query span (`DbSpans.start_query` + `end_query`, span record included)", 0.0, "every query"),
        Part("duration histogram (`DbMetrics.operation`)", best_us(histogram, calls, repeats), "every query"),
        Part("transaction step span (`DbSpans.timed_step`)", best_us(step_span, calls, repeats), "every step"),
    ]
    keep_test_small()
    measured[3] = Part(measured[3].name, best_us(query_span, calls, repeats), measured[3].note)
    keep_test_small()
    for step in STEPS:
        spans.timed_step(step, info, lambda dialect, connection: None, None, connection)
    step_records = list(recorder._test_records)
    keep_test_small()
    for number in range(QUERIES_PER_TEST):
        query_span(number)
    test_records = list(recorder._test_records)

    def summary(number: int) -> None:
        summary_attributes(test_records)

    encoder = EncodingSink().encoder

    def encoding(number: int) -> None:
        encoder.line(test_records)

    def step_encoding(number: int) -> None:
        encoder.line(step_records)

    root, phase = recorder.test_span, recorder.current
    assert root is not None
    own_records = [*test_records, *step_records, phase, root]  # the order they end in

    def own(number: int) -> None:
        _subtree(root, own_records)

    per_span = len(test_records)
    measured += [
        Part(
            "database summary at the test's end (`db.summary.*`), per database span",
            best_us(summary, calls // per_span, repeats) / per_span,
            "every database span",
        ),
        Part(
            "OTLP JSON encoding for the store, per query span",
            best_us(encoding, calls // per_span, repeats) / per_span,
            "every span (also without `--otel-db`)",
        ),
        Part(
            "OTLP JSON encoding for the store, per transaction step span",
            best_us(step_encoding, calls // len(STEPS), repeats) / len(STEPS),
            "every step",
        ),
        Part(
            "the test's own records at its end (`_subtree`), per record",
            best_us(own, calls // len(own_records), repeats) / len(own_records),
            "every span of a test",
        ),
    ]
    return measured


def sqlite_tests(tests: int, repeats: int, instrumented: bool) -> float:
    """CPU µs per query of tests of ten SQLite queries through SQLAlchemy, recorded."""
    import sqlalchemy

    recorder = new_recorder()
    db = DbInstrumentation(recorder, lambda: DbMetrics({}, "0")) if instrumented else None
    if db is not None:
        db.refresh()
    try:
        engine = sqlalchemy.create_engine("sqlite://")
        with engine.connect() as connection:

            def one_test(number: int) -> None:
                recorder.test_start(test_info(number))
                recorder.phase_start("call")
                for _ in range(QUERIES_PER_TEST):
                    connection.exec_driver_sql(SQLITE_STATEMENT)
                recorder.phase_end()
                recorder.test_end("test_db.py")

            result = best_us(one_test, tests, repeats) / QUERIES_PER_TEST
        engine.dispose()
    finally:
        if db is not None:
            db.close()
    return result


def render(parts: Sequence[Part], bare: float, traced: float, command: str, facts: dict[str, str]) -> str:
    lines = section_head("Database hot path, part by part (bench/db_parts.py)", command, facts)
    lines += [
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| part | CPU µs per call (best of repeats) | paid |",
        "|---|---:|---|",
        *(f"| {part.name} | {part.us:.2f} | {part.note} |" for part in parts),
        "",
        "| SQLAlchemy on in-memory SQLite, tests of 10 queries, recorder and store encoding on | CPU µs per query |",
        "|---|---:|",
        f"| without database instrumentation | {bare:.2f} |",
        f"| with database instrumentation (`--otel-db`) | {traced:.2f} |",
        f"| **what the database instrumentation adds to a query** | **+{traced - bare:.2f}** |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Where the CPU of a database query goes in pytest --otel, part by part, in process.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--calls", type=positive, default=20_000, help="calls per part and repeat")
    parser.add_argument("--tests", type=positive, default=2_000, help="SQLite tests per repeat (10 queries each)")
    parser.add_argument("--repeats", type=positive, default=7, help="repeats; the best counts")
    parser.add_argument("--docs", type=Path, default=DOCS, help="Markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    args = parser.parse_args(argv)
    arguments = list(sys.argv[1:] if argv is None else argv)
    facts = machine_facts(packages=("sqlalchemy",))
    parts = isolated_parts(args.calls, args.repeats)
    bare = sqlite_tests(args.tests, args.repeats, instrumented=False)
    traced = sqlite_tests(args.tests, args.repeats, instrumented=True)
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    publish(
        "db_parts",
        render(parts, bare, traced, command_line("db_parts", arguments), facts),
        None if args.no_docs else args.docs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
