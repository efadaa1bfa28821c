"""The runs of a service read from a real Jaeger: the same summaries as the local store's,
complete runs fetched once and then read from the cache, runs still being written never
cached, and the branch and ``--last`` filters applied before anything is fetched."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from otel_pytest.analyze.jaeger_source import JaegerSource
from otel_pytest.analyze.model import RunSummary
from otel_pytest.analyze.sources import StoreSource
from otel_pytest.store.jaeger import JaegerQuery
from tests.jaeger_api import CountingProxy, ExportedRun, run_suite, send, span, wait_for_runs
from tests.jaeger_server import JaegerServer

SERVICE = "jaeger-source-suite"
HOUR = 3600.0


@pytest.fixture(scope="module")
def exported(jaeger: JaegerServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ExportedRun]]:
    """Four runs of a small suite, in one local store and exported to Jaeger."""
    folder = tmp_path_factory.mktemp("exported")
    runs = [run_suite(folder, jaeger, SERVICE, branch="main", regression=False) for _ in range(4)]
    wait_for_runs(jaeger, SERVICE, runs)
    return folder / ".otel-pytest", runs


def source(url: str, cache: Path | None, *, settle: float = 0.0, **filters: object) -> JaegerSource:
    query = JaegerQuery(url, timeout=10)
    return JaegerSource(query, SERVICE, since=HOUR, cache_dir=cache, settle=settle, **filters)  # type: ignore[arg-type]


def without_source(runs: list[RunSummary]) -> list[RunSummary]:
    """Summaries without where they were read and when the run started: the store's index
    dates a run from its process's start, a reader of spans from its session span's."""
    return [replace(run, source="", start_time=0.0) for run in runs]


def test_runs_read_from_jaeger_are_summarised_as_the_store_summarises_them(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]]
) -> None:
    store, runs = exported
    from_jaeger = list(source(jaeger.query, None, last=10).runs())
    from_store = list(StoreSource(store, cache=False).runs())
    assert [run.run_id for run in from_jaeger] == [run.run_id for run in runs]
    assert without_source(from_jaeger) == without_source(from_store)
    assert {run.source for run in from_jaeger} == {jaeger.query}


def test_complete_runs_are_fetched_once_then_read_from_the_cache(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]], tmp_path: Path
) -> None:
    _store, runs = exported
    with CountingProxy(jaeger.query) as proxy:
        first = source(proxy.url, tmp_path, last=10)
        cold = list(first.runs())
        listing = len(proxy.paths)
        second = source(proxy.url, tmp_path, last=10)
        warm = list(second.runs())
    assert first.fetched == [run.run_id for run in runs]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{run.run_id}.json" for run in runs)
    # The second analysis asks for the list of session traces, and nothing else.
    (asked,) = proxy.paths[listing:]
    assert parse_qs(urlsplit(asked).query)["query.operation_name"] == ["pytest session"]
    assert second.fetched == []
    assert warm == cold


def test_a_cached_summary_of_another_schema_is_fetched_again(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]], tmp_path: Path
) -> None:
    _store, runs = exported
    list(source(jaeger.query, tmp_path, last=10).runs())
    stale = tmp_path / f"{runs[0].run_id}.json"
    stale.write_bytes(orjson.dumps({**orjson.loads(stale.read_bytes()), "schema": "0"}))
    again = source(jaeger.query, tmp_path, last=10)
    list(again.runs())
    assert again.fetched == [runs[0].run_id]


def test_a_run_that_ended_moments_ago_is_not_cached(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]], tmp_path: Path
) -> None:
    _store, runs = exported
    list(source(jaeger.query, tmp_path, settle=HOUR, last=10).runs())
    again = source(jaeger.query, tmp_path, settle=HOUR, last=10)
    list(again.runs())
    assert again.fetched == [run.run_id for run in runs]
    assert list(tmp_path.iterdir()) == []


def test_only_the_newest_runs_asked_for_are_fetched(
    jaeger: JaegerServer, exported: tuple[Path, list[ExportedRun]]
) -> None:
    _store, runs = exported
    newest = source(jaeger.query, None, last=2)
    assert [run.run_id for run in newest.runs()] == [run.run_id for run in runs[-2:]]
    assert newest.fetched == [run.run_id for run in runs[-2:]]
    assert newest.problems == ["left out 2 older run(s): read the newest 2 (--last)"]


def hand_made_run(jaeger: JaegerServer, service: str, number: int, branch: str, *, worker_only: bool = False) -> str:
    """A run of one test, in Jaeger: its session span (or only an xdist worker's) and the
    test's trace."""
    run_id = f"{number:016x}"
    start = time.time_ns() - 600 * 10**9 + number * 10**9
    session_trace, test_trace = f"{number:031x}a", f"{number:031x}b"
    session = {"pytest.run.id": run_id, **({"pytest.xdist.worker": "gw0"} if worker_only else {})}
    spans = [
        span(session_trace, f"{number:015x}a", "pytest session", start, **session),
        span(test_trace, f"{number:015x}b", "t", start + 1, **{"pytest.run.id": run_id, "test.case.name": "t"}),
    ]
    send(jaeger, service, spans, **{"vcs.ref.head.name": branch})
    jaeger.poll(f"/api/v3/traces/{test_trace}", lambda answer: True)
    return run_id


def test_runs_of_other_branches_are_left_out_and_counted(jaeger: JaegerServer) -> None:
    service = "jaeger-source-branches"
    ids = [hand_made_run(jaeger, service, number, branch) for number, branch in ((1, "main"), (2, "f"), (3, "main"))]
    reader = JaegerSource(JaegerQuery(jaeger.query, timeout=10), service, since=HOUR, last=10, branch="main")
    assert [run.run_id for run in reader.runs()] == [ids[0], ids[2]]
    assert reader.problems == ["left out 1 run(s) of other branches than 'main' (--branch)"]
    assert [run.branch for run in reader.runs()] == ["main", "main"]


def test_a_run_whose_session_span_is_missing_is_left_out_and_said(jaeger: JaegerServer, tmp_path: Path) -> None:
    service = "jaeger-source-unfinished"
    run_id = hand_made_run(jaeger, service, 7, "main", worker_only=True)
    reader = JaegerSource(JaegerQuery(jaeger.query, timeout=10), service, since=HOUR, last=10, cache_dir=tmp_path)
    assert list(reader.runs()) == []
    assert reader.problems == [
        f"run {run_id}: its session span is not in Jaeger (the run is still running, or its export was cut off): "
        "left out"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_service_without_runs_is_one_problem(jaeger: JaegerServer) -> None:
    reader = JaegerSource(JaegerQuery(jaeger.query, timeout=10), "nobody-here", since=HOUR, last=10)
    assert list(reader.runs()) == []
    assert reader.problems == [
        f"Jaeger {jaeger.query} (service 'nobody-here', the last 1h): no runs (no 'pytest session' spans); "
        "check --service and --since, and that the tests export there (pytest --otel --otel-endpoint URL)"
    ]
