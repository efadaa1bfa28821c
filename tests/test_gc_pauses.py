"""Garbage-collection pauses: counted on every running span, long ones a ``gc gen N`` span
of their own, from a callback that changes nothing the code under test can feel."""

from __future__ import annotations

import gc

import pytest

from otel_pytest.gc_pauses import GcPauses
from otel_pytest.records import SpanRecord
from tests.spantree import Run
from tests.test_recorder import INFO, Sink, recorder

STOP = {"generation": 2, "collected": 40, "uncollectable": 1}


def pause(pauses: GcPauses, info: dict[str, int] = STOP) -> None:
    """One collection as CPython reports it: start, then stop."""
    pauses.callback("start", {"generation": info.get("generation", 0)})
    pauses.callback("stop", info)


def gc_of(record: SpanRecord) -> tuple[object, object]:
    extra = record.extra or {}
    return extra.get("pytest.gc.duration"), extra.get("pytest.gc.collections")


def test_a_long_pause_is_a_span_under_the_current_one_and_every_running_span_counts_it() -> None:
    sink = Sink()
    rec = recorder(sink)
    pauses = GcPauses(rec, min_span_ns=0)
    rec.test_start(INFO)
    rec.phase_start("setup")
    rec.phase_end()
    rec.phase_start("call")
    pause(pauses)
    rec.phase_end()
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    (setup,) = sink.named("setup")
    (call,) = sink.named("call")
    assert sink.shape(root) == (INFO.nodeid, (("setup", ()), ("call", (("gc gen 2", ()),))))
    (span,) = sink.named("gc gen 2")
    assert (span.trace_id, span.parent_id) == (call.trace_id, call.span_id)
    assert span.attributes == {"pytest.gc.generation": 2, "pytest.gc.collected": 40, "pytest.gc.uncollectable": 1}
    assert call.start <= span.start <= span.end <= call.end
    seconds = (span.end - span.start) / 1e9
    assert gc_of(call) == gc_of(root) == (seconds, 1)
    assert gc_of(setup) == (None, None)
    assert rec.gc_tally == (span.end - span.start, 1)


def test_a_short_pause_is_counted_not_drawn() -> None:
    sink = Sink()
    rec = recorder(sink)
    pauses = GcPauses(rec, min_span_ns=10**12)
    rec.test_start(INFO)
    rec.phase_start("call")
    pause(pauses, {"generation": 0, "collected": 0, "uncollectable": 0})
    pause(pauses, {"generation": 1, "collected": 3, "uncollectable": 0})
    rec.phase_end()
    rec.test_end(None)
    (root,) = sink.named(INFO.nodeid)
    (call,) = sink.named("call")
    assert sink.shape(root) == (INFO.nodeid, (("call", ()),))
    total_ns, collections = rec.gc_tally
    assert collections == 2
    assert gc_of(call) == gc_of(root) == (total_ns / 1e9, 2)


def test_a_pause_between_tests_lands_in_the_session_trace() -> None:
    sink = Sink()
    rec = recorder(sink)
    pause(GcPauses(rec, min_span_ns=0))
    rec.session_end(0)
    (span,) = sink.named("gc gen 2")
    assert (span.trace_id, span.parent_id) == (rec.session.trace_id, rec.session.span_id)
    assert gc_of(rec.session)[1] == 1


def test_a_pause_after_the_session_ended_is_counted_and_nothing_more() -> None:
    sink = Sink()
    rec = recorder(sink)
    rec.session_end(0)
    records = list(sink.records)
    pause(GcPauses(rec, min_span_ns=0))
    assert (rec.stats.internal_error, sink.records, rec.gc_tally[1]) == (None, records, 1)


def test_nothing_escapes_the_callback_a_failure_is_the_run_s_internal_error_and_ends_the_timing() -> None:
    sink = Sink()
    rec = recorder(sink)
    pauses = GcPauses(rec, min_span_ns=0)
    pause(pauses, {"collected": 1})  # no generation: a KeyError inside the collector's callback
    assert rec.stats.internal_error == "KeyError: 'generation'"
    tally = rec.gc_tally
    pause(pauses)
    assert rec.gc_tally is tally
    rec.session_end(0)
    assert sink.named("gc gen 2") == []


def test_a_stop_without_its_start_is_not_a_pause() -> None:
    rec = recorder(Sink())
    tally = rec.gc_tally
    GcPauses(rec, min_span_ns=0).callback("stop", STOP)
    assert rec.gc_tally is tally


def test_a_real_collection_calls_it_and_a_short_pause_allocates_one_tuple_and_no_other_container() -> None:
    rec = recorder(Sink())
    pauses = GcPauses(rec, min_span_ns=10**12)
    callback = pauses.callback
    start, stop = {"generation": 0}, {"generation": 0, "collected": 0, "uncollectable": 0}
    gc.callbacks.append(callback)
    try:
        gc.collect(0)
        before = gc.get_count()[0]  # containers allocated since that collection, less those freed
        callback("start", start)
        callback("stop", stop)
        after = gc.get_count()[0]
    finally:
        gc.callbacks.remove(callback)
    assert rec.gc_tally[1] == 2  # the real collection, and the one told by hand
    assert after - before <= 1  # the new tally tuple (the old one, freed, may cancel it)


SUITE = """
import gc


def test_{name}():
    # Half a million lists: a full collection of them takes milliseconds, a span's worth.
    held = [[] for _ in range(500_000)]
    gc.collect()
    assert held
"""


def test_a_traced_run_times_the_pauses_of_each_xdist_worker_under_the_test_that_ran(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_a=SUITE.format(name="a"), test_b=SUITE.format(name="b"))
    result = pytester.runpytest_subprocess(
        "--otel", "--otel-gc", "-p", "no:asyncio", "-p", "no:anyio", "-n", "2", "--dist", "loadfile"
    )
    result.assert_outcomes(passed=2)
    run = Run.from_store(pytester.path / ".otel-pytest")
    for name in ("test_a.py::test_a", "test_b.py::test_b"):
        call = run.root(name).child("call")
        pauses = [child for child in call.children if child.name == "gc gen 2"]
        assert len(pauses) >= 1, call.shape()
        collections, seconds = call.attributes["pytest.gc.collections"], call.attributes["pytest.gc.duration"]
        assert isinstance(collections, int)
        assert isinstance(seconds, float)
        assert collections >= len(pauses)
        assert seconds >= sum(p.duration_ns for p in pauses) / 1e9 >= 0.001
        assert pauses[0].attributes["pytest.gc.generation"] == 2


def test_no_otel_gc_leaves_gc_callbacks_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gc

        def test_callbacks():
            assert not [c for c in gc.callbacks if "otel_pytest" in repr(c)]
            gc.collect()
        """
    )
    pytester.runpytest("--otel", "--no-otel-gc", "-p", "no:asyncio", "-p", "no:anyio").assert_outcomes(passed=1)
    run = Run.from_store(pytester.path / ".otel-pytest")
    assert (
        "pytest.gc.collections"
        not in run.root("test_no_otel_gc_leaves_gc_callbacks_alone.py::test_callbacks").attributes
    )
