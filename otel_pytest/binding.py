"""Everything a traced run changes in its process, made and undone in one place.

A run reaches beyond its own objects in a few ways, each visible to the code under test:

- the OTel context holds a view of the recorder's current span for the whole run, so spans
  made through the OTel API nest under the running test, phase or fixture
  (:class:`otel_pytest.provider.CurrentSpanView`);
- the global tracer provider is the run's, if nobody had set one: the application's own
  OTel spans then join the run's traces. It is set without taking the API's set-once latch,
  so an application that calls ``trace.set_tracer_provider()`` later still succeeds;
- with ``--otel-capture-app``, an SDK provider the application installed gets a processor
  that records its spans too (the SDK cannot remove a processor: it is switched off);
- ``TRACEPARENT`` in the environment names the running test's span while it runs, so the
  processes it starts join its trace;
- the database layer's hooks (wrapped SQLAlchemy and asyncpg functions, pool listeners,
  the per-test summary on the recorder), added as those libraries are imported;
- unless ``--no-otel-gc``, an entry in ``gc.callbacks`` that times garbage-collection
  pauses (:mod:`otel_pytest.gc_pauses`): the one effect a test can see by looking, in the
  contents of that list.

:class:`ProcessBinding` makes them in that order and undoes them in the reverse one, each
undo running even if an earlier one failed, and puts back exactly what was there before:
the previous ``TRACEPARENT`` or its absence, an unset global provider, the context as it
was. Like the OTel instrumentors' ``instrument``/``uninstrument``, installing twice or
uninstalling twice is harmless. The pytest process has no logging plumbing to undo: the
exporters' loggers live in the sender process (see :mod:`otel_pytest.sender`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_pytest.provider import CurrentSpanView, RecordingProcessor

if TYPE_CHECKING:
    from otel_pytest.gc_pauses import GcPauses
    from otel_pytest.provider import RunTracerProvider
    from otel_pytest.recorder import Recorder


def traceparent(trace_id: int, span_id: int) -> str:
    """The W3C ``traceparent`` of a sampled span."""
    return f"00-{trace_id:032x}-{span_id:016x}-01"


class Instrumentation(Protocol):
    """Hooks added as the libraries they hook appear (:class:`otel_pytest.db.DbInstrumentation`)."""

    def refresh(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class UndoFailure:
    """An effect that could not be undone: what it was, and why."""

    what: str
    error: Exception


class TraceparentVariable:
    """``TRACEPARENT`` while a test runs; told by the recorder when a test's trace begins
    and ends. The value it replaced (or its absence) comes back when the test ends, and
    when the binding is uninstalled in the middle of a test."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self._environ = environ
        self._inside = False
        self._saved: str | None = None

    def test_entered(self, trace_id: int, span_id: int) -> None:
        # Set once per test: every phase would cost three environment writes per test.
        if not self._inside:
            self._saved = self._environ.get("TRACEPARENT")
            self._inside = True
        self._environ["TRACEPARENT"] = traceparent(trace_id, span_id)

    def test_left(self) -> None:
        if not self._inside:
            return
        self._inside = False
        if self._saved is None:
            self._environ.pop("TRACEPARENT", None)
        else:
            self._environ["TRACEPARENT"] = self._saved


class ProcessBinding:
    """The run's process-wide effects; see the module docstring for the list."""

    def __init__(
        self,
        recorder: Recorder,
        provider: RunTracerProvider,
        *,
        capture_app: bool,
        environ: MutableMapping[str, str],
        db: Instrumentation | None = None,
        gc_pauses: GcPauses | None = None,
    ) -> None:
        self.view = CurrentSpanView(recorder, provider, capture_app)
        self._recorder = recorder
        self._provider = provider
        self._capture_app = capture_app
        self._traceparent = TraceparentVariable(environ)
        self._db = db
        self._gc_pauses = gc_pauses
        self._joined: dict[int, RecordingProcessor] = {}
        # What has been done, with how to undo it, in the order it was done.
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self._installed = False

    def install(self) -> None:
        """Make every effect. If one fails, those already made are undone and the error
        propagates: a run that cannot bind leaves the process as it found it."""
        if self._installed:
            return
        self._installed = True
        try:
            self._undo.append(("restoring the OpenTelemetry context", self._attach_view()))
            self._undo.append(("restoring the global tracer provider", self._lend_global_provider()))
            self._undo.append(("switching off the recording of the application's spans", self._switch_off_joined))
            self._recorder.trace_listener = self._traceparent
            self._undo.append(("restoring TRACEPARENT", self._release_traceparent))
            if self._db is not None:
                db = self._db
                self._undo.append(("removing the database hooks", db.close))
                db.refresh()
            if self._gc_pauses is not None:
                self._undo.append(("removing the garbage-collection callback", self._time_gc(self._gc_pauses)))
        except BaseException:
            self.uninstall()
            raise

    def before_test(self) -> None:
        """Cheap checks before each test: an app provider to join, a database library
        imported since the last test."""
        if self._capture_app:
            self._join_app_provider()
        if self._db is not None:
            self._db.refresh()

    def uninstall(self) -> list[UndoFailure]:
        """Undo every effect, the last made first; each undo runs whatever the others did.
        Returns the undos that failed."""
        failures = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as error:
                failures.append(UndoFailure(what, error))
        self._installed = False
        return failures

    def _attach_view(self) -> Callable[[], object]:
        token = otel_context.attach(trace.set_span_in_context(self.view))
        # The runtime context itself, not ``otel_context.detach``: that one logs a failure
        # through the ``opentelemetry.context`` logger, which the user's logging sees; a
        # failure raised here becomes one of the run's warnings instead.
        return lambda: otel_context._RUNTIME_CONTEXT.detach(token)

    @staticmethod
    def _time_gc(pauses: GcPauses) -> Callable[[], object]:
        callback = pauses.callback
        gc.callbacks.append(callback)

        def remove() -> None:
            # By identity: a bound method equals any other bound to an equal object.
            for index, entry in enumerate(gc.callbacks):
                if entry is callback:
                    del gc.callbacks[index]
                    return

        return remove

    def _lend_global_provider(self) -> Callable[[], object]:
        if trace._TRACER_PROVIDER is not None:
            return lambda: None
        provider = self._provider
        trace._TRACER_PROVIDER = provider

        def give_back() -> None:
            # An application may have installed its own since: that one stays.
            if trace._TRACER_PROVIDER is provider:
                trace._TRACER_PROVIDER = None

        return give_back

    def _release_traceparent(self) -> None:
        self._recorder.trace_listener = None
        self._traceparent.test_left()

    def _join_app_provider(self) -> None:
        """Also record the spans of an SDK provider the application installed."""
        current = trace.get_tracer_provider()
        if current is self._provider or id(current) in self._joined:
            return
        add = getattr(current, "add_span_processor", None)
        if add is not None:
            processor = self._joined[id(current)] = RecordingProcessor(self._recorder)
            add(processor)

    def _switch_off_joined(self) -> None:
        for processor in self._joined.values():
            processor.active = False
        self._joined.clear()
