"""How the analyzer's time and memory grow with runs, tests and spans: the whole
``otel-pytest analyze`` measured on generated stores of several sizes, fitted, and carried
to a size no machine here holds (100,000 tests x 100 runs).

The stores are :mod:`bench.analyze_speed`'s (the plugin's span shapes, ~12.6 spans a test),
at each ``--sizes`` ``RUNSxTESTS``. Per size, each in a fresh ``python`` process (CPU and
peak RSS from ``os.wait4``, worker processes included):

* **cold**: the history read with no summary cached (every run file parsed, on every CPU);
* **cached**: the whole ``analyze --format json`` with every summary cached, ``--repeat``
  times (median);
* **per span**: the first summarisation of one run file of the largest size, per span.

Time and peak memory are fitted as ``a + b * samples`` (samples = runs x tests, least
squares) for the cached analyze and for the cold read, the fit's largest relative miss is
shown, and both are carried to 100,000 x 100.

Run from the repository root::

    .venv/bin/python -m bench.analyze_scale            # writes the "Analyzer scale" section of docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.analyze_speed import Measured, generate_store, measure
from bench.harness import BENCHMARKS_DOC, command_line, machine_facts, positive, publish, section_head

DEFAULT_SIZES = "12x2000,25x2000,50x2000,50x500,50x1000"
FAR = (100, 100_000)  # runs, tests: the size carried to


@dataclass(frozen=True)
class Size:
    runs: int
    tests: int

    @property
    def samples(self) -> int:
        return self.runs * self.tests


def size(text: str) -> Size:
    runs, _, tests = text.partition("x")
    return Size(positive(runs), positive(tests))


@dataclass(frozen=True)
class Point:
    """One size's measurements."""

    size: Size
    spans: int
    cold: Measured
    cached: list[Measured]

    def median(self, what: str) -> float:
        return statistics.median(float(getattr(m, what)) for m in self.cached)


def measure_size(target: Size, repeat: int) -> tuple[Point, Path]:
    """Generates the store, reads it cold (summaries built), then analyzes it cached."""
    store = Path(tempfile.mkdtemp(prefix="otel-analyze-scale-")) / ".otel-pytest"
    shape = generate_store(store, target.runs, target.tests)
    cold = measure("history", store)
    cached = [measure("analyze", store) for _ in range(repeat)]
    return Point(target, shape["spans"], cold, cached), store


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """``(a, b, worst)``: least squares ``y = a + b x`` and its largest miss relative to y."""
    slope, intercept = statistics.linear_regression(xs, ys)
    worst = max(abs(intercept + slope * x - y) / y for x, y in zip(xs, ys, strict=True))
    return intercept, slope, worst


def render(command: str, facts: dict[str, str], points: list[Point], per_span: Measured, spans: int) -> str:
    out = [
        *section_head("Analyzer scale (bench/analyze_scale.py)", command, facts),
        "Stores generated as in the Analyzer speed section (~12.6 spans a test). Each cell is a fresh `python` "
        "process; CPU and peak RSS from `os.wait4` (worker processes included: RSS is the largest process's).",
        "",
        "| runs x tests | samples | spans | cold read: wall s | CPU s | peak RSS MiB | "
        "cached `analyze`: wall s (median) | CPU s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in sorted(points, key=lambda p: (p.size.samples, p.size.runs)):
        out.append(
            f"| {point.size.runs} x {point.size.tests:,} | {point.size.samples:,} | {point.spans:,} | "
            f"{point.cold.wall:.2f} | {point.cold.cpu:.2f} | {point.cold.rss_mib:.0f} | "
            f"{point.median('wall'):.2f} | {point.median('cpu'):.2f} | {point.median('rss_mib'):.0f} |"
        )
    samples = [float(p.size.samples) for p in points]
    far_runs, far_tests = FAR
    far = far_runs * far_tests
    rows = [
        ("cold read, CPU s", [p.cold.cpu for p in points], 1.0, "µs"),
        ("cold read, peak RSS MiB", [p.cold.rss_mib for p in points], 1024.0, "KiB"),
        ("cached analyze, CPU s", [p.median("cpu") for p in points], 1.0, "µs"),
        ("cached analyze, peak RSS MiB", [p.median("rss_mib") for p in points], 1024.0, "KiB"),
    ]
    out += [
        "",
        f"Fitted `a + b x samples` (runs x tests) over the {len(points)} sizes, and carried to "
        f"{far_tests:,} tests x {far_runs} runs ({far:,} samples):",
        "",
        "| quantity | a (fixed) | b (per sample) | largest miss of the fit | at 100,000 x 100 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ys, unit_scale, unit in rows:
        a, b, worst = fit(samples, ys)
        per = b * (1e6 if unit == "µs" else unit_scale)
        at_far = a + b * far
        shown = f"{at_far / 60:,.1f} min" if unit == "µs" else f"{at_far / 1024:,.1f} GiB"
        out.append(f"| {name} | {a:.2f} | {per:.2f} {unit} | {worst:.0%} | {shown} |")
    first = per_span.data["summarize_file_s"]
    out += [
        "",
        f"Per span, cold: the first summarisation of one run file ({spans:,} spans) took {first:.2f} s in "
        f"`summarize_file` ({first / spans * 1e6:.1f} µs a span: parse and summarise), "
        f"{per_span.rss_mib:.0f} MiB peak for the process.",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=lambda text: [size(part) for part in text.split(",")], default=DEFAULT_SIZES)
    parser.add_argument("--repeat", type=positive, default=3)
    parser.add_argument("--docs", type=Path, default=BENCHMARKS_DOC)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    sizes: list[Size] = args.sizes  # argparse converts the default string too
    command = command_line("analyze_scale", sys.argv[1:] if argv is None else argv)
    facts = machine_facts(measured="otel_pytest/analyze")
    points: list[Point] = []
    largest = max(sizes, key=lambda s: (s.tests, s.runs))
    for target in sizes:
        point, store = measure_size(target, args.repeat)
        try:
            points.append(point)
            print(f"{target}: cold {point.cold.wall:.1f} s, cached {point.median('wall'):.2f} s", file=sys.stderr)
            if target == largest:
                per_span = measure("first", min((store / "runs").iterdir()))
                spans = point.spans // target.runs
        finally:
            shutil.rmtree(store.parent, ignore_errors=True)
    publish("analyze_scale", render(command, facts, points, per_span, spans), None if args.no_docs else args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
