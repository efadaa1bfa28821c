"""A time limit for in-process calls that used to hang: the test fails instead of hanging.

``SIGALRM`` interrupts a pure-Python loop between bytecodes and a blocking ``open`` of a
named pipe alike (Python retries the interrupted call only after the handler, which
raises). Main thread only, as pytest runs tests.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
