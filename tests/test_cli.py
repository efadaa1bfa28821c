"""The ``otel-pytest`` command: listing the runs of a store."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from otel_pytest.cli import EXIT_OK, EXIT_USAGE, main
from otel_pytest.store.index import RunEntry, RunIndex, run_file_name
from otel_pytest.store.reader import read_spans

NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")
HEADER = "run id            started (UTC)         tests    spans  exit  revision    file"
BASE = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
GOLDEN = Path(__file__).parent / "golden"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def entry(number: int, revision: str = "") -> RunEntry:
    start = BASE + number * 60_000_000_000
    run_id = f"{number:016x}"
    return RunEntry(
        run_id=run_id,
        file=run_file_name(start, run_id),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1,
        service_name="shop",
        exit_status=number % 2,
        tests=number * 10,
        spans=number * 100,
        environment={},
        vcs={"vcs.ref.head.revision": revision} if revision else {},
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
    (run_id,) = {span.attributes["pytest.run.id"] for span in spans}
    assert isinstance(run_id, str)
    assert re.fullmatch(r"[0-9a-f]{16}", run_id)
    capsys.readouterr()

    code, out, err = run(capsys, "runs", "--store", str(store))

    assert (code, err) == (EXIT_OK, [])
    assert out[0] == HEADER
    assert len(out) == 2
    (stored,), _ = RunIndex(store).entries()
    started = datetime.fromtimestamp(stored.start_time_unix_nano / 1e9, tz=timezone.utc)
    assert run_file.name == f"{started:%Y%m%dT%H%M%SZ}_{run_id}.otlp.jsonl"
    assert out[1].split() == [
        run_id,
        f"{started:%Y-%m-%d}",
        f"{started:%H:%M:%S}",
        "3",
        str(len(spans)),
        "1",  # pytest's exit status for a run with a failed test
        f"runs/{run_file.name}",
    ]


def test_runs_are_listed_newest_first_with_their_columns_aligned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_with(tmp_path, entry(2, "0123456789abcdef"), entry(1), entry(3))
    assert run(capsys, "runs", "--store", str(store)) == (
        EXIT_OK,
        [
            HEADER,
            "0000000000000003  2023-11-14 22:16:20      30      300     1              "
            "runs/20231114T221620Z_0000000000000003.otlp.jsonl",
            "0000000000000002  2023-11-14 22:15:20      20      200     0  0123456789  "
            "runs/20231114T221520Z_0000000000000002.otlp.jsonl",
            "0000000000000001  2023-11-14 22:14:20      10      100     1              "
            "runs/20231114T221420Z_0000000000000001.otlp.jsonl",
        ],
        [],
    )


def test_limit_shows_only_the_newest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_with(tmp_path, entry(1), entry(2), entry(3))
    code, out, err = run(capsys, "runs", "--store", str(store), "--limit", "2")
    assert (code, err) == (EXIT_OK, [])
    assert [line.split()[0] for line in out[1:]] == ["0000000000000003", "0000000000000002"]


def test_a_limit_below_one_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
        [
            f"otel-pytest: error: no trace store at {missing}: "
            "run pytest with --otel first, or pass --store DIR"
        ],
    )


def test_the_default_store_is_the_one_in_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "runs")[2] == [
        "otel-pytest: error: no trace store at .otel-pytest: "
        "run pytest with --otel first, or pass --store DIR"
    ]
    (tmp_path / ".otel-pytest").mkdir()
    RunIndex(tmp_path / ".otel-pytest").append(entry(1))
    code, out, _ = run(capsys, "runs")
    assert (code, len(out)) == (EXIT_OK, 2)


def test_an_empty_store_says_so_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert err[0].startswith(
        f"otel-pytest: warning: {store / 'index.jsonl'}:2: skipped an unreadable index line ("
    )


def test_an_index_that_cannot_be_read_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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


def test_runs_help_matches_the_golden_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
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
