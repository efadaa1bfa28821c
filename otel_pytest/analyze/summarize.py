"""The spans of one run folded into its :class:`RunSummary`, in one pass and a few walks.

The pass files every span under its parent (``(trace id, parent span id)``) and notes the
test roots (spans with ``test.case.name``), the fixture spans (``pytest.fixture.name``),
the session spans and the statements. Then each test's own tree is walked once (phases,
statements, repetitions, and, for spans of a tool that writes no ``db.summary.*``, the
database work), and each fixture span's tree down to, not into, nested fixtures.

What counts as a **statement**: a span with ``db.query.text`` (or the older
``db.statement``) that is not a transaction step (``BEGIN``, ``COMMIT``, ``ROLLBACK``,
``SAVEPOINT``, …), the same spans the plugin counts as ``db.summary.queries``. Its
fingerprint is the plugin's ``pytest.db.fingerprint(.id)``, or, for another tool's spans,
computed from the text by :func:`otel_pytest.semconv.statements.describe` (see
:func:`otel_pytest.semconv.db_work.statement_of`).

**Repetitions** (Sentry's N+1 shape): under one parent span, the statements in start
order, split into runs of one fingerprint; a run counts when a different statement came
before it under that parent (the "source" query). Transaction steps neither break a run
nor act as its source. Each test keeps, per fingerprint, its longest such run of at
least :data:`MIN_REPETITION` (ties: the one that took longer); the N+1 detector applies
its own threshold.

**Garbage collection**: the plugin counts on each span the collector's pauses while it ran
(``pytest.gc.duration``, ``pytest.gc.collections``, its children's included). A test's
own is its root's less that of the spans for the wider-scoped fixtures its phases waited
for (``pytest.shared_fixture.name``: those pauses are the fixture's); a fixture's is the
sum over its setup and teardown spans.

Durations are summed in integer nanoseconds and converted to seconds once, so a summary's
numbers equal the spans' exactly. A summary does not depend on the order the spans come
in (a run file's order, Jaeger's, a collector's): whatever is summed or listed is taken
in start order (ties by span id) or key order. Nothing here does I/O.

**Damaged runs.** Trees come from span ids, never from start times, and every walk
follows each span id once, so repeated ids and parent ids linked in a circle end (and are
named in the run's problems). Spans whose times no working clock produces (a clock frozen
or patched by the tests) are left out with the test or fixture span holding them, and
named: see :class:`_Clocks`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from otel_pytest.analyze.model import FixtureStats, Repetition, RunSummary, StatementStats, TestSample
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.semconv.db_work import fold, statement_of
from otel_pytest.semconv.statements import DDL_VERBS
from otel_pytest.store.reader import Span

MIN_REPETITION = 2
# How far a span may lie outside its run's session span before its times count as
# impossible: the larger of these (see _Clocks).
CLOCK_SLACK_NS = 1_000_000_000
CLOCK_SLACK_SHARE = 0.01
_NS = 1e-9
_STATUS_ERROR = 2

# The database work folded from spans, named as the plugin's db.summary.* without the prefix.


@dataclass(frozen=True)
class RunMetadata:
    """What a reader knows about a run besides its spans."""

    run_id: str
    source: str
    resource: Mapping[str, object]
    grouped_by_file: bool = False
    problems: Sequence[str] = ()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def _number(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def db_work(spans: Iterable[Span]) -> dict[str, float]:
    """The database work in ``spans``, folded exactly as the plugin folds ``db.summary.*``;
    empty when there is none."""
    return fold((span.name, span.attributes, span.end - span.start) for span in spans)


def _outcome(root: Span) -> str:
    attributes = root.attributes
    outcome = attributes.get(attr.OUTCOME)
    if isinstance(outcome, str):
        return outcome
    status = attributes.get(attr.TEST_CASE_RESULT_STATUS)
    if status in ("pass", "fail"):
        return "passed" if status == "pass" else "failed"
    return "failed" if root.status == _STATUS_ERROR else "passed"


class _Totals:
    __slots__ = ("count", "fingerprint", "ns", "operation")

    def __init__(self, fingerprint: str, operation: str) -> None:
        self.fingerprint = fingerprint
        self.operation = operation
        self.count = 0
        self.ns = 0


class _Best:
    """The longest qualifying repetition per fingerprint in one test."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[str, tuple[int, int, str]] = {}  # fingerprint id -> (count, ns, parent)

    def offer(self, fingerprint_id: str, count: int, total: int, parent: str) -> None:
        if count < MIN_REPETITION:
            return
        known = self.found.get(fingerprint_id)
        if known is None or (count, total) > known[:2]:
            self.found[fingerprint_id] = (count, total, parent)

    def repetitions(self) -> tuple[Repetition, ...]:
        ordered = sorted(self.found.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        return tuple(Repetition(fid, parent, count, total * _NS) for fid, (count, total, parent) in ordered)


def _repetitions(parent: Span, kids: list[Span], statements: Mapping[int, str], best: _Best) -> None:
    """Offer every run of one fingerprint under ``parent`` that follows a different statement."""
    current: str | None = None
    count = total = 0
    first = True  # the first run has no source statement before it
    for kid in kids:
        fingerprint_id = statements.get(id(kid))
        if fingerprint_id is None:
            continue
        if fingerprint_id == current:
            count += 1
            total += kid.end - kid.start
            continue
        if current is not None and not first:
            best.offer(current, count, total, parent.name)
        first = current is None
        current, count, total = fingerprint_id, 1, kid.end - kid.start
    if current is not None and not first:
        best.offer(current, count, total, parent.name)


class _Index:
    """One pass over a run's spans: who is whose child, and which spans are tests,
    fixtures, sessions and statements."""

    __slots__ = (
        "children",
        "ddl",
        "fixture_spans",
        "known",
        "repeated_ids",
        "roots",
        "sessions",
        "statement_spans",
        "statements",
    )

    def __init__(self, every: Sequence[Span]) -> None:
        self.children: dict[tuple[str, str], list[Span]] = {}
        self.known: set[tuple[str, str]] = set()
        self.roots: list[Span] = []
        self.fixture_spans: list[Span] = []
        self.sessions: list[Span] = []
        self.statements: dict[int, str] = {}  # id(span) -> fingerprint id
        self.statement_spans: list[tuple[Span, str, str]] = []  # (span, fingerprint, operation)
        self.ddl: set[int] = set()  # id() of the statements that are DDL
        self.repeated_ids = 0
        children, known = self.children, self.known
        for span in every:
            trace_id = span.trace_id
            key = (trace_id, span.span_id)
            if key in known:
                self.repeated_ids += 1
            known.add(key)
            if span.parent_id:
                siblings = children.get((trace_id, span.parent_id))
                if siblings is None:
                    children[(trace_id, span.parent_id)] = [span]
                else:
                    siblings.append(span)
            attributes = span.attributes
            if attr.TEST_CASE_NAME in attributes:
                self.roots.append(span)
            elif attr.FIXTURE_NAME in attributes:
                self.fixture_spans.append(span)
            elif span.name == span_names.SESSION:
                self.sessions.append(span)
            elif attr.DB_QUERY_TEXT in attributes or attr.DB_STATEMENT in attributes:
                facts = statement_of(attributes)
                if facts is not None:
                    fingerprint_id, fingerprint, operation = facts
                    self.statements[id(span)] = fingerprint_id
                    self.statement_spans.append((span, fingerprint, operation))
                    if operation.upper() in DDL_VERBS:
                        self.ddl.add(id(span))
        for siblings in children.values():
            if len(siblings) > 1:
                siblings.sort(key=_start_key)

    def session_window(self) -> tuple[int, int] | None:
        """Start and end of the run's top-level ``pytest session`` spans, if any."""
        top = [
            session
            for session in self.sessions
            if (session.trace_id, session.parent_id) not in self.known and session.end >= session.start
        ]
        return (min(session.start for session in top), max(session.end for session in top)) if top else None


def summarize(spans: Iterable[Span], metadata: RunMetadata) -> RunSummary:
    """Fold one run's spans (in any order) into its summary."""
    every = list(spans)
    index = _Index(every)
    children = index.children
    problems = list(metadata.problems)
    window = index.session_window()
    clocks = _Clocks(every, index.roots, index.fixture_spans, children, window)
    excluded = clocks.left
    if clocks.impossible:
        problems.append(clocks.note())
    problems += _damage(index.repeated_ids, _circled(every, children, index.known, index.repeated_ids))

    kept_roots = [root for root in index.roots if id(root) not in excluded]
    tests, statement_tests = _tests(kept_roots, children, index.statements, problems)
    fixtures = _fixtures([span for span in index.fixture_spans if id(span) not in excluded], children, index)
    statement_stats = _statement_stats(index, excluded, statement_tests)
    start_ns, wall_ns = _wall(every, excluded, window, problems)
    if not tests:
        problems.append("no test spans (spans with test.case.name) in this run: nothing to analyze")

    resource = metadata.resource
    return RunSummary(
        run_id=metadata.run_id,
        start_time=start_ns * _NS,
        source=metadata.source,
        environment=_text(resource.get(attr.ENV_FINGERPRINT)) or "",
        revision=_text(resource.get(attr.VCS_REF_HEAD_REVISION)),
        branch=_text(resource.get(attr.VCS_REF_HEAD_NAME)),
        service=_text(resource.get(attr.SERVICE_NAME)),
        tests=tests,
        fixtures=fixtures,
        statements=statement_stats,
        wall_time=wall_ns * _NS,
        grouped_by_file=metadata.grouped_by_file,
        problems=tuple(problems),
    )


def _damage(repeated_ids: int, circled: int) -> list[str]:
    """What a damaged file's span ids did to the summary, in words for the run's notes."""
    problems = []
    if repeated_ids:
        problems.append(
            f"{repeated_ids} span(s) repeat the id of another span in their trace (a damaged file, "
            "or one read twice?): each span id is followed once"
        )
    if circled:
        problems.append(
            f"{circled} span(s) descend from themselves (their parent ids link in a circle: a damaged "
            "file?): they are counted once, and in no test unless a test span is among them"
        )
    return problems


def _statement_stats(
    index: _Index, excluded: set[int], statement_tests: Mapping[str, int]
) -> dict[str, StatementStats]:
    """Every statement fingerprint's executions in the whole run (spans with impossible times left out)."""
    totals: dict[str, _Totals] = {}
    for span, fingerprint, operation in index.statement_spans:
        if id(span) in excluded:
            continue
        fingerprint_id = index.statements[id(span)]
        entry = totals.get(fingerprint_id)
        if entry is None:
            entry = totals[fingerprint_id] = _Totals(fingerprint, operation)
        entry.count += 1
        entry.ns += span.end - span.start
    return {
        fingerprint_id: StatementStats(
            fingerprint_id,
            entry.fingerprint,
            entry.operation,
            entry.count,
            entry.ns * _NS,
            statement_tests.get(fingerprint_id, 0),
        )
        for fingerprint_id, entry in sorted(totals.items())
    }


def _wall(
    every: Sequence[Span], excluded: set[int], window: tuple[int, int] | None, problems: list[str]
) -> tuple[int, int]:
    """The run's start and wall time in nanoseconds: its session's, or (noted in
    ``problems``) that of the spans found when there is no session span."""
    if window is not None:
        return window[0], window[1] - window[0]
    possible = [span for span in every if id(span) not in excluded]
    start_ns = min((span.start for span in possible), default=0)
    wall_ns = max((span.end for span in possible), default=0) - start_ns
    if every:
        problems.append(
            f"no {span_names.SESSION!r} span: the run did not finish or its file is incomplete; "
            "the wall time is that of the spans found"
        )
    return start_ns, wall_ns


class _Clocks:
    """The spans whose times no working clock produces, and what they taint.

    Impossible: a span that ends before it starts; with a ``pytest session`` span (the
    run's window), a span that starts before the window or ends after it, beyond
    :data:`CLOCK_SLACK_NS` or :data:`CLOCK_SLACK_SHARE` of the run, whichever is more
    (another tool's spans read the wall clock, which may drift from the plugin's); and a
    test that records a duration below zero (or not a number) in its ``db.summary.*`` or
    ``pytest.shared_fixtures.duration``. A clock frozen or patched by the code under test
    leaves such spans (freezegun, time-machine, ``monkeypatch`` of ``time.time_ns``).
    Without a session span only the first and last kinds can be told.

    The test (or session- or module-scoped fixture span) holding an impossible span is
    left out whole, with everything under it: its other numbers were measured with the
    same clock, or summed from these spans by the plugin. Trees are followed by their
    ids, never by start times.
    """

    def __init__(
        self,
        every: Sequence[Span],
        roots: Sequence[Span],
        fixture_spans: Sequence[Span],
        children: Mapping[tuple[str, str], list[Span]],
        window: tuple[int, int] | None,
    ) -> None:
        self.backwards = [span for span in every if span.end < span.start]
        self.outside: list[Span] = []
        if window is not None:
            slack = max(CLOCK_SLACK_NS, int((window[1] - window[0]) * CLOCK_SLACK_SHARE))
            low, high = window[0] - slack, window[1] + slack
            self.outside = [span for span in every if span.end >= span.start and (span.start < low or span.end > high)]
        timed = {id(span) for span in (*self.backwards, *self.outside)}
        self.recorded = [root for root in roots if id(root) not in timed and _records_impossible_time(root.attributes)]
        self.impossible = [*self.backwards, *self.outside, *self.recorded]
        self.left: set[int] = set()  # id() of every span left out
        self.tests: list[str] = []  # the tests left out
        self.fixtures = 0  # fixture spans left out outside those tests
        if self.impossible:
            holders = _holders(every, self.impossible)
            self.left = {id(span) for span in self.impossible}
            for root in roots:
                if id(root) in holders:
                    self.left.update(id(span) for span in _tree(root, children))
                    self.tests.append(_test_id(root))
            for head in fixture_spans:
                if id(head) in holders and id(head) not in self.left:
                    self.left.update(id(span) for span in _tree(head, children))
                    self.fixtures += 1

    def note(self) -> str:
        reasons = [
            f"{count} {what}"
            for count, what in (
                (len(self.backwards), "end before they start"),
                (len(self.outside), f"lie outside the run's {span_names.SESSION!r} span"),
                (
                    len(self.recorded),
                    f"tests record a duration below zero or not a number in {attr.DB_SUMMARY_PREFIX}* "
                    f"or {attr.SHARED_FIXTURES_DURATION}",
                ),
            )
            if count
        ]
        held = [f"{len(self.tests)} test(s) (e.g. {min(self.tests)})"] if self.tests else []
        if self.fixtures:
            held.append(f"{self.fixtures} fixture setup(s) or teardown(s) outside tests")
        return (
            f"{len(self.impossible)} span(s) with impossible times ({'; '.join(reasons)}), as a clock frozen "
            f"or patched by the tests leaves them: left out, with the {' and '.join(held) or 'nothing else'} "
            "holding them, so that no finding and no number comes from them"
        )


def _holders(every: Sequence[Span], spans: Sequence[Span]) -> set[int]:
    """``id()`` of ``spans`` and of all their ancestors (every span bearing a parent's id
    when ids repeat)."""
    by_id: dict[tuple[str, str], list[Span]] = {}
    for span in every:
        by_id.setdefault((span.trace_id, span.span_id), []).append(span)
    holders: set[int] = set()
    climbed: set[tuple[str, str]] = set()
    stack = list(spans)
    while stack:
        span = stack.pop()
        holders.add(id(span))
        parent = (span.trace_id, span.parent_id)
        if span.parent_id and parent not in climbed:
            climbed.add(parent)
            stack.extend(by_id.get(parent, ()))
    return holders


def _records_impossible_time(attributes: Mapping[str, object]) -> bool:
    """A test span whose recorded durations include one below zero or not a number."""
    for key, value in attributes.items():
        timed = key == attr.SHARED_FIXTURES_DURATION or (
            key.startswith(attr.DB_SUMMARY_PREFIX) and key.endswith("_time")
        )
        if timed:
            seconds = _number(value)
            if not (math.isfinite(seconds) and seconds >= 0):
                return True
    return False


def _tree(head: Span, children: Mapping[tuple[str, str], list[Span]]) -> Iterator[Span]:
    """``head`` and everything under it, each span id once (a damaged file may link spans
    in a circle)."""
    yield head
    visited = {head.span_id}
    stack = [head]
    while stack:
        node = stack.pop()
        for kid in children.get((node.trace_id, node.span_id), ()):
            if kid.span_id not in visited:
                visited.add(kid.span_id)
                stack.append(kid)
                yield kid


def _circled(
    every: Sequence[Span],
    children: Mapping[tuple[str, str], list[Span]],
    known: set[tuple[str, str]],
    repeated_ids: int,
) -> int:
    """How many spans no top-level span leads to (one without a parent in the run): those
    in a circle of parent ids and those under one. A circle cannot be reached from the
    top (each of its spans has its parent inside it), so without repeated ids the walk
    needs no record of where it has been."""
    stack = [span for span in every if not span.parent_id or (span.trace_id, span.parent_id) not in known]
    if repeated_ids:
        reached = {(span.trace_id, span.span_id) for span in stack}
        while stack:
            node = stack.pop()
            for kid in children.get((node.trace_id, node.span_id), ()):
                key = (kid.trace_id, kid.span_id)
                if key not in reached:
                    reached.add(key)
                    stack.append(kid)
        return len(known - reached)
    count = len(stack)
    while stack:
        node = stack.pop()
        kids = children.get((node.trace_id, node.span_id))
        if kids:
            count += len(kids)
            stack.extend(kids)
    return len(every) - count


def _start_key(span: Span) -> tuple[int, int, str]:
    """Start order; ties broken by the span id, so that no order depends on the reader's."""
    return span.start, span.end, span.span_id


def _tests(
    roots: list[Span],
    children: Mapping[tuple[str, str], list[Span]],
    statements: Mapping[int, str],
    problems: list[str],
) -> tuple[dict[str, TestSample], dict[str, int]]:
    tests: dict[str, TestSample] = {}
    repeated: list[str] = []
    statement_tests: dict[str, int] = {}
    roots.sort(key=_start_key)
    for root in roots:
        sample = _test(root, children, statements)
        if sample.test_id in tests:
            repeated.append(sample.test_id)
            for fingerprint_id in tests.pop(sample.test_id).statements:
                statement_tests[fingerprint_id] -= 1
        tests[sample.test_id] = sample
        for fingerprint_id in sample.statements:
            statement_tests[fingerprint_id] = statement_tests.get(fingerprint_id, 0) + 1
    if repeated:
        names = sorted(set(repeated))
        problems.append(
            f"{len(names)} test(s) ran more than once in this run (e.g. {names[0]}): the last execution of each is kept"
        )
    return tests, statement_tests


def _test(root: Span, children: Mapping[tuple[str, str], list[Span]], statements: Mapping[int, str]) -> TestSample:
    attributes = root.attributes
    trace_id = root.trace_id
    phases = dict.fromkeys(span_names.PHASES, 0)
    for kid in _phases(root, children):
        phases[kid.name] += kid.end - kid.start
    tree = list(_tree(root, children))
    own = tree[1:]
    executed: set[str] = set()
    best = _Best()
    fixtures = {_fixture_key(node.attributes) for node in own if attr.FIXTURE_NAME in node.attributes}
    for node in tree:
        kids = children.get((trace_id, node.span_id))
        if not kids:
            continue
        _repetitions(node, kids, statements, best)
        for kid in kids:
            fingerprint_id = statements.get(id(kid))
            if fingerprint_id is not None:
                executed.add(fingerprint_id)
    db = {  # in key order: a reader may hand the attributes over in any order
        key[len(attr.DB_SUMMARY_PREFIX) :]: _number(value) if not isinstance(value, int) else value
        for key, value in sorted(item for item in attributes.items() if item[0].startswith(attr.DB_SUMMARY_PREFIX))
    }
    if not db:
        db = db_work(own)  # a tool that writes no db.summary.*: fold the spans instead
    gc_time, gc_collections = _gc(root)
    for node in own:  # the pauses inside the wider-scoped fixtures it waited for are theirs
        if attr.SHARED_FIXTURE_NAME in node.attributes:
            seconds, collections = _gc(node)
            gc_time, gc_collections = gc_time - seconds, gc_collections - collections
    return TestSample(
        test_id=_test_id(root),
        nodeid=_nodeid(root),
        file=str(attributes.get(attr.CODE_FILE_PATH, "")),
        line=_int(attributes.get(attr.CODE_LINE_NUMBER, 0)),
        outcome=_outcome(root),
        duration=(root.end - root.start) * _NS,
        setup=phases[span_names.SETUP] * _NS,
        call=phases[span_names.CALL] * _NS,
        teardown=phases[span_names.TEARDOWN] * _NS,
        shared_fixture_time=_number(attributes.get(attr.SHARED_FIXTURES_DURATION, 0.0)),
        db=db,
        statements=frozenset(executed),
        repetitions=best.repetitions(),
        fixtures=frozenset(fixtures),
        gc_time=max(gc_time, 0.0),
        gc_collections=max(gc_collections, 0),
    )


def _gc(span: Span) -> tuple[float, int]:
    """The garbage-collection pauses the plugin counted while ``span`` ran."""
    attributes = span.attributes
    seconds = _number(attributes.get(attr.GC_DURATION, 0.0))
    return (seconds if math.isfinite(seconds) else 0.0), _int(attributes.get(attr.GC_COLLECTIONS, 0))


def _phases(root: Span, children: Mapping[tuple[str, str], list[Span]]) -> Iterator[Span]:
    """The test's phase spans: its children, or, for a test run again by a rerun plugin,
    the children of each ``attempt N`` span (``pytest.rerun.attempt``): every attempt's
    setup, call and teardown are time the run paid for the test."""
    for kid in children.get((root.trace_id, root.span_id), ()):
        if kid.name in span_names.PHASES:
            yield kid
        elif attr.RERUN_ATTEMPT in kid.attributes:
            yield from (
                phase for phase in children.get((kid.trace_id, kid.span_id), ()) if phase.name in span_names.PHASES
            )


def _nodeid(root: Span) -> str:
    return _text(root.attributes.get(attr.TEST_CASE_NAME)) or root.name


def _test_id(root: Span) -> str:
    """The stable identity of a test span: ``pytest.test.id``, else its node id without
    memory addresses."""
    return _text(root.attributes.get(attr.TEST_ID)) or attr.stable_test_id(_nodeid(root))


def _fixture_key(attributes: Mapping[str, object]) -> str:
    """:attr:`FixtureStats.key` of a fixture span: its definition's file, line and name."""
    file, line = attributes.get(attr.CODE_FILE_PATH, ""), _int(attributes.get(attr.CODE_LINE_NUMBER, 0))
    return f"{file}:{line}:{attributes[attr.FIXTURE_NAME]}"


def _argnames(attributes: Mapping[str, object]) -> tuple[str, ...] | None:
    """The fixtures a fixture span's definition requests; ``None`` when not recorded."""
    value = attributes.get(attr.FIXTURE_ARGNAMES)
    if isinstance(value, list | tuple):
        return tuple(str(name) for name in value)
    return None


def _fixtures(
    spans: list[Span], children: Mapping[tuple[str, str], list[Span]], index: _Index
) -> dict[str, FixtureStats]:
    """Per fixture definition: setups and teardowns, the database work inside them (down
    to, not into, the fixtures they set up themselves), its statements, and how many of
    its setups (or teardowns) ran DDL."""
    groups: dict[str, list[Span]] = {}
    for span in spans:
        groups.setdefault(_fixture_key(span.attributes), []).append(span)
    fixtures: dict[str, FixtureStats] = {}
    for key in sorted(groups):
        group = sorted(groups[key], key=_start_key)  # float sums (pool wait) in one order, whatever the reader's
        attributes = group[0].attributes
        name = str(attributes[attr.FIXTURE_NAME])
        teardown_name = span_names.fixture_teardown(name)
        setups = teardowns = setup_ns = teardown_ns = ddl_setups = ddl_teardowns = gc_collections = 0
        gc_time = 0.0
        inside: list[Span] = []
        executed: dict[str, int] = {}
        for span in group:
            seconds, collections = _gc(span)
            gc_time += seconds
            gc_collections += collections
            tearing_down = span.name == teardown_name
            if tearing_down:
                teardowns += 1
                teardown_ns += span.end - span.start
            else:
                setups += 1
                setup_ns += span.end - span.start
            ran_ddl = False
            stack = [span]
            visited = {span.span_id}
            while stack:
                node = stack.pop()
                for kid in children.get((node.trace_id, node.span_id), ()):
                    if attr.FIXTURE_NAME not in kid.attributes and kid.span_id not in visited:
                        visited.add(kid.span_id)
                        inside.append(kid)
                        stack.append(kid)
                        fingerprint_id = index.statements.get(id(kid))
                        if fingerprint_id is not None:
                            executed[fingerprint_id] = executed.get(fingerprint_id, 0) + 1
                            ran_ddl = ran_ddl or id(kid) in index.ddl
            if ran_ddl and tearing_down:
                ddl_teardowns += 1
            elif ran_ddl:
                ddl_setups += 1
        fixtures[key] = FixtureStats(
            name=name,
            scope=str(attributes.get(attr.FIXTURE_SCOPE, "")),
            file=str(attributes.get(attr.CODE_FILE_PATH, "")),
            line=_int(attributes.get(attr.CODE_LINE_NUMBER, 0)),
            setups=setups,
            setup_time=setup_ns * _NS,
            teardowns=teardowns,
            teardown_time=teardown_ns * _NS,
            db=db_work(inside),
            argnames=_argnames(attributes),
            statements=dict(sorted(executed.items())),
            ddl_setups=max(ddl_setups, ddl_teardowns),
            gc_time=gc_time,
            gc_collections=gc_collections,
        )
    return fixtures
