"""``otel-pytest push`` against real OTLP receivers: what arrives, how it is split, retried,
refused, skipped, and what is shown."""

from __future__ import annotations

import gzip
import importlib
import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from otel_pytest.cli import EXIT_OK, EXIT_USAGE
from otel_pytest.store.compression import read_decoded
from otel_pytest.store.layout import PUSHED
from otel_pytest.store.reader import read_spans
from tests.jaeger_traces import span_count, traces_of, typed
from tests.otlp_receiver import DownPort, GrpcReceiver, HttpReceiver
from tests.proto_traces import request_traces
from tests.push.conftest import entries, push, run_files

PROTOCOLS = ("http/protobuf", "grpc")
Receiver = HttpReceiver | GrpcReceiver


def receiver_for(protocol: str) -> Receiver:
    return GrpcReceiver() if protocol == "grpc" else HttpReceiver()


def traces_url(receiver: Receiver | DownPort, protocol: str) -> str:
    return receiver.endpoint if protocol == "grpc" else f"{receiver.endpoint}/v1/traces"


def received(requests: Iterable[Any]) -> object:
    """What a receiver decoded, typed for an exact comparison."""
    return typed(request_traces(requests))


def stored(run_file: Path) -> object:
    return typed(traces_of(read_spans(run_file)))


def summary(line: str) -> tuple[str, str]:
    """The summary line without its seconds, and the seconds."""
    found = re.fullmatch(r"(.*), (\d+\.\d) s(.*)", line)
    assert found, line
    return found.group(1) + found.group(3), found.group(2)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_stored_run_arrives_exactly_as_stored_with_its_metrics(
    store: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    run = entries(store)[0]
    with receiver_for(protocol) as receiver:
        code, out, err = push(
            capsys, run.run_id[:6], "--store", str(store), "--endpoint", receiver.endpoint, "--protocol", protocol
        )
    (run_file,) = run_files(store, [run])
    expected = stored(run_file)
    assert (code, err) == (EXIT_OK, [])
    assert received(item.request for item in receiver.received) == expected
    assert span_count(traces_of(read_spans(run_file))) == run.spans
    stored_metrics = [
        metric
        for line in read_decoded(store / "metrics" / run.file).splitlines()
        for resource in orjson.loads(line)["resourceMetrics"]
        for scope in resource["scopeMetrics"]
        for metric in scope["metrics"]
    ]
    assert receiver.metric_names() == [metric["name"] for metric in stored_metrics]
    assert "db.client.operation.duration" in receiver.metric_names()
    points = sum(len(metric["histogram"]["dataPoints"]) for metric in stored_metrics)
    (line,) = out
    assert summary(line)[0] == (
        f"otel-pytest: pushed 1 run, {run.spans} spans and {points} metric points to "
        f"{traces_url(receiver, protocol)}: 2 requests, 0 retries"
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_run_is_split_into_requests_of_at_most_max_spans_each_span_arriving_once(
    store: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    run = entries(store)[0]
    with receiver_for(protocol) as receiver:
        code, out, _err = push(
            capsys, run.run_id, "--store", str(store), "--endpoint", receiver.endpoint, "--protocol", protocol,
            "--max-spans", "25",
        )  # fmt: skip
    assert code == EXIT_OK
    assert [len(list(spans_of(item.request))) for item in receiver.received] == [
        *[25] * (run.spans // 25),
        *([run.spans % 25] if run.spans % 25 else []),
    ]
    assert received(item.request for item in receiver.received) == stored(run_files(store, [run])[0])
    assert f": {math.ceil(run.spans / 25) + 1} requests, 0 retries" in out[0]


def spans_of(request: object) -> list[object]:
    return [span for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]  # type: ignore[attr-defined]


def test_a_byte_limit_splits_a_run_into_requests_no_bigger_than_it(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = entries(store)[0]
    run_file = run_files(store, [run])[0]
    limit = 20_000
    with HttpReceiver() as receiver:
        code, _out, _err = push(
            capsys, run.run_id, "--store", str(store), "--endpoint", receiver.endpoint, "--max-bytes", str(limit)
        )
    sizes = [item.request.ByteSize() for item in receiver.received]
    assert code == EXIT_OK
    assert max(sizes) <= limit
    assert len(sizes) >= math.ceil(sum(sizes) / limit) > 1
    assert received(item.request for item in receiver.received) == stored(run_file)


@pytest.mark.parametrize(
    ("protocol", "busy_receiver"),
    [("http/protobuf", lambda: HttpReceiver(busy=[503, 429])), ("grpc", lambda: GrpcReceiver(busy=2))],
)
def test_busy_answers_are_retried_and_counted(
    store: Path, capsys: pytest.CaptureFixture[str], protocol: str, busy_receiver: Callable[[], Receiver]
) -> None:
    run = entries(store)[0]
    with busy_receiver() as receiver:
        code, out, _err = push(
            capsys, run.run_id, "--store", str(store), "--endpoint", receiver.endpoint, "--protocol", protocol
        )
    assert (code, receiver.refused) == (EXIT_OK, 2)
    assert received(item.request for item in receiver.received) == stored(run_files(store, [run])[0])
    assert summary(out[0])[0].endswith(": 2 requests, 2 retries")


@pytest.mark.parametrize(
    ("protocol", "reason"),
    [("http/protobuf", r"\[Errno 111\] Connection refused"), ("grpc", "UNAVAILABLE: .*")],
)
def test_an_endpoint_that_is_down_is_one_line_and_exit_2_within_the_timeout(
    store: Path, capsys: pytest.CaptureFixture[str], protocol: str, reason: str
) -> None:
    first, _second = entries(store)
    transport = "grpc" if protocol == "grpc" else "http"
    for signal in ("trace", "metric"):  # the bound is on the retries: importing gRPC takes seconds on a busy machine
        importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{signal}_exporter")
    with DownPort() as down:
        start = time.monotonic()
        code, out, err = push(
            capsys,
            "--all",
            "--store",
            str(store),
            "--endpoint",
            down.endpoint,
            "--protocol",
            protocol,
            "--timeout",
            "1",
        )
        took = time.monotonic() - start
    assert (code, out) == (EXIT_USAGE, [])
    (line,) = err
    assert re.fullmatch(
        rf"otel-pytest: error: cannot push to {re.escape(traces_url(down, protocol))}: {reason} \(\d+ attempts?\); "
        rf"0 runs pushed before {first.run_id}; the rest are still in the store: push them again once the endpoint "
        "answers",
        line,
    ), line
    assert took < 6  # one request's retries stop at --timeout (1 s); the default would be 10 s
    assert not (store / PUSHED).exists()


def test_a_corrupt_line_is_a_warning_naming_the_file_and_line_and_the_rest_is_pushed(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = entries(store)[0]
    run_file = run_files(store, [run])[0]
    lines = read_decoded(run_file).splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + b"\n"  # cut off mid-write
    run_file.write_bytes(gzip.compress(b"".join(lines)))
    with HttpReceiver() as receiver:
        code, _out, err = push(capsys, run.run_id, "--store", str(store), "--endpoint", receiver.endpoint)
    assert code == EXIT_OK
    assert [line.split(" (")[0] for line in err] == [f"otel-pytest: warning: {run_file}:2: skipped an unreadable line"]
    expected = stored(run_file)  # the store's reader skips that line too
    assert 0 < span_count(traces_of(read_spans(run_file))) < run.spans
    assert received(item.request for item in receiver.received) == expected


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_endpoint_that_takes_no_metrics_gets_every_span_and_the_push_ends_with_a_note(
    store: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    run = entries(store)[0]
    refusing = GrpcReceiver(metrics=False) if protocol == "grpc" else HttpReceiver(metrics_status=404)
    with refusing as receiver:
        code, out, err = push(
            capsys, "--all", "--store", str(store), "--endpoint", receiver.endpoint, "--protocol", protocol
        )
    metrics_url = receiver.endpoint if protocol == "grpc" else f"{receiver.endpoint}/v1/metrics"
    assert (code, err) == (
        EXIT_OK,
        [f"otel-pytest: note: {metrics_url} takes no metrics: the runs' metrics were not pushed"],
    )
    assert span_count(request_traces(item.request for item in receiver.received)) == 2 * run.spans
    assert summary(out[0])[0] == (
        f"otel-pytest: pushed 2 runs, {2 * run.spans} spans to {traces_url(receiver, protocol)}: 3 requests, 0 retries"
    )


def test_a_run_pushed_again_to_the_same_endpoint_is_skipped_and_forced_it_arrives_with_the_same_ids(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = entries(store)[0]
    expected = stored(run_files(store, [run])[0])
    with HttpReceiver() as receiver:
        argv = (run.run_id, "--store", str(store), "--endpoint", receiver.endpoint)
        assert push(capsys, *argv)[0] == EXIT_OK
        again = push(capsys, *argv)
        assert len(receiver.received) == 1
        forced = push(capsys, *argv, "--force")
    url = f"{receiver.endpoint}/v1/traces"
    assert again == (
        EXIT_OK,
        [
            f"otel-pytest: pushed 0 runs, 0 spans to {url}: 0 requests, 0 retries, 0.0 s; skipped 1 run already "
            f"pushed there ({run.run_id}): --force sends them again"
        ],
        [],
    )
    assert forced[0] == EXIT_OK
    first, second = receiver.received
    assert received([first.request]) == received([second.request]) == expected
    recorded = [orjson.loads(line) for line in (store / PUSHED).read_bytes().splitlines()]
    assert [(line["run_id"], line["endpoint"], line["protocol"], line["spans"]) for line in recorded] == [
        (run.run_id, url, "http/protobuf", run.spans)
    ] * 2


def test_another_endpoint_gets_a_run_already_pushed_elsewhere(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = entries(store)[0]
    with HttpReceiver() as one, HttpReceiver() as other:
        push(capsys, run.run_id, "--store", str(store), "--endpoint", one.endpoint)
        code, _out, _err = push(capsys, run.run_id, "--store", str(store), "--endpoint", other.endpoint)
    assert code == EXIT_OK
    assert received(item.request for item in other.received) == stored(run_files(store, [run])[0])


def test_files_given_by_path_are_pushed_and_not_recorded(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = entries(store)
    files = run_files(store, runs)
    with HttpReceiver() as receiver:
        code, _out, _err = push(capsys, *map(str, files), "--endpoint", receiver.endpoint, "--store", str(store))
        again, _out, _err = push(capsys, *map(str, files), "--endpoint", receiver.endpoint, "--store", str(store))
    assert (code, again) == (EXIT_OK, EXIT_OK)
    requests = [item.request for item in receiver.received]
    half = len(requests) // 2
    both = typed(traces_of(pair for path in files for pair in read_spans(path)))
    assert received(requests[:half]) == received(requests[half:]) == both
    assert receiver.metric_names() == []  # a run file holds spans only; its metrics are beside it in the store
    assert not (store / PUSHED).exists()


SECRETS = ("s3cretpassword", "t0ps3cretkey", "hunter2token")


@pytest.mark.parametrize("down", [False, True])
def test_no_header_or_url_credential_is_ever_shown_or_stored(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, down: bool
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-api-key={SECRETS[2]}")
    run = entries(store)[0]
    with DownPort() if down else HttpReceiver() as receiver:
        host = receiver.endpoint.removeprefix("http://")
        endpoint = f"http://user:{SECRETS[0]}@{host}/?api_key={SECRETS[1]}"
        code, out, err = push(capsys, run.run_id, "--store", str(store), "--endpoint", endpoint, "--timeout", "1")
    shown = "\n".join(out + err)
    stored = (store / PUSHED).read_text() if not down else ""
    assert code == (EXIT_USAGE if down else EXIT_OK)
    assert f"http://{host}/v1/traces" in shown
    assert [secret for secret in SECRETS if secret in shown + stored] == []
    if not down:
        assert isinstance(receiver, HttpReceiver)
        assert receiver.received[0].headers["x-api-key"] == SECRETS[2]


def test_spans_refused_in_a_partial_success_are_a_warning_and_counted(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = entries(store)[0]
    with HttpReceiver(partial="too old") as receiver:
        code, out, err = push(capsys, run.run_id, "--store", str(store), "--endpoint", receiver.endpoint)
    refused = run.spans // 2  # the receiver refuses half of each request's spans, rounded down
    url = f"{receiver.endpoint}/v1/traces"
    assert (code, err) == (
        EXIT_OK,
        [f"otel-pytest: warning: {url} refused {refused} of {run.spans} spans of {run.run_id}: too old"],
    )
    assert f"pushed 1 run, {run.spans - refused} spans and " in out[0]
    assert summary(out[0])[0].endswith(f"; the endpoint refused {refused} spans")


def test_a_run_whose_file_is_gone_is_a_warning_and_the_others_are_pushed(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone, kept = entries(store)
    gone_file = run_files(store, [gone])[0]
    gone_file.unlink()
    with HttpReceiver() as receiver:
        code, out, err = push(capsys, "--all", "--store", str(store), "--endpoint", receiver.endpoint)
    assert (code, err) == (
        EXIT_OK,
        [f"otel-pytest: warning: {gone_file}: cannot read it (No such file or directory); not pushed"],
    )
    assert received(item.request for item in receiver.received) == stored(run_files(store, [kept])[0])
    assert out[0].startswith(f"otel-pytest: pushed 1 run, {kept.spans} spans and ")
