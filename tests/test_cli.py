"""The ``otel-pytest`` command: listing the runs of a store, and analyzing them."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

from otel_pytest.analyze import analysis
from otel_pytest.analyze.detectors import Detector
from otel_pytest.analyze.detectors.evidence import dated
from otel_pytest.analyze.findings import Finding, Location, Measurement, Written
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.state import STATE_FILE
from otel_pytest.cli import EXIT_GATE, EXIT_OK, EXIT_USAGE, main
from otel_pytest.store.compression import member
from otel_pytest.store.index import RunEntry, RunIndex, run_file_name
from otel_pytest.store.reader import read_spans
from otel_pytest.version import package_version
from tests.analyze.test_sources import entry as source_entry
from tests.analyze.test_sources import run_lines
from tests.analyze.test_summarize import FROZEN_NOTE, frozen_clock_run, otlp_lines

NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")
BASE = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
GOLDEN = Path(__file__).parent / "golden"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def entry(number: int, revision: str = "", *, seconds: float = 0, outcomes: dict[str, int] | None = None) -> RunEntry:
    start = BASE + number * 60_000_000_000
    run_id = f"{number:016x}"
    return RunEntry(
        run_id=run_id,
        file=run_file_name(start, run_id),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1 + int(seconds * 1e9),
        service_name="shop",
        exit_status=number % 2,
        tests=number * 10,
        spans=number * 100,
        environment={},
        vcs={"vcs.ref.head.revision": revision} if revision else {},
        outcomes=outcomes,
    )


def store_with(tmp_path: Path, *entries: RunEntry) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    index = RunIndex(store)
    for item in entries:
        index.append(item)
    return store


def test_runs_lists_a_run_recorded_by_a_real_pytest_session(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        """
        def test_one(): pass
        def test_two(): pass
        def test_three(): assert False
        """
    )
    result = pytester.runpytest("--otel", *NO_ASYNC)
    result.assert_outcomes(passed=2, failed=1)
    store = pytester.path / ".otel-pytest"
    (run_file,) = (store / "runs").iterdir()
    spans = list(read_spans(run_file))
    (run_id,) = {span.attributes["pytest.run.id"] for _resource, span in spans}
    assert isinstance(run_id, str)
    assert re.fullmatch(r"[0-9a-f]{16}", run_id)
    capsys.readouterr()

    code, out, err = run(capsys, "runs", "--store", str(store))

    assert (code, err) == (EXIT_OK, [])
    assert out[0] == (
        "run id            started (UTC)        duration   tests    spans  exit  revision    outcomes            file"
    )
    assert len(out) == 2
    (stored,), _ = RunIndex(store).entries()
    started = datetime.fromtimestamp(stored.start_time_unix_nano / 1e9, tz=timezone.utc)
    assert run_file.name == f"{started:%Y%m%dT%H%M%SZ}_{run_id}.otlp.jsonl.zst"
    duration = (stored.end_time_unix_nano - stored.start_time_unix_nano) / 1e9
    assert out[1].split() == [
        run_id,
        f"{started:%Y-%m-%d}",
        f"{started:%H:%M:%S}",
        f"{duration:.2f}s",
        "3",
        str(len(spans)),
        "1",  # pytest's exit status for a run with a failed test
        "1",
        "failed,",
        "2",
        "passed",
        f"runs/{run_file.name}",
    ]


def test_runs_are_listed_newest_first_with_their_columns_aligned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_with(
        tmp_path,
        entry(2, "0123456789abcdef", seconds=75.4, outcomes={"passed": 18, "skipped": 1, "xfailed": 1}),
        entry(1, seconds=3.456),  # indexed before outcomes were
        entry(3, seconds=2 * 3600 + 5 * 60, outcomes={"passed": 27, "error": 1, "failed": 2}),
        entry(4, outcomes={}),
    )
    assert run(capsys, "runs", "--store", str(store)) == (
        EXIT_OK,
        [
            "run id            started (UTC)        duration   tests    spans  exit  revision    "
            "outcomes                         file",
            "0000000000000004  2023-11-14 22:17:20     0.00s      40      400     0              "
            "no tests                         runs/20231114T221720Z_0000000000000004.otlp.jsonl.gz",
            "0000000000000003  2023-11-14 22:16:20     2h05m      30      300     1              "
            "2 failed, 27 passed, 1 error     runs/20231114T221620Z_0000000000000003.otlp.jsonl.gz",
            "0000000000000002  2023-11-14 22:15:20     1m15s      20      200     0  0123456789  "
            "18 passed, 1 skipped, 1 xfailed  runs/20231114T221520Z_0000000000000002.otlp.jsonl.gz",
            "0000000000000001  2023-11-14 22:14:20     3.46s      10      100     1              "
            "n/a                              runs/20231114T221420Z_0000000000000001.otlp.jsonl.gz",
        ],
        [],
    )


def test_limit_shows_only_the_newest_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path, entry(1), entry(2), entry(3))
    code, out, err = run(capsys, "runs", "--store", str(store), "--limit", "2")
    assert (code, err) == (EXIT_OK, [])
    assert [line.split()[0] for line in out[1:]] == ["0000000000000003", "0000000000000002"]


def test_a_limit_below_one_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path, entry(1))
    assert run(capsys, "runs", "--store", str(store), "--limit", "0") == (
        EXIT_USAGE,
        [],
        ["otel-pytest: error: --limit 0: must be 1 or more"],
    )


def test_a_missing_store_is_one_line_on_stderr_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert run(capsys, "runs", "--store", str(missing)) == (
        EXIT_USAGE,
        [],
        [f"otel-pytest: error: no trace store at {missing}: run pytest with --otel first, or pass --store DIR"],
    )


def test_the_default_store_is_the_one_in_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "runs")[2] == [
        "otel-pytest: error: no trace store at .otel-pytest: run pytest with --otel first, or pass --store DIR"
    ]
    (tmp_path / ".otel-pytest").mkdir()
    RunIndex(tmp_path / ".otel-pytest").append(entry(1))
    code, out, _ = run(capsys, "runs")
    assert (code, len(out)) == (EXIT_OK, 2)


def test_an_empty_store_says_so_and_succeeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path)
    assert run(capsys, "runs", "--store", str(store)) == (
        EXIT_OK,
        [f"no runs in {store} yet: run pytest with --otel"],
        [],
    )


def test_unreadable_index_lines_are_warnings_on_stderr_and_the_rest_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_with(tmp_path, entry(1))
    with (store / "index.jsonl").open("ab") as handle:
        handle.write(b'{"run_id": "cut')
    code, out, err = run(capsys, "runs", "--store", str(store))
    assert code == EXIT_OK
    assert [line.split()[0] for line in out] == ["run", "0000000000000001"]
    assert len(err) == 1
    assert err[0].startswith(f"otel-pytest: warning: {store / 'index.jsonl'}:2: skipped an unreadable index line (")


def test_an_index_that_cannot_be_read_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path)
    (store / "index.jsonl").mkdir()
    code, out, err = run(capsys, "runs", "--store", str(store))
    assert (code, out, len(err)) == (EXIT_USAGE, [], 1)
    assert err[0].startswith(f"otel-pytest: error: cannot read the run index in {store}: ")


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[-1] == (
        "otel-pytest: error: the following arguments are required: COMMAND"
    )


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == EXIT_OK
    assert capsys.readouterr().out == f"otel-pytest {package_version()}\n"


def test_runs_help_matches_the_golden_file(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PYTHON_COLORS", "0")  # Python 3.14 colours help when FORCE_COLOR is set
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--help"])
    assert exited.value.code == EXIT_OK
    assert capsys.readouterr().out == (GOLDEN / "cli_runs_help.txt").read_text()


def test_the_installed_command_reports_a_missing_store_in_one_line(tmp_path: Path) -> None:
    command = shutil.which("otel-pytest", path=str(Path(sys.executable).parent))
    assert command is not None, "the otel-pytest console script is not installed beside this Python"
    done = subprocess.run(
        [command, "runs", "--store", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    assert done.stderr.splitlines() == [
        f"otel-pytest: error: no trace store at {tmp_path / 'nowhere'}: "
        "run pytest with --otel first, or pass --store DIR"
    ]


# -- otel-pytest analyze -------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the command expecting a usage or input error; its single line on stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exited:  # argparse rejects a bad option value while parsing
        code = exited.code if isinstance(exited.code, int) else EXIT_USAGE
    out, err = capsys.readouterr()
    assert (code, out) == (EXIT_USAGE, "")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("otel-pytest: error: ")
    return lines[0].removeprefix("otel-pytest: error: ")


def test_analyze_help_matches_the_golden_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("PYTHON_COLORS", "0")
    with pytest.raises(SystemExit) as exited:
        main(["analyze", "--help"])
    assert exited.value.code == EXIT_OK
    assert capsys.readouterr().out == (GOLDEN / "cli_analyze_help.txt").read_text()


def test_an_unknown_fail_on_kind_is_one_line_naming_the_kinds_and_the_nearest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert one_line_error(capsys, "analyze", "--fail-on", "regression,n+2") == (
        "argument --fail-on: unknown finding kind 'n+2' (did you mean 'n+1'?): expected a comma-separated list of "
        "regression, count, connection, schema, cleanup, n+1, fixture, flaky, improvement, or all"
    )
    assert one_line_error(capsys, "analyze", "--fail-on", ",").startswith(
        "argument --fail-on: ',': name at least one finding kind (regression, count,"
    )


def test_an_unknown_format_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line_error(capsys, "analyze", "--format", "xml") == (
        "argument --format: 'xml': expected one of terminal, json, markdown, html"
    )


@pytest.mark.parametrize("option", ["--current", "--baseline"])
@pytest.mark.parametrize("value", ["0", "-3", "five"])
def test_window_sizes_must_be_whole_numbers_of_runs(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert one_line_error(capsys, "analyze", f"{option}={value}") == (
        f"argument {option}: {value!r}: expected a whole number of runs, 1 or more"
    )


def test_an_unknown_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line_error(capsys, "analyze", "--fail-fast") == "unrecognized arguments: --fail-fast"


def test_a_path_that_does_not_exist_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "artifact.otlp.jsonl"
    assert one_line_error(capsys, "analyze", str(missing)) == (
        f"{missing}: no such file or folder; give OTLP JSON Lines files, folders of them, or a store folder"
    )


def test_analyze_without_a_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert one_line_error(capsys, "analyze", "--store", str(missing)) == (
        f"no trace store at {missing}: run pytest with --otel first, or pass --store DIR or run files as PATHs"
    )


def test_analyze_of_an_empty_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path)
    assert one_line_error(capsys, "analyze", "--store", str(store)) == (
        f"no runs to analyze: {store}: the store has no runs yet; run `pytest --otel` first"
    )


def test_analyze_of_a_file_without_spans_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.otlp.jsonl"
    empty.write_text("")
    assert one_line_error(capsys, "analyze", str(empty)) == f"no runs to analyze: {empty}: no spans in this file"


def test_an_output_file_in_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = store_with(tmp_path, entry(1))
    target = tmp_path / "reports" / "analysis.json"
    assert one_line_error(capsys, "analyze", "--store", str(store), "--output", str(target)) == (
        f"--output {target}: the folder {target.parent} does not exist"
    )
    assert one_line_error(capsys, "analyze", "--store", str(store), "--output", str(tmp_path)) == (
        f"--output {tmp_path}: is a folder; give a file name"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail-on", "speed"], "argument --fail-on: unknown finding kind 'speed'"),
        (["--format", "pdf"], "argument --format: 'pdf': expected one of terminal, json, markdown, html"),
        (["no/such/file.jsonl"], "no/such/file.jsonl: no such file or folder"),
    ],
)
def test_the_installed_analyze_command_reports_bad_input_in_one_line_without_a_traceback(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    command = shutil.which("otel-pytest", path=str(Path(sys.executable).parent))
    assert command is not None
    done = subprocess.run([command, "analyze", *argv], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"otel-pytest: error: {message}")


# A recorded store and fake detectors: the command's plumbing, not the detectors' judgement.

SUITE = """
    import time
    import pytest

    @pytest.fixture
    def slow():
        time.sleep(0.02)
        yield

    def test_slow(slow):
        time.sleep(0.01)

    def test_quick():
        pass
"""


@pytest.fixture(scope="module")
def recorded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding three real runs of a small suite, recorded once for this module."""
    folder = tmp_path_factory.mktemp("suite")
    (folder / "test_x.py").write_text(textwrap.dedent(SUITE))
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_"))
    }
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--otel", "-p", "no:cacheprovider", *NO_ASYNC, "-q", "test_x.py"],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return folder / ".otel-pytest"


@pytest.fixture
def recorded(recorded_once: Path, tmp_path: Path) -> Path:
    """A copy of the recorded store that a test may change."""
    return Path(shutil.copytree(recorded_once, tmp_path / "store"))


def test_run_from_a_subfolder_runs_and_analyze_find_the_store_pytest_s_ini_names(
    recorded_once: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\notel_store = '.cache/otel'\n")
    store = Path(shutil.copytree(recorded_once, tmp_path / ".cache" / "otel"))
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    code, listed, err = run(capsys, "runs", "--store", str(store))
    assert (code, len(listed), err) == (EXIT_OK, 4, [])
    code, report, err = run(capsys, "analyze", "--store", str(store), "--format", "json")
    assert (code, err) == (EXIT_OK, [])
    monkeypatch.chdir(tmp_path / "tests" / "unit")
    assert run(capsys, "runs") == (EXIT_OK, listed, [])
    assert run(capsys, "analyze", "--format", "json") == (EXIT_OK, report, [])
    (tmp_path / "tests" / "pytest.ini").write_text("[pytest]\n")  # now tests/ is the rootdir: no store there
    assert run(capsys, "runs")[2] == [
        "otel-pytest: error: no trace store at ../.otel-pytest: run pytest with --otel first, or pass --store DIR"
    ]


def test_analyze_keeps_its_state_beside_the_store_s_summaries_and_reports_alike_with_it(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analyze = ("analyze", "--store", str(recorded), "--format", "json")
    saved = recorded / "summaries" / STATE_FILE

    first = run(capsys, *analyze)
    assert saved.is_file()
    assert run(capsys, *analyze) == first
    saved.write_bytes(b"damaged")
    assert run(capsys, *analyze) == first
    assert saved.read_bytes() != b"damaged"


def test_analyze_of_run_files_keeps_no_state(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "analyze", str(recorded / "runs"), "--format", "json")

    assert code == EXIT_OK
    assert not (recorded / "summaries" / STATE_FILE).exists()


def test_a_pytest_configuration_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tox.ini").write_text("[pytest\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "analyze")
    assert (code, out) == (EXIT_USAGE, [])
    assert len(err) == 1
    assert err[0].startswith(f"otel-pytest: error: cannot read the pytest configuration file {tmp_path / 'tox.ini'}: ")
    assert err[0].endswith("; pass --store DIR")


def finding_about(history: History, *, kind: str = "fixture", provisional: bool = False) -> Finding:
    current = history.current
    assert current is not None
    return Finding(
        kind=kind,
        severity="medium",
        location=Location(test="test_x.py::test_slow"),
        measurements=(Measurement("setup", 0.02, "s"),),
        detail=Written(title="test_slow is setup-dominated", confidence="exact", suggestion="Share the fixture."),
        saving=0.02,
        history=tuple((run.run_id, 0.03) for run in history.runs),
        provisional=provisional,
        age=1,  # began in the newest run: the gate's to judge
    )


@pytest.fixture
def detectors(monkeypatch: pytest.MonkeyPatch) -> list[Detector]:
    """Replace the detectors with the ones a test puts in this list."""
    chosen: list[Detector] = []
    monkeypatch.setattr(analysis, "default_detectors", lambda: tuple(chosen))
    return chosen


def test_analyze_reads_the_store_and_prints_the_terminal_report(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str]
) -> None:
    histories: list[History] = []

    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        histories.append(history)
        return [finding_about(history)]

    detectors.append(detect)
    capsys.readouterr()
    code, out, err = run(capsys, "analyze", "--store", str(recorded))
    assert (code, err) == (EXIT_OK, [])
    (history,) = histories
    assert len(history.runs) == 3
    assert out[0] == f"otel-pytest analyze: run {history.runs[-1].run_id}, 3 runs analyzed"
    assert "Fixing this finding saves ~20 ms per run." in out
    assert any("test_slow is setup-dominated" in line for line in out)


def test_analyze_keeps_the_history_out_of_collections_and_leaves_the_collector_as_it_was(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str]
) -> None:
    during: list[tuple[bool, int]] = []

    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        during.append((gc.isenabled(), gc.get_freeze_count()))
        return []

    detectors.append(detect)
    assert gc.isenabled()
    code, _, err = run(capsys, "analyze", "--store", str(recorded))
    assert (code, err) == (EXIT_OK, [])
    ((enabled, frozen),) = during
    assert (enabled, frozen > 0) == (True, True)  # the history, read, is frozen while the detectors run
    assert (gc.isenabled(), gc.get_freeze_count()) == (True, 0)


def test_the_terminal_report_fits_columns_when_piped_and_details_add_each_fix(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    detectors.append(lambda history, options: [finding_about(history)])
    capsys.readouterr()
    for columns, width in (("64", 64), ("20", 60), ("wide", 100)):  # at least 60; no number: as without
        monkeypatch.setenv("COLUMNS", columns)
        code, out, _ = run(capsys, "analyze", "--store", str(recorded))
        assert code == EXIT_OK
        assert max(map(len, out)) <= width
        assert any(len(line) > width - 8 for line in out), columns  # the summary fills the width
        assert not any("Share the fixture." in line for line in out)
    monkeypatch.delenv("COLUMNS")
    for flag in ("-v", "--details"):
        code, out, _ = run(capsys, "analyze", "--store", str(recorded), flag)
        assert code == EXIT_OK
        assert [line.strip() for line in out if "Share the fixture." in line] == ["fix       Share the fixture."]


def test_the_options_reach_the_detectors(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[AnalysisOptions] = []

    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        seen.append(options)
        return []

    detectors.append(detect)
    capsys.readouterr()
    code, out, _ = run(
        capsys, "analyze", "--store", str(recorded), "--current", "2", "--baseline", "7", "--any-environment"
    )
    assert code == EXIT_OK
    assert seen == [AnalysisOptions(current_runs=2, baseline_runs=7, any_environment=True)]
    assert out[-1].startswith("No findings: run ")


@pytest.mark.parametrize(
    ("fail_on", "kind", "provisional", "expected"),
    [
        (None, "fixture", False, EXIT_OK),
        ("regression,n+1", "fixture", False, EXIT_OK),
        ("regression,fixture", "fixture", False, EXIT_GATE),
        ("all", "flaky", False, EXIT_GATE),
        ("fixture", "fixture", True, EXIT_OK),
    ],
)
def test_the_exit_status_is_the_gate_s(
    recorded: Path,
    detectors: list[Detector],
    capsys: pytest.CaptureFixture[str],
    fail_on: str | None,
    kind: str,
    provisional: bool,
    expected: int,
) -> None:
    detectors.append(lambda history, options: [finding_about(history, kind=kind, provisional=provisional)])
    capsys.readouterr()
    gate_args = ["--fail-on", fail_on] if fail_on else []
    code, out, err = run(capsys, "analyze", "--store", str(recorded), "--format", "json", *gate_args)
    assert code == expected
    assert json.loads("\n".join(out))["summary"]["findings"] == 1
    if expected == EXIT_GATE:
        assert err == [f"otel-pytest: the gate failed: 1 finding(s) of a --fail-on kind (1 {kind})"]
    else:
        assert err == []


def pattern_since(first: int) -> Detector:
    """A pattern detector that finds the N+1 in the histories ending at the ``first``-th run
    (0-based) or later, dated as the pattern detectors date theirs."""

    def find(history: History, options: AnalysisOptions) -> list[Finding]:
        if len(history.runs) <= first:
            return []
        return [dataclasses.replace(finding_about(history, kind="n+1"), age=None)]

    return lambda history, options: dated(history, options, find)


@pytest.mark.parametrize(
    ("first", "gate_args", "expected"),
    [(2, [], EXIT_GATE), (1, [], EXIT_OK), (1, ["--gate-runs", "2"], EXIT_GATE), (0, ["--gate-runs", "2"], EXIT_OK)],
)
def test_the_gate_fails_on_findings_that_began_within_the_newest_gate_runs_runs(
    recorded: Path,
    detectors: list[Detector],
    capsys: pytest.CaptureFixture[str],
    first: int,
    gate_args: list[str],
    expected: int,
) -> None:
    detectors.append(pattern_since(first))
    capsys.readouterr()
    code, _, err = run(capsys, "analyze", "--store", str(recorded), "--format", "json", "--fail-on", "n+1", *gate_args)

    assert code == expected
    entries, _ = RunIndex(recorded).entries()
    if expected == EXIT_GATE:
        assert err == ["otel-pytest: the gate failed: 1 finding(s) of a --fail-on kind (1 n+1)"]
    elif first == 1:  # began in the run before the newest: older than the gate looks back
        assert err == [
            "otel-pytest: not gating: 1 open finding of a --fail-on kind began before the newest 1 run "
            f"(--gate-runs 1): n+1 at test_x.py::test_slow open since run {entries[1].run_id}, 2 runs"
        ]
    else:  # in every run of the history: it began in the first
        assert err == [
            "otel-pytest: not gating: 1 open finding of a --fail-on kind began before the newest 2 runs "
            f"(--gate-runs 2): n+1 at test_x.py::test_slow open since run {entries[0].run_id}, 3 runs"
        ]


def spy(seen: list[tuple[History, AnalysisOptions]]) -> Detector:
    """A detector that finds nothing and keeps what it was given."""

    def detect(history: History, options: AnalysisOptions) -> list[Finding]:
        seen.append((history, options))
        return []

    return detect


def test_baseline_from_leaves_out_the_runs_before_it(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str]
) -> None:
    entries, _ = RunIndex(recorded).entries()
    seen: list[tuple[History, AnalysisOptions]] = []
    detectors.append(spy(seen))
    capsys.readouterr()

    code, _, err = run(
        capsys, "analyze", "--store", str(recorded), "--format", "json", "--baseline-from", entries[1].run_id
    )

    assert (code, [len(history.runs) for history, _ in seen]) == (EXIT_OK, [2])
    assert err == [
        f"otel-pytest: warning: left out 1 run(s) before run {entries[1].run_id}, where --baseline-from "
        f"{entries[1].run_id} starts the history: nothing is compared against them"
    ]


def test_a_baseline_that_names_no_run_is_one_line_and_status_2(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "analyze", "--store", str(recorded), "--baseline-from", "zzzz")
    assert (code, out) == (EXIT_USAGE, [])
    assert err == [
        "otel-pytest: error: --baseline-from zzzz: no run of the 3 analyzed has that run id or revision "
        "(`otel-pytest runs` lists them)"
    ]


def test_gate_runs_and_baseline_from_are_read_from_pytest_s_configuration_and_the_flags_win(
    recorded: Path,
    detectors: list[Detector],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    entries, _ = RunIndex(recorded).entries()
    seen: list[tuple[History, AnalysisOptions]] = []
    detectors.append(spy(seen))
    (tmp_path / "pytest.ini").write_text(f"[pytest]\notel_gate_runs = 4\notel_baseline_from = {entries[1].run_id}\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    assert run(capsys, "analyze", "--store", str(recorded), "--format", "json")[0] == EXIT_OK
    assert (
        run(
            capsys,
            "analyze",
            "--store",
            str(recorded),
            "--format",
            "json",
            "--gate-runs",
            "2",
            "--baseline-from",
            entries[0].run_id,
        )[0]
        == EXIT_OK
    )

    assert [(options.gate_runs, options.baseline_from) for _, options in seen] == [
        (4, entries[1].run_id),
        (2, entries[0].run_id),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("otel_gate_runs = 0", "otel_gate_runs = 0: '0': expected a whole number of runs, 1 or more"),
        ("otel_baseline_from =", None),
    ],
)
def test_an_ini_value_of_an_analyze_flag_is_checked_as_the_flag(
    recorded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    line: str,
    problem: str | None,
) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{line}\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "analyze", "--store", str(recorded), "--format", "json")
    if problem is None:  # an empty key is no setting
        assert (code, err) == (EXIT_OK, [])
    else:
        assert (code, err) == (EXIT_USAGE, [f"otel-pytest: error: {tmp_path / 'pytest.ini'}: {problem}"])


def test_a_json_report_written_to_a_file_carries_the_slowest_test_s_waterfall(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    detectors.append(lambda history, options: [finding_about(history)])
    capsys.readouterr()
    target = tmp_path / "analysis.json"
    code, out, err = run(capsys, "analyze", "--store", str(recorded), "--format", "json", "--output", str(target))
    assert (code, out, err) == (EXIT_OK, [], [])
    report = json.loads(target.read_text(encoding="utf-8"))
    waterfall = report["waterfall"]
    assert waterfall["test"].endswith("::test_slow")
    assert waterfall["run"] == report["current_run"]
    # Untraced gaps and garbage-collection pauses (a span of 1 ms or more) come and go with
    # the machine's load: the spans the suite made are what this checks.
    spans = [bar for bar in waterfall["bars"] if bar["kind"] not in {"untraced", "gc"}]
    names = [bar["name"] for bar in spans]
    assert names[:2] == ["setup", "fixture slow"]
    assert "call" in names
    assert [bar["depth"] for bar in spans][:2] == [0, 1]


def test_problems_with_the_input_are_notes_in_the_report_and_warnings_on_stderr(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str]
) -> None:
    oldest = sorted((recorded / "runs").iterdir())[0]
    with oldest.open("ab") as handle:
        handle.write(member(b'{"resourceSpans": [cut off\n'))  # a gzip member, as a writer appends
    capsys.readouterr()
    code, out, err = run(capsys, "analyze", "--store", str(recorded), "--format", "json")
    assert code == EXIT_OK
    notes = json.loads("\n".join(out))["notes"]
    assert any("skipped an unreadable line" in note for note in notes)
    assert err == [f"otel-pytest: warning: {note}" for note in notes]
    # The terminal report shows them itself, so they are not repeated on stderr.
    code, out, err = run(capsys, "analyze", "--store", str(recorded))
    assert (code, err) == (EXIT_OK, [])
    assert "skipped an unreadable line" in " ".join(" ".join(out).split())  # a long path wraps the note


def test_run_files_given_as_paths_give_the_same_analysis_as_the_store(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    detectors.append(lambda history, options: [finding_about(history)])
    artifact = tmp_path / "artifact"
    shutil.copytree(recorded / "runs", artifact)
    capsys.readouterr()
    from_store = run(capsys, "analyze", "--store", str(recorded), "--format", "markdown")
    from_files = run(capsys, "analyze", str(artifact), "--format", "markdown")
    assert from_store == from_files
    assert from_store[0] == EXIT_OK


def test_an_html_report_is_one_self_contained_file(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    detectors.append(lambda history, options: [finding_about(history)])
    capsys.readouterr()
    target = tmp_path / "report.html"
    assert run(capsys, "analyze", "--store", str(recorded), "--format", "html", "--output", str(target)) == (
        EXIT_OK,
        [],
        [],
    )
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "test_slow is setup-dominated" in page
    assert 'class="waterfall"' in page
    assert "<script" not in page


@pytest.fixture
def step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GitHub Actions step: its summary file already holds an earlier step's text."""
    path = tmp_path / "step_summary.md"
    path.write_text("## Tests\n\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def test_github_summary_appends_the_markdown_report_while_the_chosen_format_goes_to_its_output(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], tmp_path: Path, step_summary: Path
) -> None:
    detectors.append(lambda history, options: [finding_about(history)])
    capsys.readouterr()
    code, markdown, _ = run(capsys, "analyze", "--store", str(recorded), "--format", "markdown")
    target = tmp_path / "report.html"
    argv = ["analyze", "--store", str(recorded), "--github-summary", "--format", "html", "--output", str(target)]
    assert run(capsys, *argv) == (EXIT_OK, [], [])
    assert code == EXIT_OK
    assert step_summary.read_text(encoding="utf-8") == "## Tests\n\n" + "\n".join(markdown) + "\n"
    assert "1. **test\\_slow is setup-dominated**  " in markdown
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_github_summary_with_the_markdown_format_writes_the_same_report_to_both(
    recorded: Path, detectors: list[Detector], capsys: pytest.CaptureFixture[str], step_summary: Path
) -> None:
    detectors.append(lambda history, options: [finding_about(history, kind="fixture")])
    capsys.readouterr()
    code, out, err = run(
        capsys, "analyze", "--store", str(recorded), "--github-summary", "--format", "markdown", "--fail-on", "all"
    )
    assert code == EXIT_GATE
    assert err == ["otel-pytest: the gate failed: 1 finding(s) of a --fail-on kind (1 fixture)"]
    assert step_summary.read_text(encoding="utf-8") == "## Tests\n\n" + "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"GITHUB_STEP_SUMMARY": "summary.md"},
            "--github-summary: GITHUB_ACTIONS is not 'true': not a GitHub Actions job, so there is no step "
            "summary; use --format markdown --output FILE instead",
        ),
        (
            {"GITHUB_ACTIONS": "true"},
            "--github-summary: GITHUB_STEP_SUMMARY is not set: GitHub Actions names the summary file there",
        ),
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "missing/summary.md"},
            "--github-summary: GITHUB_STEP_SUMMARY=missing/summary.md: the folder missing does not exist",
        ),
    ],
    ids=["not in GitHub Actions", "no summary file", "summary in a missing folder"],
)
def test_github_summary_outside_a_github_actions_step_is_one_line_naming_what_is_missing(
    recorded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(recorded.parent)
    assert one_line_error(capsys, "analyze", "--store", str(recorded), "--github-summary") == message


# -- otel-pytest store pack | unpack -------------------------------------------------------


def test_store_pack_and_unpack_carry_the_runs_to_a_fresh_folder(
    recorded: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    archive = tmp_path / "history.tar.gz"
    fresh = tmp_path / "fresh" / ".otel-pytest"
    code, out, err = run(capsys, "store", "pack", str(archive), "--store", str(recorded))
    assert (code, err) == (EXIT_OK, [])
    assert out == [f"packed 3 run(s) of {recorded} into {archive} ({archive.stat().st_size:,} bytes)"]
    code, out, err = run(capsys, "store", "unpack", str(archive), "--store", str(fresh), "--keep-runs", "2")
    assert (code, err) == (EXIT_OK, [])
    assert out == [
        f"unpacked {archive} into {fresh}: 2 of its 3 run(s) added, 0 already there; "
        "1 removed to keep the newest 2 within 1GB"
    ]
    assert run(capsys, "runs", "--store", str(fresh))[1][1:] == run(capsys, "runs", "--store", str(recorded))[1][1:3]


def test_store_unpack_keeps_as_many_runs_as_the_project_s_otel_keep_runs(
    recorded: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "history.tar.gz"
    assert run(capsys, "store", "pack", str(archive), "--store", str(recorded))[0] == EXIT_OK
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\notel_keep_runs = 1\n")
    monkeypatch.chdir(project)
    code, out, err = run(capsys, "store", "unpack", str(archive))
    assert (code, err) == (EXIT_OK, [])
    assert out == [
        f"unpacked {archive} into .otel-pytest: 1 of its 3 run(s) added, 0 already there; "
        "2 removed to keep the newest 1 within 1GB"
    ]
    (project / "pytest.ini").write_text("[pytest]\notel_keep_runs = many\n")
    assert one_line_error(capsys, "store", "unpack", str(archive)) == (
        f"{project / 'pytest.ini'}: otel_keep_runs 'many': expected a whole number of runs, 1 or more; "
        "fix it or pass --keep-runs N"
    )


def test_store_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a pack")
    assert one_line_error(capsys, "store", "pack", str(tmp_path / "h.tar.gz"), "--store", str(tmp_path / "no")) == (
        f"no trace store at {tmp_path / 'no'}: run pytest with --otel first, or pass --store DIR"
    )
    assert one_line_error(capsys, "store", "unpack", str(tmp_path / "notes.txt"), "--store", str(tmp_path / "s")) == (
        f"{tmp_path / 'notes.txt'}: not a readable otel-pytest pack (Not a gzipped file (b'no'))"
    )
    assert one_line_error(capsys, "store", "unpack", "h.tar.gz", "--keep-runs", "0") == (
        "argument --keep-runs: '0': expected a whole number of runs, 1 or more"
    )
    assert one_line_error(capsys, "store") == "the following arguments are required: ACTION"


def test_analyze_without_the_analyze_extra_says_what_to_install(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> tuple[Detector, ...]:
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    monkeypatch.setattr(analysis, "default_detectors", missing)
    assert one_line_error(capsys, "analyze", "--store", str(recorded)) == (
        "analyze needs scipy, which is not installed: pip install 'otel-pytest[analyze]'"
    )


# -- input of every shape: a report with notes, or one line, never a hang or a traceback ----


def installed() -> str:
    command = shutil.which("otel-pytest", path=str(Path(sys.executable).parent))
    assert command is not None
    return command


def analyze_in_a_process(
    *argv: str, prefix: Sequence[str] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command (behind ``prefix``), given two minutes (it takes a second): a
    hang fails the test."""
    return subprocess.run(
        [*prefix, installed(), "analyze", *argv], capture_output=True, text=True, check=False, timeout=120, cwd=cwd
    )


# What the analyzer must never load: pytest (``otel-pytest analyze`` runs in CI jobs without
# a test session), the database instrumentation and the libraries it patches, and the
# recording side of the plugin; it reads the store and the span vocabulary only.
NOT_THE_ANALYZER_S = (
    "pytest",
    "_pytest",
    "sqlalchemy",
    "asyncpg",
    "opentelemetry",
    "otel_pytest.db",
    "otel_pytest.options",
    "otel_pytest.plugin",
    "otel_pytest.recorder",
    "otel_pytest.run",
    "otel_pytest.export",
    "otel_pytest.identity",
)


@pytest.mark.parametrize("report", ["terminal", "json", "markdown", "html"])
def test_otel_pytest_analyze_imports_neither_pytest_nor_the_database_layer_nor_the_recorder(
    recorded: Path, report: str
) -> None:
    """The analyzer's import boundary, checked once on the real command over a real store
    (all detectors, the summary cache, the waterfall of the JSON and HTML reports), by
    the interpreter's own record of every module it imported."""
    done = analyze_in_a_process(
        "--store", str(recorded), "--format", report, prefix=(sys.executable, "-X", "importtime")
    )
    assert done.returncode == EXIT_OK, done.stderr[-2000:]
    imported = [line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert {"otel_pytest.analyze.detectors.durations", "otel_pytest.semconv.db_work"} <= set(imported)
    forbidden = [
        name for name in imported if any(name == bad or name.startswith(f"{bad}.") for bad in NOT_THE_ANALYZER_S)
    ]
    assert forbidden == []


def damaged(lines: list[bytes], damage: str) -> list[bytes]:
    """The first test's line of a hand-made run, damaged as named."""
    data = json.loads(lines[0])
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    root = next(span for span in spans if not span.get("parentSpanId"))
    setup = next(span for span in spans if span["name"] == "setup")
    if damage == "a span repeating the test's id under the test":
        spans.append({**setup, "spanId": root["spanId"], "parentSpanId": setup["spanId"], "name": "again"})
    elif damage == "a test that is its own parent":
        root["parentSpanId"] = root["spanId"]
    elif damage == "two spans that are each other's parent":
        spans.append({**setup, "spanId": "00000000000000ee", "parentSpanId": setup["spanId"], "name": "x"})
        spans.append({**setup, "parentSpanId": "00000000000000ee", "name": "setup again"})
    return [json.dumps(data).encode() + b"\n", *lines[1:]]


@pytest.mark.parametrize("output", ["json", "html"])
@pytest.mark.parametrize(
    "damage",
    [
        "a span repeating the test's id under the test",
        "a test that is its own parent",
        "two spans that are each other's parent",
    ],
)
def test_spans_linked_in_a_circle_give_a_report_with_a_note(tmp_path: Path, damage: str, output: str) -> None:
    path = tmp_path / "run.otlp.jsonl"
    path.write_bytes(b"".join(damaged(run_lines("00000000000000aa"), damage)))
    done = analyze_in_a_process(str(path), "--format", output, "--output", str(tmp_path / "report"))
    assert (done.returncode, done.stdout) == (EXIT_OK, "")
    note = {
        "a span repeating the test's id under the test": "1 span(s) repeat the id of another span in their trace "
        "(a damaged file, or one read twice?): each span id is followed once",
        "a test that is its own parent": "4 span(s) descend from themselves (their parent ids link in a circle: a "
        "damaged file?): they are counted once, and in no test unless a test span is among them",
        "two spans that are each other's parent": "1 span(s) repeat the id of another span in their trace (a "
        "damaged file, or one read twice?): each span id is followed once",
    }[damage]
    assert done.stderr.splitlines() == [f"otel-pytest: warning: run 00000000000000aa ({path}): {note}"]
    report = (tmp_path / "report").read_text(encoding="utf-8")
    if output == "json":
        bars = [bar["name"] for bar in json.loads(report)["waterfall"]["bars"]]
        assert bars == {"two spans that are each other's parent": ["setup", "x", "call", "teardown"]}.get(
            damage, ["setup", "call", "teardown"]
        )


def test_a_named_pipe_in_the_stores_runs_is_named_and_the_store_analysed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "runs").mkdir(parents=True)
    (store / "runs" / "a.otlp.jsonl").write_bytes(b"".join(run_lines("00000000000000aa")))
    RunIndex(store).append(source_entry("00000000000000aa", "a.otlp.jsonl"))
    os.mkfifo(store / "runs" / "b.otlp.jsonl")
    done = analyze_in_a_process("--store", str(store), "--format", "json")
    assert done.returncode == EXIT_OK
    assert json.loads(done.stdout)["notes"] == [
        f"{store / 'runs' / 'b.otlp.jsonl'}: cannot read it (a named pipe (FIFO), not a regular file)"
    ]


def test_a_named_pipe_as_the_run_index_is_one_line_for_runs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    os.mkfifo(store / "index.jsonl")
    done = subprocess.run(
        [installed(), "runs", "--store", str(store)], capture_output=True, text=True, check=False, timeout=120
    )
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    assert done.stderr.splitlines() == [
        f"otel-pytest: error: cannot read the run index in {store}: "
        f"{store / 'index.jsonl'} is a named pipe (FIFO), not a file"
    ]


def test_a_named_pipe_given_as_the_only_path_is_one_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "run.otlp.jsonl")
    done = analyze_in_a_process(str(tmp_path / "run.otlp.jsonl"))
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    assert done.stderr.splitlines() == [
        f"otel-pytest: error: no runs to analyze: {tmp_path / 'run.otlp.jsonl'}: "
        "cannot read it (a named pipe (FIFO), not a regular file)"
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{long}"], "{long}: cannot look at it (File name too long)"),
        (["--store", "{long}"], "cannot open the trace store {long}: File name too long"),
        (
            ["--store", "{file}"],
            "the trace store {file} is a file, not a folder: run pytest with --otel first, or pass "
            "--store DIR or run files as PATHs",
        ),
        (["{run}", "--output", "{file}/report.json"], "--output {file}/report.json: cannot write it: Not a directory"),
        (
            ["{run}", "--output", "{long}/report.json"],
            "--output {long}/report.json: cannot write it: File name too long",
        ),
        (["{run}", "--output", "/proc/version"], "--output /proc/version: cannot write it: "),
    ],
)
def test_paths_that_cannot_be_looked_at_or_written_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    names = {
        "long": str(tmp_path / ("n" * 300)),
        "file": str(tmp_path / "file"),
        "run": str(tmp_path / "run.otlp.jsonl"),
    }
    (tmp_path / "file").write_text("")
    (tmp_path / "run.otlp.jsonl").write_bytes(b"".join(run_lines("00000000000000aa")))
    line = one_line_error(capsys, "analyze", *(arg.format(**names) for arg in argv))
    assert line.startswith(message.format(**names))
    assert line == message.format(**names) or message.endswith(": ")


@pytest.fixture
def permission_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder whose modes are given back before pytest removes it (tests take them away)."""
    yield tmp_path
    for path in (tmp_path, *tmp_path.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


# Root reads a folder of mode 000 through these two capabilities; without them it is
# denied like anyone else.
_WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


def denied_prefix(folder: Path) -> list[str]:
    """What to run the command under so that ``chmod 000`` denies: nothing, or, as root
    (whom no mode denies: proven by reading a folder of mode 000), ``setpriv`` dropping
    the capabilities that override file permissions."""
    probe = folder / "probe"
    probe.mkdir(mode=0o000)
    try:
        os.listdir(probe)
    except PermissionError:
        return []
    try:
        denied = subprocess.run([*_WITHOUT_DAC, "ls", str(probe)], capture_output=True, check=False, timeout=60)
    finally:
        probe.rmdir()
    assert denied.returncode != 0, "setpriv without CAP_DAC_OVERRIDE still read a folder of mode 000"
    return _WITHOUT_DAC


@pytest.mark.parametrize(
    ("denied", "argv", "error"),
    [
        (
            "store",
            ["--store", "{store}"],
            "no runs to analyze: {store}/index.jsonl: cannot read the index (Permission "
            "denied): reading the run files without it; {store}/runs: cannot list the run "
            "files (Permission denied)",
        ),
        (
            "runs",
            ["--store", "{store}"],
            "no runs to analyze: {store}/runs: cannot list the run files (Permission denied)",
        ),
        ("parent", ["--store", "{store}"], "cannot open the trace store {store}: Permission denied"),
        (
            "report",
            ["--store", "{store}", "--output", "{report}/report.json"],
            "--output {report}/report.json: cannot write it: Permission denied",
        ),
        (
            "file",
            ["--store", "{store}"],
            "no runs to analyze: {store}/runs/a.otlp.jsonl: cannot read it (Permission denied)",
        ),
    ],
)
def test_folders_and_files_without_permission_are_one_line(
    permission_folder: Path, denied: str, argv: list[str], error: str
) -> None:
    prefix = denied_prefix(permission_folder)
    parent = permission_folder / "parent"
    store = parent / "store"
    (store / "runs").mkdir(parents=True)
    (store / "runs" / "a.otlp.jsonl").write_bytes(b"".join(run_lines("00000000000000aa")))
    (store / "index.jsonl").write_bytes(b"")
    report = permission_folder / "report"
    report.mkdir()
    for path in (store / "runs" / "a.otlp.jsonl", store / "index.jsonl"):
        path.chmod(0o644)
    {
        "store": store,
        "runs": store / "runs",
        "parent": parent,
        "report": report,
        "file": store / "runs" / "a.otlp.jsonl",
    }[denied].chmod(0o000)
    names = {"store": str(store), "report": str(report)}
    done = analyze_in_a_process(
        *(arg.format(**names) for arg in argv), "--format", "json", prefix=prefix, cwd=permission_folder
    )
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    assert done.stderr.splitlines() == [f"otel-pytest: error: {error.format(**names)}"]


def test_spans_of_a_frozen_clock_are_one_note_and_no_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.otlp.jsonl"
    path.write_bytes(b"".join(otlp_lines(frozen_clock_run(), "00000000000000aa")))
    code, out, err = run(capsys, "analyze", str(path), "--format", "json")
    report = json.loads("\n".join(out))
    assert (code, report["notes"], report["findings"]) == (
        EXIT_OK,
        [f"run 00000000000000aa ({path}): {FROZEN_NOTE}"],
        [],
    )
    assert err == [f"otel-pytest: warning: run 00000000000000aa ({path}): {FROZEN_NOTE}"]
    assert report["waterfall"]["test"] == "t.py::test_a"
    code, out, _ = run(capsys, "analyze", str(path))
    assert code == EXIT_OK
    assert not any(" min" in line for line in out)  # no "14413904 min" from a span of 25 years


def test_escape_sequences_in_test_ids_and_paths_never_reach_the_terminal(tmp_path: Path) -> None:
    """Through the installed command: the terminal report, the warnings on stderr and the
    error line show them as escapes; the JSON report keeps them as data."""
    raw_id = "t.py::test_b[\x1b[2J\x1b]0;pwned\x07\u202e]"
    spans = frozen_clock_run()
    for span in spans:
        if span.trace_id == "tb" and "test.case.name" in span.attributes:
            span.attributes["test.case.name"] = raw_id
    path = tmp_path / "run\x1b[31m.otlp.jsonl"
    path.write_bytes(b"".join(otlp_lines(spans, "00000000000000aa")))
    note = FROZEN_NOTE.replace("t.py::test_b", "t.py::test_b[\\x1b[2J\\x1b]0;pwned\\x07\\u202e]")
    shown_path = str(path).replace("\x1b", "\\x1b")
    shown = f"run 00000000000000aa ({shown_path}): {note}"
    terminal = analyze_in_a_process(str(path))
    assert (terminal.returncode, terminal.stderr) == (EXIT_OK, "")
    assert "\x1b" not in terminal.stdout
    assert "".join(f"- {shown}".split()) in "".join(terminal.stdout.split())  # as rich wrapped it
    data = analyze_in_a_process(str(path), "--format", "json")
    assert data.stderr.splitlines() == [f"otel-pytest: warning: {shown}"]
    assert json.loads(data.stdout)["notes"] == [
        f"run 00000000000000aa ({path}): {FROZEN_NOTE.replace('t.py::test_b', raw_id)}"
    ]
    missing = analyze_in_a_process(str(tmp_path / "gone\x1b[2J"))
    assert missing.stderr.splitlines() == [
        f"otel-pytest: error: {tmp_path}/gone\\x1b[2J: no such file or folder; give OTLP JSON Lines files, folders "
        "of them, or a store folder"
    ]


def test_the_run_listing_shows_index_text_as_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = entry(1, revision="\x1b]0;pwned\x07")
    store = store_with(tmp_path, hostile)
    code, out, _ = run(capsys, "runs", "--store", str(store))
    assert code == EXIT_OK
    assert out[1].split() == [
        "0000000000000001",
        "2023-11-14",
        "22:14:20",
        "0.00s",
        "10",
        "100",
        "1",
        "\\x1b]0;pwned\\x07",
        "n/a",
        f"runs/{hostile.file}",
    ]


def test_a_reader_that_stops_early_cuts_the_report_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "run.otlp.jsonl"
    path.write_bytes(b"".join(otlp_lines(frozen_clock_run(), "00000000000000aa")))
    with subprocess.Popen(
        [installed(), "analyze", str(path), "--format", "html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        child.stdout.close()  # before the report is written: the write meets a closed pipe
        errors = child.stderr.read().decode()
        code = child.wait(timeout=120)
    assert (code, errors.splitlines()) == (
        EXIT_OK,
        [f"otel-pytest: warning: run 00000000000000aa ({path}): {FROZEN_NOTE}"],
    )
