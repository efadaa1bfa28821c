"""Garbage-collection pauses, told to the recorder from ``gc.callbacks``.

CPython calls every function in ``gc.callbacks`` with ``("start", info)`` before a
collection and ``("stop", info)`` after it (``info``: ``generation``, ``collected``,
``uncollectable``). The collection stops every thread, so its time belongs to whatever
span is current. Each pause adds to the recorder's tally (every span that was running
counts it, see :mod:`otel_pytest.recorder`); one of at least :data:`MIN_SPAN_NS` is also a
span of its own, ``gc gen N``, so that the hole it leaves in a waterfall is named.

Why a span and not a span event: a pause has a length. Jaeger draws a span as a bar over
exactly the hole the pause left, with its name in the timeline; an event is a tick with no
length, hidden in the parent's log list, and the analyzer's readers do not decode events
on their fast path. Short pauses (a young-generation collection takes tens of
microseconds) would only clutter the trace and cost a record each, so they are counted,
not drawn.

**Invisible.** The callback runs inside the collector, in whichever thread allocated:

- it allocates no container on the way for a short pause (ints and one tally tuple), so it
  does not bring the next collection nearer; a long pause makes one record and one dict;
- nothing escapes: CPython would print an exception raised in a callback as "unraisable",
  and pytest turns those into warnings the tests see. A failure is the run's internal
  error instead, and the callback does nothing more;
- it is in ``gc.callbacks`` from the run's start to its end (the run's
  :class:`otel_pytest.binding.ProcessBinding` adds and removes it): a test that asserts on
  the contents of ``gc.callbacks`` sees it, and ``--no-otel-gc`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from otel_pytest import clock

if TYPE_CHECKING:
    from otel_pytest.recorder import Recorder

MIN_SPAN_NS = 1_000_000  # a pause of 1 ms or more is a span of its own


class GcPauses:
    """The ``gc.callbacks`` entry of a traced run."""

    __slots__ = ("_failed", "_min_span_ns", "_recorder", "_started")

    def __init__(self, recorder: Recorder, min_span_ns: int = MIN_SPAN_NS) -> None:
        self._recorder = recorder
        self._min_span_ns = min_span_ns
        self._started = 0
        self._failed = False

    def callback(self, phase: str, info: Mapping[str, int]) -> None:
        """Called by CPython around each collection; see the module docstring."""
        if self._failed:
            return
        try:
            if phase == "start":
                self._started = clock.now_ns()
                return
            started, self._started = self._started, 0
            if not started:  # installed during a collection: its start was not seen
                return
            end = clock.now_ns()
            recorder = self._recorder
            pause_ns, collections = recorder.gc_tally
            recorder.gc_tally = (pause_ns + end - started, collections + 1)
            if end - started >= self._min_span_ns:
                recorder.gc_pause(
                    started, end, info["generation"], info.get("collected", 0), info.get("uncollectable", 0)
                )
        except Exception as error:
            self._failed = True
            self._recorder.failed(error)
