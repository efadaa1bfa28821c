"""The current run's slowest test, span by span, for the HTML report's waterfall.

Summaries keep no spans, so this reads the slowest test's spans back from the run's file
(``RunSummary.source``): one file, parsed once with the readers' own OTLP parser; or, for a
run read from Jaeger, fetches that test's trace (:func:`fetched_waterfall`). It is
optional decoration: when the spans cannot be read (the file is gone, the source is not a
file) there is simply no waterfall. :func:`waterfall_of` is the pure part; it does no I/O.

Besides the spans, a waterfall shows **untraced** time: a gap of at least
:data:`MIN_UNTRACED` seconds (and :data:`MIN_UNTRACED_SHARE` of the test) inside the test's
own span, a setup or teardown phase or an ``attempt N`` span that none of its children
covers. Those spans run no code of the test's own: the time is pytest's, another plugin's,
or work nothing traced. A call phase's and a fixture's uncovered time is their own code,
and is not marked. Garbage-collection pauses of 1 ms or more are spans of their own
(``gc gen N``, kind ``gc``), so a pause is never mistaken for untraced time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson

from otel_pytest.analyze.analysis import Waterfall, WaterfallBar
from otel_pytest.analyze.model import RunSummary, TestSample
from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import spans as span_names
from otel_pytest.semconv.statements import TRANSACTION_STEPS
from otel_pytest.store import files
from otel_pytest.store.compression import Decoded
from otel_pytest.store.reader import Span, spans_of_traces_data

MAX_BARS = 150  # beyond this a waterfall is unreadable, and the page grows without bound
MIN_UNTRACED = 0.002  # seconds: shorter gaps are pytest's bookkeeping between spans
MIN_UNTRACED_SHARE = 0.02  # of the test's duration
UNTRACED = "untraced"  # the name and the kind of an untraced bar
# Spans whose uncovered time is nobody's code: the test's own span and these.
_FRAMES = frozenset({span_names.SETUP, span_names.TEARDOWN})
_NS = 1e9  # nanoseconds per second: divide, which rounds exactly, rather than multiply


def slowest_test(run: RunSummary) -> TestSample | None:
    """The test that took longest in ``run`` (ties: the first by test id)."""
    if not run.tests:
        return None
    return min(run.tests.values(), key=lambda sample: (-sample.duration, sample.test_id))


def kind_of(span: Span) -> str:
    """The waterfall's colour class of a span."""
    attributes = span.attributes
    if span.name in span_names.PHASES:
        return "phase"
    if attr.FIXTURE_NAME in attributes or attr.SHARED_FIXTURE_NAME in attributes:
        return "fixture"
    if attr.GC_GENERATION in attributes:
        return "gc"
    if span.name in span_names.CONNECTION_SPANS:
        return "connection"
    if attr.DB_TRANSACTION_STEP in attributes or span.name.upper() in TRANSACTION_STEPS:
        return "transaction"
    if attr.DB_QUERY_TEXT in attributes or attr.DB_STATEMENT in attributes:
        return "query"
    return "other"


def _is_test(span: Span, test: TestSample) -> bool:
    attributes = span.attributes
    if attr.TEST_CASE_NAME not in attributes:
        return False
    return attributes.get(attr.TEST_ID) == test.test_id or attributes.get(attr.TEST_CASE_NAME) == test.nodeid


def waterfall_of(
    spans: Iterable[Span], test: TestSample, run_id: str, *, grouped_by_file: bool = False
) -> Waterfall | None:
    """The waterfall of ``test`` in run ``run_id`` from a run's spans (any order), or ``None``
    when its root span is not among them. Bars are in depth-first order, children by start
    time; at most :data:`MAX_BARS`, the rest counted in ``Waterfall.omitted``."""
    children: dict[tuple[str, str], list[Span]] = {}
    root: Span | None = None
    for span in spans:
        span_run = span.attributes.get(attr.RUN_ID)
        ours = span_run is None if grouped_by_file else span_run == run_id
        if not ours:
            continue
        if span.parent_id:
            children.setdefault((span.trace_id, span.parent_id), []).append(span)
        if root is None and _is_test(span, test):
            root = span
    if root is None:
        return None
    bars: list[WaterfallBar] = []
    total = 0
    # Each span id is drawn once: a damaged file may repeat an id or link spans in a circle
    # (a span its own ancestor), and the walk must end all the same.
    visited = {root.span_id}
    stack: list[tuple[Span | WaterfallBar, int]] = []
    min_gap = max(MIN_UNTRACED, MIN_UNTRACED_SHARE * (root.end - root.start) / _NS) * _NS

    def push(parent: Span, depth: int) -> None:
        every = sorted(children.get((parent.trace_id, parent.span_id), ()), key=_start)
        kids: list[tuple[int, Span | WaterfallBar]] = []
        for kid in every:
            if kid.span_id not in visited:
                visited.add(kid.span_id)
                kids.append((kid.start, kid))
        if parent is root or parent.name in _FRAMES or attr.RERUN_ATTEMPT in parent.attributes:
            kids.extend(
                (start, WaterfallBar(UNTRACED, (start - root.start) / _NS, (end - start) / _NS, depth, UNTRACED))
                for start, end in _gaps(parent, every)
                if end - start >= min_gap
            )
            kids.sort(key=lambda item: item[0])
        stack.extend((kid, depth) for _start_ns, kid in reversed(kids))

    push(root, 0)
    while stack:
        item, depth = stack.pop()
        total += 1
        if isinstance(item, WaterfallBar):
            if len(bars) < MAX_BARS:
                bars.append(item)
            continue
        if len(bars) < MAX_BARS:
            bars.append(
                WaterfallBar(
                    item.name, (item.start - root.start) / _NS, (item.end - item.start) / _NS, depth, kind_of(item)
                )
            )
        push(item, depth + 1)
    return Waterfall(
        test=test.nodeid,
        run_id=run_id,
        duration=(root.end - root.start) / _NS,
        bars=tuple(bars),
        omitted=total - len(bars),
    )


def _start(span: Span) -> tuple[int, int]:
    return span.start, span.end


def _gaps(parent: Span, kids: Iterable[Span]) -> Iterator[tuple[int, int]]:
    """The stretches of ``parent`` (start, end in ns) that none of ``kids`` (in start order)
    covers."""
    covered = parent.start
    for kid in kids:
        if kid.start > covered:
            yield covered, min(kid.start, parent.end)
        covered = max(covered, kid.end)
        if covered >= parent.end:
            return
    if parent.end > covered:
        yield covered, parent.end


def _lines_with(path: Path, needle: bytes) -> Iterator[Span]:
    """The spans of the lines of ``path`` that contain ``needle`` (a cheap byte search before
    any JSON is parsed); lines that do not parse or are too long are skipped, the summary
    named them."""
    with Decoded(path) as opened:
        for _number, line in files.lines(opened.handle):
            if line is None or needle not in line:
                continue
            try:
                batches = spans_of_traces_data(orjson.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            for _resource, spans in batches:
                yield from spans


def read_waterfall(run: RunSummary) -> Waterfall | None:
    """The waterfall of ``run``'s slowest test, read from the run's file; ``None`` when the
    run has no tests or its spans cannot be read.

    Parsing a whole run file costs about as much as summarising it, so only lines that can
    matter are parsed: those naming the test (to find its root span and trace id), then
    those holding that trace id. A node id that the writer escaped differently in JSON is
    not found by the byte search; then every line is read.
    """
    test = slowest_test(run)
    path = Path(run.source)
    if test is None:
        return None
    try:
        roots = [span for span in _lines_with(path, orjson.dumps(test.nodeid)[1:-1]) if _is_test(span, test)]
        needle = roots[0].trace_id.encode() if roots else b""
        return waterfall_of(_lines_with(path, needle), test, run.run_id, grouped_by_file=run.grouped_by_file)
    except OSError:
        return None


def fetched_waterfall(run: RunSummary, test_spans: Callable[[str, str], Iterable[Span]]) -> Waterfall | None:
    """The waterfall of ``run``'s slowest test from the spans ``test_spans(run id, node id)``
    fetches: for a run read from Jaeger
    (:meth:`~otel_pytest.analyze.jaeger_source.JaegerSource.test_spans`), which has no file."""
    test = slowest_test(run)
    if test is None:
        return None
    return waterfall_of(test_spans(run.run_id, test.nodeid), test, run.run_id, grouped_by_file=run.grouped_by_file)
