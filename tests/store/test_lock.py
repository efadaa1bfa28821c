"""The store lock and the writer lock, between real processes; the fallback without fcntl."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from otel_pytest.store import lock
from otel_pytest.store.index import RunIndex
from otel_pytest.store.lock import LOCK_NAME, has_live_writer, store_lock
from otel_pytest.store.writer import adopt_orphans
from tests.store.test_index import entry


def holding(block: str) -> subprocess.Popen[str]:
    """A process that enters ``block`` (a statement ending in a colon), says "held" inside
    it and stays there until it gets a line on its stdin."""
    code = f"import pathlib\n{block}\n    print('held', flush=True)\n    input()\n"
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "held\n"
    return process


def can_lock(path: Path) -> bool:
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
    return True


def test_the_store_lock_keeps_out_another_process_until_it_is_released(tmp_path: Path) -> None:
    store = tmp_path / "store"
    process = holding(f"from otel_pytest.store.lock import store_lock\nwith store_lock(pathlib.Path({str(store)!r})):")
    assert not can_lock(store / LOCK_NAME)
    process.communicate("\n", timeout=60)
    assert can_lock(store / LOCK_NAME)


def test_a_run_file_has_a_live_writer_until_its_process_dies_even_by_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "store" / "runs" / "a.otlp.jsonl"
    process = holding(
        f"from otel_pytest.store.writer import RunFile\nfor _run in [RunFile(pathlib.Path({str(path)!r}), None)]:"
    )
    assert has_live_writer(path)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert not has_live_writer(path)


def test_without_fcntl_nothing_is_locked_and_no_unindexed_run_file_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "fcntl", None)
    store = tmp_path / "store"
    index = RunIndex(store)
    index.append(entry(1))
    index.append(entry(2))
    assert index.retain(1) == [entry(1)]
    assert index.entries() == ([entry(2)], [])
    orphan = index.runs_dir / entry(3).file
    orphan.parent.mkdir()
    orphan.write_text("{}\n")
    with store_lock(store):
        assert adopt_orphans(store, {entry(2).file}) == []
    assert has_live_writer(orphan)
    assert orphan.read_text() == "{}\n"
    assert not (store / LOCK_NAME).exists()
