"""What the plugin prints at the end of a run, just above pytest's closing line.

One line says where the run went (run id, tests, spans, the store, the endpoint); warnings
follow for whatever did not get there; a last line says what to run next: ``otel-pytest
analyze`` (with ``--store`` when run from here it would not find the store by itself), or
the run's traces in the Jaeger UI when ``--otel-jaeger-url`` names it. Quiet modes print
less, as pytest's own sections do: ``-q`` drops the hint, ``-qq`` keeps only the warnings
(lost spans are never silent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from otel_pytest.identity import strip_credentials
from otel_pytest.plural import plural
from otel_pytest.semconv import attributes as attr
from otel_pytest.store.locate import ConfigFileError, find_rootdir

if TYPE_CHECKING:
    from otel_pytest.export import SignalReport
    from otel_pytest.options import Options
    from otel_pytest.run import RunTally


@dataclass(frozen=True)
class Line:
    text: str
    warning: bool = False


def closing_lines(summary: RunTally, options: Options, service: str, base: Path, verbosity: int) -> list[Line]:
    """The lines for pytest's verbosity (0 normal, -1 ``-q``, -2 ``-qq``), ``base`` the
    folder pytest was started in (paths are shown relative to it)."""
    from otel_pytest.run import display_path

    spans = [d.spans for d in summary.deliveries if d.spans is not None]
    metrics = [d.metrics for d in summary.deliveries if d.metrics is not None]
    exported = bool(spans) and all(report.problem is None and not report.rejected for report in spans)
    line = f"otel: run {summary.run_id}: {plural(summary.tests, 'test')}, {plural(summary.spans, 'span')}"
    if summary.store_file:
        line += f" in {display_path(options.store, base)}"
    if exported:
        line += f", exported to {spans[0].endpoint}"
    lines = [Line(line)]
    kept = (
        f"they are in {display_path(summary.store_file, base)}"
        if summary.store_file
        else "and the local store could not be written either"
    )
    lines.extend(_undelivered(spans, "spans", kept))
    taken = [report for report in metrics if not report.unsupported]
    if len(taken) < len(metrics):
        lines.append(Line(f"otel: note: the endpoint takes no metrics ({metrics[0].endpoint})"))
    store_metrics = display_path(options.store / "metrics", base)
    lines.extend(_undelivered(taken, "metric data points", f"they are in {store_metrics}"))
    lines.extend(Line(f"otel: warning: {problem}", warning=True) for problem in dict.fromkeys(summary.problems))
    hint = _next_step(summary, options, service, base, any(report.delivered for report in spans))
    if hint:
        lines.append(Line(f"otel: next: {hint}"))
    if verbosity < -1:
        return [line for line in lines if line.warning]
    if verbosity < 0:
        return lines[:-1] if hint else lines
    return lines


def _next_step(summary: RunTally, options: Options, service: str, base: Path, delivered: bool) -> str:
    """``otel-pytest analyze`` when the store was written, the Jaeger UI when the spans went
    to the endpoint and ``--otel-jaeger-url`` says where its UI is; both, or neither."""
    from otel_pytest.run import display_path

    steps = []
    if summary.store_file:
        try:
            found = find_rootdir(base).store
        except ConfigFileError:
            found = None
        store = "" if found == options.store else f" --store {display_path(options.store, base)}"
        steps.append(f"otel-pytest analyze{store}")
    if options.jaeger_url and delivered:
        steps.append(f"see the traces at {jaeger_search_url(options.jaeger_url, service, summary.run_id)}")
    return ", or ".join(steps)


def jaeger_search_url(base: str, service: str, run_id: str) -> str:
    """The Jaeger UI's search for every trace of the run: its service and run id tag."""
    tags = json.dumps({attr.RUN_ID: run_id}, separators=(",", ":"))
    return f"{strip_credentials(base)}/search?{urlencode({'service': service, 'tags': tags})}"


def _undelivered(reports: list[SignalReport], what: str, kept: str) -> list[Line]:
    """One warning for a signal some of whose items did not reach the collector: failed
    requests (the first problem says why) and items refused in ``partial_success``."""
    problems = [report.problem for report in reports if report.problem]
    rejected = sum(report.rejected for report in reports)
    if not problems and not rejected:
        return []
    sent = sum(report.sent for report in reports)
    lost = sent - sum(report.delivered for report in reports)
    reasons = problems[:1]
    if rejected:
        message = next((report.rejection for report in reports if report.rejection), "")
        reasons.append(f"the collector rejected {rejected}" + (f": {message}" if message else ""))
    return [
        Line(
            f"otel: warning: {lost} of {sent} {what} not delivered to {reports[0].endpoint} "
            f"({'; '.join(reasons)}); {kept}",
            warning=True,
        )
    ]
