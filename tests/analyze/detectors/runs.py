"""Constructed run summaries for the detector tests, and the demo's slow suite as one.

``slow_shop_run`` follows a real run of ``examples/shop`` with ``fixtures_slow`` (28 tests;
numbers rounded, and made the same for every test so that the expected totals can be
worked out by hand): a new engine per test in fixture ``engine``, ``create_all`` and
``drop_all`` per test in fixture ``schema`` (where each new engine makes its first
connection), tests whose service calls commit, and two data fixtures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from otel_pytest.analyze.findings import Finding, Location, Measurement
from otel_pytest.analyze.model import FixtureStats, History, Repetition, RunSummary, StatementStats, TestSample
from otel_pytest.analyze.report.words import evidence, words

# What test modules import instead of TestSample, whose name pytest would try to collect.
Sample = TestSample

# The limits of the rollback recipe, as every finding that advises it states them.
ROLLBACK_LIMITS = (
    "The rollback isolates only what runs through that connection: code that opens its own session, connection "
    "or engine (a second session, a background task, another process) neither sees the test's uncommitted rows "
    "nor has its writes rolled back, and triggers or deferred constraints that act at COMMIT never fire. For "
    "those tests keep a cleanup per test (TRUNCATE … RESTART IDENTITY CASCADE of the tables they write) or give "
    "each test a copy of a template database (CREATE DATABASE … TEMPLATE …)."
)


def sample(
    test_id: str,
    *,
    outcome: str = "passed",
    setup: float = 0.0,
    call: float = 0.0,
    teardown: float = 0.0,
    shared: float = 0.0,
    line: int = 1,
    db: Mapping[str, float] | None = None,
    repetitions: Sequence[Repetition] = (),
    fixtures: Iterable[str] = (),
) -> TestSample:
    return TestSample(
        test_id=test_id,
        nodeid=test_id,
        file=test_id.split("::", 1)[0],
        line=line,
        outcome=outcome,
        duration=setup + call + teardown,
        setup=setup,
        call=call,
        teardown=teardown,
        shared_fixture_time=shared,
        db=dict(db or {}),
        repetitions=tuple(repetitions),
        fixtures=frozenset(fixtures),
    )


def fixture(
    name: str,
    *,
    scope: str = "function",
    setups: int,
    setup_time: float,
    teardown_time: float = 0.0,
    db: Mapping[str, float] | None = None,
    file: str = "tests/conftest.py",
    line: int = 1,
    argnames: Sequence[str] | None = None,
    statements: Mapping[str, int] | None = None,
    ddl_setups: int | None = None,
) -> FixtureStats:
    """A fixture's run; ``ddl_setups`` defaults to every setup when it ran DDL."""
    work = dict(db or {})
    return FixtureStats(
        name=name,
        scope=scope,
        file=file,
        line=line,
        setups=setups,
        setup_time=setup_time,
        teardowns=setups,
        teardown_time=teardown_time,
        db=work,
        argnames=None if argnames is None else tuple(argnames),
        statements=dict(statements or {}),
        ddl_setups=(setups if work.get("ddl", 0) > 0 else 0) if ddl_setups is None else ddl_setups,
    )


def statement(fingerprint_id: str, fingerprint: str, *, count: int, total_time: float, tests: int) -> StatementStats:
    return StatementStats(
        fingerprint_id=fingerprint_id,
        fingerprint=fingerprint,
        operation=fingerprint.split(" ", 1)[0],
        count=count,
        total_time=total_time,
        tests=tests,
    )


def run(
    run_id: str,
    tests: Iterable[TestSample],
    *,
    fixtures: Iterable[FixtureStats] = (),
    statements: Iterable[StatementStats] = (),
    revision: str | None = None,
    wall_time: float = 0.0,
    start_time: float = 1_700_000_000.0,
) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        start_time=start_time,
        source=f"{run_id}.otlp.jsonl",
        environment="env",
        revision=revision,
        tests={test.test_id: test for test in tests},
        fixtures={item.key: item for item in fixtures},
        statements={item.fingerprint_id: item for item in statements},
        wall_time=wall_time,
    )


def history(*runs: RunSummary) -> History:
    return History(runs=runs)


def plain(text: str) -> str:
    """Text with the no-break spaces the wording puts between a number and its unit made
    plain, so that expected texts can be written with ordinary spaces."""
    return text.replace("\N{NO-BREAK SPACE}", " ")


@dataclasses.dataclass(frozen=True)
class Reported:
    """A finding as a report shows it: its data with the words the report package makes
    of it (the JSON report's fields), so that a test states both in one expected value."""

    kind: str
    severity: str
    title: str
    location: Location
    measurements: tuple[Measurement, ...]
    confidence: str
    suggestion: str
    saving: float = 0.0
    evidence: Mapping[str, str] = dataclasses.field(default_factory=dict)
    history: tuple[tuple[str, float], ...] = ()
    provisional: bool = False


def reported(finding: Finding) -> Reported:
    said = words(finding)
    return Reported(
        kind=finding.kind,
        severity=finding.severity,
        title=said.title,
        location=finding.location,
        measurements=finding.measurements,
        confidence=said.confidence,
        suggestion=said.suggestion,
        saving=finding.saving,
        evidence=evidence(finding),
        history=finding.history,
        provisional=finding.provisional,
    )


def reports(findings: Sequence[Finding]) -> list[Reported]:
    return [reported(finding) for finding in findings]


def rounded(findings: Sequence[Finding | Reported], digits: int = 9) -> list[Reported]:
    """The findings as reported, with every float rounded and every text :func:`plain`, so
    that they compare equal to expected ones written with the numbers worked out by hand."""

    def measured(item: Measurement) -> Measurement:
        baseline = round(item.baseline, digits) if item.baseline is not None else None
        return dataclasses.replace(item, name=plain(item.name), value=round(item.value, digits), baseline=baseline)

    def shown(finding: Reported) -> Reported:
        return dataclasses.replace(
            finding,
            title=plain(finding.title),
            confidence=plain(finding.confidence),
            suggestion=plain(finding.suggestion),
            saving=round(finding.saving, digits),
            measurements=tuple(measured(item) for item in finding.measurements),
        )

    return [shown(item if isinstance(item, Reported) else reported(item)) for item in findings]


# -- the demo's slow suite ---------------------------------------------------------------

SLOW_RUN_ID = "ded4fd33806b9a29"
SHOP_FILES = {"tests/test_customers.py": 7, "tests/test_orders.py": 11, "tests/test_products.py": 10}
SHOP_TESTS = sum(SHOP_FILES.values())  # 28
NON_COMMITTING = 5  # tests whose only COMMITs are the schema fixture's two


def shop_test_ids() -> list[str]:
    return [f"{file}::test_{number:02d}" for file, count in SHOP_FILES.items() for number in range(count)]


def slow_test_db(commits: int) -> dict[str, float]:
    """One slow-suite test's db.summary: its own work plus its function fixtures'."""
    transactions = commits + 2
    return {
        "queries": 15,
        "query_time": 0.031,
        "transactions": transactions,
        "commits": commits,
        "rollbacks": 2,
        "rollback_time": 0.0008,
        "savepoints": 0,
        "pool_resets": 5,
        "ddl": 8,
        "ddl_time": 0.018,
        "connections": 1,
        "connection_time": 0.006,
        "checkouts": 5,
        "pool_wait_time": 0.003,
        "engines_created": 1,
        "engines_disposed": 1,
        "engine_time": 0.002,
    }


SLOW_TABLES = ("customer", "product", "order", "order_line")


def slow_ddl_ids() -> list[str]:
    """The fingerprint ids of create_all's and drop_all's statements in the slow suite."""
    return [f"{verb[0]}{number}" for verb in ("CREATE", "DROP") for number in range(len(SLOW_TABLES))]


def slow_shop_fixtures() -> list[FixtureStats]:
    shop = "examples/shop/fixtures_slow.py"
    tests = "examples/shop/tests/test_orders.py"
    return [
        fixture(
            "database_url",
            scope="session",
            setups=1,
            setup_time=0.0007,
            teardown_time=0.0001,
            file="examples/shop/conftest.py",
            line=24,
            argnames=(),
        ),
        fixture(
            "engine",
            setups=SHOP_TESTS,
            setup_time=0.0935,
            teardown_time=0.0589,
            file=shop,
            line=17,
            argnames=("database_url",),
            db={"engines_created": 28, "engines_disposed": 28, "engine_time": 0.056},
        ),
        fixture(
            "schema",
            setups=SHOP_TESTS,
            setup_time=0.974,
            teardown_time=0.282,
            file=shop,
            line=24,
            argnames=("engine",),
            statements=dict.fromkeys(slow_ddl_ids(), SHOP_TESTS),
            db={
                "connections": 28,
                "connection_time": 0.168,
                "checkouts": 56,
                "pool_wait_time": 0.0812,
                "transactions": 84,
                "commits": 56,
                "rollbacks": 28,
                "queries": 280,
                "query_time": 0.63,
                "ddl": 224,
                "ddl_time": 0.504,
            },
        ),
        fixture(
            "session",
            setups=SHOP_TESTS,
            setup_time=0.0067,
            teardown_time=0.0256,
            file=shop,
            line=33,
            argnames=("engine", "schema"),
            db={"rollbacks": 28, "rollback_time": 0.0112, "pool_resets": 28},
        ),
        fixture(
            "catalogue",
            setups=8,
            setup_time=0.0958,
            file=tests,
            line=18,
            argnames=("session",),
            statements={"INSERT_PRODUCT": 16},
            db={
                "checkouts": 16,
                "pool_wait_time": 0.0004,
                "queries": 16,
                "query_time": 0.0346,
                "transactions": 16,
                "commits": 16,
            },
        ),
        fixture(
            "customer",
            setups=10,
            setup_time=0.0725,
            teardown_time=0.0001,
            file=tests,
            line=13,
            argnames=("session",),
            statements={"INSERT_CUSTOMER": 10},
            db={
                "checkouts": 10,
                "pool_wait_time": 0.0002,
                "queries": 10,
                "query_time": 0.0322,
                "transactions": 10,
                "commits": 10,
            },
        ),
    ]


def slow_shop_statements() -> list[StatementStats]:
    """The DDL of create_all and drop_all, once per test for each of the four tables, and
    the INSERTs of the two data fixtures."""
    return [
        *(
            statement(
                f"{verb[0]}{number}", f"{verb} TABLE {table}", count=SHOP_TESTS, total_time=0.126, tests=SHOP_TESTS
            )
            for verb in ("CREATE", "DROP")
            for number, table in enumerate(SLOW_TABLES)
        ),
        statement(
            "INSERT_PRODUCT", "INSERT INTO product (sku, name) VALUES (?, ?)", count=16, total_time=0.03, tests=8
        ),
        statement("INSERT_CUSTOMER", "INSERT INTO customer (email) VALUES (?)", count=10, total_time=0.03, tests=10),
    ]


# The function-scoped fixtures every slow-suite test sets up (FixtureStats keys).
SLOW_TEST_FIXTURES = (
    "examples/shop/fixtures_slow.py:17:engine",
    "examples/shop/fixtures_slow.py:24:schema",
    "examples/shop/fixtures_slow.py:33:session",
)


def slow_shop_run(run_id: str = SLOW_RUN_ID, revision: str | None = "0123456789abcdef") -> RunSummary:
    tests = [
        sample(
            test_id,
            setup=0.045,
            call=0.015,
            teardown=0.013,
            db=slow_test_db(commits=2 if index < NON_COMMITTING else 4),
            fixtures=SLOW_TEST_FIXTURES,
        )
        for index, test_id in enumerate(shop_test_ids())
    ]
    return run(
        run_id,
        tests,
        fixtures=slow_shop_fixtures(),
        statements=slow_shop_statements(),
        revision=revision,
        wall_time=2.22,
    )
