"""The otel-pytest demo: a small async shop, its slow and fast test suites, and the runner."""
