"""Profile one in-process pytest run with cProfile, every thread included.

``python -m cProfile -m pytest`` sees only the main thread, and application or database
code may run spans in threads of its own (otel-pytest's OTLP sending runs in a separate
helper process, which no in-process profile sees; its encoding is on the main thread).
This runs ``pytest.main`` under one profiler for the main thread and gives every thread
started during the run its own profiler, then prints:

* the top functions of each thread by cumulative time;
* the time spent inside otel-pytest as seen from outside it (the sum, over every call
  edge from a caller outside ``otel_pytest`` to a function inside it, of that edge's
  cumulative time): what the plugin costs each thread;
* otel-pytest's own functions by cumulative time.

cProfile inflates every Python call, pytest's and the plugin's alike, so shares are more
telling than absolute seconds. Example, from the repository root, on a suite written by
``python -m bench.overhead --generate /tmp/suite``::

    .venv/bin/python -m bench.profile_run --suite /tmp/suite --out /tmp/prof -- -q -p no:cacheprovider --otel
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PACKAGE_MARK = f"{os.sep}otel_pytest{os.sep}"

# pstats' table: (file, line, function) -> (primitive calls, calls, tottime, cumtime, callers)
Func = tuple[str, int, str]
Stats = dict[Func, tuple[int, int, float, float, dict[Func, tuple[int, int, float, float]]]]


class ThreadProfiles:
    """Wraps ``threading.Thread.run`` so each new thread runs under its own profiler."""

    def __init__(self) -> None:
        self.profiles: dict[str, cProfile.Profile] = {}
        self._lock = threading.Lock()
        self._original: Callable[[threading.Thread], None] = threading.Thread.run

    def install(self) -> None:
        original = self._original
        profiles, lock = self.profiles, self._lock

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile()
            with lock:
                profiles[f"thread {thread.name}"] = profile
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()

        setattr(threading.Thread, "run", run)  # noqa: B010 - mypy rejects a method assignment

    def uninstall(self) -> None:
        setattr(threading.Thread, "run", self._original)  # noqa: B010


def in_plugin(func: Func) -> bool:
    return PACKAGE_MARK in func[0]


def plugin_time(stats: Stats) -> float:
    """Cumulative time of calls into otel-pytest from code outside it.

    Calls made through the import machinery do not count as coming from outside: the
    plugin's own lazy imports are already inside the hook that makes them (counting them
    again would count them twice), and pytest's one import of the entry-point module is
    left out.
    """
    total = 0.0
    for func, (_, _, _, _, callers) in stats.items():
        if not in_plugin(func):
            continue
        for caller, (_, _, _, cumtime) in callers.items():
            if not in_plugin(caller) and not caller[0].startswith("<frozen importlib"):
                total += cumtime
    return total


def short(func: Func) -> str:
    file, line, name = func
    marker = "site-packages" + os.sep
    if marker in file:
        file = file.split(marker, 1)[1]
    elif PACKAGE_MARK in file:
        file = "otel_pytest" + os.sep + file.split(PACKAGE_MARK, 1)[1]
    return f"{file}:{line}({name})" if line else name


def table(stats: Stats, funcs: Sequence[Func], top: int) -> str:
    rows = sorted(funcs, key=lambda f: stats[f][3], reverse=True)[:top]
    out = [f"{'calls':>9} {'tottime':>8} {'cumtime':>8}  function"]
    for func in rows:
        _, calls, tottime, cumtime, _ = stats[func]
        out.append(f"{calls:>9} {tottime:>8.3f} {cumtime:>8.3f}  {short(func)}")
    return "\n".join(out)


def report(name: str, profile: cProfile.Profile, wall_total: float | None, top: int) -> str:
    stats_obj = pstats.Stats(profile, stream=io.StringIO())
    stats: Stats = stats_obj.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    inside = plugin_time(stats)
    share = f"{100 * inside / total:.1f} %" if total else "-"
    head = f"== {name}: {total:.3f} s profiled, {inside:.3f} s inside otel_pytest ({share})"
    if wall_total is not None:
        head += f"; run took {wall_total:.3f} s under the profiler"
    ours = [f for f in stats if in_plugin(f)]
    return "\n".join(
        [
            head,
            f"-- top {top} by cumulative time",
            table(stats, list(stats), top),
            f"-- otel_pytest functions by cumulative time (top {top})",
            table(stats, ours, top) if ours else "(none)",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    own, pytest_args = (raw[: raw.index("--")], raw[raw.index("--") + 1 :]) if "--" in raw else (raw, [])
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        usage="%(prog)s [--out DIR] [--top N] -- PYTEST_ARGS...",
    )
    parser.add_argument("--suite", type=Path, default=None, help="run pytest in this folder (default: here)")
    parser.add_argument("--out", type=Path, default=None, help="also write <name>.prof files here")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    args = parser.parse_args(own)

    import pytest

    if args.suite is not None:
        os.chdir(args.suite)
    threads = ThreadProfiles()
    threads.install()
    main_profile = cProfile.Profile()
    start = time.perf_counter()
    main_profile.enable()
    try:
        exit_code = pytest.main(pytest_args)
    finally:
        main_profile.disable()
        threads.uninstall()
    elapsed = time.perf_counter() - start
    profiles: dict[str, Any] = {"main thread": main_profile, **threads.profiles}
    print()
    for name, profile in profiles.items():
        print(report(name, profile, elapsed if name == "main thread" else None, args.top))
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            profile.dump_stats(str(args.out / (name.replace(" ", "_").replace("/", "_") + ".prof")))
    return int(exit_code)


if __name__ == "__main__":
    sys.exit(main())
