"""The detectors are pure: no I/O, no words (nothing of the report package), the same answer every time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from otel_pytest.analyze.detectors import Detector, cleanup, connections, fixtures, flaky, n_plus_one, schema
from otel_pytest.analyze.findings import KINDS, SEVERITIES
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import history, slow_shop_run

DETECTORS = (connections.detect, schema.detect, cleanup.detect, n_plus_one.detect, fixtures.detect, flaky.detect)
MODULES = ("connections", "schema", "cleanup", "n_plus_one", "fixtures", "flaky")
EVERY_MODULE = (*MODULES, "durations", "counts")


def test_the_detectors_import_nothing_of_the_report_package_which_words_their_findings() -> None:
    imports = "; ".join(f"import otel_pytest.analyze.detectors.{name}" for name in EVERY_MODULE)
    code = f"import sys; {imports}; print(sorted(n for n in sys.modules if n.startswith('otel_pytest.analyze.report')))"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("detect", DETECTORS, ids=MODULES)
def test_a_detector_gives_the_same_findings_every_time_with_known_kinds_and_severities(detect: Detector) -> None:
    data = history(slow_shop_run("r1"), slow_shop_run("r2"))

    first, second = detect(data, AnalysisOptions()), detect(data, AnalysisOptions())

    assert first == second
    assert all(finding.kind in KINDS and finding.severity in SEVERITIES for finding in first)
    assert all(finding.saving >= 0 for finding in first)
