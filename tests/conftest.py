"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest

_CI_MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE")


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the OTel, trace-context and CI variables of the shell
    (or of a CI runner) that would change what the plugin does."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE")) or name in _CI_MARKERS:
            monkeypatch.delenv(name)
