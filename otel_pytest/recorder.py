"""The span tree of a run: session, modules, tests, phases and fixtures.

The recorder knows nothing of pytest's hook machinery: the plugin calls it with the few
facts it needs (names, scopes, reports). It keeps a stack of open spans whose top is the
"current" span that database and application spans parent under, and hands finished
records to a sink. A test's records are held until the test ends (its phase spans get
their status from reports made after the phase ended); session-trace records go to the
sink as they end. Nothing per test outlives the test.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from otel_pytest import clock
from otel_pytest.db.statements import hide_sql_parameters, redact_message
from otel_pytest.identity import stable_test_id
from otel_pytest.records import (
    KIND_CLIENT,
    NO_ATTRIBUTES,
    STATUS_ERROR,
    Attributes,
    AttributeValue,
    Event,
    Link,
    SpanRecord,
)

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
_FAILING = ("failed", "error")
_MAX_TEXT = 4096
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "psycopg", "psycopg2")

class Sink(Protocol):
    """Where finished records go (the store writer and, when configured, the exporter)."""

    def add(self, records: list[SpanRecord]) -> None: ...


class PhaseReport(Protocol):
    """The part of ``pytest.TestReport`` the recorder reads."""

    longrepr: Any

    @property
    def when(self) -> str: ...

    @property
    def outcome(self) -> str: ...

    @property
    def failed(self) -> bool: ...

    @property
    def skipped(self) -> bool: ...


@dataclass(frozen=True)
class TestInfo:
    """What the recorder needs to know about a test item, extracted by the plugin."""

    nodeid: str
    module: str
    suite: str
    file: str
    line: int
    function: str


@dataclass(frozen=True)
class FixtureInfo:
    """A fixture definition's static facts; built once per definition by the plugin."""

    name: str
    scope: str
    attributes: Attributes

    @functools.cached_property
    def setup_name(self) -> str:
        return f"fixture {self.name}"

    @functools.cached_property
    def teardown_name(self) -> str:
        return f"fixture {self.name} teardown"


@dataclass
class RecorderStats:
    tests: int = 0
    spans: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    internal_error: str | None = None


def exception_event(error: BaseException, stacktrace: str = "", message: str | None = None) -> Event:
    """The semantic-convention ``exception`` event, with bounded text and without the
    bound SQL parameters SQLAlchemy prints into its error messages; a database driver's
    error also loses the values it quotes back."""
    clean = redact_message if type(error).__module__.startswith(_DATABASE_MODULES) else hide_sql_parameters
    attributes: dict[str, AttributeValue] = {
        "exception.type": type(error).__qualname__,
        "exception.message": clean(str(error) if message is None else message)[:_MAX_TEXT],
    }
    if stacktrace:
        attributes["exception.stacktrace"] = clean(stacktrace)[-_MAX_TEXT:]
    return Event("exception", clock.now_ns(), attributes)


def _mark_error(record: SpanRecord, error: BaseException, event: Event) -> None:
    record.status = STATUS_ERROR
    record.status_message = f"{type(error).__qualname__}: {event.attributes['exception.message']}"[:_MAX_TEXT]
    record.add_event(event)


def merge_outcome(reports: Mapping[str, PhaseReport]) -> tuple[str, str | None]:
    """The test's outcome, worst of its phases, and the skip or xfail reason if any.

    A failing setup or teardown is an ``error`` (as pytest counts it) and outranks a
    failing call; ``xfailed``/``xpassed`` come from the ``wasxfail`` pytest puts on the
    report of the phase that decided them.
    """
    setup, call, teardown = reports.get("setup"), reports.get("call"), reports.get("teardown")
    outcome, reason = "passed", None
    decisive = setup if setup is not None and not _passed(setup) else call
    if decisive is not None:
        xfail = getattr(decisive, "wasxfail", None)
        if decisive.failed:
            outcome = "error" if decisive.when != "call" else "failed"
        elif decisive.skipped:
            outcome, reason = ("xfailed", xfail) if xfail is not None else ("skipped", _skip_reason(decisive))
        elif xfail is not None:
            outcome, reason = "xpassed", xfail
    if teardown is not None and teardown.failed:
        outcome = "error"
    return outcome, reason or None


def _passed(report: PhaseReport) -> bool:
    return report.outcome == "passed"


def _skip_reason(report: PhaseReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None


def _subtree(root: SpanRecord, records: list[SpanRecord]) -> list[SpanRecord]:
    """The records under ``root``: a session fixture set up during the test is not its own."""
    inside = {root.span_id}
    own = []
    for record in sorted(records, key=lambda r: r.start):
        if record.parent_id in inside:
            inside.add(record.span_id)
            own.append(record)
    return own


def _traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


class Recorder:
    """Builds the run's span records; see the module docstring for the lifecycle."""

    def __init__(
        self,
        sink: Sink,
        *,
        trace_per_test: bool,
        session_parent: tuple[int, int] | None,
        session_attributes: Attributes,
        environ: dict[str, str] | None = None,
    ) -> None:
        self._sink = sink
        self._trace_per_test = trace_per_test
        self._environ = os.environ if environ is None else environ
        self._random = random.Random()
        self.stats = RecorderStats()
        trace_id = session_parent[0] if session_parent else self._random.getrandbits(128) or 1
        parent_id = session_parent[1] if session_parent else 0
        self.session = SpanRecord("pytest session", trace_id, self._new_id(), parent_id,
                                  clock.now_ns(), session_attributes)
        self._stack: list[SpanRecord] = [self.session]
        self._module: SpanRecord | None = None
        self._test: SpanRecord | None = None
        self._test_records: list[SpanRecord] = []
        self._reports: dict[str, PhaseReport] = {}
        self._phase: SpanRecord | None = None
        self._phase_error: BaseException | None = None
        self._teardowns: dict[int, SpanRecord] = {}
        # Open fixture spans of a scope wider than the test, innermost last.
        self._shared: list[SpanRecord] = []
        self._shared_ns = 0
        self._saved_traceparent: str | None = None
        # Functions of a test's own records returning attributes for its root span
        # (the database summary); records of other scopes' fixtures are left out.
        self.summarizers: list[Callable[[list[SpanRecord]], Mapping[str, AttributeValue]]] = []

    # -- plumbing ---------------------------------------------------------------------

    def _new_id(self) -> int:
        return self._random.getrandbits(64) or 1

    @property
    def current(self) -> SpanRecord:
        """The span that new database and application spans should be children of."""
        return self._stack[-1]

    def _start(self, name: str, parent: SpanRecord, attributes: Attributes) -> SpanRecord:
        record = SpanRecord(name, parent.trace_id, self._new_id(), parent.span_id, clock.now_ns(), attributes)
        self._stack.append(record)
        return record

    def _finish(self, record: SpanRecord, error: BaseException | None = None, message: str | None = None) -> None:
        record.end = clock.now_ns()
        if error is not None:
            _mark_error(record, error, exception_event(error, message=message))
        if self._stack and self._stack[-1] is record:
            self._stack.pop()
        elif record in self._stack:
            self._stack.remove(record)
        self._emit(record)

    def _emit(self, record: SpanRecord) -> None:
        """Hold whatever ends during a test until the test ends, so reports made after a
        phase ended can still mark its span; everything else goes out at once."""
        if self._test is not None:
            self._test_records.append(record)
        else:
            self.stats.spans += 1
            self._sink.add([record])

    def start_span(self, name: str, attributes: Attributes, kind: int = KIND_CLIENT) -> SpanRecord:
        """Open a span under the current one (database work); it becomes current."""
        record = self._start(name, self._stack[-1], attributes)
        record.kind = kind
        return record

    def end_span(self, record: SpanRecord, error: BaseException | None = None, message: str | None = None) -> None:
        """End a span opened with :meth:`start_span`; ``message`` replaces the error's own
        text (database errors quote values back, so their callers redact them)."""
        self._finish(record, error, message)

    def add_finished(self, record: SpanRecord) -> None:
        """A span recorded elsewhere (database, application) that has just ended."""
        self._emit(record)

    def failed(self, error: BaseException) -> None:
        """Remember the first internal failure; the plugin reports it once."""
        if self.stats.internal_error is None:
            self.stats.internal_error = f"{type(error).__name__}: {error}"

    # -- modules and tests -------------------------------------------------------------

    def test_start(self, test: TestInfo) -> None:
        if self._module is None or self._module.name != test.module:
            self._end_module()
            self._module = self._start(test.module, self.session, {"code.file.path": test.file})
        attributes: dict[str, AttributeValue] = {
            "test.case.name": test.nodeid,
            "test.suite.name": test.suite,
            "pytest.test.id": stable_test_id(test.nodeid),
            "code.file.path": test.file,
            "code.line.number": test.line,
            "code.function.name": test.function,
        }
        if self._trace_per_test:
            root = SpanRecord(test.nodeid, self._random.getrandbits(128) or 1, self._new_id(), 0,
                              clock.now_ns(), attributes)
            root.links = [Link(self.session.trace_id, self.session.span_id)]
            self._stack.append(root)
        else:
            root = self._start(test.nodeid, self._module, attributes)
        self._test = root
        self._test_records = []
        self._reports = {}
        # Subprocesses the test starts join its trace (set once per test: every phase
        # would cost three environment writes per test).
        self._saved_traceparent = self._environ.get("TRACEPARENT")
        self._environ["TRACEPARENT"] = _traceparent(root.trace_id, root.span_id)

    def test_end(self, next_module: str | None) -> None:
        root = self._test
        if root is None:
            return
        outcome, reason = merge_outcome(self._reports)
        root.set("pytest.outcome", outcome)
        root.set("test.case.result.status", "fail" if outcome in _FAILING else "pass")
        if self._shared_ns:
            root.set("pytest.shared_fixtures.duration", self._shared_ns / 1e9)
            self._shared_ns = 0
        if reason:
            root.set("pytest.skip.reason" if outcome == "skipped" else "pytest.xfail.reason", reason[:_MAX_TEXT])
        if outcome in _FAILING:
            root.status = STATUS_ERROR
        self._finish(root)
        self._test = None
        records, self._test_records = self._test_records, []
        if self.summarizers:
            own = _subtree(root, records)
            for summarize in self.summarizers:
                for key, value in summarize(own).items():
                    root.set(key, value)
        self.stats.spans += len(records)
        self.stats.tests += 1
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        self._sink.add(records)
        self._restore_traceparent()
        if next_module != (self._module.name if self._module else None):
            self._end_module()

    def _end_module(self) -> None:
        if self._module is not None:
            self._finish(self._module)
            self._module = None

    def _restore_traceparent(self) -> None:
        if self._saved_traceparent is None:
            self._environ.pop("TRACEPARENT", None)
        else:
            self._environ["TRACEPARENT"] = self._saved_traceparent

    # -- phases ------------------------------------------------------------------------

    def phase_start(self, when: str) -> None:
        if self._test is None:
            return
        self._phase = self._start(when, self._test, NO_ATTRIBUTES)
        self._phase_error = None

    def phase_end(self, error: BaseException | None) -> None:
        """End the phase; an exception is kept until the report says whether it failed
        the phase (a skip or an expected failure raises too)."""
        if self._phase is not None:
            self._phase_error = error
            self._finish(self._phase)

    def phase_report(self, report: PhaseReport, stacktrace: str) -> None:
        """Attach pytest's verdict on a phase to its (already finished) span."""
        phase = self._phase
        if self._test is None or phase is None or phase.name != report.when:
            return
        self._reports[report.when] = report
        if report.failed:
            phase.status = STATUS_ERROR
            error = self._phase_error
            if error is not None:
                _mark_error(phase, error, exception_event(error, stacktrace))
        self._phase = None
        self._phase_error = None

    # -- fixtures ----------------------------------------------------------------------

    def _fixture_parent(self, scope: str) -> SpanRecord:
        """A function fixture nests under whatever is current; a wider one under the wider
        fixture that requested it, if any, else its module or the session."""
        if scope == "function":
            return self.current
        if self._shared:
            return self._shared[-1]
        if scope in ("module", "class") and self._module is not None:
            return self._module
        return self.session

    def _start_fixture(self, name: str, fixture: FixtureInfo) -> SpanRecord:
        if fixture.scope == "function":  # the common case, kept short: it runs per test
            return self._start(name, self._stack[-1], fixture.attributes)
        record = self._start(name, self._fixture_parent(fixture.scope), fixture.attributes)
        self._shared.append(record)
        return record

    def _finish_fixture(self, record: SpanRecord, error: BaseException | None = None) -> None:
        self._finish(record, error)
        if self._shared and self._shared[-1] is record:
            self._shared.pop()
            phase = self._phase
            if phase is not None and not self._shared:
                # The test's phase waited for this other-scope fixture: link to it and
                # count the time, so the gap in the test's trace is explained.
                if phase.links is None:
                    phase.links = []
                phase.links.append(Link(record.trace_id, record.span_id))
                self._shared_ns += record.end - record.start

    def fixture_setup_start(self, fixture: FixtureInfo, param: str | None) -> SpanRecord:
        record = self._start_fixture(fixture.setup_name, fixture)
        if param is not None:
            record.set("pytest.fixture.param", param)
        if fixture.scope != "function" and self._test is not None:
            record.set("pytest.fixture.requested_by", self._test.attributes["test.case.name"])
        return record

    def fixture_setup_end(self, record: SpanRecord, error: BaseException | None) -> None:
        self._finish_fixture(record, error)

    def fixture_teardown_start(self, key: int, fixture: FixtureInfo) -> None:
        """Called by a finalizer that runs just before the fixture's own teardown code."""
        self._teardowns[key] = self._start_fixture(fixture.teardown_name, fixture)

    def fixture_teardown_end(self, key: int) -> None:
        record = self._teardowns.pop(key, None)
        if record is not None:
            self._finish_fixture(record)

    # -- session -----------------------------------------------------------------------

    def session_end(self, exit_status: int) -> None:
        self._end_module()
        for record in list(self._teardowns.values()):
            self._finish(record)
        self._teardowns.clear()
        self._shared.clear()
        statuses = {0: "success", 1: "failure", 2: "aborted", 5: "success"}
        self.session.set("test.suite.run.status", statuses.get(exit_status, "failure"))
        self.session.set("pytest.exit_status", exit_status)
        self.session.set("pytest.tests", self.stats.tests)
        if exit_status not in (0, 5):
            self.session.status = STATUS_ERROR
        self._stack = [self.session]
        self._finish(self.session)
