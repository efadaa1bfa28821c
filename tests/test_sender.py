"""The export helper's own pieces; its behaviour end to end is in tests/test_export.py."""

from __future__ import annotations

import time

import pytest

from otel_pytest import sender
from otel_pytest.sender import Answer, LastMessages, Sender, scrub


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


class _Opened:
    """Stands in for :func:`sender.open_sender`: counts the exporters built and the batches sent."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.sent: list[bytes] = []

    def __call__(self, signal: str, protocol: str, url: str, timeout: float) -> Sender:
        self.built.append(signal)
        return self.send, lambda: None

    def send(self, data: bytes, items: int) -> Answer:
        self.sent.append(data)
        return Answer(True)


def _run_signal(opened: _Opened, monkeypatch: pytest.MonkeyPatch, batches: list[bytes], *, lazy: bool) -> None:
    monkeypatch.setattr(sender, "open_sender", opened)
    target = {"url": "http://collector:4318/v1/metrics", "protocol": "http/protobuf"}
    signal = sender._Signal("metrics", target, 1.0, LastMessages(), lazy=lazy)
    assert signal.ready.wait(5)
    for batch in batches:
        signal.put(batch, 1)
    signal.end_of_input()
    assert signal.built.wait(5)
    signal.finish(time.monotonic() + 5, 1.0)
    assert signal.outcome.problem is None


def test_a_lazy_signal_given_no_batch_never_builds_its_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _Opened()
    _run_signal(opened, monkeypatch, [], lazy=True)
    assert opened.built == []


def test_a_lazy_signal_builds_its_exporter_once_for_its_first_batch_and_sends_every_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = _Opened()
    _run_signal(opened, monkeypatch, [b"one", b"two"], lazy=True)
    assert (opened.built, opened.sent) == (["metrics"], [b"one", b"two"])


def test_an_eager_signal_builds_its_exporter_before_any_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _Opened()
    _run_signal(opened, monkeypatch, [], lazy=False)
    assert opened.built == ["metrics"]
