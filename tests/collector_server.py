"""An OpenTelemetry Collector for the end-to-end tests: the binary ``scripts/otelcol build``
makes with ocb, started with the project's ``deploy/collector.yaml`` (see
:mod:`tests.go_service`), sending on to a test's Jaeger and writing its OTLP JSON Lines files
into a folder of the test's."""

from __future__ import annotations

from pathlib import Path

from tests.go_service import HOST, ROOT, GoService
from tests.jaeger_server import JaegerServer


class CollectorServer(GoService):
    """One collector process: OTLP in, Jaeger (OTLP gRPC) and files out."""

    label = "the OpenTelemetry Collector"
    config = ROOT / "deploy" / "collector.yaml"
    prefix = "COLLECTOR"
    other_ports = ("METRICS_PORT",)
    health_path = "/"

    def __init__(self, binary: Path, log: Path, jaeger: JaegerServer, files: Path) -> None:
        jaeger_otlp = f"{HOST}:{jaeger.ports['OTLP_GRPC_PORT']}"
        super().__init__(binary, log, {"JAEGER_OTLP": jaeger_otlp, "OTLP_FILES": str(files)})
        self.files = files
        files.mkdir(parents=True, exist_ok=True)  # the file exporter does not make its folder

    @property
    def traces_file(self) -> Path:
        """Where the file exporter writes the traces (deploy/collector.yaml's ``file/traces``)."""
        return self.files / "traces.jsonl"
