"""pytest hooks: translate pytest events into calls on the recorder.

Only ``pytest_addoption`` and ``pytest_configure`` live at module level, and importing this
module imports nothing from OpenTelemetry. When tracing is on, ``pytest_configure``
registers a :class:`TracingHooks` instance (and :class:`XdistControllerHooks` where xdist
is installed); when it is off, pytest calls no otel-pytest hook per test at all.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from otel_pytest import options as opts
from otel_pytest.endpoint import SettingError
from otel_pytest.semconv import attributes as attr

if TYPE_CHECKING:
    from otel_pytest.recorder import FixtureInfo, Recorder
    from otel_pytest.run import RunTally, TracedRun

PLUGIN_NAME = "otel-pytest-tracing"
# Test report properties (JUnit XML <property>) naming a test's trace and its root span.
REPORT_TRACE_ID = "otel.trace_id"
REPORT_SPAN_ID = "otel.span_id"
_run_key = pytest.StashKey["TracedRun"]()
_summary_key: pytest.StashKey[RunTally] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    opts.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    try:
        if not opts.is_enabled(config, os.environ):
            return
        options = opts.resolve(config, os.environ)
        from otel_pytest.export import ExportSetupError
        from otel_pytest.run import TracedRun

        try:
            run = TracedRun(options, config.rootpath, os.environ, getattr(config, "workerinput", None))
        except ExportSetupError as error:
            raise SettingError(str(error)) from None
    except SettingError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_run_key] = run
    if _is_xdist_controller(config):
        config.pluginmanager.register(SessionHooks(run, config), PLUGIN_NAME)
        config.pluginmanager.register(XdistControllerHooks(run), PLUGIN_NAME + "-xdist")
    else:
        hooks = TracingHooks(run, config)
        config.pluginmanager.register(hooks, PLUGIN_NAME)
        if getattr(config.option, "xmlpath", None):
            config.pluginmanager.register(JUnitProperties(hooks.recorder), PLUGIN_NAME + "-junit")


def _is_xdist_controller(config: pytest.Config) -> bool:
    """xdist has already turned ``-n N`` into a ``dist`` mode by the time we configure."""
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


def _is_direct_parameter(fixturedef: pytest.FixtureDef[Any]) -> bool:
    """``@pytest.mark.parametrize`` arguments are set up as pseudo-fixtures: not real ones."""
    return getattr(fixturedef.func, "__name__", "") == "get_direct_param_fixture_func"


class SessionHooks:
    """Session-level hooks: end the run, hand xdist its output, print the summary.

    An xdist controller gets only these: it runs no test itself, and the per-test hooks
    it receives are replays of its workers' reports.
    """

    def __init__(self, run: TracedRun, config: pytest.Config) -> None:
        self.run = run
        self.recorder: Recorder = run.recorder
        self.config = config

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as error:
            self.recorder.failed(error)
            return None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        # trylast makes this wrapper the innermost: session-scoped fixtures are torn down
        # before it ends the session span, and the terminal summary and xdist's report to
        # the controller come after it.
        try:
            yield
        finally:
            summary = self.run.finish(int(exitstatus))
            self.config.stash[_summary_key] = summary
            if self.run.is_worker:
                self.config.workeroutput.update(self.run.worker_output(summary))  # type: ignore[attr-defined]

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> Generator[None, None, None]:
        # The outermost wrapper: the lines come after every other section (the short test
        # summary too), just above pytest's closing line.
        try:
            return (yield)
        finally:
            self._write_closing_lines(terminalreporter)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # pytest skips the terminal summary after an internal error: the lines still come.
        terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
        if terminalreporter is not None:
            self._write_closing_lines(terminalreporter)

    def _write_closing_lines(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Once, on the process that owns the run (an xdist worker's output is not shown)."""
        summary = self.config.stash.get(_summary_key, None)
        if summary is None or self.run.is_worker:
            return
        del self.config.stash[_summary_key]
        from otel_pytest.terminal import closing_lines

        lines = closing_lines(
            summary,
            self.run.options,
            str(self.run.resource[attr.SERVICE_NAME]),
            self.config.invocation_params.dir,
            self.config.get_verbosity(),
        )
        for line in lines:
            terminalreporter.write_line(line.text, yellow=line.warning)


class TracingHooks(SessionHooks):
    """Per-test hooks. Plain hooks where pytest already computes what is needed (the
    node id and location in ``logstart``, the report in ``logreport``); wrappers only
    where a span must enclose work (phases, fixture setup)."""

    def __init__(self, run: TracedRun, config: pytest.Config) -> None:
        from otel_pytest.recorder import TestInfo

        super().__init__(run, config)
        self._test_at = TestInfo.at  # kept: an import statement in the hook would run per test
        self._fixtures: dict[pytest.FixtureDef[Any], FixtureInfo] = {}
        self._next_module: str | None = None

    # The hook bodies below catch errors inline rather than through _guard: they run
    # several times per test, and a call layer there costs measurable CPU on big suites.

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        try:
            self.run.before_test()
            self.recorder.test_start(self._test_at(nodeid, location))
        except Exception as error:
            self.recorder.failed(error)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        try:
            self.recorder.test_end(self._next_module)
        except Exception as error:
            self.recorder.failed(error)
        try:
            # Written as soon as the test has ended: a process that dies in a later test,
            # or between tests, loses none of its records.
            self.run.after_test()
        except Exception as error:
            self.recorder.failed(error)

    def _phase(self, when: str) -> Generator[None, object, object]:
        __tracebackhide__ = True
        recorder = self.recorder
        try:
            recorder.phase_start(when)
        except Exception as error:
            recorder.failed(error)
        try:
            return (yield)
        finally:
            try:
                recorder.phase_end()
            except Exception as error:
                recorder.failed(error)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = True
        return (yield from self._phase("setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = True
        return (yield from self._phase("call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        self._next_module = nextitem.nodeid.split("::", 1)[0] if nextitem is not None else None
        return (yield from self._phase("teardown"))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        try:
            self.recorder.phase_report(report, None if type(report) is _TEST_REPORT else _subtest(report))
        except Exception as error:
            self.recorder.failed(error)

    def pytest_exception_interact(
        self, node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any], report: Any
    ) -> None:
        """pytest hands over every exception that failed a phase or a subtest here (the
        phase wrappers never see a unittest failure: pytest takes it from unittest's
        result), and only those: nothing runs for passing tests, skips or xfails."""
        try:
            excinfo = call.excinfo
            if excinfo is not None and isinstance(report, pytest.TestReport):
                self.recorder.phase_exception(report.when or "", excinfo.value, _subtest(report))
        except Exception as error:
            self.recorder.failed(error)

    def _fixture_info(self, fixturedef: pytest.FixtureDef[Any]) -> FixtureInfo:
        """A fixture definition's static facts, made on its first setup and kept."""
        from otel_pytest.recorder import FixtureInfo
        from otel_pytest.records import SharedAttributes

        func = inspect.unwrap(fixturedef.func)
        code = getattr(func, "__code__", None)
        attributes: dict[str, str | int | tuple[str, ...]] = {
            attr.FIXTURE_NAME: fixturedef.argname,
            attr.FIXTURE_SCOPE: fixturedef.scope,
            attr.CODE_FUNCTION_NAME: getattr(func, "__qualname__", fixturedef.argname),
            # What it requests: the analyzer proposes a wider scope only where these allow it.
            attr.FIXTURE_ARGNAMES: tuple(fixturedef.argnames),
        }
        if code is not None:
            attributes[attr.CODE_FILE_PATH] = os.path.relpath(code.co_filename, self.config.rootpath)
            attributes[attr.CODE_LINE_NUMBER] = code.co_firstlineno
        info = self._fixtures[fixturedef] = FixtureInfo(
            fixturedef.argname, fixturedef.scope, SharedAttributes(attributes)
        )
        return info

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        recorder = self.recorder
        try:
            # A known fixture costs one look-up; parametrize arguments (pseudo-fixtures, one
            # per test function) are checked each time rather than kept.
            info = self._fixtures.get(fixturedef)
            if info is None and not _is_direct_parameter(fixturedef):
                info = self._fixture_info(fixturedef)
            if info is None:
                record = None
            else:
                param = getattr(request, "param", None)
                record = recorder.fixture_setup_start(info, None if param is None else _param_text(param))
        except Exception as error:
            recorder.failed(error)
            record = None
        if record is None:
            return (yield)
        try:
            result = yield
        except BaseException as exception:
            self._guard(recorder.fixture_setup_end, record, exception)
            raise
        try:
            recorder.fixture_setup_end(record, None)
            key = id(fixturedef)
            # Runs first among the fixture's finalizers: the teardown span starts here
            # and ends in pytest_fixture_post_finalizer, after the fixture's own code.
            fixturedef.addfinalizer(functools.partial(self._guard, recorder.fixture_teardown_start, key, info))
        except Exception as error:
            recorder.failed(error)
        return result

    @pytest.hookimpl
    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        try:
            self.recorder.fixture_teardown_end(id(fixturedef))
        except Exception as error:
            self.recorder.failed(error)


_TEST_REPORT = pytest.TestReport


def _subtest(report: pytest.TestReport) -> str | None:
    """The description of the subtest a report is about (``[msg] (key=value, ...)``, as
    pytest prints it), or None for a report on a whole phase. Duck-typed: pytest 9's
    ``SubtestReport`` and the pytest-subtests plugin's report both carry a ``context``."""
    context = getattr(report, "context", None)
    if context is None:
        return None
    parts = []
    message = getattr(context, "msg", None)
    if message is not None:
        parts.append(f"[{message}]")
    kwargs = getattr(context, "kwargs", None)
    if kwargs:
        parts.append("(" + ", ".join(f"{key}={value}" for key, value in kwargs.items()) + ")")
    return " ".join(parts) or "(<subtest>)"


def _param_text(param: object) -> str:
    return attr.stable_test_id(str(param))[:200]


class JUnitProperties:
    """Names each test's trace and span in the JUnit XML report; registered only when one
    is written (``--junitxml``; xdist workers get the option too), so that no other run's
    test reports carry properties the user did not add."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """The teardown report, the one pytest's JUnit XML takes a test's properties from,
        names the test's trace and span (``<property name="otel.trace_id" .../>``). On the
        report only: ``item.user_properties``, what the test's ``record_property`` fills and
        its code sees, stays as it is."""
        report = yield
        if call.when == "teardown":
            try:
                span = self.recorder.test_span
                if span is not None:
                    report.user_properties.append((REPORT_TRACE_ID, f"{span.trace_id:032x}"))
                    report.user_properties.append((REPORT_SPAN_ID, f"{span.span_id:016x}"))
            except Exception as error:
                self.recorder.failed(error)
        return report


class XdistControllerHooks:
    """Registered only on an xdist controller: hands workers (replacements of crashed
    ones too) the run, collects their counts, and records the test a worker crashed in."""

    def __init__(self, run: TracedRun) -> None:
        self.run = run
        self._started: dict[str, tuple[int, tuple[str, int | None, str]]] = {}

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput.update(self.run.worker_input())

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.run.add_worker_output(getattr(node, "workeroutput", {}) or {})
        if error is not None:
            self.run.worker_crashed(str(node.workerinput["workerid"]), error)

    # The controller replays its workers' logstart/logfinish: when and where a test began
    # is all a crash report lacks.
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        from otel_pytest import clock

        self._started[nodeid] = (clock.now_ns(), location)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._started.pop(nodeid, None)

    @pytest.hookimpl(trylast=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        """After other plugins had their say on the report (a rerun plugin may change it)."""
        try:
            from otel_pytest import clock
            from otel_pytest.recorder import TestInfo

            start, location = self._started.pop(crashitem, (clock.now_ns(), report.location))
            worker = str(report.node.workerinput["workerid"])
            self.run.record_crash(TestInfo.at(crashitem, location), report.outcome, str(report.longrepr), worker, start)
        except Exception as error:
            self.run.recorder.failed(error)
