"""The run's own TracerProvider and how spans made through the OTel API find their parent.

Two rules from the design: otel-pytest never replaces a provider the code under test
installed (pytest-opentelemetry did, and such apps then recorded nothing), and spans made
through the OTel API nest under the current test, phase or fixture.

Parenting uses one context entry attached for the whole run (by
:class:`otel_pytest.binding.ProcessBinding`) whose span is a *view* of the recorder's
current span. Attaching a fresh context per span would cost microseconds per
fixture and break where pytest-asyncio runs a fixture's teardown in the context copied at
its setup; a view is always right, wherever the context was copied.

Recorded SDK spans are put on the plugin's clock (:mod:`otel_pytest.clock`): the SDK
stamps spans and events with ``time.time_ns``, which freezegun and time-machine move.
"""

from __future__ import annotations

import random
import sys
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanContext, TraceFlags

from otel_pytest import clock
from otel_pytest.sdk_records import record_from_sdk
from otel_pytest.semconv import spans as span_names

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    from otel_pytest.recorder import Recorder
    from otel_pytest.records import SpanRecord

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _sdk_clock() -> Callable[[], int]:
    """The function the SDK stamps times with, as it is now (freezegun replaces the SDK
    module's ``time_ns`` while a test is frozen; time-machine changes what it returns)."""
    sdk = sys.modules.get("opentelemetry.sdk.trace")
    now = getattr(sdk, "time_ns", None)
    return now if callable(now) else time.time_ns


class RunTracerProvider(trace.TracerProvider):
    """Creates the SDK provider on first use: most runs without a database never need it,
    and importing the SDK costs ~90 ms."""

    def __init__(self, recorder: Recorder, resource: dict[str, Any]) -> None:
        self._recorder = recorder
        self._resource = resource
        self._sdk: TracerProvider | None = None

    @property
    def sdk(self) -> TracerProvider:
        if self._sdk is None:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider

            # Invisible to the code under test: span ids from the recorder's own random
            # generator (the SDK's default draws from the global ``random``, moving a test's
            # seeded sequence), and no atexit hook (the run shuts the provider down itself).
            self._sdk = TracerProvider(
                resource=Resource(self._resource),
                id_generator=cast("IdGenerator", PrivateIds(random.Random())),
                shutdown_on_exit=False,
            )
            # Duck-typed: subclassing the SDK's SpanProcessor would import the SDK with the module.
            self._sdk.add_span_processor(cast("SpanProcessor", RecordingProcessor(self._recorder)))
        return self._sdk

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        # The SDK's get_tracer inserts a warnings filter on every call; the user's filters
        # must stay as they were.
        with warnings.catch_warnings():
            return self.sdk.get_tracer(*args, **kwargs)

    def shutdown(self) -> None:
        if self._sdk is not None:
            self._sdk.shutdown()


class PrivateIds:
    """The SDK's ``IdGenerator`` drawing from a generator of its own, not the global one."""

    def __init__(self, generator: random.Random) -> None:
        self._bits = generator.getrandbits

    def generate_span_id(self) -> int:
        return self._bits(64) or 1

    def generate_trace_id(self) -> int:
        return self._bits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


class RecordingProcessor:
    """A span processor that hands ended SDK spans to the recorder as records, on the
    plugin's clock and with failure text as ``--otel-record-failures`` keeps it.

    The SDK's times are mapped onto the plugin's clock by the difference of the two
    clocks measured as the span starts (and again as it ends): a span timed by a frozen
    or travelling clock lands where it really ran, and a time the application passed
    explicitly keeps its distance from the moment it was given.
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        # An app's provider outlives the run (the SDK cannot remove a processor), so the
        # processor is switched off instead.
        self.active = True
        self._offsets: dict[int, int] = {}  # span id -> plugin clock minus SDK clock at start

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.active:
            self._offsets[span.context.span_id] = clock.now_ns() - _sdk_clock()()

    def on_end(self, span: ReadableSpan) -> None:
        if not self.active:
            return
        end_offset = clock.now_ns() - _sdk_clock()()
        record = record_from_sdk(span)
        self._to_plugin_clock(record, self._offsets.pop(record.span_id, end_offset), end_offset)
        failures = self._recorder.failures
        for event in record.events or ():
            if event.name == span_names.EXCEPTION_EVENT:
                event.attributes = failures.sdk_event(event.attributes)
        if record.status_message:
            record.status_message = failures.sdk_status(record.status_message)
        self._recorder.add_finished(record)

    @staticmethod
    def _to_plugin_clock(record: SpanRecord, start_offset: int, end_offset: int) -> None:
        start = record.start + start_offset
        end = max(record.end + end_offset, start)
        record.start, record.end = start, end
        for event in record.events or ():
            event.time = min(max(event.time + start_offset, start), end)

    def _on_ending(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class CurrentSpanView(NonRecordingSpan):
    """The recorder's current span as the OTel API's current span.

    When the application installed its own global provider and the user did not pass
    ``--otel-capture-app``, the view shows no span, so the application's traces stay its
    own; otel-pytest's instrumentation asks the recorder directly.
    """

    def __init__(self, recorder: Recorder, provider: RunTracerProvider, capture_app: bool) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.recorder = recorder
        self._provider = provider
        self._capture_app = capture_app
        self._cached_id = 0
        self._cached: SpanContext = INVALID_SPAN_CONTEXT

    def get_span_context(self) -> SpanContext:
        if not self._capture_app and not self._shared():
            return INVALID_SPAN_CONTEXT
        return self.recorder_context()

    def recorder_context(self) -> SpanContext:
        record = self.recorder.current
        if record.span_id != self._cached_id:
            self._cached = SpanContext(record.trace_id, record.span_id, False, _SAMPLED)
            self._cached_id = record.span_id
        return self._cached

    def _shared(self) -> bool:
        current = trace.get_tracer_provider()
        return current is self._provider or isinstance(current, trace.ProxyTracerProvider)
