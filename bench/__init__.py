"""The benchmarks of otel-pytest (see docs/benchmarks.md); run each from the repository root
as ``.venv/bin/python -m bench.<name>``. :mod:`bench.harness` holds what they share."""
