"""The traces of a test run as the local store and a trace backend hold them, in one form the
end-to-end tests compare exactly: trace id -> span id -> every field of the span that
:mod:`otel_pytest.store.reader` reads (in detail), with its resource.

Both sides are read by the one reader: the store's run files with ``read_spans``, Jaeger's
API v3 answers (OTLP JSON) with ``spans_of_traces_data``, and compared with the type of every
value (:func:`typed`). What Jaeger changes in the JSON is form, not value (attribute order, an
empty status object, ``2`` for the double ``2.0``, an empty array without ``values``), which
the reader does not see; that is pinned down by
``tests/test_export_jaeger.py::test_jaeger_changes_the_form_of_the_json_never_a_value``. The
one normalisation is :func:`without_parent_warnings`: a warning Jaeger adds at query time.
"""

from __future__ import annotations

import difflib
import pprint
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from otel_pytest.store.reader import Span, read_spans, spans_of_traces_data
from tests.jaeger_server import JaegerServer

SpanFields = dict[str, Any]
Traces = dict[str, dict[str, SpanFields]]  # trace id -> span id -> fields

_ARRIVE_WITHIN = 30.0  # seconds; Jaeger (and a collector) batch for 2 s at most
# Jaeger's query service annotates spans in this attribute (its adjusters' warnings).
JAEGER_WARNINGS = "@jaeger@warnings"
_MISSING_PARENT = re.compile(r"parent span ID=([0-9a-f]{16}) is not in the trace; skipping clock skew adjustment")


def unique_service(prefix: str) -> str:
    """A service name no other test of the session exports under (one Jaeger serves them all)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fields(resource: dict[str, object], span: Span) -> SpanFields:
    """Every field the reader gives of a span read in detail, and its resource."""
    detail = span.detail
    assert detail is not None, "read in detail"
    return {
        "parent_span_id": span.parent_id,
        "name": span.name,
        "kind": detail.kind,
        "start_time_unix_nano": span.start,
        "end_time_unix_nano": span.end,
        "status": (span.status, detail.status_message),
        "attributes": span.attributes,
        "events": [(event.name, event.time, event.attributes) for event in detail.events],
        "links": [(link.trace_id, link.span_id, link.attributes) for link in detail.links],
        "trace_state": detail.trace_state,
        "scope": detail.scope,
        "dropped": (detail.dropped_attributes, detail.dropped_events, detail.dropped_links),
        "resource": resource,
    }


def traces_of(spans: Iterable[tuple[dict[str, object], Span]]) -> Traces:
    """Spans regrouped by trace id, each keyed by its span id (a span id seen twice fails)."""
    traces: Traces = {}
    for resource, span in spans:
        trace = traces.setdefault(span.trace_id, {})
        assert span.span_id not in trace, f"span {span.span_id} of trace {span.trace_id} appears twice"
        trace[span.span_id] = fields(resource, span)
    return traces


def stored_traces(store: Path) -> Traces:
    """Every span of every run file in a store (one file per run; the xdist workers' parts
    are merged into it when the run ends)."""
    files = sorted((store / "runs").glob("*.otlp.jsonl.zst"))
    assert files, f"no run file in {store}"
    return traces_of(pair for path in files for pair in read_spans(path))


def span_count(traces: Traces) -> int:
    return sum(len(trace) for trace in traces.values())


def _rfc3339(unix_ns: int) -> str:
    """API v3's time format, to the nanosecond."""
    seconds, nanoseconds = divmod(unix_ns, 10**9)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanoseconds:09d}Z"


def search_path(service: str, start_ns: int, end_ns: int, limit: int) -> str:
    """API v3's trace search: the traces of ``service`` with a span starting in the window."""
    query = {
        "query.service_name": service,
        "query.start_time_min": _rfc3339(start_ns),
        "query.start_time_max": _rfc3339(end_ns),
        "query.num_traces": str(limit),
    }
    return "/api/v3/traces?" + urllib.parse.urlencode(query)


def jaeger_answer(jaeger: JaegerServer, service: str, start_ns: int, spans: int, traces: int) -> dict[str, Any]:
    """The OTLP JSON (``result``) of a search over ``service`` from ``start_ns`` to now, once
    it holds at least ``spans`` spans, or the last answer when the deadline passes (the
    comparison then names what is missing). The limit is one trace more than expected, so a
    surplus trace shows instead of being cut off."""
    deadline = time.monotonic() + _ARRIVE_WITHIN
    while True:
        path = search_path(service, start_ns - 10**9, time.time_ns() + 10**9, traces + 1)
        answer = jaeger.get(path)
        result: dict[str, Any] = answer["result"] if answer is not None else {"resourceSpans": []}  # type: ignore[assignment]
        held = sum(
            len(scope_spans.get("spans") or ())
            for resource_spans in result["resourceSpans"]
            for scope_spans in resource_spans.get("scopeSpans") or ()
        )
        if held >= spans or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def jaeger_traces(jaeger: JaegerServer, service: str, start_ns: int, expected: Traces) -> Traces:
    """What Jaeger holds of ``service`` since ``start_ns``, waiting for as many spans as
    ``expected`` has (Jaeger stores a batch after its processor flushes: poll, never sleep)."""
    result = jaeger_answer(jaeger, service, start_ns, span_count(expected), len(expected))
    return without_parent_warnings(
        traces_of((resource, span) for resource, spans in spans_of_traces_data(result, detail=True) for span in spans)
    )


def without_parent_warnings(traces: Traces) -> Traces:
    """Jaeger's answer without the one annotation it adds that says nothing of the data.

    Jaeger's clock-skew adjuster runs at query time over the parts of a trace it stored
    together, and warns in a span attribute (:data:`JAEGER_WARNINGS`) "parent span ID=… is
    not in the trace" when a span's parent came in another part: with xdist the workers'
    session spans arrive before the controller's session span, their parent, and the warning
    then comes and goes from one query to the next (seen 1 in about 10 runs). The warning is
    dropped only when every warning of the span is that one and names a parent that *is* in
    the returned trace; any other warning, or a parent really missing, stays and fails the
    comparison (which checks every span's parent itself)."""
    cleaned: Traces = {}
    for trace_id, trace in traces.items():
        cleaned[trace_id] = {}
        for span_id, span in trace.items():
            if spurious_warnings(span["attributes"].get(JAEGER_WARNINGS), trace):
                attributes = {key: value for key, value in span["attributes"].items() if key != JAEGER_WARNINGS}
                span = {**span, "attributes": attributes}
            cleaned[trace_id][span_id] = span
    return cleaned


def spurious_warnings(warnings: object, trace: Mapping[str, object]) -> bool:
    """Whether Jaeger's warnings on a span are all "parent … is not in the trace" for parents
    that are in ``trace`` (span id -> span), as :func:`without_parent_warnings` says."""
    if not isinstance(warnings, list) or not warnings:
        return False
    parents = [_MISSING_PARENT.fullmatch(str(warning)) for warning in warnings]
    return all(parent is not None and parent.group(1) in trace for parent in parents)


def typed(value: object) -> object:
    """``value`` with the type of every scalar in it, since ``True == 1 == 1.0`` in Python and
    a backend that turned a bool into an int or a double into an int must not pass."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def differences(expected: Traces, actual: Traces) -> list[str]:
    """What differs, one readable block per trace or span: missing and surplus ids, then a
    field-by-field diff of each span present in both."""
    lines: list[str] = []
    for trace_id in sorted(expected.keys() - actual.keys()):
        lines.append(f"trace {trace_id} missing ({len(expected[trace_id])} spans)")
    for trace_id in sorted(actual.keys() - expected.keys()):
        lines.append(f"trace {trace_id} surplus ({len(actual[trace_id])} spans)")
    for trace_id in sorted(expected.keys() & actual.keys()):
        want, got = expected[trace_id], actual[trace_id]
        for span_id in sorted(want.keys() - got.keys()):
            lines.append(f"span {span_id} ({want[span_id]['name']}) of trace {trace_id} missing")
        for span_id in sorted(got.keys() - want.keys()):
            lines.append(f"span {span_id} ({got[span_id]['name']}) of trace {trace_id} surplus")
        for span_id in sorted(want.keys() & got.keys()):
            if typed(want[span_id]) != typed(got[span_id]):
                diff = difflib.unified_diff(
                    pprint.pformat(want[span_id], width=110).splitlines(),
                    pprint.pformat(got[span_id], width=110).splitlines(),
                    "expected",
                    "actual",
                    lineterm="",
                )
                lines.append(f"span {span_id} ({want[span_id]['name']}) of trace {trace_id} differs:")
                lines.extend(diff)
    return lines


def assert_same_traces(expected: Traces, actual: Traces) -> None:
    """The two hold the same traces, span for span and field for field."""
    found = differences(expected, actual)
    assert not found, "\n".join(found)


def raw_traces(documents: Iterable[Mapping[str, Any]]) -> Traces:
    """Every span of OTLP JSON ``TracesData`` documents as written, with its resource and
    scope, regrouped like :func:`traces_of`: for what the reader does not decode (the order
    of attributes, empty objects, a scope's version)."""
    traces: Traces = {}
    for document in documents:
        for resource_spans in document["resourceSpans"]:
            for scope_spans in resource_spans.get("scopeSpans") or ():
                for span in scope_spans.get("spans") or ():
                    trace = traces.setdefault(span["traceId"], {})
                    assert span["spanId"] not in trace, f"span {span['spanId']} appears twice"
                    trace[span["spanId"]] = {
                        "name": span["name"],
                        "span": span,
                        "scope": scope_spans.get("scope"),
                        "resource": resource_spans.get("resource"),
                    }
    return traces
