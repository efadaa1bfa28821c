"""otel-pytest: OpenTelemetry traces of pytest runs, stored locally and exported over OTLP."""
