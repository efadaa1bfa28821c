"""The store writer in real pytest runs: crashed xdist workers, a store removed by a test."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_pytest.store.compression import CODECS, GZIP, ZSTD, Codec, Decoded, member, read_decoded
from otel_pytest.store.index import RunEntry, RunIndex, worker_part_name
from otel_pytest.store.reader import read_spans
from otel_pytest.store.writer import merge_parts, write_metrics
from tests.spantree import Node, Run

NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")
# -rA lists every test with pytest's verdict: what the store must agree with.
REPORTED = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")
OUTCOME_WORDS = {
    "PASSED": "passed",
    "FAILED": "failed",
    "ERROR": "error",
    "SKIPPED": "skipped",
    "XFAIL": "xfailed",
    "XPASS": "xpassed",
}

CRASH_SUITE = """
import os
import pytest

@pytest.mark.parametrize("n", range(6))
def test_before(n):
    pass

def test_crash():
    os._exit(1)

@pytest.mark.parametrize("n", range(6))
def test_after(n):
    pass
"""


def reported(result: pytest.RunResult) -> dict[str, str]:
    """Each test pytest reported, with its outcome."""
    found = {}
    for line in result.outlines:
        match = REPORTED.match(line)
        if match:
            found[match.group(2)] = OUTCOME_WORDS[match.group(1)]
    return found


def stored_run(store: Path) -> tuple[RunEntry, Run]:
    """The store's only run: its index entry (the run files agree with it) and its spans."""
    (entry,), problems = RunIndex(store).entries()
    assert problems == []
    assert sorted(path.name for path in (store / "runs").iterdir()) == [entry.file]
    return entry, Run.from_store(store)


def spans_by_test(run: Run) -> dict[str, Node]:
    """The run's test spans by node id; each test exactly once."""
    tests = [root for root in run.roots if "test.case.name" in root.attributes]
    by_name = {str(test.attributes["test.case.name"]): test for test in tests}
    assert len(by_name) == len(tests)
    return by_name


def test_a_crashed_xdist_worker_loses_no_test_and_its_crash_is_recorded_as_pytest_reports_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_crash=CRASH_SUITE)
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC, "-n", "2", "-rA")
    result.assert_outcomes(passed=12, failed=1)
    entry, run = stored_run(pytester.path / ".otel-pytest")
    tests = spans_by_test(run)
    assert {name: test.attributes["pytest.outcome"] for name, test in tests.items()} == reported(result)
    assert len(tests) == 13
    crash = tests["test_crash.py::test_crash"]
    worker = crash.attributes["pytest.xdist.worker"]
    assert crash.attributes["test.case.result.status"] == "fail"
    assert crash.status_code == 2
    assert crash.status_message == f"worker '{worker}' crashed while running 'test_crash.py::test_crash'"
    assert crash.links == [run.session.span_id]  # under the controller: the worker's session never ended
    assert (entry.tests, entry.complete) == (13, True)
    assert re.fullmatch(r"otel: run [0-9a-f]{16}: 13 tests, \d+ spans in \.otel-pytest", result.outlines[-4])
    assert result.outlines[-3:-1] == [
        f"otel: warning: xdist worker {worker} crashed (Not properly terminated) while running "
        "test_crash.py::test_crash (failed), recorded as pytest reported it; the tests it finished are in the store",
        "otel: next: otel-pytest analyze",
    ]


def test_the_worker_replacing_a_crashed_one_joins_the_same_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_crash=CRASH_SUITE)
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC, "-n", "1", "-rA")
    result.assert_outcomes(passed=12, failed=1)
    entry, run = stored_run(pytester.path / ".otel-pytest")
    tests = spans_by_test(run)
    # The crashed worker never ended its session span; the replacement's is under the controller's.
    (replacement,) = run.session.children
    assert replacement.attributes["pytest.xdist.worker"] == "gw1"
    assert {name for name, test in tests.items() if test.links == [replacement.span_id]} == {
        f"test_crash.py::test_after[{n}]" for n in range(6)
    }
    before = {tests[f"test_crash.py::test_before[{n}]"].links[0] for n in range(6)}
    assert len(before) == 1
    assert before.isdisjoint({replacement.span_id, run.session.span_id})
    assert tests["test_crash.py::test_crash"].attributes["pytest.xdist.worker"] == "gw0"
    assert len({span.attributes["pytest.run.id"] for span in run.spans}) == 1
    assert (entry.tests, entry.spans) == (13, len(run.spans))


REMOVALS = {
    "rmtree": "shutil.rmtree(STORE)",
    "rename": "os.rename(STORE, STORE.with_name('moved-store'))",
    "chdir and rmtree": "os.chdir(tmp_path); shutil.rmtree(os.path.relpath(STORE))",
}


@pytest.mark.parametrize("removal", list(REMOVALS))
def test_a_store_removed_by_a_test_gets_the_whole_run_written_again(pytester: pytest.Pytester, removal: str) -> None:
    pytester.makepyfile(test_before="def test_earlier_run(): pass")
    pytester.runpytest_subprocess("--otel", *NO_ASYNC).assert_outcomes(passed=1)
    (pytester.path / "test_before.py").unlink()
    pytester.makepyfile(
        test_removal=f"""
        import os, pathlib, shutil

        STORE = pathlib.Path(__file__).parent / ".otel-pytest"

        def test_first():
            pass

        def test_remove(tmp_path):
            {REMOVALS[removal]}

        def test_last():
            pass
    """
    )
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    result.assert_outcomes(passed=3)
    store = pytester.path / ".otel-pytest"
    entry, run = stored_run(store)  # the earlier run went with the folder: the user's choice
    assert sorted(spans_by_test(run)) == [
        "test_removal.py::test_first",
        "test_removal.py::test_last",
        "test_removal.py::test_remove",
    ]
    assert entry.tests == 3
    assert result.outlines[-4:-1] == [
        f"otel: run {entry.run_id}: 3 tests, {entry.spans} spans in .otel-pytest",
        f"otel: warning: the trace store {store} was deleted or moved during the run "
        "(by a test?); this run was written to it again",
        "otel: next: otel-pytest analyze",
    ]


def test_a_store_that_cannot_be_made_again_costs_one_warning_and_is_not_claimed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pathlib, shutil

        STORE = pathlib.Path(__file__).parent / ".otel-pytest"

        def test_remove():
            shutil.rmtree(STORE)
            STORE.write_text("a file where the store folder was")
    """)
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    result.assert_outcomes(passed=1)
    store = pytester.path / ".otel-pytest"
    summary = [line for line in result.outlines if line.startswith("otel:")]
    assert len(summary) == 2  # no hint: there is no store to analyze
    assert re.fullmatch(r"otel: run [0-9a-f]{16}: 1 test, \d+ spans", summary[0])  # no "in <store>"
    assert summary[1].startswith(
        f"otel: warning: cannot write the trace store at {store} again after it was deleted or moved during the run ("
    )
    assert summary[1].endswith("): this run is not stored")
    assert store.read_text() == "a file where the store folder was"


# -- concurrent runs on one store ---------------------------------------------------------

WAIT_FOR = """
import os, pathlib, time

def wait_for(path, what):
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.005)
"""


def pytest_process(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NO_ASYNC, "--otel", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    return output


def wait_for(path: Path) -> None:
    """Wait until a process under test says it got somewhere (it creates ``path``)."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within 60 s"
        time.sleep(0.005)


def assert_index_and_files_agree(store: Path) -> list[RunEntry]:
    """Every index line is whole and readable, and lists exactly the run files there are."""
    entries, problems = RunIndex(store).entries()
    assert problems == []
    assert all(line.endswith(b"}") for line in (store / "index.jsonl").read_bytes().splitlines())
    assert sorted(path.name for path in (store / "runs").iterdir()) == sorted(entry.file for entry in entries)
    assert [path.name for path in store.iterdir() if path.name.startswith(".index-")] == []
    return entries


def test_six_runs_finishing_together_keep_exactly_the_runs_retention_allows(pytester: pytest.Pytester) -> None:
    gate = pytester.mkdir("gate")
    pytester.makepyfile(
        test_together=WAIT_FOR
        + """
import pytest

@pytest.mark.parametrize("n", range(5))
def test_work(n):
    pass

def test_meet():
    gate = pathlib.Path(__file__).parent / "gate"
    (gate / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(gate.iterdir())) < 6:  # all six runs end their tests together
        assert time.monotonic() < deadline
        time.sleep(0.005)
"""
    )
    processes = [pytest_process(pytester.path, "--otel-keep-runs", "1") for _ in range(6)]
    outputs = [finished(process) for process in processes]
    assert len(list(gate.iterdir())) == 6
    (kept,) = assert_index_and_files_agree(pytester.path / ".otel-pytest")
    assert (kept.tests, kept.complete) == (6, True)
    run_ids = [
        re.search(r"otel: run ([0-9a-f]{16}): 6 tests, ", output).group(1)  # type: ignore[union-attr]
        for output in outputs
    ]
    assert kept.run_id in run_ids


def test_a_run_still_running_is_neither_removed_nor_adopted_by_runs_finishing_beside_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_slow=WAIT_FOR
        + """
def test_first():
    pass

def test_wait():
    here = pathlib.Path(__file__).parent
    (here / "running").touch()
    wait_for(here / "go on", "go-ahead")
"""
    )
    slow = pytest_process(pytester.path, "--otel-keep-runs", "5")
    wait_for(pytester.path / "running")
    store = pytester.path / ".otel-pytest"
    (slow_file,) = (store / "runs").iterdir()
    for _ in range(2):
        finished(pytest_process(pytester.path, "--otel-keep-runs", "1", "-k", "first"))
    (quick,) = RunIndex(store).entries()[0]
    assert sorted(path.name for path in (store / "runs").iterdir()) == sorted([quick.file, slow_file.name])
    (pytester.path / "go on").touch()
    finished(slow)
    entries = assert_index_and_files_agree(store)
    assert [(entry.file, entry.tests, entry.complete) for entry in entries] == [
        (slow_file.name, 2, True),
        (quick.file, 1, True),
    ]


def test_a_run_killed_mid_run_is_adopted_marked_incomplete_then_retained_like_any_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_killed=WAIT_FOR
        + """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_done(n):
    pass

def test_hang():
    here = pathlib.Path(__file__).parent
    (here / "hanging").touch()
    wait_for(here / "never", "kill")
"""
    )
    killed = pytest_process(pytester.path)
    wait_for(pytester.path / "hanging")
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    store = pytester.path / ".otel-pytest"
    (orphan,) = (store / "runs").iterdir()
    finished(pytest_process(pytester.path, "-k", "done"))
    adopted, later = assert_index_and_files_agree(store)
    assert adopted.file == orphan.name
    assert orphan.name == f"{orphan.name[:16]}_{adopted.run_id}.otlp.jsonl.zst"
    assert (adopted.tests, adopted.exit_status, adopted.complete) == (3, -1, False)
    assert (adopted.outcomes, later.outcomes) == ({"passed": 3}, {"passed": 3})  # the hanging test never ended
    assert adopted.spans == sum(1 for _ in read_spans(orphan))
    assert adopted.start_time_unix_nano < later.start_time_unix_nano
    assert adopted.service_name == later.service_name
    assert adopted.environment["fingerprint"] == later.environment["fingerprint"]
    assert (later.tests, later.complete) == (3, True)
    finished(pytest_process(pytester.path, "-k", "done", "--otel-keep-runs", "1"))
    (newest,) = assert_index_and_files_agree(store)
    assert newest.complete
    assert not orphan.exists()


def test_metrics_go_beside_the_run_file_a_workers_to_its_part(tmp_path: Path) -> None:
    run_file = tmp_path / "store" / "runs" / "20260101T000000Z_00000000000000aa.otlp.jsonl"
    assert write_metrics(run_file, b"one\n", None) is None
    assert write_metrics(run_file, b"two\n", None, worker="gw1") is None
    metrics = tmp_path / "store" / "metrics" / run_file.name
    assert metrics.read_bytes() == b"one\n"
    assert Path(f"{metrics}.gw1.part").read_bytes() == b"two\n"


def test_metrics_that_cannot_be_written_are_one_problem(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "metrics").write_text("a file where the metrics folder should be")
    run_file = store / "runs" / "a.otlp.jsonl"
    problem = write_metrics(run_file, b"one\n", None)
    assert problem is not None
    assert problem.startswith(f"cannot write the run's metrics to {store / 'metrics' / 'a.otlp.jsonl'} (")


@pytest.mark.parametrize("codec", CODECS, ids=[codec.name for codec in CODECS])
def test_compressed_metrics_are_a_member_per_line(tmp_path: Path, codec: Codec) -> None:
    run_file = tmp_path / "store" / "runs" / f"20260101T000000Z_00000000000000aa.otlp.jsonl{codec.suffix}"
    assert write_metrics(run_file, b"one\n", codec) is None
    assert write_metrics(run_file, b"two\n", codec) is None
    metrics = tmp_path / "store" / "metrics" / run_file.name
    assert metrics.read_bytes() == member(b"one\n", codec) + member(b"two\n", codec)
    assert read_decoded(metrics) == b"one\ntwo\n"


@pytest.mark.parametrize("codec", CODECS, ids=[codec.name for codec in CODECS])
def test_merging_seals_a_crashed_workers_part_so_every_complete_line_of_every_part_is_read(
    tmp_path: Path, codec: Codec
) -> None:
    target = tmp_path / "runs" / f"20260101T000000Z_00000000000000aa.otlp.jsonl{codec.suffix}"
    target.parent.mkdir()
    target.write_bytes(member(b"controller\n", codec))
    crashed, whole = (Path(worker_part_name(str(target), worker)) for worker in ("gw0", "gw1"))
    compressor = codec.compressor()
    first, second = compressor.compress(b"gw0 test 1\n"), compressor.compress(b"gw0 test 2\n")
    crashed.write_bytes(first + second[: len(second) // 2])
    whole.write_bytes(member(b"gw1 test 1\n", codec))
    merge_parts(target, [crashed, whole])
    with Decoded(target) as merged:
        assert merged.handle.read() == b"controller\ngw0 test 1\ngw1 test 1\n"
        assert merged.problem is None  # every member whole
    assert sorted(path.name for path in target.parent.iterdir()) == [target.name]


@pytest.mark.parametrize(
    ("args", "installed", "codec"),
    [((), True, ZSTD), (("--otel-compression=gzip",), True, GZIP), ((), False, GZIP)],
)
def test_a_run_file_is_zstd_with_the_extra_installed_or_gzip_when_asked_or_without_it(
    pytester: pytest.Pytester, args: tuple[str, ...], installed: bool, codec: Codec
) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    if not installed:
        pytester.makeconftest("import sys\nsys.modules['zstandard'] = None\n")  # as if not installed
    pytester.runpytest_subprocess("--otel", *args, *NO_ASYNC).assert_outcomes(passed=1)
    (run_file,) = (pytester.path / ".otel-pytest" / "runs").iterdir()
    assert run_file.name.endswith(f".otlp.jsonl{codec.suffix}")
    with Decoded(run_file) as opened:
        assert opened.codec is codec
        lines = opened.handle.read().splitlines()
        assert opened.problem is None  # the stream was ended
    assert len(lines) == 2  # the test's spans, then the session's
    assert all(line.startswith(b'{"resourceSpans":') for line in lines)


def test_without_compression_the_run_file_is_plain_otlp_json_lines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    pytester.runpytest_subprocess("--otel", "--no-otel-compress", *NO_ASYNC).assert_outcomes(passed=1)
    (run_file,) = (pytester.path / ".otel-pytest" / "runs").iterdir()
    assert run_file.name.endswith(".otlp.jsonl")
    assert all(line.startswith(b'{"resourceSpans":') for line in run_file.read_bytes().splitlines())
    (entry,), _ = RunIndex(pytester.path / ".otel-pytest").entries()
    assert entry.file == run_file.name


def test_a_store_kept_to_a_size_smaller_than_one_run_keeps_the_newest_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    pytester.makeini("[pytest]\notel_keep_size = 1B\n")
    for _ in range(2):
        pytester.runpytest_subprocess("--otel", *NO_ASYNC).assert_outcomes(passed=1)
    store = pytester.path / ".otel-pytest"
    (kept,) = assert_index_and_files_agree(store)
    assert [path.name for path in (store / "runs").iterdir()] == [kept.file]
