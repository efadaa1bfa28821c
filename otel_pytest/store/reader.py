"""Reading OTLP JSON Lines back: a run file of ours or a collector's file exporter output.

The one reader of OTLP JSON Lines in the package: the analyzer, the store's writer (adopting
an orphan run), the demo and the tests all read spans through it, and ``otel-pytest push``
reads its lines through :func:`read_lines` (to turn them into protobuf requests,
:mod:`otel_pytest.encode.otlp_batches`). Readers make no judgements: they yield what is
there and name what they had to skip.

**Speed.** Lines are parsed with orjson straight into :class:`Span` objects holding what the
analyzer needs (ids, name, times, attributes, status code). The OTel project's
``opentelemetry-proto-json`` classes read the same lines 3-4x slower
(``bench/analyze_speed.py``, on a 25,000-span run), and the first summarisation of a
2,000-test run must take under 2 s; the tests check that both read real run files alike.
The rest of a span (scope, kind, trace state, status message, events, links, dropped
counts) is decoded only when asked for (``detail=True``: :class:`SpanDetail`), by the same
value decoder.

A reader of Jaeger's query API will read the OTLP JSON it returns with
:func:`spans_of_traces_data`.
"""

from __future__ import annotations

import base64
import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from otel_pytest.store import files
from otel_pytest.store.compression import Decoded

_MAX_LINE_PROBLEMS = 5
T = TypeVar("T")
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}


@dataclass(frozen=True)
class Event:
    name: str
    time: int  # Unix nanoseconds
    attributes: dict[str, object]


@dataclass(frozen=True)
class Link:
    trace_id: str  # hex, as in the file
    span_id: str
    attributes: dict[str, object]


@dataclass(frozen=True)
class SpanDetail:
    """What the analyzer does not read of a span, decoded only when asked for."""

    scope: str  # the instrumentation scope's name
    kind: int
    trace_state: str
    status_message: str
    events: tuple[Event, ...]
    links: tuple[Link, ...]
    dropped_attributes: int
    dropped_events: int
    dropped_links: int


class Span:
    """One span as read: ids as they appear in the file (hex strings), times in Unix
    nanoseconds, attributes as plain Python values; ``detail`` is ``None`` unless the
    file was read with ``detail=True``."""

    __slots__ = ("attributes", "detail", "end", "name", "parent_id", "span_id", "start", "status", "trace_id")

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str,
        name: str,
        start: int,
        end: int,
        attributes: dict[str, object],
        status: int = 0,
        detail: SpanDetail | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.start = start
        self.end = end
        self.attributes = attributes
        self.status = status
        self.detail = detail

    @property
    def duration_ns(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"<Span {self.name!r} {self.span_id} parent={self.parent_id or '-'}>"


# -- values ------------------------------------------------------------------------------


def _value(value: Mapping[str, Any]) -> object:
    """The Python value of an OTLP JSON ``AnyValue``: str, bool, int, float, bytes, list or dict."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])  # also "NaN", "Infinity", "-Infinity"
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_value(item) for item in (value["arrayValue"] or {}).get("values") or ()]
    if "kvlistValue" in value:
        return attributes_of((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    return None


def attributes_of(items: Iterable[Mapping[str, Any]] | None) -> dict[str, object]:
    """The attributes of an OTLP JSON ``KeyValue`` list as a dict of plain values."""
    result: dict[str, object] = {}
    for item in items or ():
        key, value = item["key"], item.get("value")
        if not isinstance(key, str):
            raise TypeError(f"an attribute key is a {type(key).__name__}, not a string")
        if value:
            string = value.get("stringValue")
            result[key] = string if string is not None else _value(value)
        else:
            result[key] = None
    return result


def _enum(value: Any, names: Mapping[str, int]) -> int:
    """An OTLP enum written as its number or, by some writers, its name."""
    return names.get(value, 0) if isinstance(value, str) else int(value or 0)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__} where a string belongs")
    return value


# -- spans -------------------------------------------------------------------------------


def _detail(raw: Mapping[str, Any], scope: str) -> SpanDetail:
    status = raw.get("status") or {}
    return SpanDetail(
        scope=scope,
        kind=_enum(raw.get("kind"), _SPAN_KINDS),
        trace_state=_text(raw.get("traceState") or ""),
        status_message=_text(status.get("message") or ""),
        events=tuple(
            Event(
                _text(event.get("name") or ""),
                int(event.get("timeUnixNano") or 0),
                attributes_of(event.get("attributes")),
            )
            for event in raw.get("events") or ()
        ),
        links=tuple(
            Link(_text(link["traceId"]), _text(link["spanId"]), attributes_of(link.get("attributes")))
            for link in raw.get("links") or ()
        ),
        dropped_attributes=int(raw.get("droppedAttributesCount") or 0),
        dropped_events=int(raw.get("droppedEventsCount") or 0),
        dropped_links=int(raw.get("droppedLinksCount") or 0),
    )


def spans_of_traces_data(
    data: Mapping[str, Any], *, detail: bool = False
) -> list[tuple[dict[str, object], list[Span]]]:
    """``(resource attributes, spans)`` per ``resourceSpans`` of one OTLP JSON ``TracesData``.

    Raises ``KeyError``, ``TypeError``, ``ValueError`` or ``AttributeError`` when the data
    is not OTLP JSON (a span without ids, an id, name or attribute key that is not a
    string, a time that is not a number, an object where a list belongs): callers then
    never meet a value of the wrong type further on.
    """
    found = []
    for resource_spans in data["resourceSpans"] or ():
        resource = attributes_of((resource_spans.get("resource") or {}).get("attributes"))
        spans = []
        for scope_spans in resource_spans.get("scopeSpans") or ():
            scope = _text((scope_spans.get("scope") or {}).get("name") or "") if detail else ""
            for raw in scope_spans.get("spans") or ():
                trace_id, span_id = raw["traceId"], raw["spanId"]
                parent_id, name = raw.get("parentSpanId") or "", raw.get("name") or ""
                if not all(isinstance(text, str) for text in (trace_id, span_id, parent_id, name)):
                    raise TypeError("a span's id, parent id or name is not a string")
                start = int(raw.get("startTimeUnixNano") or 0)
                spans.append(
                    Span(
                        trace_id,
                        span_id,
                        parent_id,
                        name,
                        start,
                        int(raw.get("endTimeUnixNano") or start),
                        attributes_of(raw.get("attributes")),
                        _enum((raw.get("status") or {}).get("code"), _STATUS_CODES),
                        _detail(raw, scope) if detail else None,
                    )
                )
        found.append((resource, spans))
    return found


# -- files -------------------------------------------------------------------------------


def read_lines(
    path: Path, problems: list[str], decode: Callable[[dict[str, Any]], T | None], without: str, guess: str
) -> Iterator[T]:
    """``decode`` of every OTLP JSON line of a file, plain, gzip or zstd, in order.

    A line that is not JSON (invalid UTF-8 included), that ``decode`` finds is not OTLP
    (it raises ``ValueError``, ``TypeError``, ``KeyError`` or ``AttributeError``: a run cut
    off mid-write, a corrupt copy) or longer than
    :data:`~otel_pytest.store.files.MAX_LINE_BYTES` is skipped and named in ``problems``
    as ``file:line``; lines ``decode`` leaves out (``None``: another signal) are counted in
    one line per file, as lines ``without`` what was read (``guess`` says what they may be).
    A compressed stream that stops short (a crash) or is damaged ends the file at its last
    complete line, with one problem (:mod:`otel_pytest.store.compression`). Only a regular
    file is read (``OSError`` otherwise: see :mod:`otel_pytest.store.files`).
    """
    unreadable = 0
    other: list[int] = []
    with Decoded(path) as opened:
        for number, line in files.lines(opened.handle):
            if line is None:
                unreadable += 1
                if unreadable <= _MAX_LINE_PROBLEMS:
                    problems.append(
                        f"{path}:{number}: skipped a line longer than "
                        f"{files.MAX_LINE_BYTES // 2**20} MiB (not a run file's line)"
                    )
                continue
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                if not isinstance(data, dict):
                    raise TypeError(f"a JSON {type(data).__name__}, not an object")
                decoded = decode(data)
            except (ValueError, TypeError, KeyError, AttributeError) as error:  # JSONDecodeError is a ValueError
                unreadable += 1
                if unreadable <= _MAX_LINE_PROBLEMS:
                    problems.append(f"{path}:{number}: skipped an unreadable line ({_reason(error)})")
                continue
            if decoded is None:
                other.append(number)
                continue
            yield decoded
    if opened.problem is not None:
        problems.append(opened.problem)
    if unreadable > _MAX_LINE_PROBLEMS:
        problems.append(f"{path}: skipped {unreadable - _MAX_LINE_PROBLEMS} more unreadable lines")
    if other:
        problems.append(f"{path}: skipped {len(other)} line(s) without {without} (from line {other[0]}: {guess})")


def read_otlp(
    path: Path, problems: list[str], *, detail: bool = False
) -> Iterator[tuple[dict[str, object], list[Span]]]:
    """Every ``(resource, spans)`` of an OTLP JSON Lines file; lines of metrics or logs (a
    collector writing every signal to one file) are skipped with one line per file, and
    the rest as :func:`read_lines` says."""

    def decode(data: dict[str, Any]) -> list[tuple[dict[str, object], list[Span]]] | None:
        return spans_of_traces_data(data, detail=detail) if "resourceSpans" in data else None

    for batch in read_lines(path, problems, decode, "trace data", "metrics or logs?"):
        yield from batch


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"not OTLP trace data: no {error}"
    if isinstance(error, orjson.JSONDecodeError):
        return f"not JSON: {error}"
    return f"not OTLP trace data: {error}"


def read_spans(path: Path, problems: list[str] | None = None) -> Iterator[tuple[dict[str, object], Span]]:
    """Every span of an OTLP JSON Lines file with its resource, in detail (for the tests,
    the demo and anything else that wants every field rather than speed). Skipped lines
    are described in ``problems`` when given (see :func:`read_otlp`)."""
    for resource, spans in read_otlp(path, [] if problems is None else problems, detail=True):
        for span in spans:
            yield resource, span


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a run is parsed or loaded.

    Parsing allocates hundreds of thousands of objects without a single cycle; each
    allocation burst triggers collections that walk every live object, the history read
    so far included, which measured here made loading 50 cached summaries 1.6x and
    summarising 50 run files 2x slower. Reference counting still frees everything.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
