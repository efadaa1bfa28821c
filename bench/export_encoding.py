"""Per-span cost of otel-pytest's two encoders of records, best of ``--repeat``:

* ``encode.otlp_proto.OtlpProtoEncoder.request``: the OTLP protobuf request body the export sends
  (since 45923e0; going through the SDK's ``ReadableSpan`` and ``encode_spans`` instead
  cost ~30 µs a span at 512e770, docs/benchmarks.md, and the code that measured that way
  is gone);
* ``encode.otlp_json.OtlpJsonEncoder.line``: the store's OTLP JSON line, which every run writes.

The records mimic a trivial test with two function-scoped fixtures (root, 3 phases, 4
fixture spans). From the repository root::

    .venv/bin/python -m bench.export_encoding
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence

from bench.harness import positive
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.otlp_proto import OtlpProtoEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.records import AttributeValue, SharedAttributes, SpanRecord

RUN_ID = "0123456789abcdef"
VERSION = "0.1.0"
RESOURCE: dict[str, AttributeValue] = {
    "service.name": "suite",
    "telemetry.sdk.language": "python",
    "telemetry.distro.name": "otel-pytest",
    "telemetry.distro.version": VERSION,
    "host.arch": "x86_64",
    "process.runtime.version": "3.11.7",
}


def make_records(tests: int, seed: int = 0) -> list[SpanRecord]:
    rng = random.Random(seed)
    fixture = SharedAttributes(
        {
            "pytest.fixture.name": "first",
            "pytest.fixture.scope": "function",
            "code.function.name": "first",
            "code.file.path": "conftest.py",
            "code.line.number": 4,
        }
    )
    empty = SharedAttributes()
    records = []
    for number in range(tests):
        trace_id, now = rng.getrandbits(128), time.time_ns()
        nodeid = f"test_mod_000.py::test_{number:04d}"
        root = SpanRecord(
            nodeid,
            trace_id,
            rng.getrandbits(64),
            0,
            now,
            {
                "test.case.name": nodeid,
                "test.suite.name": "test_mod_000.py",
                "pytest.test.id": nodeid,
                "code.file.path": "test_mod_000.py",
                "code.line.number": 3,
                "code.function.name": f"test_{number:04d}",
            },
        )
        root.set("pytest.outcome", "passed")
        root.set("test.case.result.status", "pass")
        records.append(root)
        for phase in ("setup", "call", "teardown"):
            records.append(SpanRecord(phase, trace_id, rng.getrandbits(64), root.span_id, now, empty))
        for _ in range(4):
            records.append(SpanRecord("fixture first", trace_id, rng.getrandbits(64), root.span_id, now, fixture))
    return records


def best(
    batches: Sequence[Sequence[SpanRecord]], encode: Callable[[list[SpanRecord]], bytes], repeat: int
) -> tuple[float, int]:
    """Best wall time over ``repeat`` passes, and the bytes of one pass."""
    fastest, size = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = sum(len(encode(list(batch))) for batch in batches)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tests", type=positive, default=2000, help="tests (8 spans each)")
    parser.add_argument("--batch", type=positive, default=512, help="spans per request")
    parser.add_argument("--repeat", type=positive, default=5, help="passes; the best is shown")
    args = parser.parse_args(argv)
    records = make_records(args.tests)
    batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]
    shape = ExportShape(RESOURCE, RUN_ID, VERSION)
    ways: list[tuple[str, Callable[[list[SpanRecord]], bytes]]] = [
        ("encode.otlp_proto.OtlpProtoEncoder.request: the export's request body", OtlpProtoEncoder(shape).request),
        ("encode.otlp_json.OtlpJsonEncoder.line: the store's line", OtlpJsonEncoder(shape).line),
    ]
    print(f"{len(records):,} spans in {len(batches)} batches, best of {args.repeat}")
    print("| way | ms | µs per span | µs per test | MB |\n|---|---:|---:|---:|---:|")
    for name, encode in ways:
        seconds, size = best(batches, encode, args.repeat)
        print(
            f"| {name} | {seconds * 1e3:.1f} | {seconds / len(records) * 1e6:.2f} "
            f"| {seconds / args.tests * 1e6:.1f} | {size / 1e6:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
