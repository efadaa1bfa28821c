"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from tests.collector_server import CollectorServer
from tests.go_service import GoService, ServiceUnavailable, built_binary
from tests.jaeger_server import JaegerServer

_Service = TypeVar("_Service", bound=GoService)

_CI_MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE")


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the OTel, trace-context and CI variables of the shell
    (or of a CI runner) that would change what the plugin does, and without the timing of
    garbage-collection pauses."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE")) or name in _CI_MARKERS:
            monkeypatch.delenv(name)
    # Garbage-collection pauses come when they come: a traced run in a test records none
    # (no stray `gc gen N` span or pytest.gc.* attribute in an exact span tree), unless the
    # test asks for them with --otel-gc (tests/test_gc_pauses.py).
    monkeypatch.setenv("OTEL_PYTEST_GC", "0")


@pytest.fixture
def fresh_global_provider() -> Iterator[None]:
    """No global tracer provider and an open set-once latch, as in a fresh process; the
    suite's own state is put back after."""
    from opentelemetry import trace

    saved = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = None, False
    yield
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = saved


def _unavailable(why: ServiceUnavailable) -> NoReturn:
    """The end-to-end tests need a Go service that is not there: required on CI (which builds
    it first), skipped elsewhere when its ``scripts/NAME build`` has not been run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the end-to-end tests must run on CI: {why}")
    pytest.skip(str(why))


def _running(service: Callable[[], _Service]) -> Iterator[_Service]:
    """A Go service for the end-to-end tests, stopped after."""
    try:
        with service() as server:
            yield server
    except ServiceUnavailable as why:
        _unavailable(why)


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    """A real Jaeger v2 (memory storage, ``deploy/jaeger.yaml``) shared by the session: tests
    tell their traces apart by service name or run id."""
    folder = tmp_path_factory.mktemp("jaeger")
    yield from _running(lambda: JaegerServer(built_binary("jaeger"), folder / "jaeger.log"))


@pytest.fixture(scope="session")
def otelcol_binary() -> Path:
    """The collector ``scripts/otelcol build`` made from ``deploy/otelcol-builder.yaml``."""
    try:
        return built_binary("otelcol")
    except ServiceUnavailable as why:
        _unavailable(why)


@pytest.fixture
def collector(otelcol_binary: Path, jaeger: JaegerServer, tmp_path: Path) -> Iterator[CollectorServer]:
    """A real OpenTelemetry Collector (``deploy/collector.yaml``) of the test's own, sending to
    the session's Jaeger and writing its files into ``tmp_path / "otlp"``: the files hold
    only what this test sent."""
    yield from _running(lambda: CollectorServer(otelcol_binary, tmp_path / "collector.log", jaeger, tmp_path / "otlp"))
