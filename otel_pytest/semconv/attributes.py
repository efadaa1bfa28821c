"""Attribute keys, grouped by what sets them; the analyzer and the store read the same names.

Keys without the ``pytest.`` prefix are OpenTelemetry's semantic conventions (test, code,
database, exception, service, VCS, CI/CD); ``pytest.*`` keys are this plugin's, for what
the conventions lack. They are spelled here rather than imported from
``opentelemetry.semconv``: most of them are still in its ``_incubating`` modules (renamed
between its releases), and the plugin imports this module while ``--otel`` is off and the
analyzer imports no OpenTelemetry module at all. ``tests/semconv/test_attributes.py``
checks them against the installed ``opentelemetry-semantic-conventions``.
"""

from __future__ import annotations

import re

# -- every span: the export shape (otel_pytest.encode.shape) --------------------------------

RUN_ID = "pytest.run.id"  # 16 hex digits, one per run; the analyzer groups a file's spans by it

# -- the resource: the run (otel_pytest.run) and the environment (otel_pytest.identity) -----

SERVICE_NAME = "service.name"
TELEMETRY_SDK_LANGUAGE = "telemetry.sdk.language"
TELEMETRY_DISTRO_NAME = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION = "telemetry.distro.version"
PROCESS_RUNTIME_NAME = "process.runtime.name"
PROCESS_RUNTIME_VERSION = "process.runtime.version"
OS_TYPE = "os.type"
HOST_ARCH = "host.arch"
HOST_CPU_COUNT = "host.cpu.count"
ENV_FINGERPRINT = "pytest.env.fingerprint"  # runs are compared only within one environment
VCS_PREFIX = "vcs."  # the store's index keeps vcs.* and cicd.* apart
VCS_REF_HEAD_REVISION = "vcs.ref.head.revision"
VCS_REF_HEAD_NAME = "vcs.ref.head.name"
VCS_REPOSITORY_URL_FULL = "vcs.repository.url.full"
VCS_CHANGE_ID = "vcs.change.id"
CICD_PREFIX = "cicd."
CICD_SYSTEM = "cicd.system"
CICD_PIPELINE_NAME = "cicd.pipeline.name"
CICD_PIPELINE_RUN_ID = "cicd.pipeline.run.id"
CICD_PIPELINE_RUN_URL_FULL = "cicd.pipeline.run.url.full"

# -- the session span (otel_pytest.recorder, otel_pytest.run) -------------------------------

TEST_SUITE_NAME = "test.suite.name"
TEST_SUITE_RUN_STATUS = "test.suite.run.status"  # success, failure, aborted
EXIT_STATUS = "pytest.exit_status"
TESTS = "pytest.tests"  # how many tests this process recorded
XDIST_WORKER = "pytest.xdist.worker"  # on a worker's session span, and a crashed test's

# -- a test span and its attempts (otel_pytest.recorder; a crashed one: otel_pytest.run) ---

TEST_CASE_NAME = "test.case.name"  # the node id: what marks a span as a test's
TEST_CASE_RESULT_STATUS = "test.case.result.status"  # pass, fail: result_status
TEST_ID = "pytest.test.id"  # the node id as stable_test_id makes it
OUTCOME = "pytest.outcome"  # passed, failed, error, skipped, xfailed, xpassed; rerun on an attempt
SKIP_REASON = "pytest.skip.reason"
XFAIL_REASON = "pytest.xfail.reason"
RERUNS = "pytest.reruns"
RERUN_ATTEMPT = "pytest.rerun.attempt"  # on each `attempt N` span
SUBTESTS = "pytest.subtests"
SUBTESTS_FAILED = "pytest.subtests.failed"
SUBTESTS_FAILED_NAMES = "pytest.subtests.failed.names"
SHARED_FIXTURES_DURATION = "pytest.shared_fixtures.duration"  # seconds waited for wider-scoped fixtures
DB_SUMMARY_PREFIX = "db.summary."  # + a key of otel_pytest.semconv.db_work (queries, query_time, …)

# -- code location: test, module and fixture spans (otel_pytest.recorder, otel_pytest.plugin)

CODE_FILE_PATH = "code.file.path"
CODE_LINE_NUMBER = "code.line.number"
CODE_FUNCTION_NAME = "code.function.name"

# -- a fixture span (otel_pytest.plugin, otel_pytest.recorder) ------------------------------

FIXTURE_NAME = "pytest.fixture.name"  # what marks a span as a fixture's
FIXTURE_SCOPE = "pytest.fixture.scope"
FIXTURE_PARAM = "pytest.fixture.param"
FIXTURE_ARGNAMES = "pytest.fixture.argnames"  # the fixtures it requests (string array), "request" included
FIXTURE_REQUESTED_BY = "pytest.fixture.requested_by"  # the test that set up a wider-scoped fixture

# -- a phase's span for the wider-scoped fixture it waited for (otel_pytest.recorder) -------

SHARED_FIXTURE_NAME = "pytest.shared_fixture.name"  # what marks a span as such a wait
SHARED_FIXTURE_SCOPE = "pytest.shared_fixture.scope"

# -- garbage collection (otel_pytest.gc_pauses, otel_pytest.recorder) -----------------------

GC_DURATION = "pytest.gc.duration"  # seconds of GC pauses while a span ran, its children's included
GC_COLLECTIONS = "pytest.gc.collections"  # how many collections those were
GC_GENERATION = "pytest.gc.generation"  # on a `gc gen N` span: the generation collected
GC_COLLECTED = "pytest.gc.collected"  # objects it freed
GC_UNCOLLECTABLE = "pytest.gc.uncollectable"  # objects it found but could not free

# -- an exception event and a failed span (otel_pytest.failures, otel_pytest.db.spans) -----

EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
SUBTEST = "pytest.subtest"  # the subtest an exception event is about
ERROR_TYPE = "error.type"

# -- a database span (otel_pytest.db.spans) ------------------------------------------------

DB_SYSTEM_NAME = "db.system.name"
DB_NAMESPACE = "db.namespace"
DB_QUERY_TEXT = "db.query.text"  # placeholders, and literals as ? (statements.sanitize)
DB_STATEMENT = "db.statement"  # the older name of db.query.text, still written by other tools
DB_QUERY_SUMMARY = "db.query.summary"
DB_OPERATION_NAME = "db.operation.name"
DB_COLLECTION_NAME = "db.collection.name"
DB_RESPONSE_STATUS_CODE = "db.response.status_code"  # the SQLSTATE
DB_CLIENT_CONNECTION_POOL_NAME = "db.client.connection.pool.name"  # on the connection metrics
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
DB_FINGERPRINT = "pytest.db.fingerprint"  # statements.normalise of the text
DB_FINGERPRINT_ID = "pytest.db.fingerprint.id"  # its digest: the key of per-statement history
DB_LAYER = "pytest.db.layer"  # sqlalchemy or asyncpg: which layer made the span
DB_TRANSACTION_STEP = "pytest.db.transaction.step"  # one of statements.TRANSACTION_STEPS
DB_TRANSACTION_DEPTH = "pytest.db.transaction.depth"  # 1 the transaction, 2 its first savepoint, …
DB_TRANSACTION_RESET = "pytest.db.transaction.reset"  # the pool's own rollback, not the application's
DB_CONNECTION_NEW = "pytest.db.connection.new"  # a physical connect (or a checkout that made one)
DB_CONNECTION_CREATE_TIME = "pytest.db.connection.create_time"  # seconds, on a checkout that connected
DB_CONNECTION_WAIT_TIME = "pytest.db.connection.wait_time"  # seconds of a checkout beyond its connect
DB_CONNECTION_USE_TIME = "pytest.db.connection.use_time"  # seconds out of the pool, on a checkin

# -- values ------------------------------------------------------------------------------

_MEMORY_ADDRESS = re.compile(r"\s+at 0x[0-9a-fA-F]+")


def stable_test_id(nodeid: str) -> str:
    """The value of :data:`TEST_ID`: the node id with memory addresses removed, so a test
    keeps its identity across runs (and the analyzer names a span without it the same way).

    Parameter ids built from ``repr`` of objects carry ``at 0x7f...``, which changes
    every run and would split one test's history into one-run series.
    """
    return _MEMORY_ADDRESS.sub("", nodeid)


_PASSING = frozenset({"passed", "skipped", "xfailed", "xpassed"})


def result_status(outcome: str) -> str:
    """The value of :data:`TEST_CASE_RESULT_STATUS` for a pytest outcome: ``pass`` for a
    test that passed, was skipped or behaved as its xfail mark said it might; ``fail``
    for ``failed``, ``error`` and an attempt a rerun plugin superseded (``rerun``)."""
    return "pass" if outcome in _PASSING else "fail"
