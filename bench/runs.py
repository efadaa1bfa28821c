"""Generic pieces of the process benchmarks: one measured child process, what a pytest run
printed, paired ratios, installed versions, and a generated section of a Markdown file.
Standard library only; nothing here knows a particular suite.

``bench/db.py`` uses these; ``bench/overhead.py`` has suite-bound versions of the same ideas
that can move onto them: the process part of ``run_pytest``, its ``passed`` and ``otel``
line parsing and ``_RUN_FILE``, the ratio arithmetic of ``summarise``, ``update_docs`` (tied
to its own markers), ``rotations`` (typed for its own ``Variant``) and ``_package``.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_PASSED = re.compile(r"(\d+) passed")
_RUN_FILE = re.compile(r"\S*\.otlp\.jsonl")


@dataclass(frozen=True)
class Measured:
    """One finished child process: wall time around it, CPU and peak RSS from ``os.wait4``."""

    exit_code: int
    wall: float
    user: float
    system: float
    max_rss_kib: int
    output: str
    timed_out: bool

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float,
) -> Measured:
    """Run ``command`` with stdin closed and stdout + stderr to ``log``; killed after ``timeout``
    seconds. ``os.wait4`` reports the resources of that process and of its waited-for
    children only, not of servers it talks to."""
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
    process.returncode = exit_code = os.waitstatus_to_exitcode(status)
    return Measured(
        exit_code=exit_code,
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        max_rss_kib=usage.ru_maxrss,
        output=log.read_text(encoding="utf-8", errors="replace"),
        timed_out=killed.is_set(),
    )


def passed_count(output: str) -> int | None:
    """The ``N passed`` of pytest's summary line, ``None`` when there is none."""
    found = _PASSED.search(output)
    return int(found.group(1)) if found else None


def otel_lines(output: str) -> tuple[str, ...]:
    """otel-pytest's own lines of a run's output, the run file's name masked so that the
    lines of different runs compare equal."""
    return tuple(_RUN_FILE.sub("<run file>", line) for line in output.splitlines() if line.startswith("otel"))


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Ratios:
    """A variant against its baseline, from samples taken in the same rounds.

    ``medians``: ratio of the medians; ``per_round``: median of the ratios within each
    round (pairs run back to back share the machine's state); ``minimums``: ratio of the
    least disturbed runs (on a shared machine noise only ever adds time).
    """

    medians: float
    per_round: float
    minimums: float

    def within(self, target: float) -> bool:
        """Met when both median-based ratios are; the minimums are shown beside them."""
        return self.medians <= target and self.per_round <= target

    def render(self) -> str:
        return f"{self.medians:.3f} / {self.per_round:.3f} / {self.minimums:.3f}"


def paired_ratios(values: Mapping[int, float], baseline: Mapping[int, float]) -> Ratios:
    """``values`` and ``baseline`` map a round number to that round's measurement."""
    rounds = sorted(values.keys() & baseline.keys())
    if not rounds:
        raise ValueError("no round has both a value and a baseline")
    own = [values[r] for r in rounds]
    base = [baseline[r] for r in rounds]
    return Ratios(
        medians=statistics.median(own) / statistics.median(base),
        per_round=statistics.median(values[r] / baseline[r] for r in rounds),
        minimums=min(own) / min(base),
    )


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Put ``section`` between the ``begin`` and ``end`` marker lines of ``path``, replacing
    what is there; appended (markers included) when the markers are missing. The rest of
    the file, other generated sections included, is kept as it is."""
    block = f"{begin}\n{section.rstrip()}\n{end}\n"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\n" + block, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    head, found, rest = text.partition(begin)
    if found and end in rest:
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def rotations(variants: Sequence[T], rounds: int) -> Iterator[tuple[int, list[T]]]:
    """Round r starts with variant r mod n, so no variant always runs first or last."""
    items = list(variants)
    for number in range(rounds):
        shift = number % len(items)
        yield number, items[shift:] + items[:shift]


def cpu_model() -> str:
    """The CPU's model name, for the machine line of a benchmark's section."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def revision(repo: Path, measured: str) -> str:
    """The commit a benchmark ran on, saying when ``measured`` (a path in ``repo``) differs."""
    try:

        def git(*arguments: str) -> str:
            return subprocess.run(
                ["git", *arguments], cwd=repo, capture_output=True, text=True, check=True
            ).stdout.strip()

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", measured)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" ({measured} modified)" if dirty else "")
