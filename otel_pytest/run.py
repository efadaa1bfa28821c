"""One traced pytest process: builds the recorder, sink, exporter and provider, and closes them.

On an xdist controller it also owns what is shared by the whole run (run id, the session
span workers hang under, the run file workers' parts are folded into, the index entry);
workers receive those as plain values in ``workerinput`` and send their counts back in
``workeroutput``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from otel_pytest import clock, identity
from otel_pytest.binding import ProcessBinding, traceparent
from otel_pytest.db import DbInstrumentation
from otel_pytest.encode.otlp_json import OtlpJsonEncoder
from otel_pytest.encode.shape import ExportShape
from otel_pytest.export import BackgroundExporter, DeliveryReport, check_exporter
from otel_pytest.failures import FailureText
from otel_pytest.gc_pauses import GcPauses
from otel_pytest.options import Options, parse_traceparent
from otel_pytest.provider import RunTracerProvider
from otel_pytest.recorder import Recorder
from otel_pytest.records import AttributeValue
from otel_pytest.semconv import attributes as attr
from otel_pytest.store.compression import codec_named, codec_of_name
from otel_pytest.store.index import RunEntry, run_file_name, worker_part_name
from otel_pytest.store.layout import RUNS
from otel_pytest.store.locate import service_name
from otel_pytest.store.writer import RunSink, read_contents, resource_groups, store_run, write_metrics
from otel_pytest.version import package_version

if TYPE_CHECKING:
    from otel_pytest.db.metrics import DbMetrics
    from otel_pytest.encode.otlp_proto import OtlpProtoEncoder
    from otel_pytest.recorder import TestInfo

_WORKER_KEYS = ("otel_run_id", "otel_session", "otel_run_file", "otel_start")


def resource_attributes(env: Mapping[str, str], rootdir: Path, version: str) -> dict[str, AttributeValue]:
    """Detected facts, then ``OTEL_RESOURCE_ATTRIBUTES`` over them, then ``service.name``."""
    attributes: dict[str, AttributeValue] = {
        attr.TELEMETRY_SDK_LANGUAGE: "python",
        attr.TELEMETRY_DISTRO_NAME: "otel-pytest",
        attr.TELEMETRY_DISTRO_VERSION: version,
    }
    attributes.update(identity.Environment.current().attributes())
    attributes.update(identity.git_attributes(rootdir))
    attributes.update(identity.ci_attributes(env))
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[unquote(key.strip())] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME") or attr.SERVICE_NAME not in attributes:
        attributes[attr.SERVICE_NAME] = service_name(env, rootdir)
    return attributes


def _db_metrics(shape: ExportShape) -> DbMetrics:
    """Imported only when a database library is instrumented."""
    from otel_pytest.db.metrics import DbMetrics

    return DbMetrics(shape.resource, shape.version)


def otlp_proto_encoder(shape: ExportShape) -> OtlpProtoEncoder:
    """Imported only when exporting: a store-only run never needs it."""
    from otel_pytest.encode.otlp_proto import OtlpProtoEncoder

    return OtlpProtoEncoder(shape)


@dataclass
class RunTally:
    """The run's end-of-run tally (tests and spans traced, deliveries, problems): what the
    terminal summary line and the warnings are made of; summed over xdist workers."""

    run_id: str
    store_file: Path | None
    tests: int = 0
    spans: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # tests per final outcome
    deliveries: list[DeliveryReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class TracedRun:
    def __init__(
        self,
        options: Options,
        rootdir: Path,
        env: MutableMapping[str, str],
        worker_input: Mapping[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.rootdir = rootdir
        self.is_worker = worker_input is not None
        self.worker_id = str(worker_input.get("workerid", "")) if worker_input else ""
        if worker_input is not None and all(key in worker_input for key in _WORKER_KEYS):
            self.run_id = str(worker_input["otel_run_id"])
            self.start_ns = int(worker_input["otel_start"])
            controller = parse_traceparent(str(worker_input["otel_session"]))
            session_parent: tuple[int, int] | None = (controller.trace_id, controller.span_id)
            self.run_file = Path(worker_input["otel_run_file"])
            store_path: Path | None = Path(worker_part_name(str(self.run_file), self.worker_id))
        else:
            self.run_id = identity.new_run_id()
            self.start_ns = clock.now_ns()
            parent = options.traceparent
            session_parent = (parent.trace_id, parent.span_id) if parent else None
            codec = None if options.compress is None else codec_named(options.compress)
            self.run_file = options.store / RUNS / run_file_name(self.start_ns, self.run_id, codec)
            store_path = self.run_file
        # Read once: each look-up parses the distribution's metadata (~0.7 ms after the first).
        version = package_version()
        self.resource = resource_attributes(env, rootdir, version)
        shape = ExportShape(self.resource, self.run_id, version)
        self.exporter: BackgroundExporter | None = None
        if options.endpoint is not None or options.metrics_endpoint is not None:
            check_exporter((options.endpoint, options.metrics_endpoint))
            self.exporter = BackgroundExporter(
                options.endpoint,
                options.metrics_endpoint,
                options.export_timeout,
                otlp_proto_encoder(shape),
            )
        # Workers write as the controller's run file says, whatever their own options.
        self.codec = codec_of_name(self.run_file.name)
        self.sink = RunSink(OtlpJsonEncoder(shape), store_path, self.exporter, self.codec)
        session_attributes: dict[str, AttributeValue] = {attr.TEST_SUITE_NAME: str(self.resource[attr.SERVICE_NAME])}
        if self.worker_id:
            session_attributes[attr.XDIST_WORKER] = self.worker_id
        self.recorder = Recorder(
            self.sink,
            trace_per_test=options.trace_per == "test",
            session_parent=session_parent,
            session_attributes=session_attributes,
            failures=FailureText(options.record_failures, env, rootdir),
        )
        self.provider = RunTracerProvider(self.recorder, dict(self.resource))
        self.db: DbInstrumentation | None = None
        if options.db:
            self.db = DbInstrumentation(self.recorder, lambda: _db_metrics(shape))
        self.summary = RunTally(self.run_id, None if self.sink.store_problem else self.run_file)
        self._worker_outputs: list[Mapping[str, Any]] = []
        # xdist workers that died: worker id -> (xdist's reason, the test it was running).
        self._crashes: dict[str, tuple[str, str | None]] = {}
        # Last: everything the run changes outside its own objects, undone in finish().
        self.binding = ProcessBinding(
            self.recorder,
            self.provider,
            capture_app=options.capture_app,
            environ=env,
            db=self.db,
            gc_pauses=GcPauses(self.recorder) if options.gc else None,
        )
        self.binding.install()

    def worker_input(self) -> dict[str, Any]:
        """Plain values an xdist worker needs to join this run."""
        session = self.recorder.session
        return {
            "otel_run_id": self.run_id,
            "otel_session": traceparent(session.trace_id, session.span_id),
            "otel_run_file": str(self.run_file),
            "otel_start": self.start_ns,
        }

    def add_worker_output(self, output: Mapping[str, Any]) -> None:
        if "otel_tests" in output:
            self._worker_outputs.append(output)

    def worker_crashed(self, worker: str, error: object) -> None:
        """An xdist worker died: its part holds the tests it finished (they are counted
        from it at the end), and the run says so."""
        self._crashes[worker] = (str(error), None)

    def record_crash(self, test: TestInfo, outcome: str, reason: str, worker: str, start_ns: int) -> None:
        """The test span of a test whose worker died under it, with pytest's outcome."""
        self.recorder.crashed_test(
            test,
            start_ns,
            outcome,
            {
                attr.OUTCOME: outcome,
                # A crash report is "failed", or "rerun" when a rerun plugin takes it: a failed attempt.
                attr.TEST_CASE_RESULT_STATUS: attr.result_status(outcome),
                attr.XDIST_WORKER: worker,
            },
            reason,
        )
        self._crashes[worker] = (self._crashes.get(worker, (reason, None))[0], f"{test.nodeid} ({outcome})")

    def after_test(self) -> None:
        """Write the test's records: a process that dies later loses none of them."""
        self.sink.flush()

    def before_test(self) -> None:
        self.binding.before_test()

    def _step(self, what: str, action: Callable[[], object]) -> None:
        """Run one finishing step; a failure is a warning, and the other steps still run."""
        try:
            action()
        except Exception as error:
            self.summary.problems.append(_failed_while(what, error))

    def finish(self, exit_status: int) -> RunTally:
        summary = self.summary
        self._step("ending the session span", lambda: self.recorder.session_end(exit_status))
        for undo in self.binding.uninstall():
            summary.problems.append(_failed_while(undo.what, undo.error))
        if self.db is not None:
            self._step("writing the metrics", self._write_metrics)
        self._step("shutting the tracer provider down", self.provider.shutdown)
        if self.exporter is not None and self._worker_outputs:
            # The export budget is for the whole run: what the workers waited is spent.
            waited = [
                DeliveryReport.from_plain(output["otel_delivery"]).waited
                for output in self._worker_outputs
                if output.get("otel_delivery")
            ]
            self.exporter.already_waited(max(waited, default=0.0))
        self._step("closing the trace file and the exporter", lambda: self._close_sink(summary))
        if self._crashes:
            self._step("counting the crashed workers' spans", self._count_crashed)
        stats = self.recorder.stats
        summary.tests += stats.tests
        summary.spans += stats.spans
        add_counts(summary.outcomes, stats.outcomes)
        if stats.internal_error:
            summary.problems.append(
                f"otel-pytest hit an internal error ({stats.internal_error}); the trace may be incomplete"
            )
        for output in self._worker_outputs:
            summary.tests += int(output["otel_tests"])
            summary.spans += int(output["otel_spans"])
            add_counts(summary.outcomes, output.get("otel_outcomes", {}))
            summary.problems.extend(output["otel_problems"])
            if output.get("otel_delivery"):
                summary.deliveries.append(DeliveryReport.from_plain(output["otel_delivery"]))
        if not self.is_worker and summary.store_file is not None:
            self._step("updating the store index", lambda: self._store_run(exit_status))
        self._step("closing the trace file", self.sink.release)
        return summary

    def _count_crashed(self) -> None:
        contents = read_contents(Path(worker_part_name(str(self.run_file), worker)) for worker in self._crashes)
        self.summary.tests += contents.tests
        self.summary.spans += contents.spans
        add_counts(self.summary.outcomes, contents.outcomes)
        for worker, (error, test) in self._crashes.items():
            running = f" while running {test}, recorded as pytest reported it" if test else ""
            self.summary.problems.append(
                f"xdist worker {worker} crashed ({error}){running}; the tests it finished are in the store"
            )

    def _close_sink(self, summary: RunTally) -> None:
        delivery = self.sink.close()
        if delivery is not None:
            summary.deliveries.append(delivery)
        if self.sink.restored:
            summary.problems.append(self.sink.restored)
        if self.sink.store_problem:
            summary.problems.append(self.sink.store_problem)
            summary.store_file = None

    def _write_metrics(self) -> None:
        metrics = self.db.metrics if self.db is not None else None
        if metrics is None or metrics.empty:
            return
        worker = self.worker_id if self.is_worker else ""
        problem = write_metrics(self.run_file, metrics.json_line(), self.codec, worker)
        if problem:
            self.summary.problems.append(problem)
        self.sink.submit_metrics(metrics)

    def worker_output(self, summary: RunTally) -> dict[str, Any]:
        delivery = summary.deliveries[0] if summary.deliveries else None
        return {
            "otel_tests": summary.tests,
            "otel_spans": summary.spans,
            "otel_outcomes": summary.outcomes,
            "otel_problems": summary.problems,
            "otel_delivery": delivery.plain() if delivery else None,
        }

    def _store_run(self, exit_status: int) -> None:
        environment = identity.Environment.current()
        vcs, ci = resource_groups(self.resource)
        entry = RunEntry(
            run_id=self.run_id,
            file=self.run_file.name,
            start_time_unix_nano=self.start_ns,
            end_time_unix_nano=clock.now_ns(),
            service_name=str(self.resource[attr.SERVICE_NAME]),
            exit_status=exit_status,
            tests=self.summary.tests,
            spans=self.summary.spans,
            outcomes=dict(self.summary.outcomes),
            environment={
                "python": environment.python,
                "implementation": environment.implementation,
                "platform": environment.platform,
                "cpu_count": environment.cpu_count,
                "fingerprint": environment.fingerprint,
            },
            vcs=vcs,
            ci=ci,
        )
        try:
            store_run(self.run_file, entry, self.options.keep_runs, self.options.keep_size)
        except OSError as error:
            self.summary.problems.append(f"cannot update the trace store index ({error.strerror or error})")


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + int(count)


def _failed_while(what: str, error: Exception) -> str:
    return f"otel-pytest failed while {what} ({type(error).__name__}: {error})"


def display_path(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)
