"""A real Jaeger v2 for the end-to-end tests: the binary ``scripts/jaeger build`` makes (or
finds in its cache), started with the project's ``deploy/jaeger.yaml`` on loopback ports the
kernel picked, so the tests validate the config users run too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "jaeger.yaml"
HOST = "127.0.0.1"
_READY_WITHIN = 30.0  # seconds; Jaeger is up in well under one on this machine
_PORTS = ("JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT", "JAEGER_QUERY_PORT", "JAEGER_QUERY_GRPC_PORT")


class JaegerUnavailable(RuntimeError):
    """Jaeger could not be built or started here (the message says why)."""


def jaeger_binary() -> Path:
    """The binary ``scripts/jaeger build`` made, found through the same script users run
    (``scripts/test`` builds it first on CI; a local run without it skips the Jaeger tests)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "jaeger"), "path"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise JaegerUnavailable(done.stderr.strip() or "scripts/jaeger path failed")
    return Path(done.stdout.strip())


def _free_ports(count: int) -> list[int]:
    """Ports free now: held open together so they differ, then released for Jaeger."""
    sockets = [socket.create_server((HOST, 0)) for _ in range(count)]
    try:
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class JaegerServer:
    """One Jaeger process with memory storage; a context manager that stops it on exit."""

    binary: Path
    log: Path

    def __post_init__(self) -> None:
        ports = _free_ports(len(_PORTS) + 1)
        self.ports = dict(zip((*_PORTS, "JAEGER_HEALTH_PORT"), ports, strict=True))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def otlp_http(self) -> str:
        return f"http://{HOST}:{self.ports['JAEGER_OTLP_HTTP_PORT']}"

    @property
    def otlp_grpc(self) -> str:
        return f"http://{HOST}:{self.ports['JAEGER_OTLP_GRPC_PORT']}"

    @property
    def query(self) -> str:
        """The query API v3 (and UI) base URL."""
        return f"http://{HOST}:{self.ports['JAEGER_QUERY_PORT']}"

    def __enter__(self) -> Self:
        env = {**os.environ, "JAEGER_HOST": HOST, **{name: str(port) for name, port in self.ports.items()}}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "--config", str(CONFIG)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self._wait_healthy()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_healthy(self) -> None:
        """Poll the health endpoint (readiness, not a sleep standing in for it)."""
        url = f"http://{HOST}:{self.ports['JAEGER_HEALTH_PORT']}/status"
        deadline = time.monotonic() + _READY_WITHIN
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise JaegerUnavailable(f"Jaeger exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if json.load(answer).get("healthy"):
                        return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.05)
        raise JaegerUnavailable(f"Jaeger was not healthy within {_READY_WITHIN} s: {self.log.read_text()[-2000:]}")

    def get(self, path: str) -> dict[str, object] | None:
        """GET an API v3 path; None for its 404, which means no match."""
        try:
            with urllib.request.urlopen(self.query + path, timeout=10) as answer:
                data: dict[str, object] = json.load(answer)
                return data
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def poll(self, path: str, ready: Callable[[dict[str, object]], bool], within: float = 30.0) -> dict[str, object]:
        """GET ``path`` until ``ready`` holds for the answer: Jaeger stores what it received
        after its batch processor flushes, so a read right after an export may miss it."""
        deadline = time.monotonic() + within
        while True:
            answer = self.get(path)
            if answer is not None and ready(answer):
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"Jaeger did not answer {path} as expected within {within} s; last: {answer}")
            time.sleep(0.05)
