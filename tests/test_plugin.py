"""The plugin end to end: real pytest sessions through pytester, spans read back from the store."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.db import assert_absent
from tests.spantree import Node, Run

# pytest-asyncio adds a session fixture to every run; suites that do not need it go without.
NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio")


def traced(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Run]:
    result = pytester.runpytest("--otel", *NO_ASYNC, *args)
    return result, Run.from_store(pytester.path / ".otel-pytest")


def test_function_fixtures_get_setup_and_teardown_spans_under_their_phases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def database():
            yield "db"

        @pytest.fixture
        def client(database):
            yield "client"

        def test_uses(client):
            assert client
        """
    )
    result, run = traced(pytester)
    result.assert_outcomes(passed=1)
    test = run.root("test_function_fixtures_get_setup_and_teardown_spans_under_their_phases.py::test_uses")
    assert test.shape() == (
        test.name,
        (
            ("setup", (("fixture database", ()), ("fixture client", ()))),
            ("call", ()),
            ("teardown", (("fixture client teardown", ()), ("fixture database teardown", ()))),
        ),
    )
    client = test.child("setup").child("fixture client")
    assert client.attributes["pytest.fixture.name"] == "client"
    assert client.attributes["pytest.fixture.scope"] == "function"
    assert client.attributes["code.function.name"] == "client"
    # What each requests (pytest's FixtureDef.argnames), on its setup and teardown spans.
    assert client.attributes["pytest.fixture.argnames"] == ["database"]
    assert test.child("teardown").child("fixture client teardown").attributes["pytest.fixture.argnames"] == ["database"]
    assert test.child("setup").child("fixture database").attributes["pytest.fixture.argnames"] == []
    assert client.attributes["code.line.number"] == 7  # the decorator line, as pytest --fixtures shows
    assert str(client.attributes["code.file.path"]).endswith(".py")
    assert test.attributes["test.case.name"] == test.name
    assert test.attributes["code.function.name"] == "test_uses"
    assert test.attributes["code.line.number"] == 11


def test_session_and_module_fixtures_live_in_the_session_trace_not_in_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
        import pytest

        @pytest.fixture(scope="session")
        def engine():
            yield "engine"

        @pytest.fixture(scope="module")
        def schema(engine):
            yield "schema"

        def test_first(schema):
            pass

        def test_second(schema):
            pass
        """
    )
    _, run = traced(pytester)
    assert run.session.shape() == (
        "pytest session",
        (
            ("test_one.py", (("fixture schema", ()), ("fixture schema teardown", ()))),
            ("fixture engine", ()),
            ("fixture engine teardown", ()),
        ),
    )
    engine = run.session.child("fixture engine")
    module = run.session.child("test_one.py")
    assert engine.attributes["pytest.fixture.requested_by"] == "test_one.py::test_first"
    assert module.child("fixture schema").attributes["pytest.fixture.argnames"] == ["engine"]
    # The tests' phases hold a span per other-scope fixture they waited for, linking to its
    # span in the session trace, and count its time.
    first, second = run.root("test_one.py::test_first"), run.root("test_one.py::test_second")
    setup = first.child("setup")
    assert setup.shape() == ("setup", (("session fixture engine", ()), ("module fixture schema", ())))
    assert setup.child("session fixture engine").links == [engine.span_id]
    assert setup.child("module fixture schema").links == [module.child("fixture schema").span_id]
    # pytest tears the session down inside the last test's teardown phase.
    teardown = second.child("teardown")
    assert teardown.shape() == (
        "teardown",
        (("module fixture schema teardown", ()), ("session fixture engine teardown", ())),
    )
    assert teardown.child("module fixture schema teardown").links == [module.child("fixture schema teardown").span_id]
    assert teardown.child("session fixture engine teardown").links == [
        run.session.child("fixture engine teardown").span_id
    ]
    for phase, fixture in (
        (setup.child("session fixture engine"), engine),
        (teardown.child("session fixture engine teardown"), run.session.child("fixture engine teardown")),
    ):
        assert (phase.start_ns, phase.end_ns) == (fixture.start_ns, fixture.end_ns)
    shared = engine.duration_ns + module.child("fixture schema").duration_ns
    assert first.attributes["pytest.shared_fixtures.duration"] == shared / 1e9
    assert "pytest.shared_fixtures.duration" not in run.root("test_one.py::test_first").child("call").attributes
    assert first.child("call").shape() == ("call", ())
    assert second.shape() == ("test_one.py::test_second", (("setup", ()), ("call", ()), teardown.shape()))
    for name in ("test_one.py::test_first", "test_one.py::test_second"):
        test = run.root(name)
        assert test.links == [run.session.span_id]
        assert test.duration_ns >= test.child("setup").duration_ns
        assert test.trace_id != run.session.trace_id


OUTCOME_SUITE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("no database")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("cleanup failed")

def test_passed():
    pass

def test_failed():
    assert 1 == 2

def test_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.skip(reason="not on this platform")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known bug 12")
def test_xfailed():
    assert False

@pytest.mark.xfail(reason="fixed already?")
def test_xpassed():
    pass

def test_skip_inside():
    pytest.skip("no network")
"""


def test_every_outcome_is_recorded_with_its_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOME_SUITE)
    result, run = traced(pytester)
    result.assert_outcomes(passed=2, failed=1, errors=2, skipped=2, xfailed=1, xpassed=1)
    seen = {
        root.name.split("::")[1]: (
            root.attributes["pytest.outcome"],
            root.attributes["test.case.result.status"],
            root.attributes.get("pytest.skip.reason") or root.attributes.get("pytest.xfail.reason"),
            root.status_code,
        )
        for root in run.roots
        if "::" in root.name
    }
    assert seen == {
        "test_passed": ("passed", "pass", None, 0),
        "test_failed": ("failed", "fail", None, 2),
        "test_error": ("error", "fail", None, 2),
        "test_teardown_error": ("error", "fail", None, 2),
        "test_skipped": ("skipped", "pass", "not on this platform", 0),
        "test_xfailed": ("xfailed", "pass", "known bug 12", 0),
        "test_xpassed": ("xpassed", "pass", "fixed already?", 0),
        "test_skip_inside": ("skipped", "pass", "no network", 0),
    }


def test_a_failure_becomes_an_exception_event_on_its_phase_and_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOME_SUITE)
    _, run = traced(pytester)
    call = run.root("test_outcomes.py::test_failed").child("call")
    assert call.status_code == 2
    assert call.status_message == "AssertionError: assert 1 == 2"
    assert call.events() == [("exception", {"exception.type": "AssertionError", "exception.message": "assert 1 == 2"})]
    fixture = run.root("test_outcomes.py::test_error").child("setup").child("fixture broken")
    assert fixture.status_code == 2
    assert fixture.status_message == "RuntimeError: no database"
    setup = run.root("test_outcomes.py::test_error").child("setup")
    assert setup.events() == [("exception", {"exception.type": "RuntimeError", "exception.message": "no database"})]
    # A skip and an expected failure raise too, but fail nothing: no event, no error.
    for name in ("test_skip_inside", "test_xfailed"):
        call = run.root(f"test_outcomes.py::{name}").child("call")
        assert (call.status_code, call.events()) == (0, [])


def test_parametrize_arguments_are_not_fixtures_and_ids_are_stable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(params=["sqlite", "postgres"])
        def backend(request):
            return request.param

        @pytest.mark.parametrize("thing", [object()], ids=repr)
        @pytest.mark.parametrize("n", [1])
        def test_p(backend, n, thing):
            pass
        """
    )
    _, run = traced(pytester)
    tests = sorted((root for root in run.roots if "::" in root.name), key=lambda r: r.name)
    assert len(tests) == 2
    for test in tests:
        assert re.search(r"object object at 0x[0-9a-f]+", test.name)
        assert test.shape()[1][0] == ("setup", (("fixture backend", ()),))
        assert "at 0x" not in str(test.attributes["pytest.test.id"])
    params = {test.child("setup").child("fixture backend").attributes["pytest.fixture.param"] for test in tests}
    assert params == {"sqlite", "postgres"}
    assert tests[0].attributes["pytest.test.id"] == (
        "test_parametrize_arguments_are_not_fixtures_and_ids_are_stable.py::test_p[postgres-1-<object object>]"
    )


def test_trace_per_session_puts_tests_under_their_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_one(): pass", test_b="def test_two(): pass")
    _, run = traced(pytester, "--otel-trace-per=session")
    assert [root.name for root in run.roots] == ["pytest session"]
    assert run.session.shape() == (
        "pytest session",
        (
            ("test_a.py", (("test_a.py::test_one", (("setup", ()), ("call", ()), ("teardown", ()))),)),
            ("test_b.py", (("test_b.py::test_two", (("setup", ()), ("call", ()), ("teardown", ()))),)),
        ),
    )


def test_every_span_carries_the_run_id_and_the_summary_line_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass\ndef test_two(): pass")
    result, run = traced(pytester)
    run_ids = {span.attributes["pytest.run.id"] for span in run.spans}
    assert len(run_ids) == 1
    (run_id,) = run_ids
    assert result.outlines[-3:-1] == [
        f"otel: run {run_id}: 2 tests, {len(run.spans)} spans in .otel-pytest",
        "otel: next: otel-pytest analyze",
    ]


def test_disabled_plugin_records_nothing_and_registers_no_hooks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(pytestconfig):
            assert pytestconfig.pluginmanager.get_plugin("otel-pytest-tracing") is None
        """
    )
    result = pytester.runpytest(*NO_ASYNC)
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".otel-pytest").exists()
    assert not any(line.startswith("otel:") for line in result.outlines)


def test_incoming_traceparent_parents_the_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    pytester.makepyfile("def test_one(): pass")
    _, run = traced(pytester)
    session = run.named("pytest session")[0]
    assert session.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert session.parent_id == "b7ad6b7169203331"


def test_traceparent_flag_wins_over_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    pytester.makepyfile("def test_one(): pass")
    _, run = traced(pytester, "--otel-traceparent=00-11111111111111111111111111111111-2222222222222222-01")
    session = run.named("pytest session")[0]
    assert session.trace_id == "11111111111111111111111111111111"
    assert session.parent_id == "2222222222222222"


def test_subprocesses_started_by_a_test_see_its_traceparent_and_it_is_restored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    pytester.makeconftest(
        """
        import os, pathlib

        def pytest_sessionfinish(session):
            pathlib.Path("after.txt").write_text(os.environ["TRACEPARENT"])
        """
    )
    pytester.makepyfile(
        test_tp="""
        import os, pathlib, subprocess, sys

        def test_child():
            out = subprocess.run([sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            pathlib.Path("seen.txt").write_text(out)

        def test_after():
            pathlib.Path("seen_after.txt").write_text(os.environ["TRACEPARENT"])
        """
    )
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC)
    result.assert_outcomes(passed=2)
    run = Run.from_store(pytester.path / ".otel-pytest")
    child = run.root("test_tp.py::test_child").child("call")
    after = run.root("test_tp.py::test_after").child("call")
    assert (pytester.path / "seen.txt").read_text() == f"00-{child.trace_id}-{child.parent_id}-01"
    assert (pytester.path / "seen_after.txt").read_text() == f"00-{after.trace_id}-{after.parent_id}-01"
    assert (pytester.path / "after.txt").read_text() == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_xdist_workers_join_one_run_under_the_controller_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="import pytest\n@pytest.mark.parametrize('n', range(6))\ndef test_a(n): pass",
        test_b="import pytest\n@pytest.mark.parametrize('n', range(6))\ndef test_b(n): pass",
    )
    result = pytester.runpytest_subprocess("--otel", *NO_ASYNC, "-n", "2")
    result.assert_outcomes(passed=12)
    run = Run.from_store(pytester.path / ".otel-pytest")
    assert len({span.attributes["pytest.run.id"] for span in run.spans}) == 1
    controller = run.session
    workers = sorted(str(child.attributes["pytest.xdist.worker"]) for child in controller.children)
    assert workers == ["gw0", "gw1"]
    tests = [root for root in run.roots if "::" in root.name]
    assert len(tests) == 12
    worker_ids = {child.span_id for child in controller.children}
    assert {test.links[0] for test in tests} == worker_ids
    assert not list((pytester.path / ".otel-pytest" / "runs").glob("*.part"))
    assert re.fullmatch(r"otel: run [0-9a-f]{16}: 12 tests, \d+ spans in \.otel-pytest", result.outlines[-3])


def test_unwritable_store_costs_one_warning_and_the_tests_still_run(pytester: pytest.Pytester) -> None:
    (pytester.path / "blocker").write_text("a file where the store folder should go")
    pytester.makepyfile("def test_one(): pass")
    result = pytester.runpytest("--otel", *NO_ASYNC, "--otel-store=blocker/store")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    warnings = [line for line in result.outlines if line.startswith("otel: warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("otel: warning: cannot write the trace store at ")


def test_an_internal_plugin_failure_never_fails_a_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_configure(config):
            hooks = config.pluginmanager.get_plugin("otel-pytest-tracing")
            def boom(*args):
                raise KeyError("simulated bug")
            hooks.recorder.phase_start = boom
        """
    )
    pytester.makepyfile("def test_one(): pass\ndef test_two(): pass")
    result = pytester.runpytest("--otel", *NO_ASYNC)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    warnings = [line for line in result.outlines if line.startswith("otel: warning:")]
    assert warnings == [
        "otel: warning: otel-pytest hit an internal error (KeyError: 'simulated bug'); the trace may be incomplete"
    ]


def test_the_store_keeps_only_the_newest_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass")
    for _ in range(3):
        pytester.runpytest("--otel", *NO_ASYNC, "--otel-keep-runs=2").assert_outcomes(passed=1)
    runs = sorted((pytester.path / ".otel-pytest" / "runs").glob("*.otlp.jsonl.zst"))
    index = (pytester.path / ".otel-pytest" / "index.jsonl").read_text().splitlines()
    assert len(runs) == 2
    assert len(index) == 2


def test_importing_the_plugin_loads_no_opentelemetry_code() -> None:
    import subprocess
    import sys

    code = (
        "import sys, otel_pytest.plugin; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('opentelemetry', 'orjson'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _outcomes(node: Node) -> dict[str, object]:
    """The outcome attributes of a test or attempt span, and its status code."""
    keys = (
        "pytest.outcome",
        "test.case.result.status",
        "pytest.reruns",
        "pytest.rerun.attempt",
        "pytest.subtests",
        "pytest.subtests.failed",
        "pytest.subtests.failed.names",
    )
    found: dict[str, object] = {key: node.attributes[key] for key in keys if key in node.attributes}
    found["status"] = node.status_code
    return found


RERUN_SUITE = """
import pytest

attempts = {"flaky": 0, "setup": 0}

@pytest.fixture
def flaky_service():
    attempts["setup"] += 1
    if attempts["setup"] == 1:
        raise ConnectionError("service not up yet")
    yield

def test_passes():
    pass

def test_flaky():
    attempts["flaky"] += 1
    assert attempts["flaky"] == 2

def test_always_fails():
    assert 1 == 2

def test_setup_fails_once(flaky_service):
    pass
"""

PHASES = (("setup", ()), ("call", ()), ("teardown", ()))


def test_rerun_attempts_are_spans_of_one_test_that_carries_the_final_outcome(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reruns=RERUN_SUITE)
    result, run = traced(pytester, "--reruns", "2")
    result.assert_outcomes(passed=3, failed=1)
    assert result.parseoutcomes()["rerun"] == 4
    assert re.fullmatch(r"otel: run [0-9a-f]{16}: 4 tests, \d+ spans in \.otel-pytest", result.outlines[-3])
    tests = {root.name.split("::")[1]: root for root in run.roots if "::" in root.name}
    assert sorted(tests) == ["test_always_fails", "test_flaky", "test_passes", "test_setup_fails_once"]
    passes, flaky, always, setup = (
        tests[name] for name in ("test_passes", "test_flaky", "test_always_fails", "test_setup_fails_once")
    )
    assert passes.shape() == (passes.name, PHASES)
    assert _outcomes(passes) == {"pytest.outcome": "passed", "test.case.result.status": "pass", "status": 0}
    assert flaky.shape() == (flaky.name, (("attempt 1", PHASES), ("attempt 2", PHASES)))
    assert _outcomes(flaky) == {
        "pytest.outcome": "passed",
        "test.case.result.status": "pass",
        "pytest.reruns": 1,
        "status": 0,
    }
    assert [_outcomes(attempt) for attempt in flaky.children] == [
        {"pytest.outcome": "rerun", "pytest.rerun.attempt": 1, "status": 2},
        {"pytest.outcome": "passed", "pytest.rerun.attempt": 2, "status": 0},
    ]
    first_call = flaky.child("attempt 1").child("call")
    assert (first_call.status_code, first_call.events()) == (
        2,
        [
            ("exception", {"exception.type": "AssertionError", "exception.message": "assert 1 == 2"}),
        ],
    )
    assert always.shape() == (always.name, tuple((f"attempt {n}", PHASES) for n in (1, 2, 3)))
    assert _outcomes(always) == {
        "pytest.outcome": "failed",
        "test.case.result.status": "fail",
        "pytest.reruns": 2,
        "status": 2,
    }
    assert [_outcomes(attempt) for attempt in always.children] == [
        {"pytest.outcome": "rerun", "pytest.rerun.attempt": 1, "status": 2},
        {"pytest.outcome": "rerun", "pytest.rerun.attempt": 2, "status": 2},
        {"pytest.outcome": "failed", "pytest.rerun.attempt": 3, "status": 2},
    ]
    assert [attempt.child("call").status_code for attempt in always.children] == [2, 2, 2]
    assert _outcomes(setup) == {
        "pytest.outcome": "passed",
        "test.case.result.status": "pass",
        "pytest.reruns": 1,
        "status": 0,
    }
    failed_setup = setup.child("attempt 1").child("setup")
    assert failed_setup.shape() == ("setup", (("fixture flaky_service", ()),))
    assert failed_setup.status_message == "ConnectionError: service not up yet"
    for test in (flaky, always, setup):
        attempts = test.children
        assert attempts[0].start_ns == test.start_ns
        assert all(a.start_ns + a.duration_ns <= b.start_ns for a, b in itertools.pairwise(attempts))


SUBTEST_SUITE = """
import unittest

class TestCases(unittest.TestCase):
    def test_unittest_subtests(self):
        for i in range(3):
            with self.subTest("values", i=i):
                self.assertNotEqual(i, 1)

    def test_unittest_subtests_pass(self):
        for i in range(2):
            with self.subTest(i=i):
                pass

    def test_unittest_failure(self):
        self.assertEqual(1, 2)

def test_fixture_subtests(subtests):
    for name in ("alpha", "beta", "gamma"):
        with subtests.test(msg="names", name=name):
            assert name != "beta"
            assert name != "gamma"
"""


def test_subtest_failures_fail_the_test_and_are_counted_and_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_subtests=SUBTEST_SUITE)
    _, run = traced(pytester)
    tests = {root.name.rsplit("::", 1)[1]: root for root in run.roots if "::" in root.name}
    assert {name: _outcomes(test) for name, test in tests.items()} == {
        "test_unittest_subtests": {
            "pytest.outcome": "failed",
            "test.case.result.status": "fail",
            "pytest.subtests": 3,
            "pytest.subtests.failed": 1,
            "pytest.subtests.failed.names": ["[values] (i=1)"],
            "status": 2,
        },
        "test_unittest_subtests_pass": {
            "pytest.outcome": "passed",
            "test.case.result.status": "pass",
            "pytest.subtests": 2,
            "pytest.subtests.failed": 0,
            "status": 0,
        },
        "test_unittest_failure": {"pytest.outcome": "failed", "test.case.result.status": "fail", "status": 2},
        "test_fixture_subtests": {
            "pytest.outcome": "failed",
            "test.case.result.status": "fail",
            "pytest.subtests": 3,
            "pytest.subtests.failed": 2,
            "pytest.subtests.failed.names": ["[names] (name='beta')", "[names] (name='gamma')"],
            "status": 2,
        },
    }
    assert tests["test_unittest_subtests"].child("call").events() == [
        (
            "exception",
            {"exception.type": "AssertionError", "exception.message": "1 == 1", "pytest.subtest": "[values] (i=1)"},
        ),
    ]
    # A plain unittest failure never passes through the phase: pytest takes it from unittest.
    assert tests["test_unittest_failure"].child("call").events() == [
        ("exception", {"exception.type": "AssertionError", "exception.message": "1 != 2"}),
    ]
    assert tests["test_fixture_subtests"].child("call").events() == [
        (
            "exception",
            {
                "exception.type": "AssertionError",
                "exception.message": "assert 'beta' != 'beta'",
                "pytest.subtest": "[names] (name='beta')",
            },
        ),
        (
            "exception",
            {
                "exception.type": "AssertionError",
                "exception.message": "assert 'gamma' != 'gamma'",
                "pytest.subtest": "[names] (name='gamma')",
            },
        ),
    ]


HEADER_TOKEN = "hdr-tok-7f3a0c9e1b2d4a6f"
CI_TOKEN = "ci-tok-0b1c2d3e4f5a6b7c"
PASSWORD = "pw-Hunter2-local-only"

SECRETS_SUITE = f"""
import os

def test_environment_token():
    assert os.environ.get("CI_JOB_TOKEN") == "expected"

def test_environment_dump():
    assert dict(os.environ) == {{}}

def connect(host, password):
    raise ConnectionError(f"cannot reach {{host}}")

def test_password_argument():
    secret = "{PASSWORD}"
    connect("db.internal", password=secret)
"""

# What each mode keeps of each failure, exactly.
RECORDED = {
    "message": {
        "test_environment_token": {
            "exception.type": "AssertionError",
            "exception.message": "assert '<redacted>' == 'expected'",
        },
        "test_environment_dump": {
            "exception.type": "AssertionError",
            "exception.message": "assert <environment removed> == {}",
        },
        "test_password_argument": {
            "exception.type": "ConnectionError",
            "exception.message": "cannot reach db.internal",
        },
    },
    "none": {
        "test_environment_token": {"exception.type": "AssertionError"},
        "test_environment_dump": {"exception.type": "AssertionError"},
        "test_password_argument": {"exception.type": "ConnectionError"},
    },
}
TRACEBACKS = {
    "test_environment_token": [
        '  File "test_secrets.py", line 4, in test_environment_token',
        "AssertionError: assert '<redacted>' == 'expected'",
    ],
    "test_environment_dump": [
        '  File "test_secrets.py", line 7, in test_environment_dump',
        "AssertionError: assert <environment removed> == {}",
    ],
    "test_password_argument": [
        '  File "test_secrets.py", line 14, in test_password_argument',
        '  File "test_secrets.py", line 10, in connect',
        "ConnectionError: cannot reach db.internal",
    ],
}


@pytest.mark.parametrize("mode", ["message", "traceback", "none"])
def test_failure_text_keeps_what_its_mode_says_and_never_a_token_or_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {HEADER_TOKEN}")
    monkeypatch.setenv("CI_JOB_TOKEN", CI_TOKEN)
    pytester.makepyfile(test_secrets=SECRETS_SUITE)
    result, run = traced(pytester, "-vv", "--showlocals", f"--otel-record-failures={mode}")
    result.assert_outcomes(failed=3)
    output = result.stdout.str()
    assert CI_TOKEN in output  # pytest shows them: the store must not
    assert HEADER_TOKEN in output
    assert PASSWORD in output
    assert_absent(pytester.path / ".otel-pytest", HEADER_TOKEN, CI_TOKEN, PASSWORD)
    recorded = {}
    for name in TRACEBACKS:
        call = run.root(f"test_secrets.py::{name}").child("call")
        ((event, attributes),) = call.events()
        assert event == "exception"
        recorded[name] = attributes
        message = attributes.get("exception.message")
        kind = attributes["exception.type"]
        assert call.status_message == (f"{kind}: {message}" if message else kind)
    if mode == "traceback":
        assert {
            name: str(attributes.pop("exception.stacktrace")).splitlines() for name, attributes in recorded.items()
        } == {name: ["Traceback (most recent call last):", *lines] for name, lines in TRACEBACKS.items()}
        assert recorded == RECORDED["message"]
    else:
        assert recorded == RECORDED[mode]


def test_the_record_failures_ini_key_sets_the_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notel_record_failures = none\n")
    pytester.makepyfile(test_one="def test_one():\n    assert 1 == 2\n")
    _, run = traced(pytester)
    call = run.root("test_one.py::test_one").child("call")
    assert call.events() == [("exception", {"exception.type": "AssertionError"})]


JUNIT_SUITE = """
import pytest

def test_records_a_property(record_property, request):
    record_property("ticket", "SHOP-1")
    assert request.node.user_properties == [("ticket", "SHOP-1")]

def test_sees_only_its_own_properties(request):
    request.node.user_properties.append(("mine", 1))
    assert request.node.user_properties == [("mine", 1)]

@pytest.fixture
def checks_at_teardown(request):
    yield
    assert request.node.user_properties == []

def test_teardown_sees_no_property(checks_at_teardown):
    pass

def test_fails():
    assert False
"""


def junit_properties(path: str) -> dict[str, list[tuple[str, str]]]:
    return {
        str(case.get("name")): [(str(item.get("name")), str(item.get("value"))) for item in case.iter("property")]
        for case in ET.parse(path).getroot().iter("testcase")
    }


@pytest.mark.parametrize("args", [(), ("--otel-trace-per=session",), ("-n", "2")], ids=["per-test", "session", "xdist"])
def test_junit_xml_names_each_test_s_trace_and_span_after_the_user_s_properties(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_junit=JUNIT_SUITE)
    junit = str(pytester.path / "junit.xml")
    result, run = traced(pytester, f"--junitxml={junit}", "-o", "junit_family=xunit1", *args)
    result.assert_outcomes(passed=3, failed=1)
    tests = {root.name.split("::")[1]: root for root in run.spans if root.name.startswith("test_junit.py::")}
    assert len(tests) == 4
    user = {"test_records_a_property": [("ticket", "SHOP-1")], "test_sees_only_its_own_properties": [("mine", "1")]}
    assert junit_properties(junit) == {
        name: [*user.get(name, []), ("otel.trace_id", span.trace_id), ("otel.span_id", span.span_id)]
        for name, span in tests.items()
    }
    if args == ("--otel-trace-per=session",):
        assert {span.trace_id for span in tests.values()} == {run.session.trace_id}


REPORT_PROPERTIES_CONFTEST = """
import json

def pytest_runtest_logreport(report):
    if report.when == "teardown":
        with open("properties.jsonl", "a") as out:
            out.write(json.dumps([report.nodeid, report.user_properties]) + "\\n")
"""


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_without_a_junit_xml_the_test_reports_carry_only_the_user_s_properties(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    """Other plugins and conftest hooks read the reports too: they see no trace ids unless
    a JUnit XML is being written."""
    pytester.makepyfile(test_junit=JUNIT_SUITE)
    pytester.makeconftest(REPORT_PROPERTIES_CONFTEST)
    result, _ = traced(pytester, *args)
    result.assert_outcomes(passed=3, failed=1)
    lines = (pytester.path / "properties.jsonl").read_text().splitlines()
    seen = {nodeid.split("::")[1]: [tuple(p) for p in found] for nodeid, found in map(json.loads, lines)}
    assert seen == {
        "test_records_a_property": [("ticket", "SHOP-1")],
        "test_sees_only_its_own_properties": [("mine", 1)],
        "test_teardown_sees_no_property": [],
        "test_fails": [],
    }


def test_without_otel_the_junit_xml_has_only_the_user_s_properties(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_junit=JUNIT_SUITE)
    junit = str(pytester.path / "junit.xml")
    pytester.runpytest(*NO_ASYNC, f"--junitxml={junit}", "-o", "junit_family=xunit1").assert_outcomes(
        passed=3, failed=1
    )
    assert junit_properties(junit) == {
        "test_records_a_property": [("ticket", "SHOP-1")],
        "test_sees_only_its_own_properties": [("mine", "1")],
        "test_teardown_sees_no_property": [],
        "test_fails": [],
    }
