"""A real Jaeger v2 for the end-to-end tests: the binary ``scripts/jaeger build`` makes,
started with the project's ``deploy/jaeger.yaml`` (see :mod:`tests.go_service`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from tests.go_service import ROOT, GoService


class JaegerServer(GoService):
    """One Jaeger process with memory storage."""

    label = "Jaeger"
    config = ROOT / "deploy" / "jaeger.yaml"
    prefix = "JAEGER"
    other_ports = ("QUERY_PORT", "QUERY_GRPC_PORT")
    health_path = "/status"

    @property
    def query(self) -> str:
        """The query API v3 (and UI) base URL."""
        return self.url("QUERY_PORT")

    def healthy(self, body: bytes) -> bool:
        try:
            return bool(json.loads(body).get("healthy"))
        except ValueError:
            return False

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
