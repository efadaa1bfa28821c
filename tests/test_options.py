"""Settings: the traceparent parser, resolution of flags, ini and environment, and the
one-line usage errors a configuration mistake produces in a real pytest run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from otel_pytest import options as opts
from otel_pytest.endpoint import Endpoint, SettingError
from otel_pytest.options import Options, TraceParent, parse_traceparent

# pytest-asyncio adds a session fixture to every run; these runs do not need it.
NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"
EXPECTED_FORM = "expected 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"

# --- parse_traceparent ----------------------------------------------------------------


def test_a_valid_traceparent_gives_its_ids_flags_and_tracestate() -> None:
    assert parse_traceparent(VALID, "vendor=value") == TraceParent(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        sampled=True,
        tracestate="vendor=value",
    )


@pytest.mark.parametrize(("flags", "sampled"), [("00", False), ("01", True), ("02", False), ("03", True)])
def test_only_the_lowest_flag_bit_means_sampled(flags: str, sampled: bool) -> None:
    assert parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-{flags}").sampled is sampled


def test_uppercase_hex_and_surrounding_whitespace_are_accepted() -> None:
    # The spec asks writers for lowercase; a value pasted by hand is accepted as meant.
    assert parse_traceparent(f"  00-{TRACE_ID.upper()}-{SPAN_ID.upper()}-01\n") == parse_traceparent(VALID)


def test_a_later_version_may_carry_more_fields() -> None:
    # The spec: parse the four known fields of a higher version and ignore what follows.
    parsed = parse_traceparent(f"cc-{TRACE_ID}-{SPAN_ID}-01-what-the-future-will-be")
    assert (parsed.trace_id, parsed.span_id, parsed.sampled) == (
        int(TRACE_ID, 16),
        int(SPAN_ID, 16),
        True,
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is not a W3C traceparent"),
        ("garbage", "is not a W3C traceparent"),
        (f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01", "is not a W3C traceparent"),
        (f"00-{TRACE_ID}0-{SPAN_ID}-01", "is not a W3C traceparent"),
        (f"00-{TRACE_ID}-{SPAN_ID[:-1]}-01", "is not a W3C traceparent"),
        (f"00-{TRACE_ID}-{SPAN_ID}-1", "is not a W3C traceparent"),
        (f"0-{TRACE_ID}-{SPAN_ID}-01", "is not a W3C traceparent"),
        (f"00-{TRACE_ID[:-1]}g-{SPAN_ID}-01", "is not a W3C traceparent"),
        (f"00_{TRACE_ID}_{SPAN_ID}_01", "is not a W3C traceparent"),
        (f"01-{TRACE_ID}-{SPAN_ID}-01x", "is not a W3C traceparent"),
        (f"ff-{TRACE_ID}-{SPAN_ID}-01", "has an unsupported version"),
        (
            f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
            "has fields after the flags, which version 00 does not allow",
        ),
        (f"00-{'0' * 32}-{SPAN_ID}-01", "has an all-zero trace or span id"),
        (f"00-{TRACE_ID}-{'0' * 16}-01", "has an all-zero trace or span id"),
    ],
)
def test_an_invalid_traceparent_is_rejected_with_one_line_naming_the_value(value: str, problem: str) -> None:
    with pytest.raises(SettingError) as raised:
        parse_traceparent(value)
    assert str(raised.value) == f"TRACEPARENT={value!r} {problem}: {EXPECTED_FORM}"


def test_the_error_names_the_setting_it_was_given() -> None:
    with pytest.raises(SettingError, match=r"^--otel-traceparent='nope' is not a W3C traceparent: "):
        parse_traceparent("nope", setting="--otel-traceparent")


# --- resolution, on a parsed (not configured) pytest config ---------------------------


def resolve(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> Options:
    return opts.resolve(pytester.parseconfig(*args), env or {})


def test_defaults(pytester: pytest.Pytester) -> None:
    assert resolve(pytester) == Options(
        trace_per="test",
        store=pytester.path / ".otel-pytest",
        keep_runs=100,
        endpoint=None,
        export_timeout=1.0,
        traceparent=None,
        capture_app=False,
        keep_size=1_000_000_000,
        compress="zstd",  # auto, and the dev extra installs zstandard
    )


def test_flags_set_every_option(pytester: pytest.Pytester) -> None:
    options = resolve(
        pytester,
        "--otel-trace-per=session",
        "--otel-store=traces",
        "--otel-keep-runs=7",
        "--otel-export-timeout=0.25",
        "--otel-endpoint=http://collector:4318",
        f"--otel-traceparent={VALID}",
        "--otel-capture-app",
        "--otel-keep-size=500MB",
        "--no-otel-compress",
    )
    assert options == Options(
        trace_per="session",
        store=pytester.path / "traces",
        keep_runs=7,
        endpoint=Endpoint("http://collector:4318", "http/protobuf", signal_specific=False),
        export_timeout=0.25,
        traceparent=TraceParent(int(TRACE_ID, 16), int(SPAN_ID, 16), True, ""),
        capture_app=True,
        metrics_endpoint=Endpoint("http://collector:4318", "http/protobuf", signal_specific=False),
        keep_size=500_000_000,
        compress=None,
    )


def test_ini_keys_set_their_options(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        otel_trace_per = session
        otel_store = .cache/otel
        otel_keep_runs = 3
        otel_capture_app = true
        otel_keep_size = 1.5GiB
        otel_compress = false
        """
    )
    options = resolve(pytester)
    assert (options.trace_per, options.store, options.keep_runs, options.capture_app) == (
        "session",
        pytester.path / ".cache" / "otel",
        3,
        True,
    )
    assert (options.keep_size, options.compress) == (1_610_612_736, None)


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [
        (("--otel-keep-size=none",), "otel_keep_size = 2GB", None),  # the flag wins, and none is no limit
        (("--otel-keep-size=2kib",), "", 2048),
        ((), "otel_keep_size = 300 MB", 300_000_000),
        (("--otel-compress",), "otel_compress = false", "zstd"),
    ],
)
def test_keep_size_and_compress_flags_win_over_their_ini_keys(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, expected: object
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    options = resolve(pytester, *args)
    assert (options.compress if "compress" in ini else options.keep_size) == expected


def test_flags_win_over_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notel_trace_per = session\notel_keep_runs = 3\n")
    options = resolve(pytester, "--otel-trace-per=test", "--otel-keep-runs=9")
    assert (options.trace_per, options.keep_runs) == ("test", 9)


def test_a_store_flag_is_relative_to_the_start_folder_and_the_ini_key_to_the_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\notel_store = from-ini\n")
    start = pytester.mkdir("sub")
    monkeypatch.chdir(start)
    assert resolve(pytester, str(pytester.path)).store == pytester.path / "from-ini"
    assert resolve(pytester, str(pytester.path), "--otel-store=from-flag").store == start / "from-flag"


def test_the_traces_endpoint_variable_is_used_as_is_and_wins_over_the_general_one(
    pytester: pytest.Pytester,
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example:443/custom/v1/traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://general:4318",
    }
    assert resolve(pytester, env=env).endpoint == Endpoint(
        "https://traces.example:443/custom/v1/traces", "http/protobuf", signal_specific=True
    )
    del env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    assert resolve(pytester, env=env).endpoint == Endpoint(
        "http://general:4318", "http/protobuf", signal_specific=False
    )


def test_the_endpoint_flag_wins_over_the_environment(pytester: pytest.Pytester) -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env:4318/v1/traces"}
    endpoint = resolve(pytester, "--otel-endpoint=http://flag:4318", env=env).endpoint
    assert endpoint == Endpoint("http://flag:4318", "http/protobuf", signal_specific=False)


def test_an_endpoint_flag_that_already_names_the_traces_path_is_used_as_is(
    pytester: pytest.Pytester,
) -> None:
    endpoint = resolve(pytester, "--otel-endpoint=http://flag:4318/v1/traces").endpoint
    assert endpoint == Endpoint("http://flag:4318/v1/traces", "http/protobuf", signal_specific=True)


def exported(pytester: pytest.Pytester, *args: str, **env: str) -> tuple[str | None, str | None]:
    """The URLs spans and metrics go to (None: not exported)."""
    options = resolve(pytester, *args, env=env)
    return (
        options.endpoint.url if options.endpoint else None,
        options.metrics_endpoint.url if options.metrics_endpoint else None,
    )


GENERAL = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://general:4318"}


@pytest.mark.parametrize(
    ("args", "env", "spans", "metrics"),
    [
        pytest.param((), GENERAL, "http://general:4318", "http://general:4318", id="general-endpoint"),
        pytest.param(
            (),
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces"},
            "http://t:4318/v1/traces",
            None,
            id="traces-endpoint-alone-means-no-metrics",
        ),
        pytest.param(
            (),
            {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:4318/v1/metrics"},
            None,
            "http://m:4318/v1/metrics",
            id="metrics-endpoint-alone",
        ),
        pytest.param(
            (),
            {**GENERAL, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:4318/v1/metrics"},
            "http://general:4318",
            "http://m:4318/v1/metrics",
            id="metrics-endpoint-wins",
        ),
        pytest.param(
            (), {**GENERAL, "OTEL_METRICS_EXPORTER": "none"}, "http://general:4318", None, id="metrics-exporter-none"
        ),
        pytest.param(
            (), {**GENERAL, "OTEL_TRACES_EXPORTER": "none"}, None, "http://general:4318", id="traces-exporter-none"
        ),
        pytest.param(
            (),
            {**GENERAL, "OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_METRICS_EXPORTER": "prometheus"},
            "http://general:4318",
            None,
            id="exporter-lists",
        ),
        pytest.param((), {**GENERAL, "OTEL_SDK_DISABLED": "TRUE"}, None, None, id="sdk-disabled"),
        pytest.param(
            ("--otel-endpoint=http://flag:4318",), {}, "http://flag:4318", "http://flag:4318", id="flag-base-url"
        ),
        pytest.param(
            ("--otel-endpoint=http://flag:4318/v1/traces",),
            GENERAL,
            "http://flag:4318/v1/traces",
            "http://general:4318",
            id="flag-traces-url",
        ),
        pytest.param(
            ("--otel-endpoint=http://flag:4318",),
            {"OTEL_SDK_DISABLED": "true"},
            "http://flag:4318",
            "http://flag:4318",
            id="flag-wins-over-sdk-disabled",
        ),
        pytest.param(
            ("--otel-endpoint=http://flag:4318",),
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
            "http://flag:4318",
            None,
            id="flag-wins-over-traces-exporter-none-not-metrics",
        ),
    ],
)
def test_each_signal_goes_where_the_standard_variables_say(
    pytester: pytest.Pytester, args: tuple[str, ...], env: dict[str, str], spans: str | None, metrics: str | None
) -> None:
    assert exported(pytester, *args, **env) == (spans, metrics)


def test_the_metrics_protocol_variable_wins_over_the_general_one(pytester: pytest.Pytester) -> None:
    options = resolve(pytester, env={**GENERAL, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})
    assert options.endpoint == Endpoint("http://general:4318", "http/protobuf", signal_specific=False)
    assert options.metrics_endpoint == Endpoint("http://general:4318", "grpc", signal_specific=False)


def test_the_traces_protocol_variable_wins_over_the_general_one(pytester: pytest.Pytester) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    endpoint = resolve(pytester, env=env).endpoint
    assert endpoint is not None
    assert endpoint.protocol == "grpc"


def test_traceparent_and_tracestate_come_from_the_environment_unless_the_flag_is_given(
    pytester: pytest.Pytester,
) -> None:
    env = {"TRACEPARENT": f" {VALID} ", "TRACESTATE": "rojo=00f067aa0ba902b7"}
    assert resolve(pytester, env=env).traceparent == TraceParent(
        int(TRACE_ID, 16), int(SPAN_ID, 16), True, "rojo=00f067aa0ba902b7"
    )
    other = f"00-{'1' * 32}-{'2' * 16}-00"
    assert resolve(pytester, f"--otel-traceparent={other}", env=env).traceparent == TraceParent(
        int("1" * 32, 16), int("2" * 16, 16), False, ""
    )


# --- is_enabled ------------------------------------------------------------------------


def enabled(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> bool:
    return opts.is_enabled(pytester.parseconfig(*args), env or {})


def test_the_plugin_is_off_by_default(pytester: pytest.Pytester) -> None:
    assert enabled(pytester) is False
    assert enabled(pytester, env={"OTEL_PYTEST": ""}) is False


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_otel_pytest_switches_the_plugin_on(pytester: pytest.Pytester, value: str) -> None:
    assert enabled(pytester, env={"OTEL_PYTEST": value}) is True


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_otel_pytest_switches_off_what_the_ini_file_switches_on(pytester: pytest.Pytester, value: str) -> None:
    pytester.makeini("[pytest]\notel = true\n")
    assert enabled(pytester) is True
    assert enabled(pytester, env={"OTEL_PYTEST": value}) is False


def test_the_otel_flag_wins_over_the_environment(pytester: pytest.Pytester) -> None:
    assert enabled(pytester, "--otel", env={"OTEL_PYTEST": "0"}) is True
    assert enabled(pytester, "--otel", env={"OTEL_PYTEST": "maybe"}) is True


def test_the_no_otel_flag_wins_over_everything(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notel = true\n")
    assert enabled(pytester, "--no-otel", "--otel", env={"OTEL_PYTEST": "1"}) is False


# --- configuration mistakes in a real run ---------------------------------------------


def setting_error(result: pytest.RunResult) -> str:
    """The one error line of a run stopped by a setting checked at configure time."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.outlines + result.errlines
    assert not any("Traceback" in line or "INTERNALERROR" in line for line in output), output
    lines = [line for line in output if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: ")
    return lines[0].removeprefix("ERROR: ")


def flag_error(result: pytest.RunResult) -> str:
    """The message of a run stopped by argparse: pytest's usage line, then the message."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.outlines + result.errlines
    assert not any("Traceback" in line or "INTERNALERROR" in line for line in output), output
    errors = [line for line in output if line.startswith("ERROR:")]
    assert len(errors) == 1, output
    assert errors[0].startswith("ERROR: usage: ")
    messages = [line.split(": error: ", 1)[1] for line in output if ": error: " in line]
    assert len(messages) == 1, output
    return messages[0]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile("def test_nothing(): pass")
    return pytester


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--otel-trace-per=bogus",
            "argument --otel-trace-per: 'bogus' is not valid: use one of test, session",
        ),
        (
            "--otel-endpoint=localhost:4318",
            "argument --otel-endpoint: 'localhost:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            "--otel-endpoint=http://collector:99999",
            "argument --otel-endpoint: 'http://collector:99999' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            "--otel-endpoint=http://:4318",
            "argument --otel-endpoint: 'http://:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            "--otel-traceparent=00-abc-def-01",
            f"argument --otel-traceparent: '00-abc-def-01' is not a W3C traceparent: {EXPECTED_FORM}",
        ),
        (
            "--otel-keep-runs=0",
            "argument --otel-keep-runs: '0' must be a whole number of runs, 1 or more",
        ),
        (
            "--otel-keep-runs=ten",
            "argument --otel-keep-runs: 'ten' must be a whole number of runs, 1 or more",
        ),
        (
            "--otel-keep-size=lots",
            "argument --otel-keep-size: 'lots' is not a size: use a number and a unit, as 500MB or 1GB "
            "(KB, MB, GB, TB; KiB, MiB, GiB, TiB), or none for no limit",
        ),
        (
            "--otel-keep-size=0MB",
            "argument --otel-keep-size: '0MB' is not a size: use a number and a unit, as 500MB or 1GB "
            "(KB, MB, GB, TB; KiB, MiB, GiB, TiB), or none for no limit",
        ),
        (
            "--otel-export-timeout=61",
            "argument --otel-export-timeout: '61' must be a number of seconds between 0 and 60",
        ),
        (
            "--otel-export-timeout=nan",
            "argument --otel-export-timeout: 'nan' must be a number of seconds between 0 and 60",
        ),
    ],
)
def test_a_bad_flag_is_one_usage_error_naming_flag_value_and_accepted_values(
    suite: pytest.Pytester, flag: str, message: str
) -> None:
    assert flag_error(suite.runpytest("--otel", *NO_ASYNC, flag)) == message
    assert not (suite.path / ".otel-pytest").exists()


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "otel_trace_per = bogus",
            "otel_trace_per (ini)='bogus' is not valid: use one of test, session",
        ),
        (
            "otel_keep_runs = 0",
            "otel_keep_runs (ini)='0' must be a whole number of runs, 1 or more",
        ),
        (
            "otel_keep_size = 1PB",
            "otel_keep_size (ini)='1PB' is not a size: use a number and a unit, as 500MB or 1GB "
            "(KB, MB, GB, TB; KiB, MiB, GiB, TiB), or none for no limit",
        ),
        (
            "otel_capture_app = sometimes",
            "otel_capture_app (ini): invalid truth value 'sometimes': use true or false",
        ),
    ],
)
def test_a_bad_ini_value_is_one_error_line_naming_the_key(suite: pytest.Pytester, ini: str, message: str) -> None:
    suite.makeini(f"[pytest]\n{ini}\n")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == message


def test_a_bad_otel_ini_switch_is_one_error_line_naming_the_key(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\notel = maybe\n")
    assert setting_error(suite.runpytest(*NO_ASYNC)) == "otel (ini): invalid truth value 'maybe': use true or false"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "ftp://collector/v1/traces",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT='ftp://collector/v1/traces' "
            "is not an OTLP endpoint: expected http://host:port or https://host:port",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported: use one of http/protobuf, grpc",
        ),
        (
            "TRACEPARENT",
            f"00-{TRACE_ID}-{SPAN_ID}",
            f"TRACEPARENT='00-{TRACE_ID}-{SPAN_ID}' is not a W3C traceparent: {EXPECTED_FORM}",
        ),
        (
            "TRACEPARENT",
            f"00-{'0' * 32}-{SPAN_ID}-01",
            f"TRACEPARENT='00-{'0' * 32}-{SPAN_ID}-01' has an all-zero trace or span id: {EXPECTED_FORM}",
        ),
    ],
)
def test_a_bad_environment_variable_is_one_error_line_naming_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    if "PROTOCOL" in name:  # the protocol only matters, and is only checked, with an endpoint
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == message
    assert not (suite.path / ".otel-pytest").exists()


def test_an_unsupported_protocol_without_an_endpoint_is_ignored(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    suite.runpytest("--otel", *NO_ASYNC).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://ci:s3cr3t@collector.example.com:notaport", "https://collector.example.com:notaport"),
        ("collector.example.com:4318?api_key=s3cr3t", "collector.example.com:4318"),
        ("ci:s3cr3t@collector.example.com:4318", "collector.example.com:4318"),
    ],
)
def test_a_malformed_endpoint_error_never_shows_its_credentials(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str, shown: str
) -> None:
    expected = "is not an OTLP endpoint: expected http://host:port or https://host:port"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", value)
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == f"OTEL_EXPORTER_OTLP_ENDPOINT={shown!r} {expected}"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    message = flag_error(suite.runpytest_subprocess("--otel", *NO_ASYNC, f"--otel-endpoint={value}"))
    assert message == f"argument --otel-endpoint: {shown!r} {expected}"
    assert "s3cr3t" not in message


def test_a_bad_otel_pytest_switch_is_one_error_line_listing_the_accepted_values(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PYTEST", "Maybe")
    assert setting_error(suite.runpytest(*NO_ASYNC)) == (
        "OTEL_PYTEST='Maybe' is not a switch: use one of 1, true, yes, on, 0, false, no, off"
    )


def test_setting_errors_look_the_same_from_the_real_command_line(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert setting_error(suite.runpytest_subprocess("--otel", *NO_ASYNC)) == (
        "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported: use one of http/protobuf, grpc"
    )
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert flag_error(suite.runpytest_subprocess("--otel", *NO_ASYNC, "--otel-trace-per=module")) == (
        "argument --otel-trace-per: 'module' is not valid: use one of test, session"
    )


def test_with_the_plugin_off_its_environment_is_not_read(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", "not-a-traceparent")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    suite.makeini("[pytest]\notel_trace_per = bogus\n")
    result = suite.runpytest(*NO_ASYNC)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert not (suite.path / ".otel-pytest").exists()


def test_the_otel_flag_records_a_run(suite: pytest.Pytester) -> None:
    # The control for the tests below: the same suite, switched on, makes the store.
    suite.runpytest("--otel", *NO_ASYNC).assert_outcomes(passed=1)
    assert (suite.path / ".otel-pytest" / "index.jsonl").is_file()


def test_the_ini_switch_records_a_run(suite: pytest.Pytester) -> None:
    suite.makeini("[pytest]\notel = true\n")
    suite.runpytest(*NO_ASYNC).assert_outcomes(passed=1)
    assert (suite.path / ".otel-pytest" / "index.jsonl").is_file()


def test_the_environment_switch_records_a_run(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTEST", "1")
    suite.runpytest(*NO_ASYNC).assert_outcomes(passed=1)
    assert (suite.path / ".otel-pytest" / "index.jsonl").is_file()


def test_no_otel_wins_over_the_flag_the_ini_switch_and_the_environment(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini("[pytest]\notel = true\n")
    monkeypatch.setenv("OTEL_PYTEST", "1")
    result = suite.runpytest("--otel", "--no-otel", *NO_ASYNC)
    result.assert_outcomes(passed=1)
    assert not (suite.path / ".otel-pytest").exists()
    assert not any(line.startswith("otel:") for line in result.outlines)


def test_otel_pytest_zero_wins_over_the_ini_switch_in_a_real_run(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini("[pytest]\notel = true\n")
    monkeypatch.setenv("OTEL_PYTEST", "0")
    suite.runpytest(*NO_ASYNC).assert_outcomes(passed=1)
    assert not Path(suite.path, ".otel-pytest").exists()


# --- --otel-record-failures ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["message", "traceback", "none"])
def test_the_record_failures_flag_and_ini_key_choose_the_failure_text_mode(
    pytester: pytest.Pytester, mode: str
) -> None:
    assert resolve(pytester).record_failures == "message"
    assert resolve(pytester, f"--otel-record-failures={mode}").record_failures == mode
    pytester.makeini(f"[pytest]\notel_record_failures = {mode}\n")
    assert resolve(pytester).record_failures == mode
    assert resolve(pytester, "--otel-record-failures=message").record_failures == "message"


def test_a_bad_record_failures_flag_or_ini_value_is_one_error_line(suite: pytest.Pytester) -> None:
    assert flag_error(suite.runpytest("--otel", *NO_ASYNC, "--otel-record-failures=all")) == (
        "argument --otel-record-failures: 'all' is not valid: use one of message, traceback, none"
    )
    suite.makeini("[pytest]\notel_record_failures = locals\n")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == (
        "otel_record_failures (ini)='locals' is not valid: use one of message, traceback, none"
    )


# --- an ini key for every flag, the flag winning ----------------------------------------


def test_every_otel_flag_has_an_ini_key_of_the_same_name(pytester: pytest.Pytester) -> None:
    """Read from ``pytest --help``, what a user reads: a flag added without its ini key fails here."""
    help_text = pytester.runpytest("--help", *NO_ASYNC).stdout.str()
    flags = set(re.findall(r"--otel-([a-z-]+)", help_text))
    ini_keys = set(re.findall(r"^  otel_([a-z_]+) \(", help_text, re.MULTILINE))
    assert flags == {
        "trace-per",
        "endpoint",
        "traceparent",
        "capture-app",
        "store",
        "keep-runs",
        "keep-size",
        "compress",
        "compression",
        "export-timeout",
        "db",
        "record-failures",
        "jaeger-url",
        "gc",
    }
    assert {flag.replace("-", "_") for flag in flags} <= ini_keys


OTHER = f"00-{'1' * 32}-{'2' * 16}-00"


@pytest.mark.parametrize(
    ("ini", "flag", "field", "from_ini", "from_flag"),
    [
        ("otel_trace_per = session", "--otel-trace-per=test", "trace_per", "session", "test"),
        (
            "otel_endpoint = http://ini:4318",
            "--otel-endpoint=http://flag:4318",
            "endpoint",
            Endpoint("http://ini:4318", "http/protobuf", signal_specific=False),
            Endpoint("http://flag:4318", "http/protobuf", signal_specific=False),
        ),
        (
            f"otel_traceparent = {VALID}",
            f"--otel-traceparent={OTHER}",
            "traceparent",
            TraceParent(int(TRACE_ID, 16), int(SPAN_ID, 16), True, ""),
            TraceParent(int("1" * 32, 16), int("2" * 16, 16), False, ""),
        ),
        ("otel_capture_app = true", "--no-otel-capture-app", "capture_app", True, False),
        ("otel_store = from-ini", "--otel-store=from-flag", "store", "from-ini", "from-flag"),
        ("otel_keep_runs = 3", "--otel-keep-runs=9", "keep_runs", 3, 9),
        ("otel_export_timeout = 2.5", "--otel-export-timeout=0.5", "export_timeout", 2.5, 0.5),
        ("otel_db = false", "--otel-db", "db", False, True),
        ("otel_gc = false", "--otel-gc", "gc", False, True),
        ("otel_record_failures = none", "--otel-record-failures=traceback", "record_failures", "none", "traceback"),
        (
            "otel_jaeger_url = http://jaeger:16686/",
            "--otel-jaeger-url=https://ui.example",
            "jaeger_url",
            "http://jaeger:16686",
            "https://ui.example",
        ),
    ],
)
def test_each_ini_key_sets_its_option_and_the_flag_wins(
    pytester: pytest.Pytester, ini: str, flag: str, field: str, from_ini: object, from_flag: object
) -> None:
    if field == "store":
        from_ini, from_flag = pytester.path / str(from_ini), pytester.path / str(from_flag)
    default = getattr(resolve(pytester), field)
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert (default, getattr(resolve(pytester), field), getattr(resolve(pytester, flag), field)) == (
        default,
        from_ini,
        from_flag,
    )
    assert from_ini != default


@pytest.mark.parametrize(
    ("ini", "env", "args", "gc"),
    [
        ("", "", (), True),
        ("otel_gc = false", "", (), False),
        ("otel_gc = false", "1", (), True),
        ("", "off", (), False),
        ("", "off", ("--otel-gc",), True),
        ("", "on", ("--no-otel-gc",), False),
    ],
)
def test_the_gc_switch_is_the_flag_then_otel_pytest_gc_then_the_ini_key(
    pytester: pytest.Pytester, ini: str, env: str, args: tuple[str, ...], gc: bool
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert resolve(pytester, *args, env={"OTEL_PYTEST_GC": env}).gc is gc


def test_otel_pytest_gc_must_be_a_switch(pytester: pytest.Pytester) -> None:
    with pytest.raises(SettingError) as raised:
        resolve(pytester, env={"OTEL_PYTEST_GC": "sometimes"})
    assert str(raised.value) == (
        "OTEL_PYTEST_GC='sometimes' is not a switch: use one of 1, true, yes, on, 0, false, no, off"
    )


def test_numbers_and_switches_take_native_toml_values(pytester: pytest.Pytester) -> None:
    """pytest 9's ``[tool.pytest]`` keeps TOML types: an int must be an int key to be accepted."""
    pytester.makepyprojecttoml(
        "[tool.pytest]\notel_keep_runs = 4\notel_export_timeout = 3\notel_db = false\notel_capture_app = true\n"
    )
    options = resolve(pytester)
    assert (options.keep_runs, options.export_timeout, options.db, options.capture_app) == (4, 3.0, False, True)


@pytest.mark.parametrize(
    ("args", "db"),
    [
        ((), True),
        (("--no-otel-db",), False),
        (("--no-otel-db", "--otel-db"), True),
        (("--otel-db", "--no-otel-db"), False),
        (("--otel-db=off",), False),
        (("--otel-db", "off"), False),
        (("--otel-db=on", "--no-otel-db"), False),
        (("--otel-db=yes",), True),
    ],
)
def test_switches_come_in_pairs_the_last_given_wins_and_the_older_value_form_still_works(
    pytester: pytest.Pytester, args: tuple[str, ...], db: bool
) -> None:
    assert resolve(pytester, *args).db is db


def test_the_no_flag_of_a_switch_wins_over_the_ini_key_and_the_flag_over_its_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notel_capture_app = true\notel_db = false\n")
    assert (resolve(pytester).capture_app, resolve(pytester).db) == (True, False)
    assert resolve(pytester, "--no-otel-capture-app").capture_app is False
    assert resolve(pytester, "--otel-db").db is True


@pytest.mark.parametrize(
    ("ini", "env", "spans", "metrics"),
    [
        pytest.param("http://ini:4318", {}, "http://ini:4318", "http://ini:4318", id="ini-base-url"),
        pytest.param("http://ini:4318/v1/traces", {}, "http://ini:4318/v1/traces", None, id="ini-traces-url"),
        pytest.param("http://ini:4318", GENERAL, "http://general:4318", "http://general:4318", id="env-wins"),
        pytest.param(
            "http://ini:4318",
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces"},
            "http://t:4318/v1/traces",
            "http://ini:4318",
            id="each-signal-its-own",
        ),
        pytest.param("http://ini:4318", {"OTEL_SDK_DISABLED": "true"}, None, None, id="sdk-disabled-wins"),
        pytest.param("http://ini:4318", {"OTEL_TRACES_EXPORTER": "none"}, None, "http://ini:4318", id="exporter-none"),
    ],
)
def test_the_ini_endpoint_comes_below_the_standard_variables(
    pytester: pytest.Pytester, ini: str, env: dict[str, str], spans: str | None, metrics: str | None
) -> None:
    pytester.makeini(f"[pytest]\notel_endpoint = {ini}\n")
    assert exported(pytester, **env) == (spans, metrics)


def test_the_traceparent_variable_wins_over_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\notel_traceparent = {OTHER}\n")
    traceparent = resolve(pytester, env={"TRACEPARENT": VALID}).traceparent
    assert traceparent == TraceParent(int(TRACE_ID, 16), int(SPAN_ID, 16), True, "")


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "otel_keep_runs = ten",
            "otel_keep_runs (ini): invalid literal for int() with base 10: 'ten': "
            "use a whole number of runs, 1 or more",
        ),
        (
            "otel_export_timeout = 90",
            "otel_export_timeout (ini)='90.0' must be a number of seconds between 0 and 60",
        ),
        (
            "otel_export_timeout = soon",
            "otel_export_timeout (ini): could not convert string to float: 'soon': use a number of seconds",
        ),
        ("otel_db = sometimes", "otel_db (ini): invalid truth value 'sometimes': use true or false"),
        (
            "otel_endpoint = collector:4318",
            "otel_endpoint (ini)='collector:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            "otel_traceparent = 00-abc",
            f"otel_traceparent (ini)='00-abc' is not a W3C traceparent: {EXPECTED_FORM}",
        ),
        (
            "otel_jaeger_url = localhost:16686",
            "otel_jaeger_url (ini)='localhost:16686' is not a Jaeger UI address: "
            "expected http://host:port or https://host:port",
        ),
    ],
)
def test_a_bad_value_of_a_new_ini_key_is_one_error_line_naming_it(
    suite: pytest.Pytester, ini: str, message: str
) -> None:
    suite.makeini(f"[pytest]\n{ini}\n")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == message


def test_a_non_integer_keep_runs_in_native_toml_is_one_error_line(suite: pytest.Pytester) -> None:
    suite.makepyprojecttoml('[tool.pytest]\notel_keep_runs = "many"\n')
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == (
        f"otel_keep_runs (ini): {suite.path / 'pyproject.toml'}: config option 'otel_keep_runs' expects an int, "
        "got str: 'many': use a whole number of runs, 1 or more"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--otel-db=maybe",),
            "argument --otel-db: 'maybe' is not valid: use on or off, or --otel-db / --no-otel-db alone",
        ),
        (
            ("--otel-jaeger-url=ftp://jaeger",),
            "argument --otel-jaeger-url: 'ftp://jaeger' is not a Jaeger UI address: "
            "expected http://host:port or https://host:port",
        ),
    ],
)
def test_a_bad_value_of_a_new_flag_is_one_usage_error(
    suite: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    assert flag_error(suite.runpytest("--otel", *NO_ASYNC, *args)) == message


# --- compression: the format of run files ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [
        ((), "", "zstd"),  # auto: the zstandard package is installed
        (("--otel-compression=gzip",), "", "gzip"),
        ((), "otel_compression = gzip", "gzip"),
        (("--otel-compression=zstd",), "otel_compression = gzip", "zstd"),  # the flag wins
        (("--otel-compression=auto",), "otel_compression = gzip", "zstd"),
        (("--otel-compression=zstd", "--no-otel-compress"), "", None),  # plain: nothing to choose
    ],
)
def test_compression_is_zstd_when_installed_unless_a_flag_or_ini_key_says(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, expected: str | None
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert resolve(pytester, *args).compress == expected


def test_without_the_zstandard_package_auto_compresses_with_gzip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what an import then finds: none
    assert resolve(pytester).compress == "gzip"
    assert resolve(pytester, "--otel-compression=gzip").compress == "gzip"


def test_zstd_asked_for_without_its_package_is_one_error_line_with_the_pip_command(suite: pytest.Pytester) -> None:
    suite.makeconftest("import sys\nsys.modules['zstandard'] = None\n")  # as if not installed
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC, "--otel-compression=zstd")) == (
        "--otel-compression='zstd' needs the zstandard package: pip install 'otel-pytest[zstd]'"
    )
    suite.makeini("[pytest]\notel_compression = zstd\n")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == (
        "otel_compression (ini)='zstd' needs the zstandard package: pip install 'otel-pytest[zstd]'"
    )
    assert not (suite.path / ".otel-pytest").exists()


def test_a_bad_compression_flag_or_ini_value_is_one_error_line(suite: pytest.Pytester) -> None:
    assert flag_error(suite.runpytest("--otel", *NO_ASYNC, "--otel-compression=lz4")) == (
        "argument --otel-compression: 'lz4' is not valid: use one of auto, zstd, gzip"
    )
    suite.makeini("[pytest]\notel_compression = brotli\n")
    assert setting_error(suite.runpytest("--otel", *NO_ASYNC)) == (
        "otel_compression (ini)='brotli' is not valid: use one of auto, zstd, gzip"
    )
