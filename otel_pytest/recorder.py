"""The span tree of a run: session, modules, tests, phases and fixtures.

The recorder knows nothing of pytest's hook machinery: the plugin calls it with the few
facts it needs (names, scopes, reports). It keeps a stack of open spans whose top is the
"current" span that database and application spans parent under, and hands finished
records to a sink. A test's records are held until the test ends (its phase spans get
their status from reports made after the phase ended); session-trace records go to the
sink as they end. Nothing per test outlives the test.

A test's outcome comes from every report pytest makes for it, whenever it arrives:
several per phase (each subtest of ``self.subTest`` or pytest's ``subtests`` fixture
reports on its own, with its context), and reports logged after every phase has ended
(pytest-rerunfailures logs an attempt's reports after its teardown). A failing subtest
fails the test even where pytest only says so later, in its terminal report.

Reruns (pytest-rerunfailures runs a failed test again, each attempt between its own
``logstart`` and ``logfinish``) are attempts of one test, the way a Jaeger user looks for
them: one trace, one test span with the final outcome and ``pytest.reruns``, and under it
a span ``attempt N`` per attempt (``pytest.rerun.attempt`` = N, ``pytest.outcome`` of that
attempt: ``rerun`` for each superseded one) holding that attempt's phases::

    test_app.py::test_flaky        pytest.outcome=passed, pytest.reruns=1
      attempt 1                    pytest.outcome=rerun (error status)
        setup, call (exception), teardown
      attempt 2                    pytest.outcome=passed
        setup, call, teardown

A test that ran once keeps the plain shape (its phases right under the test span): the
first attempt becomes ``attempt 1`` only when its reports say it is to be run again.

A phase that waited for a fixture of a wider scope (set up or torn down in the session
trace, under the session or module span) gets a span covering that wait, named for it
(``session fixture engine``) and linking to the fixture's span, under what requested it
(the phase, or the function fixture whose setup asked for it): the phase's time explains
itself in the test's own trace.

Garbage-collection pauses (:mod:`otel_pytest.gc_pauses` tells the recorder of each) are
counted on every span that was running: ``pytest.gc.duration`` and
``pytest.gc.collections`` on a span are the pauses while it ran, its children's included.
A long pause is also a span of its own, ``gc gen N``, under the span that was current.
The callback only files it: it joins the records at the next span's end, never while the
recorder is midway through changing its own lists.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from otel_pytest import clock
from otel_pytest.failures import FailureText
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
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
_FAILING = ("failed", "error")
# A report's own outcomes that mean its phase failed: pytest-rerunfailures turns
# "failed" into "rerun" on the attempts it runs again.
_FAILING_REPORTS = ("failed", "rerun")
_MAX_TEXT = 4096
_MAX_SUBTEST_NAMES = 20
_MAX_SUBTEST_NAME = 200


class Sink(Protocol):
    """Where finished records go (the store writer and, when configured, the exporter)."""

    def add(self, records: list[SpanRecord]) -> None: ...


class TraceListener(Protocol):
    """Told when a test's trace begins and ends (the run's binding names it in
    ``TRACEPARENT`` for the processes the test starts)."""

    def test_entered(self, trace_id: int, span_id: int) -> None: ...

    def test_left(self) -> None: ...


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


class TestInfo(NamedTuple):
    """What the recorder needs to know about a test item. A named tuple, not a frozen
    dataclass: one is made per test, and a frozen dataclass's ``__init__`` costs about
    three times as much."""

    nodeid: str
    module: str
    suite: str
    file: str
    line: int
    function: str

    @classmethod
    def at(cls, nodeid: str, location: tuple[str, int | None, str]) -> TestInfo:
        """From what pytest's ``logstart`` hook gives: the node id and ``(path, line, domain)``."""
        path, line, domain = location
        module = nodeid.split("::", 1)[0]
        suite = nodeid.rsplit("::", 1)[0] if "::" in nodeid else module
        return cls(nodeid, module, suite, path, (line or 0) + 1, domain.split("[", 1)[0])

    def attributes(self) -> dict[str, AttributeValue]:
        """The test span's identifying attributes (the analyzer keys on them); the plugin's
        and the xdist controller's record of a crashed test share them."""
        return {
            attr.TEST_CASE_NAME: self.nodeid,
            attr.TEST_SUITE_NAME: self.suite,
            attr.TEST_ID: attr.stable_test_id(self.nodeid),
            attr.CODE_FILE_PATH: self.file,
            attr.CODE_LINE_NUMBER: self.line,
            attr.CODE_FUNCTION_NAME: self.function,
        }


@dataclass(frozen=True)
class FixtureInfo:
    """A fixture definition's static facts; built once per definition by the plugin."""

    name: str
    scope: str
    attributes: Attributes

    @functools.cached_property
    def setup_name(self) -> str:
        return span_names.fixture_setup(self.name)

    @functools.cached_property
    def teardown_name(self) -> str:
        return span_names.fixture_teardown(self.name)


@dataclass
class RecorderStats:
    tests: int = 0
    spans: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    internal_error: str | None = None


def merge_outcome(reports: Iterable[PhaseReport], failed_subtests: int = 0) -> tuple[str, str | None]:
    """The outcome of one run of a test's phases, worst of its reports, and the skip or
    xfail reason if any.

    Of several reports for one phase the first that did not pass counts. A failing setup
    or teardown is an ``error`` (as pytest counts it) and outranks a failing call;
    ``xfailed``/``xpassed`` come from the ``wasxfail`` pytest puts on the report of the
    phase that decided them; a failing subtest fails a test that otherwise passed.
    """
    phases: dict[str, PhaseReport] = {}
    for report in reports:
        seen = phases.get(report.when)
        if seen is None or _passed(seen):
            phases[report.when] = report
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    outcome, reason = "passed", None
    decisive = setup if setup is not None and not _passed(setup) else call
    if decisive is not None:
        xfail = getattr(decisive, "wasxfail", None)
        if decisive.outcome in _FAILING_REPORTS:
            outcome = "error" if decisive.when != "call" else "failed"
        elif decisive.skipped:
            outcome, reason = ("xfailed", xfail) if xfail is not None else ("skipped", _skip_reason(decisive))
        elif xfail is not None:
            outcome, reason = "xpassed", xfail
    if failed_subtests and outcome in ("passed", "xpassed"):
        outcome, reason = "failed", None
    if teardown is not None and teardown.outcome in _FAILING_REPORTS:
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
    """The records under ``root`` (a session fixture set up during the test is not its
    own), found by parent ids alone: timestamps say nothing about structure.

    Records arrive in the order they ended, and a span nearly always ends after its
    children: read backwards, a parent then comes before its children, and one pass with
    one set finds them (this runs at every test's end). Where a child outlived its parent
    (an application's span may), that pass misses it, which shows as a record left out
    whose parent was taken in; then the full walk by parent ids decides. Either way the
    result is the same records, in the same order."""
    inside = {root.span_id}
    left_out = []
    for record in reversed(records):
        if record.parent_id in inside:
            inside.add(record.span_id)
        else:
            left_out.append(record)
    if any(record.parent_id in inside for record in left_out):
        return _subtree_walk(root, records)
    if len(left_out) == 1 and left_out[0] is root:  # the usual test: all of it is the root's
        return [record for record in records if record is not root]
    return [record for record in records if record.parent_id in inside and record is not root]


def _subtree_walk(root: SpanRecord, records: list[SpanRecord]) -> list[SpanRecord]:
    """:func:`_subtree` by a walk from the root through every record's children."""
    children: dict[int, list[SpanRecord]] = {}
    for record in records:
        children.setdefault(record.parent_id, []).append(record)
    inside = set()
    parents = [root.span_id]
    while parents:
        for child in children.pop(parents.pop(), ()):  # popped: a damaged id cycle ends
            inside.add(child.span_id)
            parents.append(child.span_id)
    return [record for record in records if record.span_id in inside]


class _Attempt:
    """One run of a test's phases: their spans and every report pytest made for them."""

    __slots__ = ("closed", "failed_subtests", "number", "phases", "reports", "rerun", "span", "subtests")

    def __init__(self, number: int, span: SpanRecord | None) -> None:
        self.number = number
        # The ``attempt N`` span; None for a first attempt until a rerun makes it one.
        self.span = span
        self.phases: dict[str, SpanRecord] = {}
        self.reports: list[PhaseReport] = []
        self.subtests = 0
        self.failed_subtests: list[str] = []
        self.rerun = False  # a report said the test runs again
        self.closed = False


class Recorder:
    """Builds the run's span records; see the module docstring for the lifecycle."""

    def __init__(
        self,
        sink: Sink,
        *,
        trace_per_test: bool,
        session_parent: tuple[int, int] | None,
        session_attributes: Attributes,
        failures: FailureText | None = None,
    ) -> None:
        self._sink = sink
        self._trace_per_test = trace_per_test
        # What of a failure is kept (--otel-record-failures); the provider uses it too.
        self.failures = failures if failures is not None else FailureText()
        self._random = random.Random()
        # Span ids count up from a random start: unique within the process and, with 2**63
        # possible starts, across processes; only trace ids need to be random (W3C). One
        # C call per span instead of a method and ``getrandbits``.
        self._ids = itertools.count(self._random.getrandbits(63) | 1)
        self.stats = RecorderStats()
        trace_id = session_parent[0] if session_parent else self._random.getrandbits(128) or 1
        parent_id = session_parent[1] if session_parent else 0
        self.session = SpanRecord(
            span_names.SESSION, trace_id, next(self._ids), parent_id, clock.now_ns(), session_attributes
        )
        self._stack: list[SpanRecord] = [self.session]
        self._module: SpanRecord | None = None
        self._test: SpanRecord | None = None
        self._attempt = _Attempt(1, None)
        self._test_records: list[SpanRecord] = []
        self._phase: SpanRecord | None = None
        self._teardowns: dict[int, SpanRecord] = {}
        # Open fixture spans of a scope wider than the test, innermost last, each with its
        # definition and the span that was current when it started (what requested it).
        self._shared: list[tuple[SpanRecord, FixtureInfo, SpanRecord]] = []
        self._shared_ns = 0
        # The recorder changes nothing outside itself: the run's binding listens.
        self.trace_listener: TraceListener | None = None
        # Functions of a test's own records returning attributes for its root span
        # (the database summary); records of other scopes' fixtures are left out.
        self.summarizers: list[Callable[[list[SpanRecord]], Mapping[str, AttributeValue]]] = []
        # Garbage collection so far: (pause nanoseconds, collections), replaced (never
        # changed) at each collection, so a span's mark is this very tuple: no allocation.
        self.gc_tally = (0, 0)
        self._gc_pending: list[SpanRecord] = []

    # -- plumbing ---------------------------------------------------------------------

    @property
    def current(self) -> SpanRecord:
        """The span that new database and application spans should be children of."""
        return self._stack[-1]

    def _start(self, name: str, parent: SpanRecord, attributes: Attributes) -> SpanRecord:
        record = SpanRecord(name, parent.trace_id, next(self._ids), parent.span_id, clock.now_ns(), attributes)
        record.gc_mark = self.gc_tally
        self._stack.append(record)
        return record

    def _finish(self, record: SpanRecord, error: BaseException | None = None, message: str | None = None) -> None:
        record.end = clock.now_ns()
        if error is not None:
            self._mark_error(record, error, record.end, message)
        if self._stack and self._stack[-1] is record:
            self._stack.pop()
        elif record in self._stack:
            self._stack.remove(record)
        if record.gc_mark is not self.gc_tally:
            self._count_gc(record)
        if self._gc_pending:
            self._file_gc_pauses()
        if self._test is not None:  # _emit's common case, without the call: it runs per span
            self._test_records.append(record)
        else:
            self._emit(record)

    def _count_gc(self, record: SpanRecord) -> None:
        (since_ns, since), (now_ns, now) = record.gc_mark, self.gc_tally
        if now > since:
            record.set(attr.GC_DURATION, (now_ns - since_ns) / 1e9)
            record.set(attr.GC_COLLECTIONS, now - since)

    def gc_pause(self, start: int, end: int, generation: int, collected: int, uncollectable: int) -> None:
        """A long garbage-collection pause, told from inside the collector's callback: a
        span under the current one, filed to join the records when the next span ends.
        After the session span ended nothing is current, and the pause is only counted."""
        if not self._stack:
            return
        parent = self._stack[-1]
        record = SpanRecord(
            span_names.gc_pause(generation),
            parent.trace_id,
            next(self._ids),
            parent.span_id,
            start,
            {attr.GC_GENERATION: generation, attr.GC_COLLECTED: collected, attr.GC_UNCOLLECTABLE: uncollectable},
        )
        record.end = end
        self._gc_pending.append(record)

    def _file_gc_pauses(self) -> None:
        # A collection during this walk files its pause in the fresh list, for next time.
        pending = self._gc_pending
        self._gc_pending = []
        for record in pending:
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

    def _mark_error(
        self, record: SpanRecord, error: BaseException, at: int, message: str | None = None, subtest: str | None = None
    ) -> None:
        """An ``exception`` event with the text ``--otel-record-failures`` keeps; the span's
        status message is its first failure's."""
        attributes = self.failures.attributes(error, message)
        if subtest is not None:
            attributes[attr.SUBTEST] = subtest
        record.status = STATUS_ERROR
        if not record.status_message:
            record.status_message = self.failures.status(error, attributes)
        record.add_event(Event(span_names.EXCEPTION_EVENT, at, attributes))

    def add_finished(self, record: SpanRecord) -> None:
        """A span recorded elsewhere (database, application) that has just ended."""
        self._emit(record)

    def failed(self, error: BaseException) -> None:
        """Remember the first internal failure; the plugin reports it once."""
        if self.stats.internal_error is None:
            self.stats.internal_error = f"{type(error).__name__}: {error}"

    # -- modules and tests -------------------------------------------------------------

    def test_start(self, test: TestInfo) -> None:
        root = self._test
        if root is not None:  # kept open after an attempt that is to be run again
            if self._attempt.rerun and root.attributes[attr.TEST_CASE_NAME] == test.nodeid:
                number = self._attempt.number + 1
                self._attempt = _Attempt(number, self._start(span_names.attempt(number), root, NO_ATTRIBUTES))
                return
            self._end_test(root, test.module)
        if self._module is None or self._module.name != test.module:
            self._end_module()
            self._module = self._start(test.module, self.session, {attr.CODE_FILE_PATH: test.file})
        root = self._test_root(test, self._module, clock.now_ns())
        self._stack.append(root)
        self._test = root
        self._attempt = _Attempt(1, None)
        self._test_records = []
        listener = self.trace_listener
        if listener is not None:
            listener.test_entered(root.trace_id, root.span_id)

    @property
    def test_span(self) -> SpanRecord | None:
        """The running test's root span (its trace and span ids name it in test reports)."""
        return self._test

    def _test_root(self, test: TestInfo, parent: SpanRecord, start: int) -> SpanRecord:
        """A test's root span: the root of a trace of its own, linked to the session's, or
        (one trace per session) a child of ``parent``."""
        attributes = test.attributes()
        if not self._trace_per_test:
            root = SpanRecord(test.nodeid, parent.trace_id, next(self._ids), parent.span_id, start, attributes)
        else:
            root = SpanRecord(test.nodeid, self._random.getrandbits(128) or 1, next(self._ids), 0, start, attributes)
            root.links = [Link(self.session.trace_id, self.session.span_id)]
        root.gc_mark = self.gc_tally
        return root

    def crashed_test(self, test: TestInfo, start: int, outcome: str, attributes: Attributes, message: str) -> None:
        """A test whose xdist worker died under it, as pytest reported it (the controller
        records it: the worker never could); ``message`` is xdist's, bounded and scrubbed
        like every failure text."""
        root = self._test_root(test, self.session, start)
        for key, value in attributes.items():
            root.set(key, value)
        root.end = max(clock.now_ns(), start)
        root.status = STATUS_ERROR
        root.status_message = self.failures.message(RuntimeError, message)
        self.stats.tests += 1
        self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        self._emit(root)

    def test_end(self, next_module: str | None) -> None:
        root = self._test
        if root is None:
            return
        attempt = self._attempt
        if attempt.rerun:  # pytest-rerunfailures starts the next attempt at once, in this module
            self._end_attempt(root, attempt, "rerun")
            return
        self._end_test(root, next_module)

    def _end_test(self, root: SpanRecord, next_module: str | None) -> None:
        attempt = self._attempt
        outcome, reason = merge_outcome(attempt.reports, len(attempt.failed_subtests))
        if attempt.number > 1 or attempt.rerun:
            if not attempt.closed:
                self._end_attempt(root, attempt, outcome)
            root.set(attr.RERUNS, attempt.number - 1)
        self._set_outcome(root, attempt, outcome)
        root.set(attr.TEST_CASE_RESULT_STATUS, attr.result_status(outcome))
        if self._shared_ns:
            root.set(attr.SHARED_FIXTURES_DURATION, self._shared_ns / 1e9)
            self._shared_ns = 0
        if reason:
            root.set(attr.SKIP_REASON if outcome == "skipped" else attr.XFAIL_REASON, reason[:_MAX_TEXT])
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
        listener = self.trace_listener
        if listener is not None:
            listener.test_left()
        if next_module != (self._module.name if self._module else None):
            self._end_module()

    def _set_outcome(self, record: SpanRecord, attempt: _Attempt, outcome: str) -> None:
        record.set(attr.OUTCOME, outcome)
        if outcome in _FAILING or outcome == "rerun":
            record.status = STATUS_ERROR
        if attempt.subtests:
            record.set(attr.SUBTESTS, attempt.subtests)
            record.set(attr.SUBTESTS_FAILED, len(attempt.failed_subtests))
            if attempt.failed_subtests:
                record.set(attr.SUBTESTS_FAILED_NAMES, attempt.failed_subtests[:_MAX_SUBTEST_NAMES])

    def _end_attempt(self, root: SpanRecord, attempt: _Attempt, outcome: str) -> None:
        span = attempt.span
        if span is None:
            # The first attempt turns out to be one of several: its spans move under an
            # ``attempt 1`` span covering it (nothing of it has left the recorder yet).
            span = attempt.span = SpanRecord(
                span_names.attempt(1), root.trace_id, next(self._ids), root.span_id, root.start, NO_ATTRIBUTES
            )
            span.gc_mark = root.gc_mark
            for record in self._test_records:
                if record.parent_id == root.span_id:
                    record.parent_id = span.span_id
        span.set(attr.RERUN_ATTEMPT, attempt.number)
        self._set_outcome(span, attempt, outcome)
        attempt.closed = True
        self._finish(span)

    def _end_module(self) -> None:
        if self._module is not None:
            self._finish(self._module)
            self._module = None

    # -- phases ------------------------------------------------------------------------

    def phase_start(self, when: str) -> None:
        test = self._test
        if test is None:
            return
        attempt = self._attempt
        self._phase = attempt.phases[when] = self._start(when, attempt.span or test, NO_ATTRIBUTES)

    def phase_end(self) -> None:
        """End the phase; whether it failed is for its reports to say."""
        phase = self._phase
        if phase is not None:
            self._phase = None
            self._finish(phase)

    def phase_report(self, report: PhaseReport, subtest: str | None = None) -> None:
        """Take one of pytest's reports on the running test, whenever it comes: several
        per phase, after the phase ended, or after all of them (see the module docstring).
        ``subtest`` describes the subtest a report is about."""
        if self._test is None:
            return
        attempt = self._attempt
        if subtest is not None:
            attempt.subtests += 1
            if report.failed:
                attempt.failed_subtests.append(self._subtest_name(subtest))
                self._mark_phase(attempt, report.when)
            return
        attempt.reports.append(report)
        outcome = report.outcome
        if outcome in _FAILING_REPORTS:
            attempt.rerun = attempt.rerun or outcome == "rerun"
            self._mark_phase(attempt, report.when)

    def phase_exception(self, when: str, error: BaseException, subtest: str | None = None) -> None:
        """The exception that failed a phase (or one of its subtests), as pytest handed it
        over for interaction: an ``exception`` event on the phase's span."""
        if self._test is None:
            return
        phase = self._attempt.phases.get(when)
        if phase is not None:
            at = clock.now_ns() if phase is self._phase else phase.end
            self._mark_error(phase, error, at, subtest=None if subtest is None else self._subtest_name(subtest))

    def _mark_phase(self, attempt: _Attempt, when: str) -> None:
        phase = attempt.phases.get(when)
        if phase is not None:
            phase.status = STATUS_ERROR

    def _subtest_name(self, description: str) -> str:
        return self.failures.scrub(description)[:_MAX_SUBTEST_NAME]

    # -- fixtures ----------------------------------------------------------------------

    def _fixture_parent(self, scope: str) -> SpanRecord:
        """A function fixture nests under whatever is current; a wider one under the wider
        fixture that requested it, if any, else its module or the session."""
        if scope == "function":
            return self.current
        if self._shared:
            return self._shared[-1][0]
        if scope in ("module", "class") and self._module is not None:
            return self._module
        return self.session

    def _start_fixture(self, name: str, fixture: FixtureInfo) -> SpanRecord:
        if fixture.scope == "function":  # the common case, kept short: it runs per test
            return self._start(name, self._stack[-1], fixture.attributes)
        requester = self._stack[-1]
        record = self._start(name, self._fixture_parent(fixture.scope), fixture.attributes)
        self._shared.append((record, fixture, requester))
        return record

    def _finish_fixture(self, record: SpanRecord, error: BaseException | None = None) -> None:
        self._finish(record, error)
        if self._shared and self._shared[-1][0] is record:
            _, info, requester = self._shared.pop()
            phase = self._phase
            if phase is not None and not self._shared:
                self._waited(requester if requester.trace_id == phase.trace_id else phase, record, info)

    def _waited(self, parent: SpanRecord, fixture: SpanRecord, info: FixtureInfo) -> None:
        """The test's phase waited for this other-scope fixture: a span under what was
        running when it started (the phase, or the fixture that requested it) covers the
        wait and links to the fixture's span, and the time is counted, so the gap in the
        test's trace is explained."""
        attributes: dict[str, AttributeValue] = {
            attr.SHARED_FIXTURE_NAME: info.name,
            attr.SHARED_FIXTURE_SCOPE: info.scope,
        }
        if fixture.extra is not None and attr.GC_DURATION in fixture.extra:
            attributes[attr.GC_DURATION] = fixture.extra[attr.GC_DURATION]
            attributes[attr.GC_COLLECTIONS] = fixture.extra[attr.GC_COLLECTIONS]
        wait = SpanRecord(
            span_names.waited_for(info.scope, fixture.name),
            parent.trace_id,
            next(self._ids),
            parent.span_id,
            fixture.start,
            attributes,
        )
        wait.end = fixture.end
        wait.links = [Link(fixture.trace_id, fixture.span_id)]
        self._emit(wait)
        self._shared_ns += fixture.end - fixture.start

    def fixture_setup_start(self, fixture: FixtureInfo, param: str | None) -> SpanRecord:
        record = self._start_fixture(fixture.setup_name, fixture)
        if param is not None:
            record.set(attr.FIXTURE_PARAM, param)
        if fixture.scope != "function" and self._test is not None:
            record.set(attr.FIXTURE_REQUESTED_BY, self._test.attributes[attr.TEST_CASE_NAME])
        return record

    # One call less per fixture: ending a setup span is ending a fixture span.
    fixture_setup_end = _finish_fixture

    def fixture_teardown_start(self, key: int, fixture: FixtureInfo) -> None:
        """Called by a finalizer that runs just before the fixture's own teardown code."""
        self._teardowns[key] = self._start_fixture(fixture.teardown_name, fixture)

    def fixture_teardown_end(self, key: int) -> None:
        record = self._teardowns.pop(key, None)
        if record is not None:
            self._finish_fixture(record)

    # -- session -----------------------------------------------------------------------

    def session_end(self, exit_status: int) -> None:
        if self._test is not None and self._attempt.closed:  # a rerun announced but never run
            self._end_test(self._test, None)
        self._end_module()
        for record in list(self._teardowns.values()):
            self._finish(record)
        self._teardowns.clear()
        self._shared.clear()
        statuses = {0: "success", 1: "failure", 2: "aborted", 5: "success"}
        self.session.set(attr.TEST_SUITE_RUN_STATUS, statuses.get(exit_status, "failure"))
        self.session.set(attr.EXIT_STATUS, exit_status)
        self.session.set(attr.TESTS, self.stats.tests)
        if exit_status not in (0, 5):
            self.session.status = STATUS_ERROR
        self._stack = [self.session]
        self._finish(self.session)
