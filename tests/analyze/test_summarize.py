"""Summarising one run: a real traced pytest run, and hand-made spans for the shapes a real
run cannot produce on demand (N+1 variants, another tool's spans, damaged runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import orjson
import pytest

from otel_pytest.analyze.model import FixtureStats, Repetition, StatementStats
from otel_pytest.analyze.sources import summarize_file
from otel_pytest.analyze.summarize import RunMetadata, db_work, summarize
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import AttributeValue, SpanRecord
from otel_pytest.semconv.statements import describe
from otel_pytest.store.reader import Span, read_spans
from tests.spantree import Node, Run

NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")
NS = 1e-9

# Real database work without a server: SQLAlchemy on in-memory SQLite (one connection per
# thread, so the table outlives a connection). ``filled`` sets ``engine`` up from inside its
# own body, so engine's spans nest under filled's: filled's database work must not
# include the engine's.
SUITE = """
import pytest
import sqlalchemy as sa


@pytest.fixture(scope="session")
def shared():
    yield "shared"


@pytest.fixture
def engine():
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
    yield engine
    engine.dispose()


@pytest.fixture
def filled(request):
    engine = request.getfixturevalue("engine")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO items (name) VALUES ('a')"))
    return engine


def test_n_plus_one(filled, shared):
    with filled.begin() as connection:
        connection.execute(sa.text("SELECT id FROM items"))
        for number in range(6):
            connection.execute(sa.text("SELECT name FROM items WHERE id = :id"), {"id": number})


def test_plain(shared):
    assert shared == "shared"


def test_fails():
    assert False


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False
"""


def run_suite(pytester: pytest.Pytester, source: str = SUITE, name: str = "test_suite") -> Path:
    """Run ``source`` traced in a fresh process; the run file it wrote."""
    pytester.makepyfile(**{name: source})
    pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    files = sorted((pytester.path / ".otel-pytest" / "runs").glob("*.otlp.jsonl.zst"))
    assert len(files) >= 1, "the traced run wrote no run file"
    return files[-1]


def seconds(node: Node) -> float:
    return node.duration_ns * NS


def fingerprint_ids(node: Node) -> set[str]:
    """Statements under ``node`` (queries, not transaction steps), by the reference reader."""
    return {
        str(n.attributes["pytest.db.fingerprint.id"])
        for n in node.walk()
        if n is not node and "db.query.text" in n.attributes and "pytest.db.transaction.step" not in n.attributes
    }


def test_a_real_run_is_summarised_exactly_as_its_spans_say(pytester: pytest.Pytester) -> None:
    path = run_suite(pytester)
    (summary,), problems = summarize_file(path)
    reference = Run(list(read_spans(path)))
    assert problems == []
    assert summary.problems == ()

    session = reference.session
    run_id = str(session.attributes["pytest.run.id"])
    resource = session.resource
    assert (summary.run_id, summary.source, summary.grouped_by_file) == (run_id, str(path), False)
    assert summary.environment == resource["pytest.env.fingerprint"]
    assert summary.service == resource["service.name"]
    assert summary.start_time == session.start_ns * NS
    assert summary.wall_time == seconds(session)

    prefix = "test_suite.py::"
    assert list(summary.tests) == [
        prefix + name for name in ("test_n_plus_one", "test_plain", "test_fails", "test_skipped", "test_xfails")
    ]
    assert {key: sample.outcome for key, sample in summary.tests.items()} == {
        prefix + "test_n_plus_one": "passed",
        prefix + "test_plain": "passed",
        prefix + "test_fails": "failed",
        prefix + "test_skipped": "skipped",
        prefix + "test_xfails": "xfailed",
    }
    for key, sample in summary.tests.items():
        root = reference.root(key)
        assert (sample.test_id, sample.nodeid, sample.file) == (key, key, "test_suite.py")
        assert sample.line == root.attributes["code.line.number"]
        assert sample.duration == seconds(root)
        phases = {child.name: seconds(child) for child in root.children}
        assert (sample.setup, sample.call, sample.teardown) == (
            phases.get("setup", 0.0),
            phases.get("call", 0.0),
            phases.get("teardown", 0.0),
        )
        assert sample.shared_fixture_time == root.attributes.get("pytest.shared_fixtures.duration", 0.0)
        assert sample.db == {
            name.removeprefix("db.summary."): value
            for name, value in root.attributes.items()
            if name.startswith("db.summary.")
        }
        assert sample.statements == fingerprint_ids(root)

    n_plus_one = summary.tests[prefix + "test_n_plus_one"]
    by_name = describe("SELECT name FROM items WHERE id = ?").fingerprint_id
    loop = [
        node
        for node in reference.root(prefix + "test_n_plus_one").child("call").children
        if node.attributes.get("pytest.db.fingerprint.id") == by_name
    ]
    assert len(loop) == 6
    assert n_plus_one.repetitions == (Repetition(by_name, "call", 6, sum(n.duration_ns for n in loop) * NS),)
    assert n_plus_one.db["queries"] == 1 + 1 + 1 + 6  # CREATE, INSERT, the source SELECT, the loop
    assert n_plus_one.db["ddl"] == 1
    assert n_plus_one.db["engines_created"] == 1
    assert summary.tests[prefix + "test_plain"].db == {}
    assert summary.tests[prefix + "test_plain"].statements == frozenset()

    # Fixtures: counts and times from their spans; database work down to, not into, nested fixtures.
    assert {key.rsplit(":", 1)[1] for key in summary.fixtures} == {"shared", "engine", "filled"}
    engine_key = next(key for key in summary.fixtures if key.endswith(":engine"))
    filled_key = next(key for key in summary.fixtures if key.endswith(":filled"))
    engine, filled = summary.fixtures[engine_key], summary.fixtures[filled_key]
    (engine_setup,) = reference.named("fixture engine")
    (engine_teardown,) = reference.named("fixture engine teardown")
    (filled_setup,) = reference.named("fixture filled")
    assert engine_setup.parent_id == filled_setup.span_id  # set up from inside filled
    assert engine_key == f"test_suite.py:{engine_setup.attributes['code.line.number']}:engine"
    assert (engine.name, engine.scope, engine.setups, engine.teardowns) == ("engine", "function", 1, 1)
    assert engine.setup_time == seconds(engine_setup)
    assert engine.teardown_time == seconds(engine_teardown)
    create = next(n for n in engine_setup.walk() if n.attributes.get("db.operation.name") == "CREATE")
    connects = [n for n in engine_setup.walk() if n.name == "connect"]
    engine_spans = [n for n in (*engine_setup.walk(), *engine_teardown.walk()) if n.name.startswith("engine ")]
    assert engine.db["ddl"] == 1
    assert engine.db["ddl_time"] == create.duration_ns * NS
    assert engine.db["queries"] == 1
    assert (engine.db["engines_created"], engine.db["engines_disposed"]) == (1, 1)
    assert engine.db["engine_time"] == sum(n.duration_ns for n in engine_spans) * NS
    assert engine.db["connections"] == len(connects) == 1
    assert engine.db["connection_time"] == connects[0].duration_ns * NS
    assert (engine.db["transactions"], engine.db["commits"]) == (1, 1)
    (commit,) = [n for n in engine_setup.walk() if n.attributes.get("pytest.db.transaction.step") == "COMMIT"]
    assert engine.db["commit_time"] == commit.duration_ns * NS
    insert = next(n for n in filled_setup.walk() if n.attributes.get("db.operation.name") == "INSERT")
    assert filled.db["queries"] == 1
    assert filled.db["query_time"] == insert.duration_ns * NS
    assert (filled.db["ddl"], filled.db["engines_created"], filled.db["connections"]) == (0, 0, 0)
    assert (filled.db["transactions"], filled.db["commits"]) == (1, 1)
    shared = next(stats for key, stats in summary.fixtures.items() if key.endswith(":shared"))
    (shared_setup,) = reference.named("fixture shared")
    (shared_teardown,) = reference.named("fixture shared teardown")
    line = shared_setup.attributes["code.line.number"]
    assert isinstance(line, int)
    assert shared == FixtureStats(
        "shared", "session", "test_suite.py", line, 1, seconds(shared_setup), 1, seconds(shared_teardown), {}, ()
    )
    # What each requests (pytest's argnames, "request" included), its own statements, and
    # the setups that ran DDL; and which fixtures each test set up itself.
    assert (engine.argnames, filled.argnames) == ((), ("request",))
    assert engine.statements == {create.attributes["pytest.db.fingerprint.id"]: 1}
    assert filled.statements == {insert.attributes["pytest.db.fingerprint.id"]: 1}
    assert (engine.ddl_setups, filled.ddl_setups, shared.ddl_setups) == (1, 0, 0)
    assert n_plus_one.fixtures == {engine_key, filled_key}  # not the session-scoped one
    assert summary.tests[prefix + "test_plain"].fixtures == frozenset()

    # Statements: every execution in the run, and how many tests ran each.
    queries = [
        n
        for root in reference.roots
        for n in root.walk()
        if "db.query.text" in n.attributes and "pytest.db.transaction.step" not in n.attributes
    ]
    assert set(summary.statements) == {str(n.attributes["pytest.db.fingerprint.id"]) for n in queries}
    select = summary.statements[by_name]
    assert select == StatementStats(
        by_name, "SELECT name FROM items WHERE id = ?", "SELECT", 6, sum(n.duration_ns for n in loop) * NS, 1
    )
    assert sum(stats.count for stats in summary.statements.values()) == len(queries) == 9


def span(
    span_id: str,
    name: str,
    parent: str = "",
    start: int = 0,
    end: int | None = None,
    trace: str = "t1",
    attributes: Mapping[str, object] | None = None,
) -> Span:
    return Span(trace, span_id, parent, name, start, start + 10 if end is None else end, dict(attributes or {}))


def query(span_id: str, parent: str, start: int, fingerprint_id: str, duration: int = 10, **extra: object) -> Span:
    text = f"SELECT {fingerprint_id}"
    return span(
        span_id,
        text,
        parent,
        start,
        start + duration,
        attributes={
            "db.query.text": text,
            "pytest.db.fingerprint": text,
            "pytest.db.fingerprint.id": fingerprint_id,
            "db.operation.name": "SELECT",
            **extra,
        },
    )


def step(span_id: str, parent: str, start: int, name: str = "BEGIN", trace: str = "t1") -> Span:
    return span(
        span_id,
        name,
        parent,
        start,
        trace=trace,
        attributes={
            "db.query.text": name,
            "pytest.db.transaction.step": name,
            "pytest.db.fingerprint.id": name.lower(),
        },
    )


def a_test(
    *children: Span, span_id: str = "root", name: str = "t.py::test_x", attributes: Mapping[str, object] | None = None
) -> list[Span]:
    root = span(span_id, name, "", 0, 10_000, attributes={"test.case.name": name, **(attributes or {})})
    return [root, span("call", "call", span_id, 1, 9_000), *children]


def meta() -> RunMetadata:
    return RunMetadata("r1", "hand-made", {"pytest.env.fingerprint": "env1"})


def repetitions(*children: Span) -> tuple[Repetition, ...]:
    summary = summarize(a_test(*children), meta())
    return summary.tests["t.py::test_x"].repetitions


RERUN_SUITE = """
import pytest

ATTEMPTS = []


@pytest.fixture
def counted():
    ATTEMPTS.append(1)
    yield len(ATTEMPTS)


def test_passes_on_its_third_attempt(counted):
    assert counted == 3
"""


def test_a_rerun_tests_phases_are_the_sum_of_its_attempts_and_its_outcome_the_last(pytester: pytest.Pytester) -> None:
    """pytest-rerunfailures puts each attempt's phases under an ``attempt N`` span: every
    attempt's setup, call and teardown is time the run paid for the test."""
    pytester.makepyfile(test_rerun=RERUN_SUITE)
    result = pytester.runpytest_subprocess("--otel", "--reruns", "2", *NO_ASYNC)
    assert result.parseoutcomes() == {"passed": 1, "rerun": 2}
    (path,) = (pytester.path / ".otel-pytest" / "runs").glob("*.otlp.jsonl.zst")
    (summary,), problems = summarize_file(path)
    assert problems == []
    (sample,) = summary.tests.values()
    root = Run(list(read_spans(path))).root("test_rerun.py::test_passes_on_its_third_attempt")
    attempts = [child for child in root.children if child.name.startswith("attempt ")]
    assert [attempt.name for attempt in attempts] == ["attempt 1", "attempt 2", "attempt 3"]
    for phase, measured in (("setup", sample.setup), ("call", sample.call), ("teardown", sample.teardown)):
        assert measured == sum(attempt.child(phase).duration_ns for attempt in attempts) * NS
        assert measured > 0
    assert sample.outcome == "passed"


def test_a_repeated_statement_after_a_different_one_is_a_repetition_with_its_count_and_time() -> None:
    found = repetitions(
        query("a", "call", 10, "A"),
        *(query(f"b{i}", "call", 20 + i, "B", duration=5 + i) for i in range(6)),
        query("c", "call", 40, "C"),
        *(query(f"d{i}", "call", 50 + i, "B") for i in range(3)),
    )
    assert found == (Repetition("B", "call", 6, sum(5 + i for i in range(6)) * NS),)


def test_statements_are_ordered_by_start_time_not_by_their_place_in_the_file() -> None:
    found = repetitions(*(query(f"b{i}", "call", 20 + i, "B") for i in range(5)), query("a", "call", 10, "A"))
    assert found == (Repetition("B", "call", 5, 50 * NS),)


def test_a_leading_run_without_a_source_statement_is_not_a_repetition() -> None:
    assert repetitions(*(query(f"b{i}", "call", 20 + i, "B") for i in range(6)), query("c", "call", 40, "C")) == ()


def test_transaction_steps_neither_break_a_run_nor_act_as_its_source() -> None:
    found = repetitions(
        step("begin", "call", 5),
        query("a", "call", 10, "A"),
        query("b1", "call", 20, "B"),
        step("sp", "call", 21, "SAVEPOINT"),
        query("b2", "call", 22, "B"),
        query("b3", "call", 23, "B"),
    )
    assert found == (Repetition("B", "call", 3, 30 * NS),)
    assert repetitions(step("begin", "call", 5), *(query(f"b{i}", "call", 20 + i, "B") for i in range(3))) == ()


def test_each_parent_is_its_own_sequence_and_the_longest_run_per_statement_is_kept() -> None:
    fixture = span("fx", "fixture client", "call", 100, 200, attributes={"pytest.fixture.name": "client"})
    found = repetitions(
        query("a", "call", 10, "A"),
        query("b1", "call", 20, "B"),
        query("b2", "call", 21, "B"),
        fixture,
        query("x", "fx", 110, "A"),
        *(query(f"f{i}", "fx", 120 + i, "B") for i in range(4)),
        query("y", "fx", 130, "C"),
        query("z1", "fx", 131, "A"),
        query("z2", "fx", 132, "A"),
    )
    assert found == (Repetition("B", "fixture client", 4, 40 * NS), Repetition("A", "fixture client", 2, 20 * NS))


def test_a_single_execution_is_no_repetition() -> None:
    assert repetitions(query("a", "call", 10, "A"), query("b", "call", 20, "B"), query("c", "call", 30, "A")) == ()


def fixture(name: str, line: int) -> dict[str, object]:
    return {
        "pytest.fixture.name": name,
        "pytest.fixture.scope": "session",
        "code.file.path": "conftest.py",
        "code.line.number": line,
    }


def test_fixture_database_work_stops_at_nested_fixtures_and_counts_teardowns() -> None:
    spans = [
        span("s", "pytest session", "", 0, 1_000_000, trace="session"),
        span("outer", "fixture outer", "s", 10, 1_000, trace="session", attributes=fixture("outer", 3)),
        span("connect", "connect", "outer", 20, 70, trace="session"),
        span("inner", "fixture inner", "outer", 100, 900, trace="session", attributes=fixture("inner", 9)),
        span(
            "ddl",
            "CREATE items",
            "inner",
            200,
            500,
            trace="session",
            attributes={
                "db.query.text": "CREATE TABLE items (id int)",
                "db.operation.name": "CREATE",
                "pytest.db.fingerprint.id": "ddl1",
                "pytest.db.fingerprint": "CREATE TABLE items (id int)",
            },
        ),
        span("down", "fixture outer teardown", "s", 2_000, 2_600, trace="session", attributes=fixture("outer", 3)),
        step("commit", "down", 2_100, "COMMIT", trace="session"),
        span("dispose", "engine dispose", "down", 2_200, 2_300, trace="session"),
        *a_test(),
    ]
    summary = summarize(spans, meta())
    outer = summary.fixtures["conftest.py:3:outer"]
    inner = summary.fixtures["conftest.py:9:inner"]
    assert (outer.setups, outer.setup_time, outer.teardowns, outer.teardown_time) == (1, 990 * NS, 1, 600 * NS)
    assert outer.db["connections"] == 1
    assert outer.db["connection_time"] == 50 * NS
    assert (outer.db["commits"], outer.db["engines_disposed"], outer.db["engine_time"]) == (1, 1, 100 * NS)
    assert (outer.db["ddl"], outer.db["queries"]) == (0, 0)
    assert (inner.db["ddl"], inner.db["ddl_time"], inner.db["queries"]) == (1, 300 * NS, 1)
    assert summary.statements["ddl1"].tests == 0  # run by a session fixture, in no test
    assert summary.tests["t.py::test_x"].statements == frozenset()


def test_a_summary_does_not_depend_on_the_order_its_spans_and_attributes_come_in() -> None:
    """Jaeger answers a run's spans, and a span's attributes, in another order than its file:
    the summary, down to the last bit of a float sum and the order of every mapping, is the same."""
    waits = [{"pytest.db.connection.wait_time": wait} for wait in (0.1, 0.2, 0.3)]
    spans = [
        span("s", "pytest session", "", 0, 1_000_000, trace="session"),
        *(
            span(f"f{n}", "fixture schema", "s", 10 + n, 500, trace="session", attributes=fixture("schema", 3))
            for n in range(3)
        ),
        *(span(f"c{n}", "pool checkout", f"f{n}", 20, 30, trace="session", attributes=waits[n]) for n in range(3)),
        *a_test(attributes={"db.summary.queries": 2, "db.summary.query_time": 0.5, "db.summary.commits": 1}),
    ]
    shuffled = [
        Span(s.trace_id, s.span_id, s.parent_id, s.name, s.start, s.end, dict(reversed(s.attributes.items())))
        for s in reversed(spans)
    ]
    first, second = summarize(spans, meta()), summarize(shuffled, meta())
    assert first == second
    assert orjson.dumps(first, default=list) == orjson.dumps(second, default=list)
    assert first.fixtures["conftest.py:3:schema"].db["pool_wait_time"] == (0.1 + 0.2) + 0.3


def test_another_tools_statements_are_fingerprinted_from_their_text_and_folded_into_a_db_summary() -> None:
    spans = a_test(
        span("begin", "BEGIN", "call", 5, 6, attributes={"db.statement": "BEGIN"}),
        span("q1", "SELECT", "call", 10, 20, attributes={"db.statement": "SELECT * FROM items WHERE id = 1"}),
        *(
            span(
                f"q{i}",
                "SELECT",
                "call",
                20 + i * 10,
                25 + i * 10,
                attributes={"db.query.text": f"SELECT * FROM lines WHERE id = {i}"},
            )
            for i in range(2, 7)
        ),
        span("c", "COMMIT", "call", 100, 101, attributes={"db.statement": "COMMIT"}),
        span("x", "CREATE", "call", 200, 260, attributes={"db.statement": "CREATE TABLE t (id int)"}),
    )
    summary = summarize(spans, meta())
    sample = summary.tests["t.py::test_x"]
    items = describe("SELECT * FROM items WHERE id = ?").fingerprint_id
    lines = describe("SELECT * FROM lines WHERE id = ?").fingerprint_id
    create = describe("CREATE TABLE t (id int)").fingerprint_id
    assert sample.statements == {items, lines, create}
    assert sample.repetitions == (Repetition(lines, "call", 5, 25 * NS),)
    assert sample.db == {
        "queries": 7,
        "transactions": 1,
        "commits": 1,
        "rollbacks": 0,
        "savepoints": 0,
        "savepoint_rollbacks": 0,
        "pool_resets": 0,
        "ddl": 1,
        "connections": 0,
        "checkouts": 0,
        "engines_created": 0,
        "engines_disposed": 0,
        "query_time": (10 + 5 * 5 + 60) * NS,
        "commit_time": 1 * NS,
        "rollback_time": 0.0,
        "ddl_time": 60 * NS,
        "connection_time": 0.0,
        "engine_time": 0.0,
        "pool_wait_time": 0.0,
    }
    assert summary.statements[lines] == StatementStats(
        lines, "SELECT * FROM lines WHERE id = ?", "SELECT", 5, 25 * NS, 1
    )
    assert sample.outcome == "passed"


def test_outcome_falls_back_to_the_semantic_result_status_then_to_the_span_status() -> None:
    spans = [
        *a_test(span_id="a", name="t.py::a", attributes={"test.case.result.status": "fail"}),
        *a_test(span_id="b", name="t.py::b"),
    ]
    spans[2].status = 2
    for index, item in enumerate(spans):
        item.trace_id = f"t{index // 2}"
    summary = summarize(spans, meta())
    assert summary.tests["t.py::a"].outcome == "failed"
    assert summary.tests["t.py::b"].outcome == "failed"
    assert db_work([]) == {}


def test_memory_addresses_are_stripped_from_a_node_id_without_a_stable_id() -> None:
    summary = summarize(a_test(name="t.py::test_x[<object at 0x7f3a2b>]"), meta())
    assert list(summary.tests) == ["t.py::test_x[<object>]"]
    assert summary.tests["t.py::test_x[<object>]"].nodeid == "t.py::test_x[<object at 0x7f3a2b>]"


def test_a_test_that_ran_twice_keeps_its_last_execution_and_says_so() -> None:
    first = a_test(span_id="a", attributes={"pytest.outcome": "failed"})
    second = a_test(span_id="b", attributes={"pytest.outcome": "passed"})
    for item in second:
        item.trace_id, item.start, item.end = "t2", item.start + 50_000, item.end + 50_000
    summary = summarize([*second, *first, span("s", "pytest session", "", 0, 100_000, trace="s")], meta())
    assert summary.tests["t.py::test_x"].outcome == "passed"
    assert summary.problems == (
        "1 test(s) ran more than once in this run (e.g. t.py::test_x): the last execution of each is kept",
    )


def test_a_run_without_a_session_span_or_tests_says_so_instead_of_guessing() -> None:
    summary = summarize([span("x", "GET /items", "", 100, 400)], meta())
    assert summary.tests == {}
    assert summary.wall_time == 300 * NS
    assert summary.start_time == 100 * NS
    assert summary.problems == (
        "no 'pytest session' span: the run did not finish or its file is incomplete; the wall time is that of "
        "the spans found",
        "no test spans (spans with test.case.name) in this run: nothing to analyze",
    )


def test_spans_linked_in_a_circle_do_not_hang_the_summary() -> None:
    spans = [
        *a_test(),
        span("x", "x", "y", 10, 20),
        span("y", "y", "x", 20, 30),
        span("z", "z", "call", 30, 40),
        span("loop", "loop", "loop", 40, 50, attributes={"pytest.fixture.name": "loop"}),
    ]
    spans[3].parent_id = "z"
    spans[0].parent_id = "root"  # a root that names itself as its parent
    summary = summarize(spans, meta())
    assert list(summary.tests) == ["t.py::test_x"]
    assert summary.fixtures[":0:loop"].setups == 1


def test_repeated_span_ids_and_circles_of_parents_are_named_and_followed_once() -> None:
    spans = [
        *a_test(query("q", "call", 10, "A")),
        query("q", "call", 10, "A"),  # the same span again, as a file read twice leaves it
        span("x", "x", "y", 10, 20),
        span("y", "y", "x", 20, 30),
        span("under", "under", "x", 25, 26),
    ]
    summary = summarize(spans, meta())
    assert summary.tests["t.py::test_x"].db["queries"] == 1
    assert summary.statements["A"].count == 2  # the run's totals count what the file holds
    assert summary.problems == (
        "1 span(s) repeat the id of another span in their trace (a damaged file, or one read twice?): each span id "
        "is followed once",
        "3 span(s) descend from themselves (their parent ids link in a circle: a damaged file?): they are counted "
        "once, and in no test unless a test span is among them",
        "no 'pytest session' span: the run did not finish or its file is incomplete; the wall time is that of the "
        "spans found",
    )


# Frozen and patched clocks: spans of a real clock and of a stopped one in the same run.
S = 1_000_000_000
BASE = 1_790_000_000 * S
YEAR = 365 * 24 * 3600 * S


def timed(
    span_id: str,
    name: str,
    parent: str,
    start: float,
    end: float,
    trace: str,
    attributes: Mapping[str, object] | None = None,
) -> Span:
    """A span ``start`` to ``end`` seconds into the run."""
    return Span(trace, span_id, parent, name, BASE + int(start * S), BASE + int(end * S), dict(attributes or {}))


def frozen_clock_run() -> list[Span]:
    """A run as an old plugin recorded it with freezegun and a patched ``time.time_ns``
    in some tests: test_a is sound; test_b's teardown ends 4.974 s before it starts and
    its ROLLBACK starts before its parent (so the plugin's db.summary lost the rollback);
    test_c's fixture ends 25 years later; the session-scoped engine fixture ran a query
    25 years ago. Statement A ran in test_a and in the engine fixture."""

    def test(letter: str, start: float, summary: Mapping[str, object]) -> list[Span]:
        trace, nodeid = f"t{letter}", f"t.py::test_{letter}"
        return [
            timed(f"r{letter}", nodeid, "", start, start + 1, trace, {"test.case.name": nodeid, **summary}),
            timed(f"s{letter}", "setup", f"r{letter}", start, start + 0.1, trace),
            timed(f"f{letter}", "fixture db", f"s{letter}", start, start + 0.05, trace, fixture("db", 9)),
            timed(f"c{letter}", "call", f"r{letter}", start + 0.1, start + 0.9, trace),
        ]

    def db(queries: int, transactions: int, rollbacks: int) -> dict[str, object]:
        return {
            "db.summary.queries": queries,
            "db.summary.query_time": 0.1,
            "db.summary.transactions": transactions,
            "db.summary.commits": 0,
            "db.summary.rollbacks": rollbacks,
        }

    rollback = step("rb-b", "td-b", 0, "ROLLBACK", trace="tb")
    rollback.start, rollback.end = BASE + int(3.5 * S), BASE + int(3.501 * S)
    old_query = query("q-old", "eng", 0, "A")
    old_query.trace_id, old_query.start, old_query.end = "s", BASE - 25 * YEAR, BASE - 25 * YEAR + S // 1000
    sound_query = query("q-a", "ca", 0, "A")
    sound_query.trace_id, sound_query.start, sound_query.end = "ta", BASE + int(1.2 * S), BASE + int(1.3 * S)
    return [
        timed("s", "pytest session", "", 0, 60, "s"),
        timed("eng", "fixture engine", "s", 0.5, 0.9, "s", fixture("engine", 3)),
        old_query,
        *test("a", 1, db(1, 1, 1)),
        sound_query,
        *test("b", 3, db(1, 1, 0)),
        timed("td-b", "teardown", "rb", 3.9, 3.9 - 4.974, "tb"),
        rollback,
        *test("c", 5, db(0, 0, 0)),
        timed("slow", "fixture slow", "sc", 5.05, 5.05 + 25 * 365 * 24 * 3600, "tc", fixture("slow", 12)),
    ]


FROZEN_NOTE = (
    "3 span(s) with impossible times (1 end before they start; 2 lie outside the run's 'pytest session' "
    "span), as a clock frozen or patched by the tests leaves them: left out, with the 2 test(s) (e.g. "
    "t.py::test_b) and 1 fixture setup(s) or teardown(s) outside tests holding them, so that no finding "
    "and no number comes from them"
)


def otlp_lines(spans: Sequence[Span], run_id: str) -> list[bytes]:
    """``spans`` as the plugin writes them, a line per trace; ids numbered as they come."""
    numbers: dict[str, int] = {}

    def number(key: str) -> int:
        return numbers.setdefault(key, len(numbers) + 1)

    encoder = OtlpJsonEncoder(ExportShape({"pytest.env.fingerprint": "env1", "service.name": "shop"}, run_id, "0.1.0"))
    traces: dict[str, list[SpanRecord]] = {}
    for item in spans:
        record = SpanRecord(
            item.name,
            number(f"trace {item.trace_id}"),
            number(item.span_id),
            number(item.parent_id) if item.parent_id else 0,
            item.start,
            cast("dict[str, AttributeValue]", dict(item.attributes)),
        )
        record.end = item.end
        traces.setdefault(item.trace_id, []).append(record)
    return [encoder.line(records) for records in traces.values()]


def test_spans_of_a_frozen_clock_are_left_out_with_what_holds_them_and_the_rest_is_summarised() -> None:
    spans = frozen_clock_run()
    summary = summarize(reversed(spans), meta())  # the order in the file does not matter
    assert summary.problems == (FROZEN_NOTE,)
    assert list(summary.tests) == ["t.py::test_a"]
    sample = summary.tests["t.py::test_a"]
    assert (sample.duration, sample.setup, sample.call) == (1.0, 0.1, 0.8)
    assert summary.fixtures["conftest.py:9:db"].setups == 1  # test_a's only
    assert "conftest.py:3:engine" not in summary.fixtures
    assert "conftest.py:12:slow" not in summary.fixtures
    assert summary.statements["A"] == StatementStats("A", "SELECT A", "SELECT", 1, 0.1, 1)
    assert (summary.start_time, summary.wall_time) == (BASE * NS, 60 * S * NS)


def test_a_test_recording_a_negative_duration_is_left_out_even_without_a_session_span() -> None:
    spans = [
        *a_test(span_id="a", name="t.py::a", attributes={"db.summary.rollback_time": -4.974}),
        *a_test(span_id="b", name="t.py::b", attributes={"pytest.shared_fixtures.duration": "nan"}),
        *a_test(span_id="c", name="t.py::c", attributes={"db.summary.rollback_time": 0.5}),
    ]
    for index, item in enumerate(spans):
        item.trace_id = f"t{index // 2}"
    summary = summarize(spans, meta())
    assert list(summary.tests) == ["t.py::c"]
    assert summary.problems[0] == (
        "2 span(s) with impossible times (2 tests record a duration below zero or not a number in db.summary.* or "
        "pytest.shared_fixtures.duration), as a clock frozen or patched by the tests leaves them: left out, with the "
        "2 test(s) (e.g. t.py::a) holding them, so that no finding and no number comes from them"
    )


def test_spans_just_outside_the_session_are_a_clock_s_drift_not_impossible() -> None:
    spans = [
        timed("s", "pytest session", "", 0, 100, "s"),
        *(
            timed(f"r{i}", f"t.py::t{i}", "", start, end, f"t{i}", {"test.case.name": f"t.py::t{i}"})
            for i, (start, end) in enumerate([(-0.99, 0.5), (99, 100.99), (-1.01, 0.5), (99, 101.01)])
        ),
    ]
    summary = summarize(spans, meta())
    assert sorted(summary.tests) == ["t.py::t0", "t.py::t1"]
    long_run = [
        timed("s", "pytest session", "", 0, 1000, "s"),
        timed("r", "t.py::t", "", -9.9, 1, "t", {"test.case.name": "t.py::t"}),
    ]
    assert list(summarize(long_run, meta()).tests) == ["t.py::t"]  # 1 % of 1000 s


def test_a_child_that_starts_before_its_parent_is_still_its_child() -> None:
    """The tree comes from the ids: a ROLLBACK recorded before its teardown began (a clock
    stepped back a little) is in the test's database work all the same."""
    spans = a_test(
        span("td", "teardown", "root", 9_500, 9_900),
        step("begin", "call", 100),
        step("rollback", "td", 9_000, "ROLLBACK"),
    )
    sample = summarize(spans, meta()).tests["t.py::test_x"]
    assert (sample.db["transactions"], sample.db["rollbacks"]) == (1, 1)


def test_gc_time_is_a_tests_own_without_the_wider_fixtures_it_waited_for_and_a_fixtures_summed() -> None:
    """``pytest.gc.*`` on a span counts its children's pauses: the test's own are its root's
    less those of the spans for the wider-scoped fixtures its phases waited for."""
    gc = {"pytest.gc.duration": 0.05, "pytest.gc.collections": 4}
    fixture = {"pytest.fixture.name": "engine", "pytest.fixture.scope": "session", "code.file.path": "conftest.py"}
    spans = [
        *a_test(
            span("setup", "setup", "root", 0, 500),
            span(
                "wait",
                "session fixture engine",
                "setup",
                10,
                400,
                attributes={
                    "pytest.shared_fixture.name": "engine",
                    "pytest.shared_fixture.scope": "session",
                    "pytest.gc.duration": 0.02,
                    "pytest.gc.collections": 1,
                },
            ),
            span("pause", "gc gen 2", "call", 20, 30, attributes={"pytest.gc.generation": 2}),
            attributes=gc,
        ),
        span("s", "pytest session", "", 0, 20_000, trace="t0"),
        span("e1", "fixture engine", "s", 10, 400, trace="t0", attributes={**fixture, **gc}),
        span("e2", "fixture engine teardown", "s", 15_000, 16_000, trace="t0", attributes=fixture),
        span("e3", "fixture engine", "s", 17_000, 18_000, trace="t0", attributes={**fixture, **gc}),
    ]
    summary = summarize(spans, meta())
    sample = summary.tests["t.py::test_x"]
    assert (sample.gc_time, sample.gc_collections) == (0.05 - 0.02, 3)
    (engine,) = summary.fixtures.values()
    assert (engine.gc_time, engine.gc_collections) == (0.1, 8)


def test_spans_without_gc_attributes_have_no_gc_time() -> None:
    sample = summarize(a_test(), meta()).tests["t.py::test_x"]
    assert (sample.gc_time, sample.gc_collections) == (0.0, 0)
