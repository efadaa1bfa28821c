"""The pattern detectors are pure: no pytest, no I/O, the same answer every time."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.detectors import Detector, cleanup, connections, fixtures, flaky, n_plus_one, schema
from otel_pytest.analyze.findings import KINDS, SEVERITIES
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import history, slow_shop_run

DETECTORS = (connections.detect, schema.detect, cleanup.detect, n_plus_one.detect, fixtures.detect, flaky.detect)
MODULES = ("connections", "schema", "cleanup", "n_plus_one", "fixtures", "flaky")


@pytest.mark.parametrize("detect", DETECTORS, ids=MODULES)
def test_a_detector_gives_the_same_findings_every_time_with_known_kinds_and_severities(detect: Detector) -> None:
    data = history(slow_shop_run("r1"), slow_shop_run("r2"))

    first, second = detect(data, AnalysisOptions()), detect(data, AnalysisOptions())

    assert first == second
    assert all(finding.kind in KINDS and finding.severity in SEVERITIES for finding in first)
    assert all(finding.saving >= 0 for finding in first)
