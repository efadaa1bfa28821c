"""Span records into OTLP: JSON Lines for the store, protobuf for a collector.

What every encoding adds around a record (resource, scopes, the run id, shared attribute
sets) is described once, in :mod:`otel_pytest.encode.shape`.
"""
