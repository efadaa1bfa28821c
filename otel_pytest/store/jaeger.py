"""Jaeger's query API v3, read: the spans of a service in a time window, however many.

``GET /api/v3/traces`` answers at most ``query.num_traces`` traces, all merged into one
OTLP JSON ``TracesData`` (decoded by :func:`~otel_pytest.store.reader.spans_of_traces_data`,
the store's own decoder), and HTTP 404 with an error object when nothing matches (a 404
without one is a wrong URL, and an error). A window that comes back full
may hold more: it is split in two halves, each queried the same way, until every answer is
under the limit (a 2,000-test run is 2,000+ traces). A trace is matched by any of its spans
starting in the window, so one trace can come back from both halves: spans are kept once.

Every request is bounded by ``timeout`` seconds, reading included (a server that accepts
and never answers, or answers a byte at a time, is given up on). Whatever goes wrong (down,
slow, HTTP 500, not JSON, not OTLP) is one :class:`JaegerError`, one line, that never shows
the user and password a URL may carry: those are sent as HTTP basic authentication.
This module reads and says what it read; it judges nothing.
"""

from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import orjson

from otel_pytest.store.reader import Span, spans_of_traces_data

# Traces per query: Jaeger's memory storage refuses more than its max_traces (ours keeps
# 200,000); a smaller page keeps each answer a few MB for a big suite.
PAGE_TRACES = 1000
_CHUNK = 1 << 16
_NS = 1_000_000_000


class JaegerError(Exception):
    """Jaeger cannot be read: the message is one line, without credentials."""


def public_url(url: str) -> str:
    """``url`` without its userinfo, query and fragment: what may be shown."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: not shown, whatever it holds
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def check_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host, else a :class:`ValueError` saying so."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"{public_url(url)!r} is not a URL: expected http://HOST:16686") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{public_url(url)!r}: expected an http:// or https:// URL with a host, like http://HOST:16686"
        )
    return url


def rfc3339(unix_nano: int) -> str:
    """A time as API v3 takes it: RFC 3339, UTC, nanoseconds."""
    seconds, nanos = divmod(unix_nano, _NS)
    return f"{datetime.fromtimestamp(seconds, tz=timezone.utc):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


@dataclass(frozen=True)
class Window:
    """Span start times from ``start`` to ``end`` (Unix nanoseconds, both included)."""

    start: int
    end: int

    def halves(self) -> tuple[Window, Window] | None:
        if self.end <= self.start:
            return None
        middle = (self.start + self.end) // 2
        return Window(self.start, middle), Window(middle + 1, self.end)


class JaegerQuery:
    """The query API v3 of one Jaeger; counts the requests it made (``requests``) and the
    problems it met that still left an answer (``problems``)."""

    def __init__(self, url: str, *, timeout: float, page: int = PAGE_TRACES) -> None:
        parts = urlsplit(check_url(url))
        self.url = public_url(url)
        self.timeout = timeout
        self.page = page
        self._headers = {"Accept": "application/json"}
        if parts.username is not None:
            secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(secret).decode("ascii")
        self.requests = 0
        self.problems: list[str] = []

    def spans(
        self, service: str, window: Window, *, operation: str | None = None
    ) -> Iterator[tuple[dict[str, object], list[Span]]]:
        """``(resource, spans)`` of every trace of ``service`` with a span (named
        ``operation``, when given) starting in ``window``; each span once."""
        seen: set[tuple[str, str]] = set()
        for resource, spans in self._window(service, window, operation):
            fresh = [span for span in spans if (span.trace_id, span.span_id) not in seen]
            seen.update((span.trace_id, span.span_id) for span in fresh)
            if fresh:
                yield resource, fresh

    def _window(
        self, service: str, window: Window, operation: str | None
    ) -> Iterator[tuple[dict[str, object], list[Span]]]:
        found = self._find(service, window, operation)
        traces = {span.trace_id for _resource, spans in found for span in spans}
        if len(traces) < self.page:
            yield from found
            return
        halves = window.halves()
        if halves is None:
            self.problems.append(
                f"Jaeger {self.url}: {len(traces)} or more traces start at {rfc3339(window.start)}, "
                f"more than one query returns ({self.page}): some of them may be missing"
            )
            yield from found
            return
        for half in halves:
            yield from self._window(service, half, operation)

    def _find(self, service: str, window: Window, operation: str | None) -> list[tuple[dict[str, object], list[Span]]]:
        query = {
            "query.service_name": service,
            "query.start_time_min": rfc3339(window.start),
            "query.start_time_max": rfc3339(window.end),
            "query.num_traces": str(self.page),
        }
        if operation is not None:
            query["query.operation_name"] = operation
        body = self._get(f"/api/v3/traces?{urlencode(query)}")
        if body is None:
            return []
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("result"), dict):
                raise TypeError('no "result" object')
            return spans_of_traces_data(data["result"])
        except orjson.JSONDecodeError:
            raise JaegerError(f"Jaeger {self.url} answered something that is not JSON: {_excerpt(body)}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise JaegerError(
                f"Jaeger {self.url} answered JSON that is not API v3 trace data ({error}): {_excerpt(body)}"
            ) from None

    def _get(self, path: str) -> bytes | None:
        """The body of a 200 answer, ``None`` for a 404 (no match), read within the timeout."""
        self.requests += 1
        request = urllib.request.Request(self.url + path, headers=self._headers)
        deadline = time.monotonic() + self.timeout
        late = f"Jaeger {self.url} did not answer within {self.timeout:g} s (--jaeger-timeout)"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                chunks = []
                # read1: one socket read each (each bounded by the timeout), so a server
                # that answers a byte at a time is given up on at the deadline too.
                while chunk := answer.read1(_CHUNK):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise JaegerError(late)
                return b"".join(chunks)
        except urllib.error.HTTPError as error:
            body = error.read() if error.fp is not None else b""
            if error.code == 404 and _no_match(body):
                return None
            hint = " (is it Jaeger's query API, the UI's port, 16686?)" if error.code == 404 else ""
            raise JaegerError(
                f"Jaeger {self.url} answered HTTP {error.code} {error.reason}{hint}: {_excerpt(body)}"
            ) from None
        except TimeoutError:
            raise JaegerError(late) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise JaegerError(late) from None
            raise JaegerError(f"cannot reach Jaeger at {self.url}: {reason}") from None
        except OSError as error:
            raise JaegerError(f"cannot read from Jaeger at {self.url}: {error.strerror or error}") from None
        except http.client.HTTPException as error:  # not HTTP at all, or cut off
            raise JaegerError(f"Jaeger {self.url} answered something that is not HTTP: {error!r}") from None


def _no_match(body: bytes) -> bool:
    """Whether a 404's body is API v3's "no traces found" (an error object with its
    ``httpCode``), not a server or path that is no query API at all."""
    try:
        data = orjson.loads(body)
        return bool(data["error"]["httpCode"] == 404)
    except (ValueError, TypeError, KeyError):
        return False


def _excerpt(body: bytes, limit: int = 120) -> str:
    """The start of an answer, on one line, as text."""
    text = " ".join(body[: limit * 4].decode("utf-8", "replace").split())
    return repr(text[:limit] + ("…" if len(text) > limit else "")) if text else "(empty)"
