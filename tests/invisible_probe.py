"""The conftest of the probe suite run by ``tests/test_invisible.py`` (copied in as ``conftest.py``).

It records what the code under test can observe of its process, as plain JSON, at
conftest import, session start, collection finish, and in the setup, call and teardown of
each probe test, one line per observation in ``probes-<worker>.jsonl`` beside itself.
Everything it needs is imported here, at conftest import, so that taking a snapshot
imports nothing: the snapshots' ``sys.modules`` is the suite's own.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import gc
import hashlib
import json
import logging
import os
import random
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_OUT = Path(__file__).with_name(f"probes-{_WORKER}.jsonl")

Probe = Callable[..., None]

# The interpreter's random state is part of what a test sees: a plugin that draws from the
# global generator changes every seeded sequence after it.
random.seed(20261203)


def name_of(thing: object) -> object:
    """A stable name for a hook, handler or callback (no memory addresses)."""
    if thing is None or isinstance(thing, (int, str)):
        return thing
    owner = getattr(thing, "__self__", None)
    if owner is not None and not isinstance(owner, type(sys)):
        return f"{type(owner).__module__}.{type(owner).__qualname__}.{getattr(thing, '__name__', '?')}"
    module = getattr(thing, "__module__", None) or type(thing).__module__
    qualname = getattr(thing, "__qualname__", None) or type(thing).__qualname__
    return f"{module}.{qualname}"


def _logger(logger: logging.Logger | logging.PlaceHolder) -> object:
    if isinstance(logger, logging.PlaceHolder):
        return "placeholder"
    return {
        "level": logger.level,
        "handlers": [f"{name_of(type(h))}@{h.level}" for h in logger.handlers],
        "propagate": logger.propagate,
        "disabled": logger.disabled,
        "filters": [name_of(f) for f in logger.filters],
    }


def _filter(entry: tuple[Any, ...]) -> list[object]:
    action, message, category, module, lineno = entry
    return [action, getattr(message, "pattern", message), name_of(category), getattr(module, "pattern", module), lineno]


def _environ() -> dict[str, str]:
    """The environment, with a well-formed ``TRACEPARENT`` reduced to its format."""
    env = dict(os.environ)
    traceparent = env.get("TRACEPARENT")
    if traceparent is not None and _TRACEPARENT.fullmatch(traceparent):
        env["TRACEPARENT"] = "00-<trace id>-<span id>-01"
    return env


def _signals() -> dict[str, object]:
    handlers: dict[str, object] = {}
    for number in sorted(signal.valid_signals()):
        try:
            handlers[signal.Signals(number).name] = name_of(signal.getsignal(number))
        except (ValueError, OSError):  # real-time signals without a name
            continue
    return handlers


def _children() -> list[str]:
    """The command lines of this process's children (what ``os.wait`` could reap)."""
    commands = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):  # a process that just ended
            if entry.name.isdigit() and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == os.getpid():
                commands.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
    return sorted(commands)


def snapshot() -> dict[str, object]:
    """Everything a test could look at, by probe name."""
    return {
        "warnings.filters": [_filter(entry) for entry in warnings.filters],
        "logging.root": [logging.root.level, [f"{name_of(type(h))}@{h.level}" for h in logging.root.handlers]],
        "loggers": {name: _logger(logger) for name, logger in sorted(logging.Logger.manager.loggerDict.items())},
        "gc": [name_of_all(gc.callbacks), gc.isenabled(), list(gc.get_threshold())],
        "sys.modules": sorted(sys.modules),
        "os.environ": _environ(),
        "tracing hooks": [
            name_of(sys.gettrace()),
            name_of(sys.getprofile()),
            name_of(threading.gettrace()),
            name_of(threading.getprofile()),
        ],
        "exception hooks": [
            name_of(sys.excepthook),
            name_of(threading.excepthook),
            name_of(sys.unraisablehook),
            name_of(sys.displayhook),
            name_of(sys.breakpointhook),
        ],
        "atexit": atexit._ncallbacks(),
        "signal handlers": _signals(),
        "sys.path": list(sys.path),
        "cwd": os.getcwd(),
        "streams": [name_of(type(stream)) for stream in (sys.stdin, sys.stdout, sys.stderr)],
        "faulthandler": faulthandler.is_enabled(),
        "import system": [name_of_all(sys.meta_path), name_of_all(sys.path_hooks)],
        "child processes": _children(),
        "threads": sorted(f"{t.name} daemon={t.daemon}" for t in threading.enumerate()),
        "random state": hashlib.sha256(repr(random.getstate()).encode()).hexdigest()[:16],
        "clocks": name_of_all([time.time, time.time_ns, time.perf_counter, time.monotonic, time.sleep]),
        "interpreter": [sys.getrecursionlimit(), sys.getswitchinterval()],
    }


def name_of_all(things: list[Any]) -> list[object]:
    return [name_of(thing) for thing in things]


def record(where: str, **extra: object) -> None:
    """Append one observation; ``extra`` holds probes only some tests make."""
    with _OUT.open("a") as out:
        out.write(json.dumps({"where": where, "worker": _WORKER, **snapshot(), **extra}, sort_keys=True) + "\n")


def frames(traceback: TracebackType | None) -> list[str]:
    """``module.function`` of each frame of a traceback, outermost first."""
    names = []
    while traceback is not None:
        names.append(f"{traceback.tb_frame.f_globals.get('__name__')}.{traceback.tb_frame.f_code.co_name}")
        traceback = traceback.tb_next
    return names


def _item_view(request: pytest.FixtureRequest) -> dict[str, object]:
    """What pytest shows a fixture of its test (the stash is pytest's and not compared)."""
    item = request.node
    return {
        "fixturenames": list(request.fixturenames),
        "request attributes": [name for name in dir(request) if not name.startswith("_")],
        "item attributes": [name for name in dir(item) if not name.startswith("_")],
        "item dict": sorted(vars(item)),
        "config dict": sorted(vars(request.config)),
        "session dict": sorted(vars(request.session)),
        "user_properties": [list(p) for p in item.user_properties],
        "markers": [marker.name for marker in item.iter_markers()],
        "keywords": sorted(item.keywords),
        "hooks": {
            name: list(caller.spec.argnames) if caller.spec else None
            for name, caller in sorted(vars(request.config.hook).items())
            if name.startswith("pytest_")
        },
    }


record("conftest import")


def pytest_sessionstart(session: pytest.Session) -> None:
    record("session start")


def pytest_collection_finish(session: pytest.Session) -> None:
    record("collection finish")


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Iterator[Probe]:
    """Records the test's setup and teardown; the test calls it for its call phase."""
    name = request.node.name
    record(f"{name} setup", item=_item_view(request))
    yield lambda **extra: record(f"{name} call", **extra)
    record(
        f"{name} teardown",
        exc_info=[name_of(part) for part in sys.exc_info()[:2]],
        user_properties=[list(p) for p in request.node.user_properties],
    )
