"""The code under test cannot tell the plugin is there: behaviour probes, compared run by run.

A probe suite (``tests/invisible_probe.py`` as its conftest, ``tests/invisible_probe_tests.py``
as its tests) records what a test can observe of its process: warning filters, loggers, gc
callbacks, imported modules, the environment, tracing and exception hooks, atexit and
signal handlers, ``sys.path``, the working directory, the capture streams, faulthandler,
import hooks, threads, the global random state, the clock functions, pytest's view of the
item, a caught exception's traceback, the call stack, frozen clocks, the last failure and
the OpenTelemetry API. The suite runs in real ``python -m pytest`` processes in several
variants, and each variant's observations are compared with its baseline's.

What may differ, and nothing else:

* ``TRACEPARENT`` in the environment, well-formed, during a test's setup, call and
  teardown under ``--otel`` (the README's promise: subprocesses join the test's trace);
* modules imported at plugin start-up (``pytest_configure``, before the session starts),
  and the default-configured loggers of those modules; while tests run, a traced run
  imports nothing a bare run does not; when ``--otel`` is off the plugin has imported only
  ``otel_pytest``, its ``options``, ``endpoint`` and ``plugin`` modules and what they need
  from the standard library, nothing of OpenTelemetry;
* through the OpenTelemetry API, the global tracer provider (the plugin's, when the
  application set none) and the current span (the running test's): what spans nest under;
* under ``--otel``, one more entry at the end of ``gc.callbacks`` from the plugin's start
  on: the timing of garbage-collection pauses (``otel_pytest.gc_pauses``; ``--no-otel-gc``
  leaves it out). A test that asserts on the list's contents sees it; the collector's own
  state (enabled, thresholds) is the same.

A control run with a plugin that does visible things proves each probe can see a change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.otlp_receiver import HttpReceiver

HERE = Path(__file__).parent
_OTEL_TEST = "test_uses_the_opentelemetry_api"
_PHASES = (" setup", " call", " teardown")
_START_UP = "session start"  # pytest_configure, where the plugin starts, runs just before it
_OFF_MODULES = (
    "otel_pytest",
    "otel_pytest.endpoint",  # the endpoint flag's check
    "otel_pytest.options",
    "otel_pytest.plugin",
    "otel_pytest.semconv",  # the span vocabulary: plain names, ~0.1 ms
    "otel_pytest.semconv.attributes",
    "otel_pytest.store",
    "otel_pytest.store.layout",
)
_FOREIGN_PREFIXES = ("opentelemetry", "orjson", "google", "otel_pytest.")

# A plugin that does, before and during the tests, one visible thing per probe it can.
INTRUDER = """
import atexit, gc, logging, os, random, signal, subprocess, sys, threading, time, warnings

_stop = threading.Event()


def pytest_configure(config):
    warnings.filterwarnings("ignore", message="intruder")
    logging.getLogger("intruder").propagate = False
    logging.root.setLevel(logging.ERROR)
    gc.callbacks.append(lambda phase, info: None)
    os.environ["INTRUDER"] = "1"
    threading.settrace(lambda *args: None)
    sys.excepthook = lambda *args: None
    atexit.register(_stop.set)
    signal.signal(signal.SIGUSR1, lambda *args: None)
    sys.path.append("/intruder")
    sys.meta_path.append(type("Finder", (), {"find_spec": staticmethod(lambda *args: None)})())
    threading.Thread(target=_stop.wait, name="intruder", daemon=True).start()
    config.intruder_child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                             stdin=subprocess.PIPE)
    time.sleep = lambda seconds: None
    sys.setswitchinterval(0.01)


def pytest_unconfigure(config):
    config.intruder_child.communicate()


def pytest_runtest_call(item):
    random.random()
    import colorsys
"""
INTRUDED = (
    "warnings.filters",
    "logging.root",
    "loggers",
    "gc",
    "sys.modules",
    "os.environ",
    "tracing hooks",
    "exception hooks",
    "atexit",
    "signal handlers",
    "sys.path",
    "import system",
    "child processes",
    "threads",
    "random state",
    "clocks",
    "interpreter",
)


@dataclass(frozen=True)
class Variant:
    name: str
    args: tuple[str, ...]
    otel: bool = False
    exporting: bool = False


VARIANTS = (
    Variant("not installed", ("-p", "no:otel")),
    Variant("off", ()),
    Variant("on", ("--otel",), otel=True),
    Variant("on, exporting", ("--otel",), otel=True, exporting=True),
    Variant("off, xdist", ("-n", "2", "--dist", "loadfile")),
    Variant("on, xdist", ("--otel", "-n", "2", "--dist", "loadfile"), otel=True),
    Variant("intruder", ("-p", "intruder")),
)
PAIRS = (("not installed", "off"), ("off", "on"), ("off", "on, exporting"), ("off, xdist", "on, xdist"))
PROBES = (
    "warnings.filters",
    "logging.root",
    "loggers",
    "gc",
    "sys.modules",
    "os.environ",
    "tracing hooks",
    "exception hooks",
    "atexit",
    "signal handlers",
    "sys.path",
    "cwd",
    "streams",
    "faulthandler",
    "import system",
    "child processes",
    "threads",
    "random state",
    "clocks",
    "interpreter",
    # made by some tests only
    "item",
    "exception",
    "exc_info_after",
    "stack",
    "frozen",
    "travelled",
    "real_clock_is_back",
    "last",
    "otel",
    "exc_info",
    "user_properties",
)

Observations = dict[str, dict[str, Any]]  # where ("test_first call [main]") -> probe -> value


@dataclass(frozen=True)
class ProbeRun:
    variant: Variant
    observations: Observations
    growth: dict[str, list[str]]  # where -> modules imported since the previous observation
    outcomes: dict[str, str]  # test -> junit outcome and message
    properties: dict[str, list[tuple[str, str]]]  # test -> its junit properties
    summary: list[str]  # pytest's closing lines, timings removed, otel's own line dropped
    spans_received: int


def _environment() -> dict[str, str]:
    """The outer environment without what would change the runs (OTel, trace context, CI, the outer xdist)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "CI", "GITHUB_", "GITLAB_"))
        and name not in ("JENKINS_URL", "BUILDKITE")
    }


def _normalised(observation: dict[str, Any]) -> dict[str, Any]:
    """Drop what differs between any two runs (xdist's worker id and its random run uid)."""
    env = dict(observation["os.environ"])
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID"):
        if name in env:
            env[name] = f"<{name}>"
    return {**observation, "os.environ": env}


def _read_observations(folder: Path) -> tuple[Observations, dict[str, list[str]]]:
    observations: dict[str, list[dict[str, Any]]] = {}
    growth: dict[str, list[str]] = {}
    for path in sorted(folder.glob("probes-*.jsonl")):
        previous: set[str] | None = None
        for line in path.read_text().splitlines():
            raw = json.loads(line)
            role = "worker" if raw.pop("worker").startswith("gw") else "main"
            where = f"{raw.pop('where')} [{role}]"
            modules = set(raw["sys.modules"])
            if previous is not None:
                growth[where] = sorted(modules - previous)
            previous = modules
            observations.setdefault(where, [])
            if (normalised := _normalised(raw)) not in observations[where]:
                observations[where].append(normalised)
        path.unlink()
    # Both xdist workers observe conftest import, session start and collection: they must agree.
    disagreeing = {where for where, seen in observations.items() if len(seen) > 1}
    assert not disagreeing, f"xdist workers observed different things at {sorted(disagreeing)}"
    return {where: seen[0] for where, seen in observations.items()}, growth


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        results = [f"{child.tag}: {child.get('message', '')}" for child in case if child.tag != "properties"]
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = "; ".join(results) or "passed"
    return outcomes


def _properties(junit: Path) -> dict[str, list[tuple[str, str]]]:
    return {
        f"{case.get('classname')}::{case.get('name')}": [
            (str(item.get("name")), str(item.get("value"))) for item in case.iter("property")
        ]
        for case in ET.parse(junit).getroot().iter("testcase")
    }


def _summary(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "short test summary info" in line), len(lines))
    closing = [re.sub(r" in [\d.]+s", "", line) for line in lines[start:] if not line.startswith("otel: ")]
    warned = [line for line in lines if "warnings summary" in line]
    return sorted(closing) + warned


def _run(folder: Path, variant: Variant, endpoint: str | None) -> tuple[subprocess.CompletedProcess[str], Path]:
    junit = folder.parent / f"{folder.name}-{variant.name.replace(', ', '-').replace(' ', '-')}.xml"
    args = [*variant.args, *(("--otel-endpoint", endpoint) if endpoint else ())]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", f"--junitxml={junit}", *args]
    done = subprocess.run(command, cwd=folder, env=_environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{variant.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done, junit


def _probe(folder: Path, variant: Variant) -> ProbeRun:
    received = 0
    if variant.exporting:
        with HttpReceiver() as receiver:
            done, junit = _run(folder, variant, receiver.endpoint)
        received = len(receiver.spans())
    else:
        done, junit = _run(folder, variant, None)
    observations, growth = _read_observations(folder)
    return ProbeRun(
        variant, observations, growth, _outcomes(junit), _properties(junit), _summary(done.stdout), received
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProbeRun]:
    """Every variant run once over the same probe suite (a few seconds each)."""
    folder = tmp_path_factory.mktemp("probes")
    (folder / "conftest.py").write_text((HERE / "invisible_probe.py").read_text())
    (folder / "test_probes.py").write_text((HERE / "invisible_probe_tests.py").read_text())
    (folder / "intruder.py").write_text(INTRUDER)
    (folder / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
        # record_property warns under xunit2, pytest's default family, which filterwarnings makes an error.
        "junit_family = xunit1\n"
    )
    return {variant.name: _probe(folder, variant) for variant in VARIANTS}


# ---- comparing one probe between a baseline and a variant -------------------------------------

Differences = list[str]


def _equal(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    differences = []
    for where in sorted(baseline.observations.keys() | variant.observations.keys()):
        ours = variant.observations.get(where, {}).get(probe)
        theirs = baseline.observations.get(where, {}).get(probe)
        if ours != theirs:
            differences.append(f"{where}: {theirs!r} -> {ours!r}")
    return differences


def _pristine(config: object) -> bool:
    """A logger as a library's import leaves it: placeholder, or no level, only NullHandlers."""
    if config == "placeholder":
        return True
    assert isinstance(config, dict)
    return (
        config["level"] == 0
        and config["propagate"]
        and not config["disabled"]
        and not config["filters"]
        and all(handler.startswith("logging.NullHandler@") for handler in config["handlers"])
    )


def _loggers(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    """Loggers both runs have are configured alike; the variant's extra loggers are pristine."""
    differences = []
    for where in sorted(baseline.observations.keys() | variant.observations.keys()):
        ours = variant.observations.get(where, {}).get(probe, {})
        theirs = baseline.observations.get(where, {}).get(probe, {})
        for name in sorted(ours.keys() | theirs.keys()):
            if name in theirs and ours.get(name) != theirs[name]:
                differences.append(f"{where}: logger {name!r}: {theirs[name]!r} -> {ours.get(name)!r}")
            elif name not in theirs and not _pristine(ours[name]):
                differences.append(f"{where}: logger {name!r} (only in {variant.variant.name}) is {ours[name]!r}")
    return differences


def _environ(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    """The same environment, but for a well-formed ``TRACEPARENT`` during the tests of a traced run."""
    differences = []
    for where in sorted(baseline.observations.keys() | variant.observations.keys()):
        ours = dict(variant.observations.get(where, {}).get(probe, {}))
        theirs = baseline.observations.get(where, {}).get(probe, {})
        in_test = where.split(" [")[0].endswith(_PHASES) and where.startswith("test_")
        traced_test = variant.variant.otel and in_test and "TRACEPARENT" not in theirs
        if traced_test and ours.pop("TRACEPARENT", None) != "00-<trace id>-<span id>-01":
            differences.append(f"{where}: no well-formed TRACEPARENT during the test")
        for name in sorted(ours.keys() | theirs.keys()):
            if ours.get(name) != theirs.get(name):
                differences.append(f"{where}: ${name}: {theirs.get(name)!r} -> {ours.get(name)!r}")
    return differences


def _modules(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    """Nothing imported while tests run that a bare run does not import; start-up is the plugin's."""
    differences = []
    for where in sorted(baseline.growth.keys() | variant.growth.keys()):
        if where.startswith(_START_UP):
            continue
        ours, theirs = set(variant.growth.get(where, ())), set(baseline.growth.get(where, ()))
        # A traced run may import less (what its start-up imported already), never more.
        present = set(variant.observations[where][probe]) if where in variant.observations else set()
        if ours - theirs or theirs - ours - present:
            differences.append(f"{where}: imported {sorted(ours - theirs)}, not {sorted(theirs - ours - present)}")
    if not variant.variant.otel:
        for where, observation in variant.observations.items():
            foreign = [m for m in observation[probe] if m.startswith(_FOREIGN_PREFIXES) and m not in _OFF_MODULES]
            if foreign and not where.startswith(_OTEL_TEST):
                differences.append(f"{where}: with --otel off, {foreign} are imported")
    return differences


_GC_CALLBACK = "otel_pytest.gc_pauses.GcPauses.callback"


def _gc(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    """The same collector state; a traced run's plugin adds its callback last from start-up on."""
    differences = []
    for where in sorted(baseline.observations.keys() | variant.observations.keys()):
        ours = variant.observations.get(where, {}).get(probe)
        theirs = baseline.observations.get(where, {}).get(probe)
        if variant.variant.otel and ours is not None and not where.startswith("conftest import"):
            callbacks = ours[0]
            if callbacks[-1:] != [_GC_CALLBACK]:
                differences.append(f"{where}: gc.callbacks {callbacks!r} do not end with {_GC_CALLBACK}")
            ours = [callbacks[:-1], *ours[1:]]
        if ours != theirs:
            differences.append(f"{where}: {theirs!r} -> {ours!r}")
    return differences


COMPARE: Mapping[str, Callable[[str, ProbeRun, ProbeRun], Differences]] = {
    "gc": _gc,
    "loggers": _loggers,
    "os.environ": _environ,
    "sys.modules": _modules,
}


def differences(probe: str, baseline: ProbeRun, variant: ProbeRun) -> Differences:
    return COMPARE.get(probe, _equal)(probe, baseline, variant)


# ---- the tests -------------------------------------------------------------------------------


def test_every_variant_ran_the_probe_suite_and_the_traced_ones_were_traced(runs: dict[str, ProbeRun]) -> None:
    for run in runs.values():
        assert run.outcomes == {
            **dict.fromkeys(run.outcomes, "passed"),
            "test_probes::test_fails_as_expected": "skipped: ",
        }, run.variant.name
        assert len(run.outcomes) == 8
        assert f"{_OTEL_TEST} call [{'worker' if 'xdist' in run.variant.name else 'main'}]" in run.observations
    assert runs["on, exporting"].spans_received > 0


def _cases() -> list[Any]:
    return [pytest.param(probe, pair, id=f"{probe}-{pair[0]} vs {pair[1]}") for probe in PROBES for pair in PAIRS]


@pytest.mark.parametrize(("probe", "pair"), _cases())
def test_the_code_under_test_observes_the_same(runs: dict[str, ProbeRun], probe: str, pair: tuple[str, str]) -> None:
    baseline, variant = runs[pair[0]], runs[pair[1]]
    found = differences(probe, baseline, variant)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a} vs {b}" for a, b in PAIRS])
def test_outcomes_and_closing_summary_are_the_same(runs: dict[str, ProbeRun], pair: tuple[str, str]) -> None:
    baseline, variant = runs[pair[0]], runs[pair[1]]
    assert variant.outcomes == baseline.outcomes
    assert variant.summary == baseline.summary


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a} vs {b}" for a, b in PAIRS])
def test_the_junit_xml_has_the_user_s_properties_and_under_otel_each_test_s_trace_and_span(
    runs: dict[str, ProbeRun], pair: tuple[str, str]
) -> None:
    baseline, variant = runs[pair[0]], runs[pair[1]]
    assert baseline.properties["test_probes::test_second"] == [("ticket", "SHOP-1")]
    ours = {test: [p for p in found if not p[0].startswith("otel.")] for test, found in variant.properties.items()}
    assert ours == baseline.properties
    if not variant.variant.otel:
        assert ours == variant.properties
        return
    for test, found in variant.properties.items():
        names = [name for name, _ in found if name.startswith("otel.")]
        ids = dict(found)
        assert names == ["otel.trace_id", "otel.span_id"], test
        assert re.fullmatch(r"[0-9a-f]{32}", ids["otel.trace_id"]), test
        assert re.fullmatch(r"[0-9a-f]{16}", ids["otel.span_id"]), test


def test_the_plugin_off_loads_only_its_options(runs: dict[str, ProbeRun]) -> None:
    """Installed but off, the plugin adds its option modules and nothing of OpenTelemetry."""
    off, absent = runs["off"].observations, runs["not installed"].observations
    extra = set(off["session start [main]"]["sys.modules"]) - set(absent["session start [main]"]["sys.modules"])
    assert sorted(m for m in extra if m.startswith("otel_pytest")) == sorted(_OFF_MODULES)
    assert not [m for m in extra if m.startswith(("opentelemetry", "orjson", "google"))]


def test_through_the_opentelemetry_api_only_the_provider_and_the_current_span_differ(
    runs: dict[str, ProbeRun],
) -> None:
    """The documented differences: the plugin's provider when the application set none, and
    the running test's span as the current span (one context entry), whose trace is the
    one ``TRACEPARENT`` names."""
    where = f"{_OTEL_TEST} call [main]"
    assert runs["off"].observations[where]["otel_allowed"] == {
        "provider": "ProxyTracerProvider",
        "context entries": 0,
        "current span is the test's": False,
    }
    assert runs["on"].observations[where]["otel_allowed"] == {
        "provider": "RunTracerProvider",
        "context entries": 1,
        "current span is the test's": True,
    }


@pytest.mark.parametrize("probe", INTRUDED)
def test_a_plugin_that_changes_what_tests_see_is_caught(runs: dict[str, ProbeRun], probe: str) -> None:
    """The control: each probe sees the intruder's change, so a passing comparison means something."""
    assert differences(probe, runs["off"], runs["intruder"]) != []
