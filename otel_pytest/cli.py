"""The ``otel-pytest`` command.

``main(argv) -> int``: parse → options → act (for ``analyze``: read → analyze → render →
gate) → print. Exit codes: 0 success, 1 findings over the ``analyze --fail-on`` gate, 2
usage or input error. Every expected failure is a :class:`CliError` caught in one place and
printed as one line; argparse's own errors are one line too.

The analyzer (numpy, scipy, rich) is imported only when ``analyze`` runs, so ``runs`` and
``--help`` stay fast and work without the ``analyze`` extra.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import os
import shutil
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from otel_pytest import cli_jaeger
from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import KINDS
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.terminal import escape
from otel_pytest.cli_jaeger import JaegerSettings
from otel_pytest.encode.limits import Limits
from otel_pytest.endpoint import DEFAULT_REQUEST_TIMEOUT, PROTOCOLS, SettingError, check_url
from otel_pytest.plural import plural
from otel_pytest.semconv import attributes as attr
from otel_pytest.store import files
from otel_pytest.store.index import RunIndex
from otel_pytest.store.layout import DEFAULT_KEEP_RUNS, DEFAULT_KEEP_SIZE, DEFAULT_STORE, INDEX, SUMMARIES
from otel_pytest.store.locate import ConfigFileError, default_store, find_rootdir
from otel_pytest.store.sizes import parse_size
from otel_pytest.version import package_version

if TYPE_CHECKING:
    from otel_pytest.analyze.jaeger_source import JaegerSource
    from otel_pytest.analyze.sources import StoreSource

EXIT_OK = 0
EXIT_GATE = 1
EXIT_USAGE = 2
GATE_NAMED = 3  # older open findings the "not gating" line names
FORMATS = ("terminal", "json", "markdown", "html")
ANALYZE_EXTRA = ("numpy", "scipy", "rich")  # the ``analyze`` extra: imported only when analyze runs
# Where runs and analyze look without --store: the store pytest's plugin writes, found as pytest finds its rootdir.
STORE_DEFAULT = f"{DEFAULT_STORE} in pytest's rootdir found from here, or its otel_store ini value"
ANALYZE_EPILOG = """\
Exit status: 0 when no finding breaks the gate, 1 when open findings of a --fail-on kind
began within the newest --gate-runs runs (older ones are reported, and named "not
gating" on stderr; provisional ones, from too little history, closed ones and
improvements never fail it), 2 for a usage or input error (a bad option value, a path
that does not exist, no runs to analyze, a --baseline-from naming no run).

  otel-pytest analyze --fail-on regression,count,n+1   # CI: fail on what this run began
  otel-pytest analyze --fail-on all --gate-runs 3      # ... or what the newest 3 runs began
  otel-pytest analyze --baseline-from 4f2a9c1          # after an intended change in 4f2a9c1

--gate-runs and --baseline-from can be set in pytest's configuration file as the ini keys
otel_gate_runs and otel_baseline_from; the flags win.

Problems with the input (skipped lines, runs left out) are listed in the report's notes,
and on stderr too unless the terminal report is being printed."""


PUSH_EPILOG = """\
Headers, compression and TLS come from the standard variables, read by the OpenTelemetry
exporter as the plugin's export does: OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]HEADERS,
_COMPRESSION, _CERTIFICATE. Headers and URL credentials are never printed or stored.

A request answered 429, 502, 503, 504 or UNAVAILABLE, or whose connection is refused, is
retried with exponential backoff until --timeout; a run is split into requests of at most
--max-spans spans and --max-bytes bytes.

Each run pushed is recorded in the store (pushed.jsonl) with the endpoint it went to;
pushing it to the same endpoint again is skipped with a note, unless --force. Files given
as paths are not recorded.

Exit status: 0 when every run was pushed (or skipped), 2 for a usage or input error or an
endpoint that does not take the spans (one line; the runs are still in the store)."""


class CliError(Exception):
    """A user-facing problem; its message is the whole output."""


def _say(line: str, *, to_stderr: bool = False) -> None:
    """A line for the terminal: what it holds from the store, the paths or the command line
    (a test id, a file name, an index entry) cannot send escape sequences to it."""
    print(escape(line), file=sys.stderr if to_stderr else sys.stdout)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"otel-pytest: error: {escape(message)}\n")


def _store_path(value: str) -> Path:
    return Path(value)


def _format(value: str) -> str:
    if value not in FORMATS:
        raise argparse.ArgumentTypeError(f"{value!r}: expected one of {', '.join(FORMATS)}")
    return value


def _fail_on(value: str) -> frozenset[str]:
    """``regression,n+1`` → its kinds; ``all`` → every kind. Unknown names are an error
    that lists the known ones and suggests the nearest."""
    kinds: set[str] = set()
    for name in (part.strip().lower() for part in value.split(",")):
        if not name:
            continue
        if name == "all":
            kinds.update(KINDS)
        elif name in KINDS:
            kinds.add(name)
        else:
            near = difflib.get_close_matches(name, (*KINDS, "all"), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise argparse.ArgumentTypeError(
                f"unknown finding kind {name!r}{hint}: expected a comma-separated list of {', '.join(KINDS)}, or all"
            )
    if not kinds:
        raise argparse.ArgumentTypeError(f"{value!r}: name at least one finding kind ({', '.join(KINDS)}, or all)")
    return frozenset(kinds)


def _runs(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a whole number of runs, 1 or more")
    return number


def _size(value: str) -> str:
    """A size as :func:`~otel_pytest.store.sizes.parse_size` reads it, kept as written (it
    may say "no limit", which ``None``, the flag not given, could not)."""
    try:
        parse_size("", value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("=")) from None
    return value


def _baseline_from(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a revision (or a prefix of one) or a run id")
    return value.strip()


# pytest configuration keys of analyze's flags: (key, dest, type), the flag wins.
ANALYZE_INI = (("otel_gate_runs", "gate_runs", _runs), ("otel_baseline_from", "baseline_from", _baseline_from))


def _from_ini(args: argparse.Namespace) -> None:
    """Fill the analyze flags not given from their ini keys in pytest's configuration file
    (found from here as pytest finds it), checked as the flags are."""
    if all(getattr(args, dest) is not None for _, dest, _ in ANALYZE_INI):
        return
    try:
        rootdir = find_rootdir(Path.cwd())
    except ConfigFileError as error:
        raise CliError(str(error)) from None
    for key, dest, convert in ANALYZE_INI:
        value = rootdir.settings.get(key)
        if getattr(args, dest) is not None or value is None or not str(value).strip():
            continue  # the flag wins; an empty key sets nothing
        try:
            setattr(args, dest, convert(str(value)))
        except argparse.ArgumentTypeError as error:
            raise CliError(f"{rootdir.config_file}: {key} = {value}: {error}") from None


def _add_store_option(parser: argparse.ArgumentParser, about: str = "Store folder") -> None:
    """``--store DIR``; without it :func:`main` finds the store as pytest would (``None`` here)."""
    parser.add_argument("--store", type=_store_path, metavar="DIR", help=f"{about} (default: {STORE_DEFAULT}).")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="otel-pytest",
        description="Analyze, list, push and carry the test runs that pytest --otel recorded.",
        epilog="Exit status: 0 on success, 1 when analyze's --fail-on gate fails, 2 for a usage or input error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    about = "List the runs in the local store, newest first."
    runs = commands.add_parser("runs", help=about, description=about)
    _add_store_option(runs)
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="Show at most this many runs (default 20).")
    _add_analyze(commands)
    _add_push(commands)
    _add_store(commands)
    return parser


def _add_store(commands: argparse._SubParsersAction[_Parser]) -> None:
    about = (
        "Carry the store's history where the store cannot go: from one CI job to the next (each\n"
        "starts on a fresh runner with an empty store), or to another machine."
    )
    store = commands.add_parser(
        "store",
        help="Pack the store's history into one file, or unpack one into the store.",
        description=about,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = store.add_subparsers(dest="action", required=True, metavar="ACTION")
    pack = actions.add_parser(
        "pack",
        help="Write the store's complete runs to FILE (a .tar.gz).",
        description="Write the store's complete runs (spans, metrics, cached summaries) to FILE, a .tar.gz.",
    )
    unpack = actions.add_parser(
        "unpack",
        help="Merge the runs of a pack into the store.",
        description="Merge the runs of a pack made by `otel-pytest store pack` into the store (made if "
        "missing): runs it already holds are skipped, then only the newest --keep-runs runs that fit in "
        "--keep-size are kept. "
        "A damaged pack, or a file that is not a pack, changes nothing.",
    )
    for action in (pack, unpack):
        action.add_argument("file", type=Path, metavar="FILE", help="The pack.")
        _add_store_option(action)
    unpack.add_argument(
        "--keep-runs",
        type=_runs,
        metavar="N",
        help="How many runs the store keeps, as pytest's --otel-keep-runs (default: the otel_keep_runs ini "
        f"value of pytest's rootdir found from here, else {DEFAULT_KEEP_RUNS}).",
    )
    unpack.add_argument(
        "--keep-size",
        type=_size,
        metavar="SIZE",
        help="How much the store's runs may take, as pytest's --otel-keep-size (default: the otel_keep_size "
        f"ini value of pytest's rootdir found from here, else {DEFAULT_KEEP_SIZE}).",
    )


def _add_analyze(commands: argparse._SubParsersAction[_Parser]) -> None:
    about = (
        "Find what got slower since the last good runs, and why: duration and count regressions,\n"
        "connection churn, schema work per test, commit-and-delete cleanup, N+1 queries, slow\n"
        "fixtures and flaky tests, each with the change that fixes it and what it saves."
    )
    defaults = AnalysisOptions()
    analyze = commands.add_parser(
        "analyze",
        help="Find regressions and wasted time in the stored runs.",
        description=about,
        epilog=ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="OTLP JSON Lines files, folders of them, or store folders to read instead of "
        "the store (e.g. a collector's file exporter output or a CI artifact).",
    )
    _add_store_option(analyze, "Store folder, read when no PATH is given")
    analyze.add_argument(
        "--format",
        type=_format,
        default="terminal",
        metavar="FORMAT",
        help=f"Report format: {', '.join(FORMATS)} (default: terminal). json is the "
        "stable, versioned form; html is one self-contained file.",
    )
    analyze.add_argument(
        "--output", type=Path, metavar="FILE", help="Write the report to FILE instead of standard output."
    )
    analyze.add_argument(
        "-v",
        "--details",
        action="store_true",
        help="In the terminal report, follow each finding's line with the finding in full: "
        "where, its numbers, how sure, since when, and the fix.",
    )
    analyze.add_argument(
        "--github-summary",
        action="store_true",
        help="Also append the Markdown report to $GITHUB_STEP_SUMMARY, the job summary of a GitHub Actions step.",
    )
    analyze.add_argument(
        "--fail-on",
        type=_fail_on,
        default=frozenset(),
        metavar="KINDS",
        help=f"Exit with status 1 when findings of these kinds exist: a comma-separated list "
        f"of {', '.join(KINDS)}, or all (default: never).",
    )
    analyze.add_argument(
        "--gate-runs",
        type=_runs,
        metavar="N",
        help=f"Fail only on findings that began within the newest N runs (default {defaults.gate_runs}: "
        "the run being judged introduced them); older open ones are reported, not gating.",
    )
    analyze.add_argument(
        "--baseline-from",
        type=_baseline_from,
        metavar="REV|RUN",
        help="Start the history at the first run of this revision (a prefix) or run id, after an "
        "intended change: no finding rests on the runs before it.",
    )
    analyze.add_argument(
        "--any-environment",
        action="store_true",
        help="Compare runs from every environment (Python, platform, CPU count), not only the current run's.",
    )
    analyze.add_argument(
        "--current",
        type=_runs,
        default=defaults.current_runs,
        metavar="N",
        help=f"Judge up to the newest N runs (default {defaults.current_runs}) ...",
    )
    analyze.add_argument(
        "--baseline",
        type=_runs,
        default=defaults.baseline_runs,
        metavar="N",
        help=f"... against at least N runs before them (default {defaults.baseline_runs}).",
    )
    cli_jaeger.add_arguments(analyze)


def _positive(kind: type[int] | type[float], what: str) -> Callable[[str], int | float]:
    def convert(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not number > 0:
            raise argparse.ArgumentTypeError(f"{value!r}: expected {what} above 0")
        return number

    return convert


def _url(value: str) -> str:
    try:
        return check_url("--endpoint", value)
    except SettingError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--endpoint=")) from None


def _add_push(commands: argparse._SubParsersAction[_Parser]) -> None:
    about = (
        "Send stored runs (or OTLP JSON Lines files) to an OTLP endpoint: a run recorded while\n"
        "the collector was down, or on a machine without one, reaches the backend with the same\n"
        "trace and span ids and times. Its metrics go too, when the endpoint takes metrics."
    )
    push = commands.add_parser(
        "push",
        help="Send stored runs to an OTLP endpoint (a collector, Jaeger).",
        description=about,
        epilog=PUSH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="Run ids, or unique prefixes of them, as `otel-pytest runs` lists them; or OTLP JSON Lines files.",
    )
    push.add_argument("--all", action="store_true", help="Every run in the store, oldest first.")
    push.add_argument("--store", type=_store_path, metavar="DIR", help=f"Store folder (default: {STORE_DEFAULT}).")
    push.add_argument(
        "--endpoint",
        type=_url,
        metavar="URL",
        help="OTLP endpoint: a base URL (/v1/traces and /v1/metrics appended for http/protobuf), "
        "a URL ending in /v1/traces (spans only); for grpc, http[s]://host:port "
        "(default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT).",
    )
    push.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        metavar="PROTOCOL",
        help=f"{' or '.join(PROTOCOLS)} (default: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, else http/protobuf).",
    )
    push.add_argument(
        "--timeout",
        type=_positive(float, "a number of seconds"),
        metavar="SECONDS",
        help="Longest time one request may take, its retries included (default: "
        f"OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT in seconds, else {DEFAULT_REQUEST_TIMEOUT:g}).",
    )
    limits = Limits()
    push.add_argument(
        "--max-spans",
        type=_positive(int, "a whole number"),
        default=limits.items,
        metavar="N",
        help=f"Spans (or metrics) per request at most (default {limits.items}).",
    )
    push.add_argument(
        "--max-bytes",
        type=_positive(int, "a whole number"),
        default=limits.bytes,
        metavar="N",
        help=f"Bytes per request at most (default {limits.bytes:,}: under gRPC's 4 MiB message limit).",
    )
    push.add_argument("--force", action="store_true", help="Push runs again that were already pushed to this endpoint.")


def run_push(args: argparse.Namespace) -> int:
    """Plan, push, and print the summary line (stdout) and notes (stderr)."""
    from otel_pytest.push.deliver import Summary, push
    from otel_pytest.push.display import display_for, summary_line
    from otel_pytest.push.plan import PushError, make_plan

    try:
        plan = make_plan(
            args.runs,
            every=args.all,
            store=args.store,
            endpoint=args.endpoint,
            protocol=args.protocol,
            timeout=args.timeout,
            limits=Limits(args.max_spans, args.max_bytes),
            force=args.force,
            env=os.environ,
        )
        summary = push(plan, display_for(sys.stderr)) if plan.items else Summary()
    except PushError as error:
        raise CliError(str(error)) from None
    _say(summary_line(plan, summary))
    return EXIT_OK


def _format_time(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _format_duration(nanoseconds: int) -> str:
    seconds = max(nanoseconds, 0) / 1e9
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


# pytest's order in its closing line; an outcome this version does not know comes after them.
_OUTCOME_ORDER = ("failed", "passed", "skipped", "xfailed", "xpassed", "error")


def _format_outcomes(counts: Mapping[str, int] | None) -> str:
    """``1 failed, 2 passed`` as pytest says it; ``n/a`` for a run indexed before outcomes were."""
    if counts is None:
        return "n/a"
    names = [*(name for name in _OUTCOME_ORDER if name in counts), *sorted(set(counts) - set(_OUTCOME_ORDER))]
    return ", ".join(f"{counts[name]} {name}" for name in names if counts[name]) or "no tests"


def _store_problem(store: Path, hint: str) -> str | None:
    """Why ``store`` cannot be read as a store (missing, not a folder, not to be looked
    at), with ``hint`` on what to do; ``None`` when it is a folder."""
    mode, unseen = files.look(store)
    if unseen:
        return f"cannot open the trace store {store}: {unseen}"
    if mode is None:
        return f"no trace store at {store}: {hint}"
    if not stat.S_ISDIR(mode):
        return f"the trace store {store} is {files.what_is(mode)}, not a folder: {hint}"
    return None


def list_runs(store: Path, limit: int) -> tuple[list[str], list[str]]:
    """The listing (newest first) and the warnings about index lines left out of it."""
    problem = _store_problem(store, "run pytest with --otel first, or pass --store DIR")
    if problem:
        raise CliError(problem)
    index = store / INDEX
    mode, _ = files.look(index)
    if mode is not None and not stat.S_ISREG(mode):  # a named pipe would block the read forever
        raise CliError(f"cannot read the run index in {store}: {index} is {files.what_is(mode)}, not a file")
    try:
        entries, problems = RunIndex(store).entries()
    except OSError as error:
        raise CliError(f"cannot read the run index in {store}: {files.reason(error)}") from None
    warnings = [f"warning: {problem}" for problem in problems]
    if not entries:
        return [f"no runs in {store} yet: run pytest with --otel"], warnings
    shown = list(reversed(entries[-limit:]))
    outcomes = [_format_outcomes(entry.outcomes) for entry in shown]
    width = max(len("outcomes"), *map(len, outcomes))
    lines = [
        f"{'run id':<16}  {'started (UTC)':<19}  {'duration':>8}  {'tests':>6}  {'spans':>7}  {'exit':>4}  "
        f"{'revision':<10}  {'outcomes':<{width}}  file"
    ]
    for entry, counts in zip(shown, outcomes, strict=True):
        revision = entry.vcs.get(attr.VCS_REF_HEAD_REVISION, "")[:10]
        started = _format_time(entry.start_time_unix_nano)
        duration = _format_duration(entry.end_time_unix_nano - entry.start_time_unix_nano)
        lines.append(
            f"{entry.run_id:<16}  {started:<19}  {duration:>8}  {entry.tests:>6}  {entry.spans:>7}  "
            f"{entry.exit_status:>4}  {revision:<10}  {counts:<{width}}  runs/{entry.file}"
        )
    return lines, warnings


@dataclass(frozen=True)
class AnalyzeCommand:
    """``otel-pytest analyze``'s options, resolved and checked."""

    paths: tuple[Path, ...]
    store: Path
    format: str
    output: Path | None
    fail_on: frozenset[str]
    options: AnalysisOptions
    step_summary: Path | None = None  # --github-summary: where the Markdown is appended
    jaeger: JaegerSettings | None = None
    details: bool = False  # --details: the terminal report's findings in full

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AnalyzeCommand:
        for path in args.paths:
            mode, unseen = files.look(path)
            if unseen:
                raise CliError(f"{path}: cannot look at it ({unseen})")
            if mode is None:
                raise CliError(
                    f"{path}: no such file or folder; give OTLP JSON Lines files, folders of them, or a store folder"
                )
        try:
            jaeger = cli_jaeger.settings(args)
        except ValueError as error:
            raise CliError(str(error)) from None
        if not args.paths and jaeger is None:
            problem = _store_problem(
                args.store, "run pytest with --otel first, or pass --store DIR or run files as PATHs"
            )
            if problem:
                raise CliError(problem)
        output: Path | None = args.output
        if output is not None:
            _check_output(output, f"--output {output}")
        step_summary = step_summary_path(os.environ) if args.github_summary else None
        _from_ini(args)
        options = AnalysisOptions(
            current_runs=args.current,
            baseline_runs=args.baseline,
            any_environment=args.any_environment,
            gate_runs=args.gate_runs or AnalysisOptions.gate_runs,
            baseline_from=args.baseline_from,
        )
        return cls(
            tuple(args.paths),
            args.store,
            args.format,
            output,
            args.fail_on,
            options,
            step_summary,
            jaeger,
            details=args.details,
        )


def step_summary_path(environ: Mapping[str, str]) -> Path:
    """The file ``--github-summary`` appends to: ``$GITHUB_STEP_SUMMARY``, which GitHub
    Actions sets (with ``GITHUB_ACTIONS=true``) for each step and shows as the job summary."""
    if environ.get("GITHUB_ACTIONS") != "true":
        raise CliError(
            "--github-summary: GITHUB_ACTIONS is not 'true': not a GitHub Actions job, so there is "
            "no step summary; use --format markdown --output FILE instead"
        )
    path = environ.get("GITHUB_STEP_SUMMARY", "")
    if not path:
        raise CliError("--github-summary: GITHUB_STEP_SUMMARY is not set: GitHub Actions names the summary file there")
    _check_output(Path(path), f"--github-summary: GITHUB_STEP_SUMMARY={path}")
    return Path(path)


def _check_output(output: Path, label: str) -> None:
    """Fail before the analysis, not after it, on a file that cannot be written (``label``
    names the option): a folder, a missing or unreachable folder."""
    mode, unseen = files.look(output)
    if unseen:
        raise CliError(f"{label}: cannot write it: {unseen}")
    if mode is not None and stat.S_ISDIR(mode):
        raise CliError(f"{label}: is a folder; give a file name")
    folder, unseen = files.look(output.parent)
    if unseen:
        raise CliError(f"{label}: cannot write in the folder {output.parent}: {unseen}")
    if folder is None or not stat.S_ISDIR(folder):
        raise CliError(f"{label}: the folder {output.parent} does not exist")


def _render(analysis: Analysis, command: AnalyzeCommand) -> str:
    if command.format == "json":
        from otel_pytest.analyze.report import json_report

        return json_report.render(analysis)
    if command.format == "markdown":
        from otel_pytest.analyze.report import markdown

        return markdown.render(analysis)
    if command.format == "html":
        from otel_pytest.analyze.report import html

        return html.render(analysis)
    from otel_pytest.analyze.report import terminal

    to_terminal = command.output is None and sys.stdout.isatty()
    color = to_terminal and "NO_COLOR" not in os.environ
    return terminal.render(analysis, width=max(_width(to_terminal), 60), color=color, details=command.details)


def _width(to_terminal: bool) -> int:
    """The terminal report's width: ``COLUMNS`` when set (shells keep it unexported, so
    ``COLUMNS=$COLUMNS otel-pytest analyze | less`` fits a pipe to the screen), else the
    terminal's, else 100 (a pipe or a file has no width of its own)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((100, 24)).columns if to_terminal else 100


def _write_stdout(report: str) -> None:
    """The report on standard output. A reader that stops early (``| head``) closes the
    pipe: the rest of the report is not wanted, and the status is still the gate's (so
    stdout goes to the null device, or Python's exit flush would print a traceback)."""
    try:
        sys.stdout.write(report)
        sys.stdout.flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def _append_step_summary(path: Path, markdown: str | None, analysis: Analysis) -> None:
    """Append the Markdown report (``markdown``, or rendered now) to the step summary: GitHub
    gathers what each step appends there. The report lists at most 30 findings, far below the
    summary's limit of 1 MiB per step."""
    if markdown is None:
        from otel_pytest.analyze.report import markdown as markdown_report

        markdown = markdown_report.render(analysis)
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(markdown)
    except OSError as error:
        raise CliError(f"--github-summary: cannot append to {path}: {files.reason(error)}") from None


def run_store(args: argparse.Namespace) -> list[str]:
    """``otel-pytest store pack|unpack``: what it did, as lines for the terminal."""
    from otel_pytest.store.pack import PackError, pack, unpack

    try:
        if args.action == "pack":
            problem = _store_problem(args.store, "run pytest with --otel first, or pass --store DIR")
            if problem:
                raise CliError(problem)
            packed = pack(args.store, args.file)
            for line in packed.left_out:
                _say(f"otel-pytest: warning: {line}", to_stderr=True)
            return [f"packed {packed.runs} run(s) of {args.store} into {args.file} ({packed.size:,} bytes)"]
        keep, keep_size = _retention(args.keep_runs, args.keep_size, Path.cwd())
        done = unpack(args.file, args.store, keep, parse_size("--keep-size", keep_size))
    except PackError as error:
        raise CliError(str(error)) from None
    return [
        f"unpacked {args.file} into {args.store}: {done.added} of its {done.runs} run(s) added, "
        f"{done.present} already there; {done.removed} removed to keep the newest {keep} within {keep_size}"
    ]


def _retention(keep_runs: int | None, keep_size: str | None, start: Path) -> tuple[int, str]:
    """The flags, and for those not given what the plugin keeps in this project
    (``otel_keep_runs``, ``otel_keep_size`` of the rootdir's configuration file), so that an
    unpacked CI history is trimmed as the next run would trim it."""
    if keep_runs is not None and keep_size is not None:
        return keep_runs, keep_size
    try:
        rootdir = find_rootdir(start)
    except ConfigFileError as error:
        raise CliError(f"{error}; pass --keep-runs N and --keep-size SIZE") from None
    settings = rootdir.settings
    try:
        runs = keep_runs if keep_runs is not None else _runs(str(settings.get("otel_keep_runs", DEFAULT_KEEP_RUNS)))
    except argparse.ArgumentTypeError as error:
        raise CliError(f"{rootdir.config_file}: otel_keep_runs {error}; fix it or pass --keep-runs N") from None
    try:
        size = keep_size if keep_size is not None else _size(str(settings.get("otel_keep_size") or DEFAULT_KEEP_SIZE))
    except argparse.ArgumentTypeError as error:
        raise CliError(f"{rootdir.config_file}: otel_keep_size {error}; fix it or pass --keep-size SIZE") from None
    return runs, size


def run_analyze(command: AnalyzeCommand) -> int:
    """Read the history, analyze it, write the report; the exit status is the gate's."""
    from otel_pytest.analyze.history import BaselineError, build_history
    from otel_pytest.analyze.sources import Source, StoreSource, open_sources
    from otel_pytest.store.jaeger import JaegerError
    from otel_pytest.store.reader import collector_paused

    sources: list[Source] = []
    jaeger = cli_jaeger.open_source(command.jaeger) if command.jaeger is not None else None
    if jaeger is not None:
        sources.append(jaeger)
    if command.paths or command.jaeger is None:
        sources.extend(open_sources(list(command.paths), command.store))
    # The history (100,000 test samples: ~1 M objects) is read with the collector paused and
    # then frozen: it is never changed and holds no cycle, yet every collection during the
    # analysis walked it again (0.5 s of a cached analyze's ~4 s). Reference counting still
    # frees it; unfrozen after, for a caller that goes on (tests call main in their process).
    with collector_paused():
        try:
            history = build_history(sources, command.options)
        except (JaegerError, BaselineError) as error:
            raise CliError(str(error)) from None
        gc.freeze()
    # One store's history keeps what the analysis computed beside its summaries, for the
    # next analyze (otel_pytest.analyze.state).
    store = sources[0] if len(sources) == 1 and isinstance(sources[0], StoreSource) and sources[0].cache else None
    try:
        return _analyzed(history, command, jaeger, store)
    finally:
        gc.unfreeze()


def _analyzed(history: History, command: AnalyzeCommand, jaeger: JaegerSource | None, store: StoreSource | None) -> int:
    """Analyze the history (with the state ``store`` keeps, when given), write the report;
    the exit status is the gate's."""
    from otel_pytest.analyze import state
    from otel_pytest.analyze.analysis import analyze
    from otel_pytest.store.jaeger import JaegerError

    if not history.runs:
        raise CliError(f"no runs to analyze: {'; '.join(history.notes) or 'no runs found'}")
    waterfall = None
    current = history.current
    if command.format in ("html", "json") and current is not None:
        from otel_pytest.analyze.waterfall import fetched_waterfall, read_waterfall

        if jaeger is not None and current.source == jaeger.query.url:
            try:
                waterfall = fetched_waterfall(current, jaeger.test_spans)
            except JaegerError as error:  # the waterfall is decoration: the report goes on
                _say(f"otel-pytest: warning: no waterfall: {error}", to_stderr=True)
        else:
            waterfall = read_waterfall(current)
    memo = None
    if store is not None:
        memo = state.load(store.store / SUMMARIES, state.identities(history.runs, store.stamps))
    analysis = analyze(history, command.options, waterfall=waterfall, memo=memo)
    if store is not None and memo is not None:
        state.save(store.store / SUMMARIES, memo)
    report = _render(analysis, command)
    if command.output is not None:
        try:
            command.output.write_text(report, encoding="utf-8")
        except OSError as error:
            raise CliError(f"--output {command.output}: cannot write it: {files.reason(error)}") from None
    else:
        _write_stdout(report)
    if command.step_summary is not None:
        _append_step_summary(command.step_summary, report if command.format == "markdown" else None, analysis)
    if command.output is not None or command.format != "terminal":
        for note in analysis.notes:
            _say(f"otel-pytest: warning: {note}", to_stderr=True)
    return _closing(analysis, command)


def _closing(analysis: Analysis, command: AnalyzeCommand) -> int:
    """The gate's exit status, and its closing lines on stderr: the findings that failed it,
    and the open ones of a --fail-on kind it let through because they are older."""
    from otel_pytest.analyze.analysis import gating_findings, held_back
    from otel_pytest.analyze.report.wording import since_when

    runs = command.options.gate_runs
    older = held_back(analysis, command.fail_on, runs)
    if older:
        named = "; ".join(
            f"{finding.kind} at {finding.location.describe()} {since_when(finding)}" for finding in older[:GATE_NAMED]
        )
        more = f"; and {len(older) - GATE_NAMED} more" if len(older) > GATE_NAMED else ""
        _say(
            f"otel-pytest: not gating: {plural(len(older), 'open finding')} of a --fail-on kind began before the "
            f"newest {plural(runs, 'run')} (--gate-runs {runs}): {named}{more}",
            to_stderr=True,
        )
    failing = gating_findings(analysis, command.fail_on, runs)
    if not failing:
        return EXIT_OK
    kinds = sorted({finding.kind for finding in failing})
    counts = ", ".join(f"{sum(1 for f in failing if f.kind == kind)} {kind}" for kind in kinds)
    _say(f"otel-pytest: the gate failed: {len(failing)} finding(s) of a --fail-on kind ({counts})", to_stderr=True)
    return EXIT_GATE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.store is None:
            try:
                args.store = default_store(Path.cwd())
            except ConfigFileError as error:
                raise CliError(f"{error}; pass --store DIR") from None
        if args.command == "analyze":
            return run_analyze(AnalyzeCommand.from_args(args))
        if args.command == "push":
            return run_push(args)
        if args.command == "store":
            lines = run_store(args)
        else:
            if args.limit < 1:
                raise CliError(f"--limit {args.limit}: must be 1 or more")
            lines, warnings = list_runs(args.store, args.limit)
            for warning in warnings:
                _say(f"otel-pytest: {warning}", to_stderr=True)
        for line in lines:
            _say(line)
    except CliError as error:
        _say(f"otel-pytest: error: {error}", to_stderr=True)
        return EXIT_USAGE
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ANALYZE_EXTRA:
            raise
        _say(
            f"otel-pytest: error: {args.command} needs {error.name}, which is not installed: "
            "pip install 'otel-pytest[analyze]'",
            to_stderr=True,
        )
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
