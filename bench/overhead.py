"""What ``pytest --otel`` costs on a suite of trivial tests, measured against bare pytest.

Generates a suite (default 20 modules x 100 tests, each test using two function-scoped
and one module-scoped yield fixture) into a temporary folder with its own ``pytest.ini``,
then runs it as separate ``python -m pytest -q -p no:cacheprovider`` processes:

* **overhead**: bare pytest, ``--otel`` (local store only) and ``--otel`` exporting over
  OTLP/HTTP and over OTLP/gRPC to the tests' receivers (``tests.otlp_receiver.HttpReceiver``
  and ``GrpcReceiver``, which decode every request; they run in this process, beside the
  pytest one, so their CPU is counted among the other processes'), in rotating order for
  ``--rounds`` rounds after one untimed warm-up run each. CPU (user + system) and peak
  RSS come from ``os.wait4`` on the pytest process (its CPU plus that of otel-pytest's
  detached export helper, adopted as child subreaper); wall time is measured around it.
* **memory**: a larger suite (default 200 x 100 = 20,000 tests), bare vs ``--otel``,
  peak RSS.
* **collector down**: the overhead suite with the endpoint on a closed port and on a
  black hole (accepts connections, never answers), wall time vs bare.
* **GC-heavy**: a suite of the same shape whose tests each leave 2,000 objects in
  reference cycles (several collections per test), bare vs ``--otel`` vs ``--otel
  --no-otel-gc``: what timing the collector's pauses costs where there are many; and, in
  this process, the cost of the ``gc.callbacks`` entry per collection
  (:func:`callback_cost`).
* **comparison** (``--compare-python``): the same suite under pytest-opentelemetry,
  installed in a separate virtualenv, bare vs its plugin.

Every ``--otel`` run is checked: all tests passed, the store holds every expected span,
and the receiver got exactly the spans the store holds. Prints Markdown and replaces the
generated section of ``docs/benchmarks.md`` (``--docs``; ``--no-docs`` to skip).

Run from the repository root with the project's virtualenv::

    .venv/bin/python -m bench.overhead --rounds 7

``--generate DIR`` only writes the suite, for profiling by hand.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.harness import (
    Quiet,
    Ratios,
    add_run_arguments,
    adopt_orphans,
    finish,
    load_average,
    measured_source,
    median_or_none,
    otel_lines,
    paired_ratios,
    passed_count,
    positive,
    reap_orphans,
    run_pytest,
    run_rounds,
    section_head,
    stored_spans,
)
from otel_pytest.gc_pauses import GcPauses
from otel_pytest.recorder import Recorder
from otel_pytest.records import SpanRecord
from otel_pytest.semconv import spans
from tests.otlp_receiver import BlackHole, DownPort, GrpcReceiver, HttpReceiver

Receiver = HttpReceiver | GrpcReceiver

CPU_TARGET = 1.10
RSS_TARGET_MIB = 50.0
SUITE_FIXTURES = ("first", "second", "shared")
PLAIN = ("--otel", "--no-otel-compress")
PYTEST_OPENTELEMETRY = "pytest-opentelemetry"

INI = """\
[pytest]
# A suite of its own: no rootdir config from above, no cache shared between runs.
addopts = -p no:cacheprovider
"""

CONFTEST = """\
import pytest


@pytest.fixture
def first():
    yield 1


@pytest.fixture
def second():
    yield 2


@pytest.fixture(scope="module")
def shared():
    yield 3
"""

TEST = """

def test_{number:04d}(first, second, shared):
    assert first + second == shared
"""

# The GC-heavy suite's test: 2,000 dicts that each refer to themselves, garbage only the
# cycle collector frees (about three young collections per test at CPython's thresholds).
GC_HEAVY_TEST = """

def test_{number:04d}(first, second, shared):
    nodes = []
    for index in range(2000):
        node = {{"index": index}}
        node["self"] = node
        nodes.append(node)
    assert first + second == shared
"""


# -- the generated suite ---------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    root: Path
    modules: int
    tests_per_module: int

    @property
    def tests(self) -> int:
        return self.modules * self.tests_per_module

    def expected_spans(self) -> dict[str, int]:
        """Spans of the suite itself by kind (see :func:`span_kind`): per test its root span,
        three phases, setup and teardown of two function-scoped fixtures; per module its span
        and the module fixture's setup and teardown; one session span."""
        return {
            "session": 1,
            "module": self.modules,
            "test": self.tests,
            "phase": len(spans.PHASES) * self.tests,
            "fixture": 4 * self.tests + 2 * self.modules,
        }


def write_suite(root: Path, modules: int, tests_per_module: int, test: str = TEST) -> Suite:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    for module in range(modules):
        body = "".join(test.format(number=number) for number in range(tests_per_module))
        (root / f"test_mod_{module:03d}.py").write_text(body.lstrip(), encoding="utf-8")
    return Suite(root, modules, tests_per_module)


def span_kind(name: str) -> str:
    """``other`` is what installed plugins add (pytest-asyncio's session fixture, say) and
    the collector's long pauses (``gc gen N``)."""
    if name == spans.SESSION:
        return "session"
    if name in spans.PHASES:
        return "phase"
    if name.startswith(spans.FIXTURE_PREFIX):
        fixture = name.removeprefix(spans.FIXTURE_PREFIX).removesuffix(" teardown")
        return "fixture" if fixture in SUITE_FIXTURES else "other"
    if "::" in name:
        return "test"
    if name.startswith("test_mod_") and name.endswith(".py"):
        return "module"
    return "other"


def store_spans(store: Path) -> dict[str, int]:
    """Spans by kind in every run file of a local store."""
    return dict(Counter(span_kind(name) for name, _ in stored_spans(store)))


# -- running pytest --------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of running the suite; ratios are taken against ``baseline``. ``receiver``:
    the OTLP receiver whose spans are counted against the store's."""

    key: str
    label: str
    baseline: str
    python: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    otel_store: bool = False
    receiver: Receiver | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Sample:
    variant: str
    round: int
    user: float
    system: float
    wall: float
    max_rss_kib: int
    passed: int
    stored_spans: dict[str, int] | None
    received_spans: int | None
    otel_lines: tuple[str, ...]
    # CPU seconds the rest of the machine used during the run (receiver included), and
    # how long the run waited for a quiet machine before it started.
    others_cpu: float | None
    waited: float

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def stored_total(self) -> int | None:
        return None if self.stored_spans is None else sum(self.stored_spans.values())

    def describe(self) -> str:
        others = "-" if self.others_cpu is None else f"{self.others_cpu:.2f} s"
        return (
            f"cpu {self.cpu:.2f} s, wall {self.wall:.2f} s, rss {self.max_rss_kib / 1024:.0f} MiB, "
            f"others {others}, waited {self.waited:.0f} s"
        )


@dataclass(frozen=True)
class Runner:
    suite: Suite
    log: Path
    timeout: float
    quiet: Quiet

    def run(self, variant: Variant, round_number: int, quiet: Quiet | None) -> Sample:
        store = self.suite.root / ".otel-pytest"
        if variant.otel_store:
            shutil.rmtree(store, ignore_errors=True)
        if variant.receiver is not None:
            variant.receiver.clear()
        command = [variant.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *variant.args]
        reap_orphans()  # a helper left from an earlier run is not this run's
        run = run_pytest(
            variant.label,
            command,
            cwd=self.suite.root,
            env=variant.env,
            source=variant.source,
            log=self.log,
            timeout=self.timeout,
            quiet=self.quiet if quiet is None else quiet,
            tests=self.suite.tests,
            traced=variant.otel_store,
        )
        measured = run.measured
        helper_user, helper_system = reap_orphans()
        return Sample(
            variant=variant.key,
            round=round_number,
            user=measured.user + helper_user,
            system=measured.system + helper_system,
            wall=measured.wall,
            max_rss_kib=measured.max_rss_kib,
            others_cpu=run.others_cpu(measured.cpu + helper_user + helper_system),
            waited=run.waited,
            passed=passed_count(measured.output) or 0,
            stored_spans=store_spans(store) if variant.otel_store else None,
            received_spans=None if variant.receiver is None else len(variant.receiver.spans()),
            otel_lines=otel_lines(measured.output),
        )


def measure(name: str, variants: Sequence[Variant], runner: Runner, rounds: int) -> list[Sample]:
    return run_rounds(name, variants, rounds, runner.run, Sample.describe)


# -- summaries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    key: str
    label: str
    baseline: str
    runs: int
    cpu: float
    cpu_min: float
    cpu_max: float
    wall: float
    wall_min: float
    wall_max: float
    rss_mib: float
    cpu_ratios: Ratios
    cpu_us_per_test: float
    wall_ratios: Ratios
    spans: str
    spans_ok: bool
    otel_lines: tuple[str, ...]
    others_cpu: float | None


def summarise(variants: Sequence[Variant], samples: Sequence[Sample], suite: Suite) -> list[Summary]:
    expected_spans = suite.expected_spans()
    by_key = {v.key: [s for s in samples if s.variant == v.key] for v in variants}
    summaries = []
    for variant in variants:
        own = by_key[variant.key]
        base = by_key[variant.baseline]
        cpu = statistics.median(s.cpu for s in own)
        spans, spans_ok = span_check(own, expected_spans if variant.otel_store else None)
        summaries.append(
            Summary(
                key=variant.key,
                label=variant.label,
                baseline=variant.baseline,
                runs=len(own),
                cpu=cpu,
                cpu_min=min(s.cpu for s in own),
                cpu_max=max(s.cpu for s in own),
                wall=statistics.median(s.wall for s in own),
                wall_min=min(s.wall for s in own),
                wall_max=max(s.wall for s in own),
                rss_mib=statistics.median(s.max_rss_kib for s in own) / 1024,
                cpu_ratios=paired_ratios({s.round: s.cpu for s in own}, {b.round: b.cpu for b in base}),
                cpu_us_per_test=(cpu - statistics.median(s.cpu for s in base)) / suite.tests * 1e6,
                wall_ratios=paired_ratios({s.round: s.wall for s in own}, {b.round: b.wall for b in base}),
                spans=spans,
                spans_ok=spans_ok,
                others_cpu=median_or_none([s.others_cpu for s in own]),
                otel_lines=tuple(dict.fromkeys(line for s in own for line in s.otel_lines if "warning" in line))[:3],
            )
        )
    return summaries


def span_check(samples: Sequence[Sample], expected: Mapping[str, int] | None) -> tuple[str, bool]:
    """What the store and the receiver got, and whether every run stored each expected span
    of the suite and the receiver got exactly what the store holds."""
    ok = not any("internal error" in line for s in samples for line in s.otel_lines)
    parts = []
    if expected is not None:
        want = sum(expected.values())
        for sample in samples:
            kinds = dict(sample.stored_spans or {})
            kinds.pop("other", None)
            ok = ok and kinds == dict(expected)
        totals = sorted({s.stored_total or 0 for s in samples})
        others = sorted({(s.stored_spans or {}).get("other", 0) for s in samples})
        parts.append(
            "stored "
            + "/".join(f"{n:,}" for n in totals)
            + f" (suite {want:,}"
            + (
                " + " + "/".join(f"{n:,}" for n in others) + " from plugins' fixtures and GC pauses"
                if any(others)
                else ""
            )
            + ")"
        )
    received = [s for s in samples if s.received_spans is not None]
    if received:
        if expected is not None:
            ok = ok and all(s.received_spans == s.stored_total for s in received)
        parts.append("received " + "/".join(f"{n:,}" for n in sorted({s.received_spans or 0 for s in received})))
    return ", ".join(parts) or "-", ok


# -- the report ------------------------------------------------------------------------


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    overhead_suite: str
    overhead: list[Summary] = field(default_factory=list)
    memory_suite: str = ""
    memory: list[Summary] = field(default_factory=list)
    down: list[Summary] = field(default_factory=list)
    gc_suite: str = ""
    gc: list[Summary] = field(default_factory=list)
    gc_callback: str = ""  # the callback's cost per collection, in words
    notes: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    # The overhead suite's own: the memory suite's variants share its keys and rounds.
    overhead_samples: list[Sample] = field(default_factory=list)


def overhead_table(rows: Sequence[Summary]) -> str:
    lines = [
        "| variant | runs | CPU s (median, min-max) | wall s (median, min-max) | CPU ratio: "
        "medians / median per round / minimums | CPU µs per test over bare (medians) "
        "| wall ratio: medians / median per round | peak RSS MiB (median) "
        "| other processes' CPU s during a run (median; the receiver's included) | spans |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        check = "" if row.spans_ok else " **MISMATCH**"
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.2f}"
        lines.append(
            f"| {row.label} | {row.runs} | {row.cpu:.2f} ({row.cpu_min:.2f}-{row.cpu_max:.2f}) "
            f"| {row.wall:.2f} ({row.wall_min:.2f}-{row.wall_max:.2f}) "
            f"| {row.cpu_ratios.render()} | {row.cpu_us_per_test:+.0f} "
            f"| {row.wall_ratios.medians:.3f} / {row.wall_ratios.per_round:.3f} "
            f"| {row.rss_mib:.1f} | {others} | {row.spans}{check} |"
        )
    return "\n".join(lines)


def down_table(rows: Sequence[Summary], by_key: Mapping[str, Summary]) -> str:
    lines = [
        "| variant | runs | wall s (median, min-max) | wall minus its bare, s | CPU s | warning printed |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        delta = row.wall - by_key[row.baseline].wall
        warning = "; ".join(row.otel_lines).replace("|", "\\|") or "-"
        lines.append(
            f"| {row.label} | {row.runs} | {row.wall:.2f} ({row.wall_min:.2f}-{row.wall_max:.2f}) "
            f"| {delta:+.2f} | {row.cpu:.2f} | {warning} |"
        )
    return "\n".join(lines)


def cpu_verdict(row: Summary, what: str) -> str:
    """Met when both median-based ratios are within the target; the ratio of minimums
    (least disturbed runs) is shown beside them."""
    ratios = row.cpu_ratios
    met = ratios.within(CPU_TARGET)
    return (
        f"- CPU, {what}: {ratios.medians:.3f}x bare (ratio of medians), {ratios.per_round:.3f}x "
        f"(median per round), {ratios.minimums:.3f}x (ratio of minimums), "
        f"{row.cpu_us_per_test:+.0f} µs per test; target <= {CPU_TARGET:.2f}x: "
        f"**{'met' if met else 'NOT met'}**"
    )


def compression_cost(samples: Sequence[Sample]) -> str:
    """What writing the run file compressed (the default) costs against writing it plain, in
    the same rounds."""

    def of(key: str, what: str) -> dict[int, float]:
        return {s.round: getattr(s, what) for s in samples if s.variant == key}

    cpu = paired_ratios(of("otel", "cpu"), of("otel-plain", "cpu"))
    wall = paired_ratios(of("otel", "wall"), of("otel-plain", "wall"))
    return (
        f"- Compressed run file (`--otel`) vs uncompressed (`{' '.join(PLAIN)}`), same rounds: CPU "
        f"{cpu.render()}, wall {wall.render()} (medians / median per round / minimums)"
    )


def verdicts(results: Results) -> list[str]:
    lines = []
    by_key = {row.key: row for row in results.overhead}
    if "otel" in by_key:
        lines.append(cpu_verdict(by_key["otel"], "`--otel` (store only)"))
    if "otel-plain" in by_key and "otel" in by_key:
        lines.append(compression_cost(results.overhead_samples))
    for key, what in (("otel-http", "`--otel` + OTLP/HTTP"), ("otel-grpc", "`--otel` + OTLP/gRPC")):
        if key in by_key:
            lines.append(cpu_verdict(by_key[key], what))
    if len(results.memory) == 2:
        bare, otel = results.memory
        extra = otel.rss_mib - bare.rss_mib
        met = extra <= RSS_TARGET_MIB
        lines.append(
            f"- Memory, {results.memory_suite}: peak RSS {otel.rss_mib:.1f} MiB with `--otel` vs "
            f"{bare.rss_mib:.1f} MiB bare, {extra:+.1f} MiB; target <= +{RSS_TARGET_MIB:.0f} MiB: "
            f"**{'met' if met else 'NOT met'}**"
        )
    lines.append(
        f"- Span checks (every `--otel` run stored all expected spans; the receiver got exactly "
        f"the stored ones): **{'passed' if passed(results) else 'FAILED'}**"
    )
    return lines


def passed(results: Results) -> bool:
    """Every ``--otel`` run stored the suite's spans and the receiver got them all."""
    return all(r.spans_ok for r in [*results.overhead, *results.memory, *results.down, *results.gc])


def render(results: Results) -> str:
    out = [
        *section_head("Overhead of `pytest --otel` (bench/overhead.py)", results.command, results.machine),
        "Each run is a separate `python -m pytest -q -p no:cacheprovider` process; CPU is user + "
        "system time (with that of otel-pytest's detached export helper, which the benchmark adopts "
        "as child subreaper) and peak RSS is `ru_maxrss`, both from `os.wait4`; wall is "
        "measured around it. Variants run in rotating order each round after one untimed warm-up "
        "each (which also writes the bytecode caches: `PYTHONDONTWRITEBYTECODE` is removed from "
        "the children's environment); the store is emptied before every `--otel` run; "
        "`otel_pytest` is a copy of the working tree taken at start (see the digest). "
        "Ratios are against the bare row "
        "of the same interpreter: the ratio of the medians, the median of the per-round "
        "ratios, and the ratio of the minimums (the least disturbed runs: on a shared machine "
        "noise only ever adds time). µs per test is the difference of the CPU medians divided "
        "by the number of tests (start-up included).",
        "",
        f"### Overhead: {results.overhead_suite}",
        "",
        overhead_table(results.overhead),
        "",
    ]
    if results.memory:
        out += [f"### Memory: {results.memory_suite}", "", overhead_table(results.memory), ""]
    if results.down:
        by_key = {row.key: row for row in [*results.overhead, *results.down]}
        out += [
            f"### Collector down: {results.overhead_suite}",
            "",
            down_table(results.down, by_key),
            "",
        ]
    if results.gc:
        out += [f"### GC-heavy: {results.gc_suite}", "", overhead_table(results.gc), "", results.gc_callback, ""]
    out += ["### Targets", "", *verdicts(results), ""]
    for row in [*results.overhead, *results.memory]:
        results.notes += [f"{row.label} printed: `{line}`" for line in row.otel_lines]
    if results.notes:
        out += ["### Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------


def compare_version(python: str) -> str | None:
    answer = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({PYTEST_OPENTELEMETRY!r}))"],
        capture_output=True,
        text=True,
    )
    return answer.stdout.strip() if answer.returncode == 0 else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--modules", type=positive, default=20, help="modules in the overhead suite")
    parser.add_argument("--tests-per-module", type=positive, default=100, help="tests per module")
    parser.add_argument("--rounds", type=positive, default=7, help="timed rounds of every variant, rotating")
    parser.add_argument("--memory-modules", type=positive, default=200, help="modules in the memory suite")
    parser.add_argument("--memory-rounds", type=positive, default=3, help="bare/--otel rounds on it")
    parser.add_argument("--down-rounds", type=positive, default=3, help="rounds with the collector down")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory suite")
    parser.add_argument("--skip-down", action="store_true", help="skip the collector-down runs")
    parser.add_argument("--gc-modules", type=positive, default=10, help="modules in the GC-heavy suite")
    parser.add_argument("--gc-rounds", type=positive, default=5, help="rounds of the GC-heavy suite")
    parser.add_argument("--skip-gc", action="store_true", help="skip the GC-heavy suite")
    parser.add_argument("--compare-python", metavar="PYTHON", help="python of a venv with pytest-opentelemetry")
    add_run_arguments(parser, quiet_idle=0.9, quiet_wait=300.0, timeout=600.0)
    parser.add_argument("--generate", type=Path, metavar="DIR", help="only write the overhead suite into DIR")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    adopt_orphans()
    if args.generate is not None:
        suite = write_suite(args.generate, args.modules, args.tests_per_module)
        print(f"wrote {suite.tests} tests in {suite.modules} modules to {suite.root}")
        return 0
    return finish("overhead", args, raw, run, render, passed)


def run(args: argparse.Namespace, command: str) -> Results:
    python = args.python
    quiet = Quiet(args.quiet_idle, args.quiet_wait)
    with tempfile.TemporaryDirectory(prefix="otel-pytest-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        source, machine = measured_source(args, workdir)
        suite = write_suite(workdir / "suite", args.modules, args.tests_per_module)
        results = Results(
            command=command,
            machine=machine,
            overhead_suite=f"{suite.tests:,} tests ({suite.modules} modules x "
            f"{suite.tests_per_module}), 3 yield fixtures each "
            f"(2 function-scoped, 1 module-scoped)",
        )

        def ours(
            key: str, label: str, endpoint: str = "", receiver: Receiver | None = None, protocol: str = ""
        ) -> Variant:
            if key == "bare":
                return Variant(key, label, "bare", python, source=source)
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} if endpoint else {}
            if protocol:
                env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
            return Variant(key, label, "bare", python, ("--otel",), env, True, receiver, source)

        compare = args.compare_python
        potel_version = compare_version(compare) if compare else None
        if compare and potel_version is None:
            results.notes.append(f"{PYTEST_OPENTELEMETRY} not importable with {compare}: comparison skipped")
            compare = None
        potel = f"pytest-opentelemetry {potel_version}"
        potel_on = ("--trace-per-test", "--export-traces")

        def theirs(key: str, label: str, endpoint: str = "", receiver: Receiver | None = None) -> Variant:
            """pytest-opentelemetry: off (``potel-bare``), on without an exporter, or exporting to ``endpoint``."""
            assert compare is not None
            if key == "potel-bare":
                return Variant(
                    key, f"bare pytest ({potel} venv, plugin off)", key, compare, ("-p", "no:pytest_opentelemetry")
                )
            if not endpoint:
                return Variant(
                    key, label, "potel-bare", compare, ("--trace-per-test",), {"OTEL_TRACES_EXPORTER": "none"}
                )
            env = {
                "OTEL_TRACES_EXPORTER": "otlp_proto_http",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            }
            return Variant(key, label, "potel-bare", compare, potel_on, env, receiver=receiver)

        runner = Runner(suite, workdir / "pytest.log", args.timeout, quiet)
        ok = stack.enter_context(HttpReceiver())
        grpc_ok = stack.enter_context(GrpcReceiver())
        plain = replace(ours("otel-plain", ""), label=f"`{' '.join(PLAIN)}` (store, uncompressed)", args=PLAIN)
        variants = [
            ours("bare", "bare pytest"),
            ours("otel", "`--otel` (store)"),
            plain,
            ours("otel-http", "`--otel` + OTLP/HTTP", ok.endpoint, ok),
            ours("otel-grpc", "`--otel` + OTLP/gRPC", grpc_ok.endpoint, grpc_ok, "grpc"),
        ]
        if compare:
            results.machine["comparison"] = f"{potel} in {Path(compare).parent.parent}"
            variants += [
                theirs("potel-bare", ""),
                theirs("potel", f"{potel}, `--trace-per-test`, no exporter"),
                theirs("potel-http", f"{potel}, `{' '.join(potel_on)}` OTLP/HTTP", ok.endpoint, ok),
            ]
        samples = measure("overhead", variants, runner, args.rounds)
        results.samples += samples
        results.overhead_samples = samples
        results.overhead = summarise(variants, samples, suite)

        if not args.skip_down:
            hole = stack.enter_context(BlackHole())
            closed = stack.enter_context(DownPort())
            down = [
                ours("bare", "bare pytest"),
                ours("otel-closed", "`--otel`, endpoint on a closed port", closed.endpoint),
                ours("otel-hole", "`--otel`, endpoint a black hole (accepts, never answers)", hole.endpoint),
            ]
            if compare:
                down += [
                    theirs("potel-bare", ""),
                    theirs("potel-closed", f"{potel}, `{' '.join(potel_on)}`, closed port", closed.endpoint),
                ]
            samples = measure("collector down", down, runner, args.down_rounds)
            results.samples += samples
            results.down = summarise(down, samples, suite)

        if not args.skip_memory:
            big = write_suite(workdir / "big", args.memory_modules, args.tests_per_module)
            results.memory_suite = f"{big.tests:,} tests ({big.modules} modules x {big.tests_per_module})"
            memory = [ours("bare", "bare pytest"), ours("otel", "`--otel` (store)")]
            samples = measure("memory", memory, replace(runner, suite=big), args.memory_rounds)
            results.samples += samples
            results.memory = summarise(memory, samples, big)

        if not args.skip_gc:
            heavy = write_suite(workdir / "gc-heavy", args.gc_modules, args.tests_per_module, GC_HEAVY_TEST)
            results.gc_suite = (
                f"{heavy.tests:,} tests ({heavy.modules} modules x {heavy.tests_per_module}), the same "
                "fixtures, each test leaving 2,000 self-referring dicts to the cycle collector"
            )
            no_gc = replace(ours("otel-nogc", "`--otel --no-otel-gc` (store)"), args=("--otel", "--no-otel-gc"))
            variants = [ours("bare", "bare pytest"), no_gc, ours("otel", "`--otel` (store, GC pauses timed)")]
            samples = measure("gc-heavy", variants, replace(runner, suite=heavy), args.gc_rounds)
            results.samples += samples
            results.gc = summarise(variants, samples, heavy)
            results.gc_callback = callback_cost()

        results.machine["load average at end"] = load_average()
        return results


class _Discard:
    def add(self, records: list[SpanRecord]) -> None:
        pass


def callback_cost(collections: int = 20_000, repeats: int = 5) -> str:
    """The ``gc.callbacks`` entry's cost per collection, measured in this process: young
    collections (``gc.collect(0)``, a nearly empty generation) timed with and without it,
    best of ``repeats`` alternating rounds; and the callback's two calls alone, made
    directly, which is its whole cost for a pause shorter than a span's worth."""
    recorder = Recorder(_Discard(), trace_per_test=True, session_parent=None, session_attributes={})
    pauses = GcPauses(recorder)
    callback = pauses.callback
    info = {"generation": 0, "collected": 0, "uncollectable": 0}

    def collecting() -> float:
        start = time.perf_counter_ns()
        for _ in range(collections):
            gc.collect(0)
        return (time.perf_counter_ns() - start) / collections

    def calls() -> float:
        start = time.perf_counter_ns()
        for _ in range(collections):
            callback("start", info)
            callback("stop", info)
        return (time.perf_counter_ns() - start) / collections

    bare, timed = [], []
    for _ in range(repeats):
        bare.append(collecting())
        gc.callbacks.append(callback)
        try:
            timed.append(collecting())
        finally:
            gc.callbacks.remove(callback)
    direct = min(calls() for _ in range(repeats))
    return (
        f"The callback per collection (in the benchmark's process, best of {repeats} rounds of "
        f"{collections:,} `gc.collect(0)`): {min(bare) / 1000:.2f} µs without it, "
        f"{min(timed) / 1000:.2f} µs with it ({(min(timed) - min(bare)) / 1000:+.2f} µs); its two calls "
        f"made directly: {direct / 1000:.2f} µs."
    )


if __name__ == "__main__":
    sys.exit(main())
