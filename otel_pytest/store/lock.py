"""Advisory locks that let concurrent runs share one store.

Two kinds, both ``fcntl.flock`` (released by the kernel when the process dies, ``kill -9``
included, so a lock can never be left behind):

* the **store lock**, ``<store>/.lock``, held exclusively around every change of the
  store's shape: creating a run file, the index's read-modify-write, retention, adopting
  orphans. Readers (``otel-pytest runs``, the analyzer) take no lock: the index is only
  ever replaced whole.
* a **writer lock**: a shared lock a running process holds on its own run file (or xdist
  part) from its creation until the run is in the index. A run file that is not in the
  index and whose lock can be taken has no live writer: it is an orphan.

Where ``fcntl`` is missing (Windows) nothing is locked: the index is still replaced
atomically, but two runs finishing at the same instant may lose one index line, and a
live writer cannot be told from a dead one, so unindexed run files are never touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


@contextlib.contextmanager
def store_lock(store: Path) -> Iterator[None]:
    """Hold the store's exclusive lock; the folder is created if needed.

    A test may delete the store (lock file included) while another process waits for
    the lock: the lock is only ours once the file we locked is still the one at the path.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = store / LOCK_NAME
    while True:
        store.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def hold_writer_lock(fd: int) -> None:
    """Mark the open run file as written by a live process (see the module docstring)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH)


def has_live_writer(path: Path) -> bool:
    """Whether a live process holds the writer lock of ``path``; ``True`` when it cannot be
    told (no ``fcntl``), so that nothing a running process writes is ever taken from it."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
