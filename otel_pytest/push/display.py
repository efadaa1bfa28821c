"""What ``otel-pytest push`` shows while it works: warnings and notes as lines on stderr,
and on a terminal a progress bar (rich, when the ``analyze`` extra installed it).

Off a terminal (CI logs, a pipe) nothing but the lines is written: a bar redrawn there is
noise in a log.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from otel_pytest.analyze.report.wording import visible
from otel_pytest.plural import plural

if TYPE_CHECKING:
    from typing_extensions import Self

    from otel_pytest.push.deliver import Summary
    from otel_pytest.push.plan import Plan


class Display(Protocol):
    """The push's view; a context manager around the whole push."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def line(self, text: str) -> None:
        """A warning or note, on stderr."""

    def start(self, name: str, total: int | None) -> None:
        """One run (or file) begins; ``total`` spans, when known."""

    def advance(self, items: int) -> None:
        """Spans of the current run delivered."""


class Lines:
    """Lines only: off a terminal, or without rich."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def line(self, text: str) -> None:
        print(visible(text), file=sys.stderr)

    def start(self, name: str, total: int | None) -> None:
        return None

    def advance(self, items: int) -> None:
        return None


class Bar:
    """A rich progress bar on stderr, one task per run; lines are printed above it."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def line(self, text: str) -> None:
        from rich.text import Text

        self._progress.console.print(Text(visible(text)))

    def start(self, name: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(visible(name), total=total)

    def advance(self, items: int) -> None:
        self._progress.advance(self._task, items)


def display_for(stream: Any) -> Display:
    """A :class:`Bar` when ``stream`` is a terminal and rich is installed, else :class:`Lines`."""
    if not stream.isatty():
        return Lines()
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ModuleNotFoundError:
        return Lines()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("spans"))
    progress = Progress(*columns, TimeElapsedColumn(), console=Console(file=stream), transient=True)
    return Bar(progress)


def summary_line(plan: Plan, summary: Summary) -> str:
    """The push's last line: what went where, how many requests and retries, how long."""
    what = f"{plural(summary.runs, 'run')}, {plural(summary.spans, 'span')}"
    if summary.points:
        what += f" and {plural(summary.points, 'metric point')}"
    line = (
        f"otel-pytest: pushed {what} to {plan.traces.shown}: {plural(summary.requests, 'request')}, "
        f"{plural(summary.retries, 'retry', 'retries')}, {summary.seconds:.1f} s"
    )
    if summary.rejected:
        line += f"; the endpoint refused {plural(summary.rejected, 'span')}"
    if plan.skipped:
        more = ", …" if len(plan.skipped) > 3 else ""
        line += (
            f"; skipped {plural(len(plan.skipped), 'run')} already pushed there "
            f"({', '.join(plan.skipped[:3])}{more}): --force sends them again"
        )
    return line
