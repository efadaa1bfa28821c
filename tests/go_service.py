"""The Go programs the end-to-end tests start (Jaeger, the OpenTelemetry Collector): each one
the binary its ``scripts/NAME build`` makes (or finds in its cache), started with the
project's config from ``deploy/`` on loopback ports the kernel picked, so the tests validate
the configs users run too. :mod:`tests.jaeger_server` and :mod:`tests.collector_server` say
what differs between the two: the script, the config, the variables and the health check.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from typing_extensions import Self

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_READY_WITHIN = 30.0  # seconds; both are up in well under one on this machine
_STOP_WITHIN = 10.0


class ServiceUnavailable(RuntimeError):
    """A Go service is not built here (the message says how to build it)."""


class ServiceFailed(RuntimeError):
    """A Go service that is built did not start with its config: a broken config or binary,
    which fails the tests everywhere rather than skipping them."""


def built_binary(script: str) -> Path:
    """The binary ``scripts/<script> build`` made, found through the same script users run
    (``scripts/test`` builds it first on CI; a local run without it skips the tests)."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / script), "path"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceUnavailable(done.stderr.strip() or f"scripts/{script} path failed")
    return Path(done.stdout.strip())


def _free_ports(count: int) -> list[int]:
    """Ports free now: held open together so they differ, then released for the service."""
    sockets = [socket.create_server((HOST, 0)) for _ in range(count)]
    try:
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class GoService:
    """One process of a Go service that receives OTLP, on loopback; a context manager that
    stops it on exit.

    Both configs in ``deploy/`` name their variables alike: ``PREFIX_HOST``, then
    ``PREFIX_OTLP_GRPC_PORT``, ``PREFIX_OTLP_HTTP_PORT``, the service's other ports and
    ``PREFIX_HEALTH_PORT``. A subclass names its config, that prefix, its other ports (without
    the prefix) and its health check's path.
    """

    label: ClassVar[str]
    config: ClassVar[Path]
    prefix: ClassVar[str]
    other_ports: ClassVar[tuple[str, ...]]
    health_path: ClassVar[str]

    def __init__(self, binary: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.binary = binary
        self.log = log
        names = ("OTLP_GRPC_PORT", "OTLP_HTTP_PORT", *self.other_ports, "HEALTH_PORT")
        self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, port: str) -> str:
        """The base URL of one of its ports, named without the prefix (``"OTLP_HTTP_PORT"``)."""
        return f"http://{HOST}:{self.ports[port]}"

    @property
    def otlp_http(self) -> str:
        return self.url("OTLP_HTTP_PORT")

    @property
    def otlp_grpc(self) -> str:
        return self.url("OTLP_GRPC_PORT")

    def __enter__(self) -> Self:
        env = {
            **os.environ,
            f"{self.prefix}_HOST": HOST,
            **{f"{self.prefix}_{name}": str(port) for name, port in self.ports.items()},
            **self.env,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "--config", str(self.config)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self._wait_healthy()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the process and wait for it: a graceful stop flushes what it still holds
        (the collector's batches and files). Stopping twice is harmless."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(_STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def healthy(self, body: bytes) -> bool:
        """Whether the health endpoint's answer (HTTP 200) says ready; any 200 by default."""
        return True

    def _wait_healthy(self) -> None:
        """Poll the health endpoint (readiness, not a sleep standing in for it)."""
        url = self.url("HEALTH_PORT") + self.health_path
        deadline = time.monotonic() + _READY_WITHIN
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceFailed(
                    f"{self.label} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if self.healthy(answer.read()):
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        self.stop()
        raise ServiceFailed(f"{self.label} was not healthy within {_READY_WITHIN} s: {self.log.read_text()[-2000:]}")
