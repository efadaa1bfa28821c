"""The canonical JSON report: a golden file, a lossless round trip, and a documented schema."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.detectors import cleanup, connections, durations, fixtures, schema
from otel_pytest.analyze.findings import Claim, Finding, Location, Measurement, Written
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.json_report import SCHEMA, SCHEMA_VERSION, from_data, loads, render, to_data
from otel_pytest.analyze.report.words import words
from tests.analyze.detectors.runs import slow_shop_run
from tests.analyze.detectors.series_runs import history as series_history
from tests.analyze.detectors.series_runs import name, timings
from tests.analyze.report.samples import (
    ACTING,
    ACTING_NOTE,
    ENGINE_PER_TEST,
    FIXED,
    FLAKY,
    IMPROVEMENT,
    NEW_COUNT,
    REGRESSION,
    SCHEMA_PER_TEST,
    SUITE_SETUP,
    acting_analysis,
    empty_analysis,
    fold_analysis,
    run_id,
    sample_analysis,
    status_analysis,
)

ROOT = Path(__file__).parents[3]
GOLDEN = ROOT / "tests" / "golden" / "analysis_report.json"
SCHEMA_DOC = ROOT / "docs" / "report-schema.md"


def test_the_report_of_a_constructed_analysis_matches_the_golden_file() -> None:
    """Regenerate after a deliberate change with ``UPDATE_GOLDEN=1 pytest tests/analyze/report/test_json_report.py``
    (and, if a field changed meaning, a new schema version)."""
    text = render(sample_analysis())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_report_is_self_describing_and_versioned() -> None:
    data = json.loads(render(sample_analysis()))
    assert (data["schema"], data["version"]) == (SCHEMA, SCHEMA_VERSION) == ("otel-pytest-analysis", 2)
    assert data["summary"] == {
        "findings": 6,
        "by_severity": {"high": 2, "medium": 2, "low": 2},
        "by_kind": {"connection": 1, "regression": 1, "schema": 1, "cleanup": 1, "n+1": 1, "flaky": 1},
        "provisional": 1,
        "total_saving": pytest.approx(18.4 + 0.105 + 14.8 + 6.1 + 0.028),
    }


def test_reading_the_report_back_gives_the_same_analysis() -> None:
    analysis = sample_analysis()
    assert loads(render(analysis)) == analysis
    assert loads(render(empty_analysis())) == empty_analysis()
    assert loads(render(Analysis(findings=(), runs_analyzed=0, current_run=None))).current_run is None


def test_the_output_is_deterministic_and_ends_with_a_newline() -> None:
    assert render(sample_analysis()) == render(sample_analysis())
    assert render(sample_analysis()).endswith("}\n")


def test_numbers_that_are_not_finite_are_written_as_null_and_read_back_as_nan() -> None:
    odd = Finding(
        kind="count",
        severity="high",
        location=Location(test="t"),
        measurements=(Measurement("ratio", math.inf, "ratio", baseline=math.nan),),
        detail=Written(title="queries went from 0 to 12", confidence="exact count", suggestion="fix"),
        saving=math.nan,
        history=(("r1", math.inf), ("r2", 1.0)),
    )
    text = render(Analysis(findings=(odd,), runs_analyzed=2, current_run="r2"))
    data = json.loads(text)  # strict JSON: no NaN or Infinity tokens
    assert "NaN" not in text
    assert "Infinity" not in text
    (finding,) = data["findings"]
    assert finding["measurements"] == [
        {"key": "ratio", "name": "ratio", "value": None, "unit": "ratio", "baseline": None}
    ]
    assert (finding["saving"], finding["history"][0]["value"]) == (None, None)
    assert data["summary"]["total_saving"] is None
    back = loads(text).findings[0]
    assert math.isnan(back.measurements[0].value)
    assert math.isnan(back.saving)


def test_text_is_kept_as_is_in_utf8() -> None:
    title = 'café <script>alert("x")</script> \\ "quoted"'
    finding = Finding(
        kind="flaky",
        severity="low",
        location=Location(test="t[ü]"),
        measurements=(),
        detail=Written(title=title, confidence="c", suggestion="s"),
    )
    text = render(Analysis(findings=(finding,), runs_analyzed=1, current_run="r"))
    assert "café" in text
    assert json.loads(text)["findings"][0]["title"] == title


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "something-else"}, "not an otel-pytest analysis report"),
        ({"version": 3}, "report version 3 is not supported; this otel-pytest reads versions 1 and 2"),
        ({"findings": [{"kind": "count"}]}, "malformed analysis report"),
        ({"runs_analyzed": None}, "malformed analysis report"),
    ],
)
def test_a_report_of_another_schema_version_or_shape_is_refused(change: dict[str, Any], message: str) -> None:
    data = {**to_data(sample_analysis()), **change}
    with pytest.raises(ValueError, match=message):
        from_data(data)


def test_a_report_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="the top level is not an object"):
        loads("[]")


def test_unknown_fields_are_ignored_so_newer_minor_additions_can_be_read() -> None:
    data = to_data(Analysis(findings=(ENGINE_PER_TEST,), runs_analyzed=1, current_run="r"))
    data["added_later"] = {"x": 1}
    data["findings"][0]["added_later"] = True
    assert from_data(data).findings == (ENGINE_PER_TEST,)


def _keys(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def test_every_field_of_the_report_is_documented_in_the_schema_doc() -> None:
    data = to_data(sample_analysis())
    # Keys that are data, not fields: severity and kind names in the summary, evidence keys.
    values = {"high", "medium", "low", "connection", "regression", "schema", "cleanup", "n+1", "flaky"}
    fields = _keys(data, set()) - values
    documented = set(re.findall(r"^\| `([^`]+)` \|", SCHEMA_DOC.read_text(encoding="utf-8"), flags=re.M))
    assert fields - documented == set()
    assert {"change_point_run", "change_point_revision", "history_unit"} <= documented


def test_control_characters_are_data_kept_exactly_and_the_text_is_valid_utf8_json() -> None:
    text = render(acting_analysis())
    text.encode("utf-8")  # a lone surrogate would make this raise
    assert "\\udcff" in text
    data = json.loads(text)
    assert data["findings"][0]["title"] == words(ACTING).title
    assert data["findings"][0]["location"]["fixture"] == "db\x1b[31m"
    assert data["notes"] == [ACTING_NOTE]
    assert loads(text).findings[0] == ACTING


def test_a_detectors_finding_adds_its_facts_and_reads_back_to_the_same_words() -> None:
    run = slow_shop_run()
    finding = schema.detect(History(runs=(run,)), AnalysisOptions())[0]
    analysis = Analysis(findings=(finding,), runs_analyzed=1, current_run=run.run_id)

    data = to_data(analysis)
    detail = data["findings"][0]["detail"]
    assert detail == {
        "type": "SchemaRebuild",
        "fixture": {"name": "schema", "scope": "function", "places": []},
        "setups": 28,
        "ddl": 224.0,
        "cost": finding.saving * 28 / 27,
        "verbs": ["CREATE", "DROP"],
        "truncating": False,
        "ddl_setups": 28,
        "connection_setup": 0.2492,
        "connection_counted": True,
    }
    again = to_data(from_data(data))
    assert "detail" not in again["findings"][0]
    del data["findings"][0]["detail"]
    assert again == data


def test_each_finding_has_its_stable_id_and_its_state_since_when_and_for_how_long() -> None:
    data = to_data(status_analysis())
    states = [
        {name: finding[name] for name in ("id", "kind", "key", "status", "began", "ended", "age")}
        for finding in data["findings"]
    ]
    assert states == [
        {
            "id": NEW_COUNT.id,
            "kind": "count",
            "key": "",
            "status": "open",
            "began": {"run": run_id(24), "revision": "9c1d2e3f4a5b6c7d8e9f"},
            "ended": None,
            "age": 1,
        },
        {
            "id": REGRESSION.id,
            "kind": "regression",
            "key": "test",
            "status": "open",
            "began": {"run": run_id(18), "revision": "9c1d2e3f4a5b6c7d8e9f"},
            "ended": None,
            "age": 7,
        },
        {
            "id": FIXED.id,
            "kind": "regression",
            "key": "fixture setup",
            "status": "closed",
            "began": {"run": run_id(3), "revision": "1111111111aaaaaaaaaa"},
            "ended": {"run": run_id(10), "revision": "2222222222bbbbbbbbbb"},
            "age": 22,
        },
        {
            "id": IMPROVEMENT.id,
            "kind": "improvement",
            "key": "",
            "status": "open",
            "began": {"run": run_id(19), "revision": "3333333333cccccccccc"},
            "ended": None,
            "age": 6,
        },
    ]
    assert all(re.fullmatch(r"[0-9a-f]{12}", state["id"]) for state in states)
    assert loads(render(status_analysis())) == status_analysis()


def test_each_finding_lists_the_named_costs_its_saving_claims_and_the_total_is_their_union() -> None:
    connecting = "fixture tests/conftest.py::engine: connection set-up"
    engine = replace(ENGINE_PER_TEST, saving=18.4, claims=(Claim(connecting, 18.4),))
    schema_finding = replace(
        SCHEMA_PER_TEST,
        saving=14.8,
        claims=(Claim(connecting, 2.5), Claim("fixture tests/conftest.py::db: other work", 12.3)),
    )
    analysis = Analysis(findings=(engine, schema_finding, FLAKY), runs_analyzed=25, current_run=run_id(24))

    data = to_data(analysis)

    assert [finding["claims"] for finding in data["findings"]] == [
        [{"cost": connecting, "seconds": 18.4}],
        [
            {"cost": connecting, "seconds": 2.5},
            {"cost": "fixture tests/conftest.py::db: other work", "seconds": 12.3},
        ],
        [],
    ]
    assert data["summary"]["total_saving"] == 18.4 + 12.3  # the engine's connection set-up counted once
    again = loads(render(analysis))
    assert again.findings[1].claims == schema_finding.claims
    assert again.total_saving == analysis.total_saving


def test_the_same_finding_in_two_runs_has_the_same_id_and_another_finding_another() -> None:
    later = replace(
        REGRESSION,
        measurements=(Measurement("median duration", 0.5, "s", baseline=0.3),),
        location=replace(REGRESSION.location, line=57),  # code added above the test
        history=(),
        age=8,
    )
    first = to_data(Analysis(findings=(REGRESSION,), runs_analyzed=25, current_run="a"))["findings"][0]["id"]
    second = to_data(Analysis(findings=(later,), runs_analyzed=26, current_run="b"))["findings"][0]["id"]
    assert first == second
    other_series = replace(REGRESSION, key="fixture setup")
    assert len({REGRESSION.id, other_series.id, FIXED.id, NEW_COUNT.id, IMPROVEMENT.id}) == 5


def test_measurements_have_machine_keys_given_or_derived_from_their_names() -> None:
    data = to_data(sample_analysis())
    keys = {finding["kind"]: [m["key"] for m in finding["measurements"]] for finding in data["findings"]}
    assert keys["connection"] == [
        "engines_created",
        "physical_connections",
        "connection_time",
        "share_of_database_time",
    ]
    assert keys["regression"] == ["median_duration", "ratio", "p_mann_whitney"]


def test_every_measurement_a_detector_makes_has_a_distinct_well_formed_key() -> None:
    run = slow_shop_run()
    history = History(runs=(run,))
    findings = [
        finding
        for detector in (schema.detect, connections.detect, cleanup.detect, fixtures.detect)
        for finding in detector(history, AnalysisOptions())
    ]
    assert {finding.kind for finding in findings} >= {"schema", "connection", "cleanup", "fixture"}
    for finding in findings:
        keys = [item.key for item in finding.measurements]
        assert len(set(keys)) == len(keys), keys
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in keys), keys


def test_a_version_1_report_still_reads_its_findings_open_and_their_keys_derived() -> None:
    data = to_data(Analysis(findings=(ENGINE_PER_TEST,), runs_analyzed=1, current_run="r"))
    data["version"] = 1
    for finding in data["findings"]:
        for field in ("id", "key", "status", "began", "ended", "age"):
            del finding[field]
        for item in finding["measurements"]:
            del item["key"]
    (finding,) = from_data(data).findings
    assert finding == ENGINE_PER_TEST
    assert (finding.status, finding.began, finding.age) == ("open", None, None)
    assert finding.measurements[0].key == "engines_created"


def test_names_with_an_aside_that_would_make_a_poor_key_get_explicit_keys() -> None:
    matrix = timings(7, tests=20, runs=30)
    matrix[3, 25:] *= 3
    regressions = durations.detect(series_history(matrix), AnalysisOptions())
    (slower,) = [finding for finding in regressions if finding.location.test == name(3)]
    assert [item.key for item in slower.measurements if item.unit == "p"] == ["p_value", "q_value"]
    # What varies, in the words of the name, stays in the key when it tells measurements apart.
    widen = fixtures.detect(History(runs=(slow_shop_run(),)), AnalysisOptions())
    assert "setups_with_scope_module" in [item.key for finding in widen for item in finding.measurements]


def test_every_folded_finding_is_kept_and_names_the_finding_it_is_folded_under() -> None:
    data = to_data(fold_analysis())

    assert [(finding["kind"], finding["key"], finding["folded_under"]) for finding in data["findings"]] == [
        ("regression", "test", None),  # a regression is never folded, even one that began at the fix
        ("improvement", "suite setup", None),
        ("improvement", "test", SUITE_SETUP.id),
        ("improvement", "test", SUITE_SETUP.id),
        ("improvement", "test", SUITE_SETUP.id),
        ("improvement", "fixture setup", SUITE_SETUP.id),
        ("improvement", "statement", None),  # it began in a later run
    ]
    assert to_data(loads(render(fold_analysis())))["findings"] == data["findings"]
