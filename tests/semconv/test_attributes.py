"""Attribute keys and values: our spelling of OpenTelemetry's standard keys is the installed
semantic conventions', and a test's stable id is its node id without memory addresses.

The vocabulary spells the keys itself (the plugin imports it while ``--otel`` is off, the
analyzer imports no OpenTelemetry module); these tests catch a drift from
``opentelemetry-semantic-conventions``: a key renamed upstream, or one of ours mistyped.
Stable constants are preferred; the rest are still in its ``_incubating`` modules.
"""

from __future__ import annotations

import pytest
from opentelemetry.semconv._incubating.attributes import (
    cicd_attributes,
    host_attributes,
    os_attributes,
    process_attributes,
    test_attributes,
    vcs_attributes,
)
from opentelemetry.semconv._incubating.attributes import (
    db_attributes as incubating_db_attributes,
)
from opentelemetry.semconv._incubating.metrics import db_metrics as incubating_db_metrics
from opentelemetry.semconv.attributes import (
    code_attributes,
    db_attributes,
    error_attributes,
    exception_attributes,
    server_attributes,
    service_attributes,
    telemetry_attributes,
)
from opentelemetry.semconv.metrics import db_metrics

from otel_pytest.semconv import attributes as attr
from otel_pytest.semconv import metrics

# Ours, and the installed conventions' constant for it.
CONVENTIONS = {
    attr.SERVICE_NAME: service_attributes.SERVICE_NAME,
    attr.TELEMETRY_SDK_LANGUAGE: telemetry_attributes.TELEMETRY_SDK_LANGUAGE,
    attr.TELEMETRY_DISTRO_NAME: telemetry_attributes.TELEMETRY_DISTRO_NAME,
    attr.TELEMETRY_DISTRO_VERSION: telemetry_attributes.TELEMETRY_DISTRO_VERSION,
    attr.PROCESS_RUNTIME_NAME: process_attributes.PROCESS_RUNTIME_NAME,
    attr.PROCESS_RUNTIME_VERSION: process_attributes.PROCESS_RUNTIME_VERSION,
    attr.OS_TYPE: os_attributes.OS_TYPE,
    attr.HOST_ARCH: host_attributes.HOST_ARCH,
    attr.VCS_REF_HEAD_REVISION: vcs_attributes.VCS_REF_HEAD_REVISION,
    attr.VCS_REF_HEAD_NAME: vcs_attributes.VCS_REF_HEAD_NAME,
    attr.VCS_REPOSITORY_URL_FULL: vcs_attributes.VCS_REPOSITORY_URL_FULL,
    attr.VCS_CHANGE_ID: vcs_attributes.VCS_CHANGE_ID,
    attr.CICD_PIPELINE_NAME: cicd_attributes.CICD_PIPELINE_NAME,
    attr.CICD_PIPELINE_RUN_ID: cicd_attributes.CICD_PIPELINE_RUN_ID,
    attr.CICD_PIPELINE_RUN_URL_FULL: cicd_attributes.CICD_PIPELINE_RUN_URL_FULL,
    attr.TEST_SUITE_NAME: test_attributes.TEST_SUITE_NAME,
    attr.TEST_SUITE_RUN_STATUS: test_attributes.TEST_SUITE_RUN_STATUS,
    attr.TEST_CASE_NAME: test_attributes.TEST_CASE_NAME,
    attr.TEST_CASE_RESULT_STATUS: test_attributes.TEST_CASE_RESULT_STATUS,
    attr.CODE_FILE_PATH: code_attributes.CODE_FILE_PATH,
    attr.CODE_LINE_NUMBER: code_attributes.CODE_LINE_NUMBER,
    attr.CODE_FUNCTION_NAME: code_attributes.CODE_FUNCTION_NAME,
    attr.EXCEPTION_TYPE: exception_attributes.EXCEPTION_TYPE,
    attr.EXCEPTION_MESSAGE: exception_attributes.EXCEPTION_MESSAGE,
    attr.EXCEPTION_STACKTRACE: exception_attributes.EXCEPTION_STACKTRACE,
    attr.ERROR_TYPE: error_attributes.ERROR_TYPE,
    attr.DB_SYSTEM_NAME: db_attributes.DB_SYSTEM_NAME,
    attr.DB_NAMESPACE: db_attributes.DB_NAMESPACE,
    attr.DB_QUERY_TEXT: db_attributes.DB_QUERY_TEXT,
    attr.DB_STATEMENT: incubating_db_attributes.DB_STATEMENT,  # deprecated: read, never written
    attr.DB_QUERY_SUMMARY: db_attributes.DB_QUERY_SUMMARY,
    attr.DB_OPERATION_NAME: db_attributes.DB_OPERATION_NAME,
    attr.DB_COLLECTION_NAME: db_attributes.DB_COLLECTION_NAME,
    attr.DB_RESPONSE_STATUS_CODE: db_attributes.DB_RESPONSE_STATUS_CODE,
    attr.DB_CLIENT_CONNECTION_POOL_NAME: incubating_db_attributes.DB_CLIENT_CONNECTION_POOL_NAME,
    attr.SERVER_ADDRESS: server_attributes.SERVER_ADDRESS,
    attr.SERVER_PORT: server_attributes.SERVER_PORT,
}
# Keys outside ``pytest.*`` that the installed conventions do not define (yet).
UNDEFINED = {attr.HOST_CPU_COUNT, attr.CICD_SYSTEM}
# Prefixes and the db.summary.* family are ours, not keys.
NOT_KEYS = {attr.VCS_PREFIX, attr.CICD_PREFIX, attr.DB_SUMMARY_PREFIX}


def test_our_standard_keys_are_spelled_as_the_installed_conventions_spell_them() -> None:
    assert [(ours, theirs) for ours, theirs in CONVENTIONS.items() if ours != theirs] == []


def test_every_key_outside_pytest_is_checked_against_the_conventions() -> None:
    keys = {value for name, value in vars(attr).items() if name.isupper() and isinstance(value, str)}
    unchecked = {key for key in keys - NOT_KEYS if not key.startswith("pytest.")} - CONVENTIONS.keys()
    assert unchecked == UNDEFINED


def test_our_metric_names_are_the_conventions_database_client_metrics() -> None:
    assert [
        metrics.DB_CLIENT_OPERATION_DURATION,
        metrics.DB_CLIENT_CONNECTION_CREATE_TIME,
        metrics.DB_CLIENT_CONNECTION_WAIT_TIME,
        metrics.DB_CLIENT_CONNECTION_USE_TIME,
    ] == [
        db_metrics.DB_CLIENT_OPERATION_DURATION,
        incubating_db_metrics.DB_CLIENT_CONNECTION_CREATE_TIME,
        incubating_db_metrics.DB_CLIENT_CONNECTION_WAIT_TIME,
        incubating_db_metrics.DB_CLIENT_CONNECTION_USE_TIME,
    ]


@pytest.mark.parametrize(
    ("nodeid", "stable"),
    [
        (
            "tests/test_a.py::test_param[<object object at 0x7f3a2b1c9d80>]",
            "tests/test_a.py::test_param[<object object>]",
        ),
        (
            "t.py::test[<Foo at 0xDEADbeef>-<Bar object at 0x1>]",
            "t.py::test[<Foo>-<Bar object>]",
        ),
        (
            "t.py::test[functools.partial(<function f at 0x10>, 1)]",
            "t.py::test[functools.partial(<function f>, 1)]",
        ),
    ],
)
def test_stable_test_id_removes_every_memory_address(nodeid: str, stable: str) -> None:
    assert attr.stable_test_id(nodeid) == stable


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/test_a.py::TestX::test_y[1-2]",
        "t.py::test[0x7f3a2b1c9d80]",  # a hex parameter, not an address
        "t.py::test[at 0x10]",  # no space before "at"
        "t.py::test[look at 0xZZ]",  # not hex
        "t.py::test[what at 0X10]",  # Python prints addresses with a lowercase 0x
    ],
)
def test_stable_test_id_leaves_ids_without_addresses_alone(nodeid: str) -> None:
    assert attr.stable_test_id(nodeid) == nodeid


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("passed", "pass"),
        ("skipped", "pass"),
        ("xfailed", "pass"),
        ("xpassed", "pass"),
        ("failed", "fail"),
        ("error", "fail"),
        ("rerun", "fail"),
    ],
)
def test_a_test_passes_unless_it_failed_erred_or_was_run_again(outcome: str, status: str) -> None:
    assert attr.result_status(outcome) == status
