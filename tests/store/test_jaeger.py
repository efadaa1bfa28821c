"""Reading Jaeger's query API v3: every trace of a window however small the page, each span
once, and one line for each way Jaeger can fail (down, silent, garbage, an error)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from otel_pytest.store.jaeger import JaegerError, JaegerQuery, Window, check_url, public_url, rfc3339
from otel_pytest.store.reader import Span
from tests.bounded import within
from tests.jaeger_api import FixedAnswer, send, span
from tests.jaeger_server import JaegerServer
from tests.otlp_receiver import BlackHole, DownPort

S = 1_000_000_000
BASE = 1_764_720_000 * S  # 2025-12-03 00:00:00 UTC


def ids(found: Iterator[tuple[dict[str, object], list[Span]]]) -> list[tuple[str, str]]:
    return sorted((s.trace_id, s.span_id) for _resource, spans in found for s in spans)


def stored(jaeger: JaegerServer, service: str, traces: int) -> None:
    """Wait until Jaeger holds ``traces`` traces of ``service`` (it stores after a flush)."""
    path = (
        f"/api/v3/traces?query.service_name={service}&query.start_time_min={rfc3339(BASE - 3600 * S)}"
        f"&query.start_time_max={rfc3339(BASE + 3600 * S)}&query.num_traces=1000"
    )

    def ready(answer: dict[str, object]) -> bool:
        spans = [s for r in answer["result"]["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]]  # type: ignore[index]
        return len({s["traceId"] for s in spans}) == traces

    jaeger.poll(path, ready)


def test_rfc3339_keeps_every_nanosecond() -> None:
    assert rfc3339(BASE + 5) == "2025-12-03T00:00:00.000000005Z"


def test_a_window_halves_into_two_that_cover_it_without_overlap() -> None:
    assert Window(10, 21).halves() == (Window(10, 15), Window(16, 21))
    assert Window(10, 11).halves() == (Window(10, 10), Window(11, 11))
    assert Window(10, 10).halves() is None


def test_a_full_answer_is_split_until_every_trace_of_the_window_is_read_each_span_once(jaeger: JaegerServer) -> None:
    service = "reader-paging"
    spans = [span(f"{i + 1:032x}", f"{i + 1:016x}", "t", BASE + i * S) for i in range(25)]
    # One trace with spans at both ends of the window: both halves answer it.
    spans += [span("f" * 32, "a" * 16, "early", BASE + S // 2), span("f" * 32, "b" * 16, "late", BASE + 29 * S)]
    send(jaeger, service, spans)
    stored(jaeger, service, 26)
    expected = sorted((str(s["traceId"]), str(s["spanId"])) for s in spans)
    window = Window(BASE, BASE + 30 * S)

    paged = JaegerQuery(jaeger.query, timeout=10, page=4)
    assert ids(paged.spans(service, window)) == expected
    # Each answer with 4 or more traces is split: from these start times, 11 splits of the
    # 30 s and 12 windows under the page, 23 requests.
    assert paged.requests == 23
    assert paged.problems == []

    whole = JaegerQuery(jaeger.query, timeout=10, page=100)
    assert ids(whole.spans(service, window)) == expected
    assert whole.requests == 1


def test_more_traces_in_one_nanosecond_than_a_page_are_read_as_far_as_possible_and_said(
    jaeger: JaegerServer,
) -> None:
    service = "reader-same-instant"
    send(jaeger, service, [span(f"{i + 1:032x}", f"{i + 1:016x}", "t", BASE) for i in range(3)])
    stored(jaeger, service, 3)
    query = JaegerQuery(jaeger.query, timeout=10, page=2)
    assert len(ids(query.spans(service, Window(BASE, BASE)))) == 2
    assert query.problems == [
        f"Jaeger {jaeger.query}: 2 or more traces start at 2025-12-03T00:00:00.000000000Z, more than one query "
        "returns (2): some of them may be missing"
    ]


def test_the_operation_filter_reads_only_traces_with_a_span_of_that_name(jaeger: JaegerServer) -> None:
    service = "reader-operation"
    send(jaeger, service, [span("1" * 32, "1" * 16, "pytest session", BASE), span("2" * 32, "2" * 16, "t", BASE)])
    stored(jaeger, service, 2)
    found = JaegerQuery(jaeger.query, timeout=10).spans(service, Window(BASE, BASE + S), operation="pytest session")
    assert ids(found) == [("1" * 32, "1" * 16)]


def test_no_match_is_no_spans(jaeger: JaegerServer) -> None:
    query = JaegerQuery(jaeger.query, timeout=10)
    assert ids(query.spans("reader-nobody", Window(BASE, BASE + S))) == []
    assert query.requests == 1


def test_a_jaeger_that_is_down_is_one_line() -> None:
    with DownPort() as down, pytest.raises(JaegerError) as error:
        list(JaegerQuery(down.endpoint, timeout=5).spans("s", Window(BASE, BASE + S)))
    assert str(error.value) == f"cannot reach Jaeger at {down.endpoint}: [Errno 111] Connection refused"


def test_a_jaeger_that_never_answers_is_given_up_on_at_the_timeout() -> None:
    with BlackHole() as hole:
        with within(10), pytest.raises(JaegerError) as error:
            list(JaegerQuery(hole.endpoint, timeout=0.5).spans("s", Window(BASE, BASE + S)))
        assert hole.accepted == 1
    assert str(error.value) == f"Jaeger {hole.endpoint} did not answer within 0.5 s (--jaeger-timeout)"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html>Jaeger UI</html>", "answered something that is not JSON: '<html>Jaeger UI</html>'"),
        (200, b"[1, 2]", "answered JSON that is not API v3 trace data (no \"result\" object): '[1, 2]'"),
        (
            200,
            b'{"result": {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}}',
            "answered JSON that is not API v3 trace data ('traceId'): "
            '\'{"result": {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}}\'',
        ),
        (500, b'{"error": {"httpCode": 500, "message": "storage down"}}', "answered HTTP 500 Internal Server Error: "),
        (
            404,
            b"404 page not found",
            "answered HTTP 404 Not Found (is it Jaeger's query API, the UI's port, 16686?): '404 page not found'",
        ),
    ],
    ids=["not JSON", "not an object", "not OTLP", "HTTP 500", "a 404 that is not API v3's"],
)
def test_an_answer_that_is_not_api_v3_trace_data_is_one_line(status: int, body: bytes, message: str) -> None:
    with FixedAnswer(status, body) as server, pytest.raises(JaegerError) as error:
        list(JaegerQuery(server.url, timeout=5).spans("s", Window(BASE, BASE + S)))
    assert str(error.value).startswith(f"Jaeger {server.url} {message}")
    assert "\n" not in str(error.value)


def test_credentials_in_the_url_are_sent_as_basic_authentication_and_never_shown() -> None:
    with FixedAnswer(500, b"no") as server:
        query = JaegerQuery(server.url.replace("http://", "http://alice:s%40cret@") + "/?token=t0k", timeout=5)
        with pytest.raises(JaegerError) as error:
            list(query.spans("s", Window(BASE, BASE + S)))
    assert str(error.value) == f"Jaeger {server.url} answered HTTP 500 Internal Server Error: 'no'"
    assert server.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"alice:s@cret").decode()


def test_a_url_is_checked_and_shown_without_its_secrets() -> None:
    assert check_url("https://u:p@jaeger.example:16686/q") == "https://u:p@jaeger.example:16686/q"
    assert public_url("https://u:p@jaeger.example:16686/q/?k=v#f") == "https://jaeger.example:16686/q"
    with pytest.raises(ValueError, match=r"^'ftp://jaeger.example': expected an http:// or https:// URL"):
        check_url("ftp://u:secret@jaeger.example")
    with pytest.raises(ValueError, match=r"^'http://jaeger.example' is not a URL"):
        check_url("http://u:secret@jaeger.example:port")
