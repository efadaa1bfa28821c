"""What ``otel-pytest push`` decides before sending: which runs, which endpoint, and the
one-line errors when it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_pytest.cli import EXIT_OK, EXIT_USAGE, main
from otel_pytest.encode.limits import Limits
from otel_pytest.endpoint import DEFAULT_REQUEST_TIMEOUT
from otel_pytest.push.plan import Item, Plan, PushError, Target, make_plan
from otel_pytest.store.pushed import Pushed, PushLog
from tests.push.conftest import entries, push

GOLDEN = Path(__file__).parent.parent / "golden"
ENDPOINT = ("--endpoint", "http://127.0.0.1:9")


def plan_of(
    store: Path,
    *names: str,
    every: bool = False,
    endpoint: str | None = "http://collector:4318",
    protocol: str | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Plan:
    return make_plan(
        names,
        every=every,
        store=store,
        endpoint=endpoint,
        protocol=protocol,
        timeout=timeout,
        limits=Limits(),
        force=False,
        env=env or {},
    )


def test_push_help_matches_the_golden_file(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PYTHON_COLORS", "0")
    with pytest.raises(SystemExit) as exited:
        main(["push", "--help"])
    assert exited.value.code == EXIT_OK
    assert capsys.readouterr().out == (GOLDEN / "cli_push_help.txt").read_text()


def test_runs_are_named_by_id_or_unique_prefix_and_all_is_every_run_oldest_first(store: Path) -> None:
    first, second = entries(store)
    by_prefix = plan_of(store, second.run_id[:5], first.run_id)
    assert [item.name for item in by_prefix.items] == [second.run_id, first.run_id]
    assert by_prefix.items[0] == Item(
        second.run_id, (store / "runs" / second.file, store / "metrics" / second.file), second
    )
    assert [item.name for item in plan_of(store, every=True).items] == [first.run_id, second.run_id]


def test_the_endpoint_and_timeout_come_from_the_standard_variables_when_no_flag_names_them(store: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
    }
    plan = plan_of(store, every=True, endpoint=None, env=env)
    assert (plan.traces, plan.metrics, plan.timeout) == (
        Target("http://collector:4317", "http://collector:4317", "grpc"),
        Target("http://collector:4317", "http://collector:4317", "grpc"),
        2.5,
    )
    flagged = plan_of(store, every=True, env=env, protocol="http/protobuf", timeout=1.0)
    assert (flagged.traces.url, flagged.metrics, flagged.timeout) == (
        "http://collector:4318/v1/traces",
        Target("http://collector:4318/v1/metrics", "http://collector:4318/v1/metrics", "http/protobuf"),
        1.0,
    )
    assert plan_of(store, every=True).timeout == DEFAULT_REQUEST_TIMEOUT


def test_a_traces_url_pushes_no_metrics(store: Path) -> None:
    plan = plan_of(store, every=True, endpoint="https://user:pw@collector/v1/traces?key=k")
    assert (plan.traces.shown, plan.metrics) == ("https://collector/v1/traces", None)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["0000000000", *ENDPOINT],
            {},
            "no run '0000000000' in {store}: `otel-pytest runs --store {store}` lists the run ids "
            "(a unique prefix is enough; a file to push must exist)",
        ),
        ([*ENDPOINT], {}, "name the runs to push (run ids as `otel-pytest runs` lists them, or files), or --all"),
        (["--all", "abc", *ENDPOINT], {}, "give run ids or files, or --all, not both"),
        (
            ["--all"],
            {"OTEL_EXPORTER_OTLP_HEADERS": "x=1"},
            "no endpoint to push to: give --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT "
            "(OTEL_TRACES_EXPORTER or OTEL_SDK_DISABLED may have turned the spans off)",
        ),
        (
            ["--all"],
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' is not an OTLP endpoint: "
            "expected http://host:port or https://host:port",
        ),
        (
            ["--all", *ENDPOINT],
            {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
            "OTEL_EXPORTER_OTLP_TIMEOUT='soon' is not a number of seconds above 0",
        ),
    ],
)
def test_what_cannot_be_pushed_is_one_line_and_exit_2(
    store: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert push(capsys, *argv, "--store", str(store)) == (
        EXIT_USAGE,
        [],
        [f"otel-pytest: error: {message.format(store=store)}"],
    )


def test_an_ambiguous_prefix_names_the_runs_it_matches(store: Path) -> None:
    first, second = entries(store)
    common = 0
    while first.run_id[common] == second.run_id[common]:
        common += 1
    with pytest.raises(PushError) as raised:
        plan_of(store, first.run_id[:common])
    if common == 0:  # no common start: the empty prefix is no run at all
        assert str(raised.value).startswith("no run ''")
    else:
        assert str(raised.value) == (
            f"{first.run_id[:common]!r} is the start of 2 run ids ({first.run_id}, {second.run_id}): give more of it"
        )


def test_a_missing_store_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PushError, match=r"^no trace store at .*nope \(nothing there\): run pytest with --otel first"):
        plan_of(tmp_path / "nope", "abc")


def test_a_folder_given_as_a_run_is_one_line(store: Path) -> None:
    with pytest.raises(PushError, match=r"^.*runs: is a folder; give OTLP JSON Lines files or run ids$"):
        plan_of(store, str(store / "runs"))


def test_runs_already_pushed_to_the_endpoint_are_skipped(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = entries(store)
    PushLog(store).add(Pushed(first.file, first.run_id, "http://collector:4318/v1/traces", "http/protobuf", 1, 1))
    plan = plan_of(store, every=True)
    assert ([item.name for item in plan.items], plan.skipped) == ([second.run_id], (first.run_id,))
    assert plan_of(store, every=True, endpoint="http://other:4318").skipped == ()


def test_the_command_line_loads_the_push_s_encoders_and_exporters_only_when_push_runs() -> None:
    code = "import sys, otel_pytest.cli; print(sorted(m for m in sys.modules if m.startswith(('google', 'opentel'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
