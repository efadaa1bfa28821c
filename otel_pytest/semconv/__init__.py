"""The span vocabulary, written once: what the recorder and the database instrumentation
write and the store and the analyzer read.

Named after OpenTelemetry's own ``opentelemetry.semconv``, and like it plain names only:
:mod:`~otel_pytest.semconv.spans` (span names), :mod:`~otel_pytest.semconv.attributes`
(attribute keys), :mod:`~otel_pytest.semconv.metrics` (metric names),
:mod:`~otel_pytest.semconv.statements` (what a SQL statement is: fingerprint, verb,
table, transaction step, error text policy) and :mod:`~otel_pytest.semconv.db_work`
(the database work a set of spans holds, as the plugin's ``db.summary.*`` and the
analyzer count it). Nothing here imports pytest, OpenTelemetry or the instrumentation:
the plugin imports it while ``--otel`` is off, and ``otel-pytest analyze`` without
either.
"""
