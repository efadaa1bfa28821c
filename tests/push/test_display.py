"""The progress bar is drawn on a terminal, and only there."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.otlp_receiver import HttpReceiver
from tests.push.conftest import entries


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_on_a_terminal_a_progress_bar_names_the_run_and_counts_its_spans(store: Path) -> None:
    run = entries(store)[0]
    main, terminal = pty.openpty()
    with HttpReceiver() as receiver:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otel_pytest.cli",
                "push",
                run.run_id,
                "--store",
                str(store),
                "--endpoint",
                receiver.endpoint,
            ],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm", "NO_COLOR": "1"},
        )
        os.close(terminal)
        drawn = _read_all(main).decode()
        out, _ = child.communicate(timeout=60)
    os.close(main)
    assert child.returncode == 0
    assert run.run_id in drawn
    assert f"{run.spans}/{run.spans} spans" in drawn
    assert out.decode().startswith("otel-pytest: pushed 1 run, ")
