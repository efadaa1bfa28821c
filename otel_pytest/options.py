"""The plugin's settings: command-line flags, ini keys and environment, resolved once.

Flags are checked by their ``type=`` functions as argparse reads them; ini values and
environment variables are checked in :func:`resolve`, which raises :class:`pytest.UsageError`
with one line naming the setting, the offending value and what is accepted.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from otel_pytest.endpoint import Endpoint, SettingError, check_url, metrics_endpoint, traces_endpoint
from otel_pytest.store.layout import DEFAULT_KEEP_RUNS, DEFAULT_KEEP_SIZE, DEFAULT_STORE, store_in

TRACE_PER = ("test", "session")
DEFAULT_EXPORT_TIMEOUT = 1.0
# What of a failure the traces keep; see otel_pytest.failures for each mode and the default.
RECORD_FAILURES = ("message", "traceback", "none")
DEFAULT_RECORD_FAILURES = "message"
# The formats a compressed run file may be written in (otel_pytest.store.compression); auto:
# zstd when the zstandard package is installed (the zstd extra), else gzip.
COMPRESSIONS = ("auto", "zstd", "gzip")

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

T = TypeVar("T")


@dataclass(frozen=True)
class TraceParent:
    """An incoming W3C trace context that the run's session span becomes a child of."""

    trace_id: int
    span_id: int
    sampled: bool
    tracestate: str


@dataclass(frozen=True)
class Options:
    """Everything the plugin needs to know, fixed for the whole run."""

    trace_per: str
    store: Path
    keep_runs: int
    endpoint: Endpoint | None
    export_timeout: float
    traceparent: TraceParent | None
    capture_app: bool
    db: bool = True
    # Where the run's metrics go; None when no endpoint takes them (see _metrics_endpoint).
    metrics_endpoint: Endpoint | None = None
    record_failures: str = DEFAULT_RECORD_FAILURES
    # The Jaeger UI the endpoint feeds, without a trailing slash: the closing line links there.
    jaeger_url: str | None = None
    # Time garbage-collection pauses (otel_pytest.gc_pauses): an entry in gc.callbacks.
    gc: bool = True
    # Bytes of runs the store keeps (the newest run always); None: no limit but keep_runs.
    keep_size: int | None = None
    # The codec run files are written with (.otlp.jsonl.zst, .otlp.jsonl.gz:
    # otel_pytest.store.compression): "zstd" or "gzip"; None: plain .otlp.jsonl.
    compress: str | None = "gzip"


def parse_traceparent(value: str, tracestate: str = "", *, setting: str = "TRACEPARENT") -> TraceParent:
    """Parse a W3C ``traceparent`` header value, rejecting the forms the spec calls invalid."""
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    problem = None
    if match is None:
        problem = "is not a W3C traceparent"
    else:
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff":
            problem = "has an unsupported version"
        elif version == "00" and rest:
            problem = "has fields after the flags, which version 00 does not allow"
        elif int(trace_id, 16) == 0 or int(span_id, 16) == 0:
            problem = "has an all-zero trace or span id"
    if problem or match is None:
        raise SettingError(
            f"{setting}={value!r} {problem}: expected 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"
        )
    return TraceParent(int(trace_id, 16), int(span_id, 16), bool(int(flags, 16) & 1), tracestate)


def _check_ui_url(setting: str, value: str) -> str:
    return check_url(setting, value, "a Jaeger UI address").rstrip("/")


def _check_positive_int(setting: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingError(f"{setting}={value!r} must be a whole number of runs, 1 or more")
    return number


def _size(setting: str, value: str) -> int | None:
    """Bytes, or ``None`` for no limit, as :func:`~otel_pytest.store.sizes.parse_size` reads them."""
    # Imported here: with --otel off the plugin loads nothing past its options (test_invisible).
    from otel_pytest.store.sizes import parse_size

    try:
        return parse_size(setting, value)
    except ValueError as error:
        raise SettingError(str(error)) from None


def _check_size(setting: str, value: str) -> str:
    """A size, kept as written: its value may be "no limit", which ``None`` (the flag not
    given) could not say."""
    _size(setting, value)
    return value


def _check_seconds(setting: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 60:
        raise SettingError(f"{setting}={value!r} must be a number of seconds between 0 and 60")
    return number


def _check_switch(setting: str, value: str) -> bool:
    if value.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if value.strip().lower() in ("off", "false", "0", "no"):
        return False
    raise SettingError(f"{setting}={value!r} is not valid: use on or off, or {setting} / --no-{setting[2:]} alone")


def _check_record_failures(setting: str, value: str) -> str:
    if value not in RECORD_FAILURES:
        raise SettingError(f"{setting}={value!r} is not valid: use one of {', '.join(RECORD_FAILURES)}")
    return value


def _check_compression(setting: str, value: str) -> str:
    if value not in COMPRESSIONS:
        raise SettingError(f"{setting}={value!r} is not valid: use one of {', '.join(COMPRESSIONS)}")
    return value


def _check_trace_per(setting: str, value: str) -> str:
    if value not in TRACE_PER:
        raise SettingError(f"{setting}={value!r} is not valid: use one of {', '.join(TRACE_PER)}")
    return value


def _argparse_type(check: Callable[[str, str], T], flag: str) -> Callable[[str], T]:
    """Adapt a checker to argparse, which prints its message as a usage error."""

    def convert(value: str) -> T:
        try:
            return check(flag, value)
        except SettingError as error:
            # argparse already starts the line with "argument --flag: ".
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{flag}=")) from None

    return convert


def _check_traceparent(setting: str, value: str) -> TraceParent:
    return parse_traceparent(value, setting=setting)


def add_options(parser: pytest.Parser) -> None:
    """Every ``--otel-*`` flag has an ``otel_*`` ini key of the same name; the flag wins.
    Switches come in pairs, ``--otel-db`` / ``--no-otel-db``, as pytest's own do."""
    group = parser.getgroup("otel", "OpenTelemetry tracing (otel-pytest)")
    group.addoption(
        "--otel",
        action="store_true",
        default=None,
        help="Record an OpenTelemetry trace of this run (also: ini otel=true, env OTEL_PYTEST=1).",
    )
    group.addoption(
        "--no-otel",
        action="store_true",
        default=False,
        help="Do not record traces, whatever the ini file or environment says.",
    )
    group.addoption(
        "--otel-trace-per",
        default=None,
        metavar="test|session",
        type=_argparse_type(_check_trace_per, "--otel-trace-per"),
        help="One trace per test (default) or one trace for the whole session.",
    )
    group.addoption(
        "--otel-endpoint",
        default=None,
        metavar="URL",
        type=_argparse_type(check_url, "--otel-endpoint"),
        help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else ini otel_endpoint; none: store only).",
    )
    group.addoption(
        "--otel-traceparent",
        default=None,
        metavar="TRACEPARENT",
        type=_argparse_type(_check_traceparent, "--otel-traceparent"),
        help="W3C traceparent of a pipeline span to parent the run (default: env TRACEPARENT).",
    )
    _add_switch(group, "capture-app", "Also record spans of an application that installed its own tracer provider.")
    group.addoption(
        "--otel-store",
        default=None,
        metavar="DIR",
        help=f"Folder of the local trace store (default: {DEFAULT_STORE} in the rootdir).",
    )
    group.addoption(
        "--otel-keep-runs",
        default=None,
        metavar="N",
        type=_argparse_type(_check_positive_int, "--otel-keep-runs"),
        help=f"How many runs the local store keeps (default {DEFAULT_KEEP_RUNS}).",
    )
    group.addoption(
        "--otel-keep-size",
        default=None,
        metavar="SIZE",
        type=_argparse_type(_check_size, "--otel-keep-size"),
        help=f"How much the local store's runs may take, oldest removed first, as 500MB or 1GB "
        f"(default {DEFAULT_KEEP_SIZE}; none: no limit); the newest run is always kept.",
    )
    _add_switch(
        group,
        "compress",
        "Write run files compressed, .otlp.jsonl.zst or .gz (default on; --no-otel-compress writes "
        "plain .otlp.jsonl, to grep).",
    )
    group.addoption(
        "--otel-compression",
        default=None,
        metavar="|".join(COMPRESSIONS),
        type=_argparse_type(_check_compression, "--otel-compression"),
        help="How run files are compressed: zstd (smaller, cheaper; needs pip install "
        "'otel-pytest[zstd]'), gzip, or auto (default): zstd when installed, else gzip.",
    )
    group.addoption(
        "--otel-export-timeout",
        default=None,
        metavar="SECONDS",
        type=_argparse_type(_check_seconds, "--otel-export-timeout"),
        help=f"Longest wait for the collector at the end of the run (default {DEFAULT_EXPORT_TIMEOUT}).",
    )
    _add_switch(
        group,
        "db",
        "Trace SQLAlchemy and asyncpg: queries, transactions, connections (default on; "
        "the older --otel-db=on|off still works).",
        legacy_value=True,
    )
    _add_switch(
        group,
        "gc",
        "Time garbage-collection pauses through gc.callbacks: each span counts its pauses, a "
        "pause of 1 ms or more is a span 'gc gen N' (default on; also env OTEL_PYTEST_GC=0|1).",
    )
    group.addoption(
        "--otel-record-failures",
        default=None,
        metavar="|".join(RECORD_FAILURES),
        type=_argparse_type(_check_record_failures, "--otel-record-failures"),
        help="What a failure's exception event keeps: its first message line (default), "
        "also a traceback of file:line lines, or its type alone.",
    )
    group.addoption(
        "--otel-jaeger-url",
        default=None,
        metavar="URL",
        type=_argparse_type(_check_ui_url, "--otel-jaeger-url"),
        help="Jaeger UI the endpoint feeds (e.g. http://localhost:16686): the run's closing "
        "line links to its traces there.",
    )
    parser.addini("otel", "Record OpenTelemetry traces (like --otel).", type="bool", default=False)
    parser.addini("otel_trace_per", "test or session (like --otel-trace-per).", default="test")
    parser.addini("otel_endpoint", "OTLP endpoint, below the OTEL_EXPORTER_OTLP_* variables (like --otel-endpoint).")
    parser.addini("otel_traceparent", "W3C traceparent to parent the run, below TRACEPARENT (like --otel-traceparent).")
    parser.addini("otel_capture_app", "Like --otel-capture-app.", type="bool", default=False)
    parser.addini("otel_store", "Folder of the local trace store, relative to the rootdir.", default=DEFAULT_STORE)
    parser.addini("otel_keep_runs", "How many runs the local store keeps.", type="int", default=DEFAULT_KEEP_RUNS)
    parser.addini("otel_keep_size", "How much the local store's runs may take (like --otel-keep-size).")
    parser.addini("otel_compress", "Write run files compressed (like --otel-compress).", type="bool", default=True)
    parser.addini("otel_compression", "auto, zstd or gzip (like --otel-compression).", default="auto")
    parser.addini(
        "otel_export_timeout", "Like --otel-export-timeout, in seconds.", type="float", default=DEFAULT_EXPORT_TIMEOUT
    )
    parser.addini("otel_db", "Trace SQLAlchemy and asyncpg (like --otel-db).", type="bool", default=True)
    parser.addini("otel_gc", "Time garbage-collection pauses (like --otel-gc).", type="bool", default=True)
    parser.addini(
        "otel_record_failures",
        "message, traceback or none (like --otel-record-failures).",
        default=DEFAULT_RECORD_FAILURES,
    )
    parser.addini("otel_jaeger_url", "Jaeger UI the closing line links to (like --otel-jaeger-url).")


def _add_switch(group: pytest.OptionGroup, name: str, help: str, *, legacy_value: bool = False) -> None:
    """``--otel-NAME`` / ``--no-otel-NAME`` into one destination, None when neither is
    given (the ini key decides). ``legacy_value`` keeps the older ``--otel-NAME=on|off``."""
    dest = f"otel_{name.replace('-', '_')}"
    if legacy_value:
        group.addoption(
            f"--otel-{name}",
            dest=dest,
            nargs="?",
            const=True,
            default=None,
            metavar="on|off",
            type=_argparse_type(_check_switch, f"--otel-{name}"),
            help=help,
        )
    else:
        group.addoption(f"--otel-{name}", dest=dest, action="store_true", default=None, help=help)
    group.addoption(
        f"--no-otel-{name}", dest=dest, action="store_false", default=None, help=f"Undo --otel-{name} (or the ini key)."
    )


def is_enabled(config: pytest.Config, env: Mapping[str, str]) -> bool:
    """``--no-otel`` wins; then ``--otel``; then ``OTEL_PYTEST``; then the ini key."""
    if config.getoption("no_otel"):
        return False
    if config.getoption("otel"):
        return True
    value = env.get("OTEL_PYTEST", "")
    return _env_switch("OTEL_PYTEST", value) if value.strip() else _ini_bool(config, "otel")


def _env_switch(name: str, value: str) -> bool:
    """An environment variable that turns a setting on or off (off wins over the ini file)."""
    flag = value.strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    accepted = ", ".join(_TRUE + _FALSE)
    raise SettingError(f"{name}={value!r} is not a switch: use one of {accepted}")


def _ini(config: pytest.Config, name: str, expected: str) -> object:
    """An ini value as pytest converts it to the key's type; pytest's own error for a bad
    one does not say which key, so the message names it and what is expected."""
    try:
        return config.getini(name)
    except (ValueError, TypeError, pytest.UsageError) as error:
        raise SettingError(f"{name} (ini): {error}: {expected}") from None


def _ini_bool(config: pytest.Config, name: str) -> bool:
    return bool(_ini(config, name, "use true or false"))


def _ini_text(config: pytest.Config, name: str) -> str:
    """A string ini key, stripped; empty when unset."""
    return str(_ini(config, name, "use a string") or "").strip()


def _switch(config: pytest.Config, name: str) -> bool:
    """A ``--otel-X`` / ``--no-otel-X`` pair: the flag given last wins, else the ini key."""
    flag: bool | None = config.getoption(name)
    return _ini_bool(config, name) if flag is None else flag


def _gc(config: pytest.Config, env: Mapping[str, str]) -> bool:
    """``--otel-gc`` / ``--no-otel-gc``; then ``OTEL_PYTEST_GC``; then the ini key."""
    flag: bool | None = config.getoption("otel_gc")
    if flag is not None:
        return flag
    value = env.get("OTEL_PYTEST_GC", "")
    return _env_switch("OTEL_PYTEST_GC", value) if value.strip() else _ini_bool(config, "otel_gc")


def _ini_endpoint(config: pytest.Config) -> str | None:
    """The ini key ``otel_endpoint``: below the flag and the standard variables."""
    value = _ini_text(config, "otel_endpoint")
    return check_url("otel_endpoint (ini)", value) if value else None


def _traceparent(config: pytest.Config, env: Mapping[str, str]) -> TraceParent | None:
    flag: TraceParent | None = config.getoption("otel_traceparent")
    if flag is not None:
        return flag
    value = env.get("TRACEPARENT", "").strip()
    if value:
        return parse_traceparent(value, env.get("TRACESTATE", ""))
    value = _ini_text(config, "otel_traceparent")
    return parse_traceparent(value, setting="otel_traceparent (ini)") if value else None


def _store(config: pytest.Config) -> Path:
    """A path on the command line is relative to where pytest was started; one in the
    ini file is relative to the rootdir, like pytest's own ini paths."""
    flag: str | None = config.getoption("otel_store")
    if flag:
        return config.invocation_params.dir / flag
    return store_in(config.rootpath, _ini_text(config, "otel_store"))


def _compression(config: pytest.Config) -> str | None:
    """The codec's name, auto resolved; None with ``--no-otel-compress``. zstd asked for
    without its package is an error here, before the run starts."""
    if not _switch(config, "otel_compress"):
        return None
    # Imported here: with --otel off the plugin loads nothing past its options (test_invisible).
    from otel_pytest.store.compression import GZIP, ZSTD, ZSTD_INSTALL, available

    flag: str | None = config.getoption("otel_compression")
    setting = "--otel-compression" if flag else "otel_compression (ini)"
    name = flag or _check_compression(setting, _ini_text(config, "otel_compression") or "auto")
    if name == "auto":
        return ZSTD.name if available(ZSTD) else GZIP.name
    if name == ZSTD.name and not available(ZSTD):
        raise SettingError(f"{setting}={name!r} needs the zstandard package: {ZSTD_INSTALL}")
    return name


def _jaeger_url(config: pytest.Config) -> str | None:
    flag: str | None = config.getoption("otel_jaeger_url")
    if flag:
        return flag
    value = _ini_text(config, "otel_jaeger_url")
    return _check_ui_url("otel_jaeger_url (ini)", value) if value else None


def resolve(config: pytest.Config, env: Mapping[str, str]) -> Options:
    """Merge flags, ini and environment into one :class:`Options`, or raise ``SettingError``."""
    keep_runs = config.getoption("otel_keep_runs") or _check_positive_int(
        "otel_keep_runs (ini)", str(_ini(config, "otel_keep_runs", "use a whole number of runs, 1 or more"))
    )
    keep_size = config.getoption("otel_keep_size") or _ini_text(config, "otel_keep_size")
    timeout = config.getoption("otel_export_timeout") or _check_seconds(
        "otel_export_timeout (ini)", str(_ini(config, "otel_export_timeout", "use a number of seconds"))
    )
    return Options(
        trace_per=config.getoption("otel_trace_per")
        or _check_trace_per("otel_trace_per (ini)", _ini_text(config, "otel_trace_per")),
        store=_store(config),
        keep_runs=keep_runs,
        endpoint=traces_endpoint(config.getoption("otel_endpoint"), env, fallback=_ini_endpoint(config)),
        export_timeout=timeout,
        traceparent=_traceparent(config, env),
        db=_switch(config, "otel_db"),
        capture_app=_switch(config, "otel_capture_app"),
        metrics_endpoint=metrics_endpoint(config.getoption("otel_endpoint"), env, fallback=_ini_endpoint(config)),
        record_failures=config.getoption("otel_record_failures")
        or _check_record_failures("otel_record_failures (ini)", _ini_text(config, "otel_record_failures")),
        jaeger_url=_jaeger_url(config),
        gc=_gc(config, env),
        keep_size=_size("otel_keep_size (ini)", keep_size or DEFAULT_KEEP_SIZE),
        compress=_compression(config),
    )
