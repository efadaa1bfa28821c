"""The plugin's clock: wall time that the code under test cannot freeze, move or patch.

Tests travel in time: freezegun replaces ``time.time_ns`` and every module attribute
bound to it, time-machine rewrites the C functions behind ``time.time`` and
``time.clock_gettime``, and ``monkeypatch.setattr(time, "time_ns", ...)`` does the same by
hand. Span timestamps read from any of those come out negative or decades off. So the
wall clock is read once, when this module is imported (before any test runs), and every
later instant is that anchor plus the elapsed ``perf_counter_ns``, which none of those
tools touch (freezegun only replaces what ``time.perf_counter_ns`` names at call time:
the original function object kept in a closure here is out of its reach).

The functions are closures rather than module attributes bound to the builtins, because
freezegun rewrites module attributes that *are* the builtins.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def _clocks() -> tuple[Callable[[], int], Callable[[], float]]:
    elapsed_ns = time.perf_counter_ns
    elapsed = time.perf_counter
    offset = time.time_ns() - elapsed_ns()

    def now_ns() -> int:
        """Nanoseconds since the epoch, as span timestamps want them."""
        return offset + elapsed_ns()

    def monotonic() -> float:
        """Seconds on a clock that only goes forward, for deadlines."""
        return elapsed()

    return now_ns, monotonic


now_ns, monotonic = _clocks()
