"""What the export helper (``python -m otel_pytest.sender``) costs to start, per exporter
configuration, and what pytest pays to import the export path: fresh processes, CPU from
``resource.getrusage(RUSAGE_CHILDREN)``.

A helper run here is what a run's helper does when no batch comes: it reads the ``CONFIG``
frame, builds its exporters (the imports), says it is ready, reads ``CLOSE`` and reports.
Each ``--tree`` is a source tree put first on the children's ``PYTHONPATH`` (say a
``git archive`` of main beside the working tree), so two revisions are measured
alternately in one session: every repeat runs each configuration under each tree in turn.

Run from the repository root with the project's virtualenv::

    .venv/bin/python -m bench.export_parts --repeats 9 --tree . --tree /tmp/main-tree
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from otel_pytest.sender import CLOSE, CONFIG, frame

_URL = "http://127.0.0.1:9"  # never contacted: no batch is sent
_HTTP = {"url": _URL + "/v1/traces", "protocol": "http/protobuf"}
_GRPC = {"url": _URL, "protocol": "grpc"}
# Configuration name: what the CONFIG frame names for each signal.
HELPERS: dict[str, dict[str, object]] = {
    "helper, HTTP spans": {"spans": _HTTP},
    "helper, HTTP spans + metrics": {"spans": _HTTP, "metrics": {**_HTTP, "url": _URL + "/v1/metrics"}},
    "helper, gRPC spans": {"spans": _GRPC},
    "helper, gRPC spans + metrics": {"spans": _GRPC, "metrics": _GRPC},
}
# What the pytest process imports for an export, over a bare interpreter.
IMPORTS = {
    "pytest side, import otel_pytest.export": "import otel_pytest.export",
    "pytest side, + otel_pytest.encode.otlp_proto": "import otel_pytest.export, otel_pytest.encode.otlp_proto",
    "interpreter (python -c pass)": "pass",
    # What a hand-written OTLP/HTTP transport would import instead of the SDK exporter.
    "instead: import http.client, ssl, gzip": "import http.client, ssl, gzip",
}


def _children_cpu(run: Callable[[], object]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _env(tree: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(tree.resolve()), "PYTHONSAFEPATH": "1"}


def helper_cpu(tree: Path, signals: dict[str, object]) -> float:
    """One helper's CPU from start to exit, given a configuration and no batch."""
    config = json.dumps({"timeout": 1.0, **signals}).encode()
    # A budget of 0: the helper reports at once (its report then names a wait it gave up on,
    # which costs it ~2 ms of imports more than a clean end; alike on every tree).
    frames = frame(CONFIG, 0, config) + frame(CLOSE, 0, json.dumps({"budget": 0.0}).encode())

    def run() -> None:
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-m", "otel_pytest.sender"],
            input=frames,
            capture_output=True,
            env=_env(tree),
            check=True,
        )
        if not done.stdout.startswith(b"R"):
            raise RuntimeError(f"the helper did not get ready: {done.stdout!r}")

    return _children_cpu(run)


def import_cpu(tree: Path, code: str) -> float:
    return _children_cpu(lambda: subprocess.run([sys.executable, "-c", code], env=_env(tree), check=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--tree", type=Path, action="append", help="a source tree (repeat to compare)")
    args = parser.parse_args(argv)
    trees: list[Path] = args.tree or [Path(".")]
    parts: dict[str, Callable[[Path], float]] = {
        **{name: functools.partial(helper_cpu, signals=signals) for name, signals in HELPERS.items()},
        **{name: functools.partial(import_cpu, code=code) for name, code in IMPORTS.items()},
    }
    samples: dict[tuple[str, Path], list[float]] = {(name, tree): [] for name in parts for tree in trees}
    for measure in parts.values():
        for tree in trees:  # warm-up: bytecode caches
            measure(tree)
    for _ in range(args.repeats):
        for name, measure in parts.items():
            for tree in trees:
                samples[name, tree].append(measure(tree))
    print(f"CPU ms, user + system, median of {args.repeats} fresh processes (min-max)\n")
    print("| part | " + " | ".join(str(tree) for tree in trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for name in parts:
        cells = []
        for tree in trees:
            values = [value * 1000 for value in samples[name, tree]]
            cells.append(f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
