"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.jaeger_server import JaegerServer, JaegerUnavailable, jaeger_binary

_CI_MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE")


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the OTel, trace-context and CI variables of the shell
    (or of a CI runner) that would change what the plugin does."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE")) or name in _CI_MARKERS:
            monkeypatch.delenv(name)


@pytest.fixture
def fresh_global_provider() -> Iterator[None]:
    """No global tracer provider and an open set-once latch, as in a fresh process; the
    suite's own state is put back after."""
    from opentelemetry import trace

    saved = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = None, False
    yield
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = saved


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    """A real Jaeger v2 (memory storage, ``deploy/jaeger.yaml``) shared by the session: tests
    tell their traces apart by service name or run id. Required on CI; skipped elsewhere when
    ``scripts/jaeger build`` has not been run."""
    try:
        with JaegerServer(jaeger_binary(), tmp_path_factory.mktemp("jaeger") / "jaeger.log") as server:
            yield server
    except JaegerUnavailable as why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Jaeger tests must run on CI: {why}")
        pytest.skip(str(why))
