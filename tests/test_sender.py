"""The export helper's own pieces; its behaviour end to end is in tests/test_export.py."""

from __future__ import annotations

import pytest

from otel_pytest.sender import scrub


@pytest.mark.parametrize(
    ("message", "url", "scrubbed"),
    [
        pytest.param(
            "Failed to export traces to ci:pw@collector:4317, error code: StatusCode.UNAVAILABLE, "
            "errors resolving ci:pw@collector:4317",
            "http://ci:pw@collector:4317",
            "Failed to export traces to collector:4317, error code: StatusCode.UNAVAILABLE, "
            "errors resolving collector:4317",
            id="grpc-netloc",
        ),
        pytest.param(
            "Max retries exceeded with url: /v1/traces?api_key=k3y (Caused by ...)",
            "http://collector:4318/v1/traces?api_key=k3y",
            "Max retries exceeded with url: /v1/traces (Caused by ...)",
            id="requests-path-and-query",
        ),
        pytest.param(
            "POST http://u:pa55w0rd@collector:4318/v1/traces?api_key=k3y-s3cr3t#f failed; key k3y-s3cr3t, pa55w0rd",
            "http://u:pa55w0rd@collector:4318/v1/traces?api_key=k3y-s3cr3t#f",
            "POST http://collector:4318/v1/traces failed; key ***, ***",
            id="whole-url-and-a-stray-copy",
        ),
        pytest.param(
            "code: 500, reason: Internal Server Error",
            "http://collector:4318/v1/traces",
            "code: 500, reason: Internal Server Error",
            id="nothing-to-hide",
        ),
    ],
)
def test_scrub_removes_userinfo_query_and_fragment_in_every_form_the_exporters_quote(
    message: str, url: str, scrubbed: str
) -> None:
    assert scrub(message, url) == scrubbed
