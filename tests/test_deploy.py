"""The configs in ``deploy/`` run as written: Jaeger started with ``deploy/jaeger.yaml``
takes OTLP and answers its query API v3 (the API its UI reads); ``deploy/collector.yaml`` is
valid for the collector built from ``deploy/otelcol-builder.yaml`` (and the end-to-end test
in ``tests/test_export_collector.py`` runs it)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from tests.collector_server import CollectorServer
from tests.jaeger_server import JaegerServer

_TRACE_ID = "5b8efff798038103d269b633813fc60c"
_SPAN_ID = "eee19b7ec3c1b174"


def _one_span(service: str) -> bytes:
    span = {
        "traceId": _TRACE_ID,
        "spanId": _SPAN_ID,
        "name": "deploy check",
        "kind": 1,
        "startTimeUnixNano": "1764720000000000000",
        "endTimeUnixNano": "1764720000001000000",
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


def test_jaeger_with_the_deploy_config_takes_otlp_http_and_serves_it_through_api_v3(jaeger: JaegerServer) -> None:
    request = urllib.request.Request(
        jaeger.otlp_http + "/v1/traces",
        data=_one_span("deploy-config-check"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200

    found = jaeger.poll(f"/api/v3/traces/{_TRACE_ID}", ready=lambda answer: True)

    (resource_spans,) = found["result"]["resourceSpans"]  # type: ignore[index]
    (scope_spans,) = resource_spans["scopeSpans"]
    assert [(s["spanId"], s["name"]) for s in scope_spans["spans"]] == [(_SPAN_ID, "deploy check")]
    assert {"key": "service.name", "value": {"stringValue": "deploy-config-check"}} in resource_spans["resource"][
        "attributes"
    ]


def validate(binary: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "validate", "--config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_collector_config_is_valid_for_the_collector_built_from_the_manifest(otelcol_binary: Path) -> None:
    done = validate(otelcol_binary, CollectorServer.config)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_collector_refuses_a_config_with_a_component_it_was_not_built_with(
    otelcol_binary: Path, tmp_path: Path
) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(CollectorServer.config.read_text().replace("otlp_grpc/jaeger", "zipkin/jaeger"))
    done = validate(otelcol_binary, config)
    assert done.returncode == 1
    assert '\'exporters\' unknown type: "zipkin" for id: "zipkin/jaeger"' in done.stderr
