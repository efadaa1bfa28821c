"""The plugin's closing lines, exactly, where pytest prints them, for each verbosity."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_pytest.store.index import RunEntry, RunIndex
from otel_pytest.terminal import jaeger_search_url
from tests.otlp_receiver import HttpReceiver

# In-process runs warn that this already imported package cannot be rewritten: not the subject here.
NO_ASYNC = ("-p", "no:asyncio", "-p", "no:anyio", "-W", "ignore::pytest.PytestAssertRewriteWarning")
SUITE = "def test_passes(): pass\ndef test_fails(): assert 0\n"
CLOSING = re.compile(r"=+ 1 failed, 1 passed in [\d.]+s =+")


def only_run(store: Path) -> RunEntry:
    (entry,), problems = RunIndex(store).entries()
    assert problems == []
    return entry


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_the_lines_come_after_the_short_summary_just_above_pytest_s_closing_line(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--otel", *NO_ASYNC)
    run = only_run(suite.path / ".otel-pytest")
    assert result.outlines[-5:-1] == [
        "=========================== short test summary info ============================",
        "FAILED test_suite.py::test_fails - assert 0",
        f"otel: run {run.run_id}: 2 tests, {run.spans} spans in .otel-pytest",
        "otel: next: otel-pytest analyze",
    ]
    assert CLOSING.fullmatch(result.outlines[-1])


def test_quiet_drops_the_hint_and_very_quiet_prints_nothing(suite: pytest.Pytester) -> None:
    quiet = suite.runpytest("--otel", *NO_ASYNC, "-q")
    run = only_run(suite.path / ".otel-pytest")
    assert quiet.outlines[-2] == f"otel: run {run.run_id}: 2 tests, {run.spans} spans in .otel-pytest"
    assert re.fullmatch(r"1 failed, 1 passed in [\d.]+s", quiet.outlines[-1])
    very_quiet = suite.runpytest("--otel", *NO_ASYNC, "-qq")
    assert not [line for line in very_quiet.outlines if line.startswith("otel:")]
    assert very_quiet.outlines[-1] == "FAILED test_suite.py::test_fails - assert 0"


def test_very_quiet_still_prints_the_warnings(suite: pytest.Pytester) -> None:
    (suite.path / "blocker").write_text("a file where the store folder should go")
    result = suite.runpytest("--otel", *NO_ASYNC, "-qq", "--otel-store=blocker/store")
    lines = [line for line in result.outlines if line.startswith("otel:")]
    assert len(lines) == 1
    assert lines[0].startswith("otel: warning: cannot write the trace store at ")


def test_without_otel_nothing_is_printed(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*NO_ASYNC)
    assert CLOSING.fullmatch(result.outlines[-1])
    assert result.outlines[-2] == "FAILED test_suite.py::test_fails - assert 0"


def test_a_store_that_analyze_would_not_find_is_named_in_the_hint(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = suite.runpytest("--otel", *NO_ASYNC, "--otel-store=traces")
    assert flag.outlines[-2] == "otel: next: otel-pytest analyze --store traces"
    tests = suite.mkdir("tests")
    (suite.path / "test_suite.py").rename(tests / "test_suite.py")
    monkeypatch.chdir(tests)
    # From tests/, with no configuration file, pytest's rootdir (and the store) is the
    # folder above only because the path argument says so; analyze, without it, would not.
    above = suite.runpytest("--otel", *NO_ASYNC, str(suite.path))
    assert above.outlines[-2] == "otel: next: otel-pytest analyze --store ../.otel-pytest"
    suite.makeini("[pytest]\notel_store = .cache/otel\n")
    configured = suite.runpytest("--otel", *NO_ASYNC)
    run = only_run(suite.path / ".cache" / "otel")
    assert configured.outlines[-3:-1] == [
        f"otel: run {run.run_id}: 2 tests, {run.spans} spans in ../.cache/otel",
        "otel: next: otel-pytest analyze",
    ]


def test_with_a_jaeger_url_the_hint_links_to_the_run_s_traces_there(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop tests")
    with HttpReceiver() as receiver:
        result = suite.runpytest(
            "--otel", *NO_ASYNC, f"--otel-endpoint={receiver.endpoint}", "--otel-jaeger-url=http://ci:pw@jaeger:16686/"
        )
    run = only_run(suite.path / ".otel-pytest")
    assert len(receiver.spans()) == run.spans
    assert result.outlines[-3:-1] == [
        f"otel: run {run.run_id}: 2 tests, {run.spans} spans in .otel-pytest, exported to {receiver.endpoint}",
        "otel: next: otel-pytest analyze, or see the traces at http://jaeger:16686/search?service=shop+tests"
        f"&tags=%7B%22pytest.run.id%22%3A%22{run.run_id}%22%7D",
    ]


def test_a_jaeger_url_without_an_endpoint_gives_no_link(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--otel", *NO_ASYNC, "--otel-jaeger-url=http://jaeger:16686")
    assert result.outlines[-2] == "otel: next: otel-pytest analyze"


def test_after_an_internal_error_the_lines_still_come(suite: pytest.Pytester) -> None:
    """pytest skips the terminal summary then; the plugin prints them at unconfigure."""
    suite.makeconftest("def pytest_collection_finish(session):\n    raise RuntimeError('boom')\n")
    result = suite.runpytest("--otel", *NO_ASYNC)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    run = only_run(suite.path / ".otel-pytest")
    assert run.spans == 1  # the session span alone: and one span is said as one
    assert result.outlines[-2:] == [
        f"otel: run {run.run_id}: 0 tests, 1 span in .otel-pytest",
        "otel: next: otel-pytest analyze",
    ]


def test_the_jaeger_search_url_names_the_service_and_the_run_id_tag() -> None:
    assert jaeger_search_url("https://jaeger.example/ui", "api", "00ff00ff00ff00ff") == (
        "https://jaeger.example/ui/search?service=api&tags=%7B%22pytest.run.id%22%3A%2200ff00ff00ff00ff%22%7D"
    )
