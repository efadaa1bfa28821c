"""``otel-pytest analyze --jaeger``: the same report as from the store for the same runs,
the CI flow whose history lives in Jaeger (fresh folders standing in for fresh runners),
and one line with exit status 2, in bounded time, whatever is wrong with Jaeger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from otel_pytest.analyze.jaeger_source import JaegerSource
from otel_pytest.cli import EXIT_OK, main
from otel_pytest.store.jaeger import JaegerError
from otel_pytest.store.reader import Span
from tests.bounded import within
from tests.jaeger_api import ExportedRun, FixedAnswer, run_suite, wait_for_runs
from tests.jaeger_server import JaegerServer
from tests.otlp_receiver import BlackHole, DownPort
from tests.test_cli import NOT_THE_ANALYZER_S, analyze_in_a_process, one_line_error


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The summary cache of ``analyze --jaeger`` in this test's folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "otel-pytest" / "jaeger"


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    """The JSON report (its notes are on stderr too, as warnings)."""
    code = main(["analyze", "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    parsed: dict[str, object] = json.loads(out)
    assert err.splitlines() == [f"otel-pytest: warning: {note}" for note in parsed["notes"]]  # type: ignore[attr-defined]
    return parsed


def regressed_tests(analysis: dict[str, object]) -> list[str]:
    """The tests with a sure regression costing over 100 ms a run: the injected one costs
    270 ms. The runs are real and timed on a shared machine, where an empty test now and then
    measures milliseconds for two runs in a row (a stall, the exporter's thread) and is
    reported, rightly, as slower: that is the analyzer's accuracy, measured in
    bench/accuracy.py, not this test's subject."""
    findings = analysis["findings"]
    assert isinstance(findings, list)
    return [
        finding["location"]["test"]
        for finding in findings
        if finding["kind"] == "regression" and not finding["provisional"] and finding["saving"] > 0.1
    ]


# -- the same findings as the store ----------------------------------------------------------


@pytest.fixture(scope="module")
def exported(jaeger: JaegerServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ExportedRun]]:
    """Seven runs in one store, also exported to Jaeger; ``test_slow`` regresses in the last
    three. Four before: with five tests nothing pools their noise, and two baseline runs on a
    busy machine are sometimes too few for a sure finding (then it is provisional)."""
    folder = tmp_path_factory.mktemp("exported")
    service = "cli-jaeger-same-findings"
    runs = [run_suite(folder, jaeger, service, branch="main", regression=number >= 4) for number in range(7)]
    wait_for_runs(jaeger, service, runs)
    return folder / ".otel-pytest", runs


def test_analyze_over_jaeger_reports_what_analyze_over_the_store_reports(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, runs = exported
    from_store = report(capsys, "--store", str(store))
    from_jaeger = report(capsys, "--jaeger", jaeger.query, "--service", "cli-jaeger-same-findings")
    # The waterfall: from the run file's spans, and from the test's trace in Jaeger.
    assert from_store["waterfall"] is not None
    assert from_store["waterfall"]["test"] == "test_suite.py::test_slow"  # type: ignore[index]
    assert from_jaeger == from_store
    assert (from_jaeger["runs_analyzed"], from_jaeger["current_run"]) == (7, runs[-1].run_id)
    assert regressed_tests(from_jaeger) == ["test_suite.py::test_slow"]


def test_a_waterfall_jaeger_cannot_give_is_a_warning_and_the_report_goes_on(
    jaeger: JaegerServer,
    exported: tuple[Path, list[ExportedRun]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(self: JaegerSource, run_id: str, nodeid: str) -> list[Span]:
        raise JaegerError(f"cannot reach Jaeger at {jaeger.query}: Connection refused")

    monkeypatch.setattr(JaegerSource, "test_spans", down)
    code = main(["analyze", "--format", "json", "--jaeger", jaeger.query, "--service", "cli-jaeger-same-findings"])
    out, err = capsys.readouterr()

    assert code == EXIT_OK
    assert json.loads(out)["waterfall"] is None
    assert f"otel-pytest: warning: no waterfall: cannot reach Jaeger at {jaeger.query}: Connection refused" in (
        err.splitlines()
    )


def test_analyze_over_jaeger_imports_neither_pytest_nor_opentelemetry(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]]
) -> None:
    argv = ("--jaeger", jaeger.query, "--service", "cli-jaeger-same-findings", "--format", "json")
    done = analyze_in_a_process(*argv, prefix=(sys.executable, "-X", "importtime"))
    assert done.returncode == EXIT_OK, done.stderr[-2000:]
    imported = [line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "otel_pytest.analyze.jaeger_source" in imported
    assert [name for name in imported if name.startswith(tuple(f"{bad}." for bad in NOT_THE_ANALYZER_S))] == []
    assert set(imported).isdisjoint(NOT_THE_ANALYZER_S)


# -- the CI flow: history in Jaeger, every job on a fresh runner ---------------------------


def test_each_fresh_job_sees_the_earlier_jobs_of_its_branch_as_history(
    jaeger: JaegerServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each job runs in a folder of its own with an empty store and exports to the one
    Jaeger; ``analyze --jaeger`` in the last job reads the earlier jobs of the branch. The
    regression starts in the third-to-last job: a finding needs three slow runs in a row."""
    service = "cli-jaeger-ci-flow"
    jobs = [("main", False)] * 4 + [("feature", True)] + [("main", True)] * 3
    runs = []
    for number, (branch, regression) in enumerate(jobs):
        runner = tmp_path / f"runner-{number}"
        runner.mkdir()
        runs.append(run_suite(runner, jaeger, service, branch=branch, regression=regression))
    wait_for_runs(jaeger, service, runs)
    last = tmp_path / f"runner-{len(jobs) - 1}"
    assert report(capsys, "--store", str(last / ".otel-pytest"))["runs_analyzed"] == 1  # its own run only
    analysis = report(capsys, "--jaeger", jaeger.query, "--service", service, "--branch", "main", "--since", "1h")
    assert (analysis["runs_analyzed"], analysis["current_run"]) == (7, runs[-1].run_id)
    assert regressed_tests(analysis) == ["test_suite.py::test_slow"]
    assert analysis["notes"] == ["left out 1 run(s) of other branches than 'main' (--branch)"]


# -- Jaeger down, silent, or answering garbage ----------------------------------------------


def test_a_jaeger_that_is_down_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with DownPort() as down:
        line = one_line_error(capsys, "analyze", "--jaeger", down.endpoint, "--service", "s")
    assert line == f"cannot reach Jaeger at {down.endpoint}: [Errno 111] Connection refused"


def test_a_jaeger_that_never_answers_is_one_line_and_exit_2_within_the_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with BlackHole() as hole, within(10):  # the bound proves the timeout works: far below 10 s
        line = one_line_error(capsys, "analyze", "--jaeger", hole.endpoint, "--service", "s", "--jaeger-timeout", "0.3")
    assert line == f"Jaeger {hole.endpoint} did not answer within 0.3 s (--jaeger-timeout)"


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [(200, b"<html>", "answered something that is not JSON"), (502, b"bad gateway", "answered HTTP 502 Bad Gateway")],
)
def test_garbage_from_jaeger_is_one_line_and_exit_2_without_the_credentials(
    status: int, body: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with FixedAnswer(status, body) as server:
        secret = server.url.replace("http://", "http://ci:hunter2@")
        line = one_line_error(capsys, "analyze", "--jaeger", secret, "--service", "s")
    assert line.startswith(f"Jaeger {server.url} {said}")
    assert "hunter2" not in line


def test_a_report_written_from_jaeger_names_no_credentials(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = jaeger.query.replace("http://", "http://ci:hunter2@")
    for kind in ("json", "markdown", "html", "terminal"):
        output = tmp_path / f"report.{kind}"
        argv = ["--jaeger", url, "--service", "cli-jaeger-same-findings", "--format", kind, "--output", str(output)]
        assert main(["analyze", *argv]) == EXIT_OK
        assert "hunter2" not in output.read_text()
    assert "hunter2" not in "".join(capsys.readouterr())


# -- the options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--service", "s"], "--service: only with --jaeger URL"),
        (["--since", "1h", "--last", "3"], "--since, --last: only with --jaeger URL"),
        (["--jaeger", "localhost:16686"], "argument --jaeger: 'localhost:16686': expected an http:// or https:// URL"),
        (["--jaeger", "http://h", "--since", "7 days"], "argument --since: '7 days': expected a duration like 30m"),
        (["--jaeger", "http://h", "--since", "0h"], "argument --since: '0h': expected a duration like 30m"),
        (["--jaeger", "http://h", "--jaeger-timeout", "nan"], "argument --jaeger-timeout: 'nan': expected a number"),
        (["--jaeger", "http://h", "--last", "0"], "argument --last: '0': expected a whole number of runs, 1 or more"),
    ],
)
def test_a_bad_jaeger_option_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line_error(capsys, "analyze", *argv).startswith(message)


def test_the_service_defaults_to_otel_service_name(
    jaeger: JaegerServer,
    exported: tuple[Path, list[ExportedRun]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "cli-jaeger-same-findings")
    assert report(capsys, "--jaeger", jaeger.query)["runs_analyzed"] == len(exported[1])


def test_without_otel_service_name_the_service_is_the_project_name_as_the_plugin_exports_it(
    jaeger: JaegerServer,
    exported: tuple[Path, list[ExportedRun]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "cli-jaeger-same-findings"\n')
    monkeypatch.chdir(project / "tests")
    assert report(capsys, "--jaeger", jaeger.query)["runs_analyzed"] == len(exported[1])


def test_no_runs_in_jaeger_is_one_line_and_exit_2(jaeger: JaegerServer, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, "analyze", "--jaeger", jaeger.query, "--service", "cli-nobody", "--since", "2w")
    assert line == (
        f"no runs to analyze: Jaeger {jaeger.query} (service 'cli-nobody', the last 14d): no runs (no 'pytest session' "
        "spans); check --service and --since, and that the tests export there (pytest --otel --otel-endpoint URL)"
    )
