"""The plugin end to end: real pytest sessions through pytester, spans read back from the store."""

from __future__ import annotations

import re

import pytest

from tests.spantree import Run

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
    assert test.shape() == (test.name, (
        ("setup", (("fixture database", ()), ("fixture client", ()))),
        ("call", ()),
        ("teardown", (("fixture client teardown", ()), ("fixture database teardown", ()))),
    ))
    client = test.child("setup").child("fixture client")
    assert client.attributes["pytest.fixture.name"] == "client"
    assert client.attributes["pytest.fixture.scope"] == "function"
    assert client.attributes["code.function.name"] == "client"
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
    assert run.session.shape() == ("pytest session", (
        ("test_one.py", (("fixture schema", ()), ("fixture schema teardown", ()))),
        ("fixture engine", ()),
        ("fixture engine teardown", ()),
    ))
    engine = run.session.child("fixture engine")
    module = run.session.child("test_one.py")
    assert engine.attributes["pytest.fixture.requested_by"] == "test_one.py::test_first"
    # The tests' phases link to the other-scope work they waited for, and count its time.
    first, second = run.root("test_one.py::test_first"), run.root("test_one.py::test_second")
    setup_links = set(first.child("setup").links)
    assert setup_links == {engine.span_id, module.child("fixture schema").span_id}
    teardown_links = set(second.child("teardown").links)
    # pytest tears the session down inside the last test's teardown phase.
    assert teardown_links == {
        module.child("fixture schema teardown").span_id,
        run.session.child("fixture engine teardown").span_id,
    }
    shared = engine.duration_ns + module.child("fixture schema").duration_ns
    assert first.attributes["pytest.shared_fixtures.duration"] == shared / 1e9
    assert "pytest.shared_fixtures.duration" not in run.root("test_one.py::test_first").child("call").attributes
    for name in ("test_one.py::test_first", "test_one.py::test_second"):
        test = run.root(name)
        assert test.shape() == (name, (("setup", ()), ("call", ()), ("teardown", ())))
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
        for root in run.roots if "::" in root.name
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
    ((name, attributes),) = call.events()
    assert name == "exception"
    assert attributes["exception.type"] == "AssertionError"
    assert "assert 1 == 2" in str(attributes["exception.stacktrace"])
    fixture = run.root("test_outcomes.py::test_error").child("setup").child("fixture broken")
    assert fixture.status_code == 2
    assert fixture.status_message == "RuntimeError: no database"


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
    assert run.session.shape() == ("pytest session", (
        ("test_a.py", (("test_a.py::test_one", (("setup", ()), ("call", ()), ("teardown", ()))),)),
        ("test_b.py", (("test_b.py::test_two", (("setup", ()), ("call", ()), ("teardown", ()))),)),
    ))


def test_every_span_carries_the_run_id_and_the_summary_line_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass\ndef test_two(): pass")
    result, run = traced(pytester)
    run_ids = {span.attributes["pytest.run.id"] for span in run.spans}
    assert len(run_ids) == 1
    (run_id,) = run_ids
    assert result.outlines[-1] == f"otel: 2 tests traced, run {run_id} in .otel-pytest"


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
    assert result.outlines[-1].startswith("otel: 12 tests traced, run ")


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
    runs = sorted((pytester.path / ".otel-pytest" / "runs").glob("*.otlp.jsonl"))
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
