"""Detectors: pure functions of a history and options returning findings.

A detector is ``detect(history, options) -> list[Finding]``: no I/O, no hidden randomness,
no state between calls, and no words: a finding carries data (its ``detail``), and the
report package (``otel_pytest.analyze.report.words``) makes its title, confidence and
suggestion.
"""

from __future__ import annotations

from collections.abc import Callable

from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.model import History
from otel_pytest.analyze.options import AnalysisOptions

Detector = Callable[[History, AnalysisOptions], list[Finding]]
