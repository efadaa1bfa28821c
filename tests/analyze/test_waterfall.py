"""The slowest test's spans, laid out for the HTML waterfall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_pytest.analyze import model
from otel_pytest.analyze import waterfall as module
from otel_pytest.analyze.analysis import WaterfallBar
from otel_pytest.analyze.model import RunSummary
from otel_pytest.analyze.waterfall import fetched_waterfall, kind_of, read_waterfall, slowest_test, waterfall_of
from otel_pytest.store.reader import Span
from tests.bounded import within

MS = 1_000_000  # nanoseconds


def sample(test_id: str, duration: float) -> model.TestSample:
    # TestSample is not imported by name: pytest would try to collect a class called Test*.
    return model.TestSample(
        test_id=test_id,
        nodeid=test_id,
        file="t.py",
        line=1,
        outcome="passed",
        duration=duration,
        setup=0.0,
        call=duration,
        teardown=0.0,
    )


def span(
    span_id: str,
    parent: str,
    name: str,
    start_ms: int,
    end_ms: int,
    run: str | None = "run1",
    trace: str = "t1",
    **attributes: object,
) -> Span:
    if run is not None:
        attributes["pytest.run.id"] = run
    return Span(trace, span_id, parent, name, 1_000 * MS + start_ms * MS, 1_000 * MS + end_ms * MS, attributes)


TEST = sample("t.py::test_a", 0.1)
ROOT = span("root", "", "t.py::test_a", 0, 100, **{"test.case.name": "t.py::test_a", "pytest.test.id": "t.py::test_a"})
SPANS = [
    span("teardown", "root", "teardown", 80, 100),
    span("q2", "call", "SELECT", 60, 70, **{"db.query.text": "SELECT 1"}),
    span("call", "root", "call", 50, 80),
    ROOT,
    span("fx", "setup", "fixture db", 1, 49, **{"pytest.fixture.name": "db"}),
    span("connect", "fx", "connect", 2, 12),
    span("commit", "fx", "COMMIT", 40, 41, **{"db.query.text": "COMMIT", "pytest.db.transaction.step": "COMMIT"}),
    span("setup", "root", "setup", 0, 50),
    span("q1", "call", "SELECT", 51, 55, **{"db.query.text": "SELECT 1"}),
    # Spans of another run and of another test's trace are not this test's.
    span("other-run", "call", "SELECT", 52, 53, run="run2", **{"db.query.text": "SELECT 2"}),
    span("other-trace", "call", "SELECT", 52, 53, trace="t2", **{"db.query.text": "SELECT 3"}),
]


def test_the_bars_are_depth_first_in_start_order_relative_to_the_test() -> None:
    result = waterfall_of(SPANS, TEST, "run1")
    assert result is not None
    assert (result.test, result.run_id, result.duration, result.omitted) == ("t.py::test_a", "run1", 0.1, 0)
    assert result.bars == (
        WaterfallBar("setup", 0.0, 0.05, 0, "phase"),
        WaterfallBar("fixture db", 0.001, 0.048, 1, "fixture"),
        WaterfallBar("connect", 0.002, 0.01, 2, "connection"),
        WaterfallBar("COMMIT", 0.04, 0.001, 2, "transaction"),
        WaterfallBar("call", 0.05, 0.03, 0, "phase"),
        WaterfallBar("SELECT", 0.051, 0.004, 1, "query"),
        WaterfallBar("SELECT", 0.06, 0.01, 1, "query"),
        WaterfallBar("teardown", 0.08, 0.02, 0, "phase"),
        # A teardown with no span under it: the time is nobody's the trace can name.
        WaterfallBar("untraced", 0.08, 0.02, 1, "untraced"),
    )


def test_a_test_that_is_not_among_the_spans_has_no_waterfall() -> None:
    assert waterfall_of(SPANS, sample("t.py::test_b", 1.0), "run1") is None
    assert waterfall_of(SPANS, TEST, "run3") is None


def test_a_run_grouped_by_file_takes_the_spans_without_a_run_id() -> None:
    spans = [
        Span(
            s.trace_id,
            s.span_id,
            s.parent_id,
            s.name,
            s.start,
            s.end,
            {k: v for k, v in s.attributes.items() if k != "pytest.run.id"},
        )
        for s in (ROOT, SPANS[2])
    ]
    result = waterfall_of(spans, TEST, "file-abc", grouped_by_file=True)
    assert result is not None
    assert [bar.name for bar in result.bars] == ["untraced", "call", "untraced"]


def test_a_huge_test_is_cut_to_the_bar_limit_and_the_rest_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_BARS", 3)
    result = waterfall_of(SPANS, TEST, "run1")
    assert result is not None
    assert ([bar.name for bar in result.bars], result.omitted) == (["setup", "fixture db", "connect"], 6)


@pytest.mark.parametrize(
    ("name", "attributes", "kind"),
    [
        ("setup", {}, "phase"),
        ("fixture db teardown", {"pytest.fixture.name": "db"}, "fixture"),
        ("pool checkout", {}, "connection"),
        ("engine create", {}, "connection"),
        ("ROLLBACK", {"db.query.text": "ROLLBACK"}, "transaction"),
        ("SAVEPOINT", {"pytest.db.transaction.step": "SAVEPOINT"}, "transaction"),
        ("INSERT", {"db.statement": "INSERT INTO t VALUES (1)"}, "query"),
        ("GET /orders", {"http.request.method": "GET"}, "other"),
        ("gc gen 2", {"pytest.gc.generation": 2}, "gc"),
        ("session fixture engine", {"pytest.shared_fixture.name": "engine"}, "fixture"),
    ],
)
def test_spans_are_coloured_by_what_they_are(name: str, attributes: dict[str, object], kind: str) -> None:
    assert kind_of(Span("t", "s", "p", name, 0, 1, attributes)) == kind


def test_the_slowest_test_is_the_longest_and_ties_go_to_the_first_id() -> None:
    run = RunSummary("r", 0.0, "f", "e", tests={"b": sample("b", 2.0), "a": sample("a", 2.0), "c": sample("c", 1.0)})
    assert slowest_test(run) == sample("a", 2.0)
    assert slowest_test(RunSummary("r", 0.0, "f", "e")) is None


def test_reading_needs_the_run_s_file(tmp_path: Path) -> None:
    run = RunSummary("run1", 0.0, str(tmp_path / "gone.otlp.jsonl"), "e", tests={TEST.test_id: TEST})
    assert read_waterfall(run) is None


def test_a_run_without_a_file_is_drawn_from_the_spans_fetched_for_its_slowest_test() -> None:
    asked: list[tuple[str, str]] = []

    def test_spans(run_id: str, nodeid: str) -> list[Span]:
        asked.append((run_id, nodeid))
        return SPANS

    quick = sample("t.py::test_quick", 0.01)
    run = RunSummary("run1", 0.0, "http://jaeger:16686", "e", tests={TEST.test_id: TEST, quick.test_id: quick})

    assert fetched_waterfall(run, test_spans) == waterfall_of(SPANS, TEST, "run1")
    assert asked == [("run1", "t.py::test_a")]
    assert fetched_waterfall(RunSummary("run1", 0.0, "http://jaeger:16686", "e"), test_spans) is None
    assert len(asked) == 1  # no tests: nothing to fetch


def otlp_line(spans: list[Span], *, ascii_only: bool = False) -> str:
    """One OTLP JSON ``TracesData`` line holding ``spans`` (string attributes only)."""
    encoded = [
        {
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "parentSpanId": s.parent_id,
            "name": s.name,
            "startTimeUnixNano": str(s.start),
            "endTimeUnixNano": str(s.end),
            "attributes": [{"key": key, "value": {"stringValue": str(value)}} for key, value in s.attributes.items()],
        }
        for s in spans
    ]
    data = {
        "resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "x"}, "spans": encoded}]}]
    }
    return json.dumps(data, ensure_ascii=ascii_only, separators=(",", ":"))


@pytest.mark.parametrize("ascii_only", [False, True])
def test_the_waterfall_is_read_from_the_lines_of_the_test_s_trace(tmp_path: Path, ascii_only: bool) -> None:
    """Whether the writer escaped the node id (then every line is read) or not (then only the
    lines naming the test and holding its trace are parsed), the result is the same."""
    nodeid = "t.py::test_ü[1]"
    root = span("root", "", nodeid, 0, 100, **{"test.case.name": nodeid, "pytest.test.id": nodeid})
    children = [span("setup", "root", "setup", 0, 50), span("call", "root", "call", 50, 100)]
    other_root = span("r2", "", "t.py::test_b", 0, 10, trace="t9", **{"test.case.name": "t.py::test_b"})
    path = tmp_path / "run.otlp.jsonl"
    path.write_text(
        "\n".join(
            [
                otlp_line([children[1], other_root], ascii_only=ascii_only),
                '{"resourceSpans": [cut',
                otlp_line([root, children[0]], ascii_only=ascii_only),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    test = sample(nodeid, 0.1)
    run = RunSummary("run1", 0.0, str(path), "e", tests={nodeid: test, "t.py::test_b": sample("t.py::test_b", 0.01)})
    result = read_waterfall(run)
    assert result is not None
    assert (result.test, [bar.name for bar in result.bars]) == (nodeid, ["setup", "untraced", "call"])


@pytest.mark.parametrize(
    "damage",
    [
        "a span whose id is the test's",
        "a test that is its own parent",
        "two spans that are each other's parent",
        "a repeated span id",
    ],
)
def test_spans_linked_in_a_circle_or_sharing_an_id_are_drawn_once_and_the_walk_ends(damage: str) -> None:
    spans = list(SPANS)
    expected = ["setup", "fixture db", "connect", "COMMIT", "call", "SELECT", "SELECT", "teardown", "untraced"]
    if damage == "a span whose id is the test's":
        spans.append(span("root", "call", "again", 60, 61))
    elif damage == "a test that is its own parent":
        spans[spans.index(ROOT)] = span("root", "root", "t.py::test_a", 0, 100, **{"test.case.name": "t.py::test_a"})
    elif damage == "two spans that are each other's parent":
        spans.append(span("x", "call", "x", 60, 61))  # a child of call ...
        spans.append(span("call", "x", "call again", 60, 61))  # ... whose child has call's id
        expected[5:7] = ["SELECT", "x", "SELECT"]
    else:
        spans.append(span("q1", "call", "q1 again", 56, 57))
        spans.append(span("under", "q1", "under q1", 52, 53))
        expected[5:7] = ["SELECT", "under q1", "SELECT"]  # the second q1 is not drawn
    with within(30):
        result = waterfall_of(spans, TEST, "run1")
    assert result is not None
    assert ([bar.name for bar in result.bars], result.omitted) == (expected, 0)


def test_untraced_time_is_what_no_child_covers_in_the_test_its_setup_teardown_and_attempts() -> None:
    """A call phase's and a fixture's uncovered time is their own code: not marked. Gaps under
    2 ms (or 2 % of the test) are pytest's bookkeeping: not marked either."""
    root = span("root", "", "t.py::test_a", 0, 200, **{"test.case.name": "t.py::test_a"})
    spans = [
        root,
        span("setup", "root", "setup", 0, 120),
        span("wait", "setup", "session fixture engine", 5, 30, **{"pytest.shared_fixture.name": "engine"}),
        span("fx", "setup", "fixture db", 20, 60, **{"pytest.fixture.name": "db"}),
        span("pause", "fx", "gc gen 2", 40, 51, **{"pytest.gc.generation": "2"}),
        span("tiny", "setup", "fixture tiny", 62, 63, **{"pytest.fixture.name": "tiny"}),
        span("call", "root", "call", 121, 190),
        span("q", "call", "SELECT", 130, 131, **{"db.query.text": "SELECT 1"}),
        span("teardown", "root", "teardown", 190, 199),
        span("fxt", "teardown", "fixture db teardown", 190, 199, **{"pytest.fixture.name": "db"}),
    ]
    result = waterfall_of(spans, sample("t.py::test_a", 0.2), "run1")
    assert result is not None
    assert result.bars == (
        WaterfallBar("setup", 0.0, 0.12, 0, "phase"),
        WaterfallBar("untraced", 0.0, 0.005, 1, "untraced"),
        WaterfallBar("session fixture engine", 0.005, 0.025, 1, "fixture"),
        WaterfallBar("fixture db", 0.02, 0.04, 1, "fixture"),
        WaterfallBar("gc gen 2", 0.04, 0.011, 2, "gc"),
        WaterfallBar("fixture tiny", 0.062, 0.001, 1, "fixture"),
        WaterfallBar("untraced", 0.063, 0.057, 1, "untraced"),
        WaterfallBar("call", 0.121, 0.069, 0, "phase"),
        WaterfallBar("SELECT", 0.13, 0.001, 1, "query"),
        WaterfallBar("teardown", 0.19, 0.009, 0, "phase"),
        WaterfallBar("fixture db teardown", 0.19, 0.009, 1, "fixture"),
    )
