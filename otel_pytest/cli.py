"""The ``otel-pytest`` command.

``main(argv) -> int``: parse, act, print. Exit codes: 0 success, 2 usage or input error.
Every expected failure is a :class:`CliError` caught in one place and printed as one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from otel_pytest.options import DEFAULT_STORE
from otel_pytest.store.index import RunIndex

EXIT_OK = 0
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing problem; its message is the whole output."""


def _store_path(value: str) -> Path:
    return Path(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-pytest",
        description="Inspect otel-pytest trace stores.",
        epilog="Exit status: 0 on success, 2 for a usage or input error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    about = "List the runs in the local store, newest first."
    runs = commands.add_parser("runs", help=about, description=about)
    runs.add_argument("--store", type=_store_path, default=Path(DEFAULT_STORE), metavar="DIR",
                      help=f"Store folder (default: {DEFAULT_STORE}).")
    runs.add_argument("--limit", type=int, default=20, metavar="N",
                      help="Show at most this many runs (default 20).")
    return parser


def _format_time(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def list_runs(store: Path, limit: int) -> tuple[list[str], list[str]]:
    """The listing (newest first) and the warnings about index lines left out of it."""
    if not store.is_dir():
        raise CliError(
            f"no trace store at {store}: run pytest with --otel first, or pass --store DIR"
        )
    try:
        entries, problems = RunIndex(store).entries()
    except OSError as error:
        raise CliError(f"cannot read the run index in {store}: {error.strerror or error}") from None
    warnings = [f"warning: {problem}" for problem in problems]
    if not entries:
        return [f"no runs in {store} yet: run pytest with --otel"], warnings
    header = (f"{'run id':<16}  {'started (UTC)':<19}  {'tests':>6}  {'spans':>7}  {'exit':>4}  "
              f"{'revision':<10}  file")
    lines = [header]
    for entry in reversed(entries[-limit:]):
        revision = entry.vcs.get("vcs.ref.head.revision", "")[:10]
        started = _format_time(entry.start_time_unix_nano)
        lines.append(
            f"{entry.run_id:<16}  {started:<19}  {entry.tests:>6}  {entry.spans:>7}  "
            f"{entry.exit_status:>4}  {revision:<10}  runs/{entry.file}"
        )
    return lines, warnings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.limit < 1:
            raise CliError(f"--limit {args.limit}: must be 1 or more")
        lines, warnings = list_runs(args.store, args.limit)
        for warning in warnings:
            print(f"otel-pytest: {warning}", file=sys.stderr)
        for line in lines:
            print(line)
    except CliError as error:
        print(f"otel-pytest: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
