"""``otel-pytest analyze --jaeger``: the options that read the history from Jaeger, checked
as they are parsed, and the source they open (:class:`~otel_pytest.analyze.jaeger_source.JaegerSource`).

Kept apart from :mod:`otel_pytest.cli`, which only adds these options to ``analyze`` and
reads the source they describe.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_pytest.analyze.jaeger_source import JaegerSource

DEFAULT_SINCE = "7d"
DEFAULT_TIMEOUT = 10.0
DEFAULT_LAST = 100  # as many runs as the local store keeps by default
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ONLY_WITH_JAEGER = ("service", "since", "branch", "last", "jaeger_timeout")

HELP = """\
With --jaeger URL, the runs are read from Jaeger's query API v3 (its UI's address,
e.g. http://localhost:16686) instead of the store: the runs of --service whose session
started within --since, the newest --last of them (of --branch only, when given).
Complete runs are cached in $XDG_CACHE_HOME/otel-pytest/jaeger (~/.cache/...), so
only new runs are fetched next time. A user:password in the URL is sent as basic
authentication and never shown. Jaeger down, slow or answering garbage: exit 2."""


@dataclass(frozen=True)
class JaegerSettings:
    url: str  # may hold credentials: show public_url(url)
    service: str
    since: float  # seconds
    branch: str | None
    last: int
    timeout: float  # seconds per request


def _url(value: str) -> str:
    from otel_pytest.store.jaeger import check_url  # urllib.request: only when --jaeger is given

    try:
        return check_url(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _duration(value: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value)
    seconds = float(match[1]) * _UNITS[match[2] or "s"] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a duration like 30m, 12h, 7d or 2w")
    return seconds


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r}: expected a number of seconds above 0, like 10")
    return seconds


def _count(value: str) -> int:
    number = int(value) if value.strip().isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a whole number of runs, 1 or more")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading the history from Jaeger", HELP)
    group.add_argument(
        "--jaeger", type=_url, metavar="URL", help="Read the runs from this Jaeger's query API v3 (not the store)."
    )
    group.add_argument(
        "--service",
        metavar="NAME",
        help=(
            "The service.name the tests export as (default: the plugin's: $OTEL_SERVICE_NAME, "
            "else the project name in pyproject.toml, else the rootdir's name)."
        ),
    )
    group.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help=f"Runs whose session started this long ago or later: 30m, 12h, 7d, 2w (default {DEFAULT_SINCE}).",
    )
    group.add_argument(
        "--branch", metavar="NAME", help="Only runs of this branch (vcs.ref.head.name; default: every branch)."
    )
    group.add_argument(
        "--last", type=_count, metavar="N", help=f"Read the newest N runs (default {DEFAULT_LAST}, as the store keeps)."
    )
    group.add_argument(
        "--jaeger-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"Give up on a request to Jaeger after this long (default {DEFAULT_TIMEOUT:g}).",
    )


def settings(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> JaegerSettings | None:
    """The Jaeger settings, ``None`` without ``--jaeger``; a :class:`ValueError` with the
    line to show for options that need it, or a missing service."""
    if args.jaeger is None:
        given = [f"--{name.replace('_', '-')}" for name in _ONLY_WITH_JAEGER if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --jaeger URL")
        return None
    from otel_pytest.store.locate import find_rootdir, service_name

    # The name the plugin exports as when run from here: OTEL_SERVICE_NAME, else the project's.
    service = args.service or service_name(env, find_rootdir(Path.cwd()).path)
    return JaegerSettings(
        url=args.jaeger,
        service=service,
        since=args.since if args.since is not None else _duration(DEFAULT_SINCE),
        branch=args.branch,
        last=args.last if args.last is not None else DEFAULT_LAST,
        timeout=args.jaeger_timeout if args.jaeger_timeout is not None else DEFAULT_TIMEOUT,
    )


def open_source(jaeger: JaegerSettings) -> JaegerSource:
    from otel_pytest.analyze.jaeger_source import JaegerSource, default_cache_dir
    from otel_pytest.store.jaeger import JaegerQuery

    query = JaegerQuery(jaeger.url, timeout=jaeger.timeout)
    return JaegerSource(
        query, jaeger.service, since=jaeger.since, branch=jaeger.branch, last=jaeger.last, cache_dir=default_cache_dir()
    )
