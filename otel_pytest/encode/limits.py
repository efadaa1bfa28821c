"""How big one export request may be. Light on purpose: the command line shows these
defaults in its help without loading the encoders (protobuf)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The most one request may hold: an OpenTelemetry Collector's gRPC receiver (and
    Jaeger's) refuses messages over 4 MiB by default, its HTTP receiver bodies over 20 MiB."""

    items: int = 512  # spans, or metrics
    bytes: int = 4_000_000  # under gRPC's 4 MiB (4,194,304 bytes) default message limit
