"""A store of real runs for the push tests: a small suite (a database fixture on SQLite for
database spans and metrics, a failure for an exception event, a skip, parameters for a
few hundred spans) recorded with ``--otel``, once per session; each test gets a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from otel_pytest.cli import main
from otel_pytest.store.index import RunEntry, RunIndex

SERVICE = "push-suite"
SUITE = """
    import pytest
    import sqlalchemy as sa

    @pytest.fixture
    def engine():
        engine = sa.create_engine("sqlite://")
        yield engine
        engine.dispose()

    def test_query(engine):
        with engine.begin() as connection:
            connection.execute(sa.text("select 1"))

    def test_fails():
        assert 1 == 2

    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass

    @pytest.mark.parametrize("case", range(40))
    def test_case(engine, case):
        pass
"""
NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")


def record(folder: Path, runs: int, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the suite ``runs`` times with ``--otel`` in ``folder``; the last run's result."""
    (folder / "test_suite.py").write_text(textwrap.dedent(SUITE))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_"))
    }
    # No timing of GC pauses: the runs of the suite must hold the same spans.
    env.update({"OTEL_SERVICE_NAME": SERVICE, "OTEL_PYTEST_GC": "0", **(extra_env or {})})
    command = [sys.executable, "-m", "pytest", "--otel", "-p", "no:cacheprovider", *NO_ASYNC, "-q", "test_suite.py"]
    done = None
    for _ in range(runs):
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 1, done.stdout + done.stderr  # test_fails fails
    assert done is not None
    return done


@pytest.fixture(scope="session")
def recorded_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("push-suite")
    record(folder, 2)
    return folder / ".otel-pytest"


@pytest.fixture
def store(recorded_once: Path, tmp_path: Path) -> Path:
    """A copy of a store holding two runs of the suite (oldest first in its index)."""
    return Path(shutil.copytree(recorded_once, tmp_path / "store"))


def entries(store: Path) -> list[RunEntry]:
    found, problems = RunIndex(store).entries()
    assert problems == []
    return found


def push(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    """``otel-pytest push ARGV``: the exit status, stdout lines and stderr lines."""
    code = main(["push", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def run_files(store: Path, runs: Sequence[RunEntry]) -> list[Path]:
    return [store / "runs" / entry.file for entry in runs]
