"""The canonical report: an :class:`Analysis` as versioned JSON, and back.

The schema is documented field by field in ``docs/report-schema.md``. Compatibility rule:
within one ``version`` fields are only ever added, never renamed, retyped or removed;
readers must ignore fields they do not know. Durations are seconds. Numbers that are not
finite (an infinite ratio against a zero baseline) are written as ``null``, since JSON
has no spelling for them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from otel_pytest.analyze.analysis import Analysis, Waterfall, WaterfallBar
from otel_pytest.analyze.findings import Claim, Detail, Finding, Location, Measurement, RunRef, Written
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import words

SCHEMA = "otel-pytest-analysis"
SCHEMA_VERSION = 2
# Versions this module reads: 1 lacks what 2 added (a finding's id, key, status, began,
# ended and age, a measurement's key), which read back as their defaults.
READABLE_VERSIONS = (1, 2)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _location(location: Location) -> dict[str, Any]:
    return {
        "test": location.test,
        "fixture": location.fixture,
        "file": location.file,
        "line": location.line,
        "fingerprint": location.fingerprint,
        "description": location.describe(),
    }


def _measurement(item: Measurement) -> dict[str, Any]:
    return {
        "key": item.key,
        "name": item.name,
        "value": _number(item.value),
        "unit": item.unit,
        "baseline": None if item.baseline is None else _number(item.baseline),
    }


def _plain(value: Any) -> Any:
    """A detail's value as JSON data: non-finite numbers as ``null``, tuples as lists."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _detail(detail: Detail) -> dict[str, Any] | None:
    """The facts the words were made of, typed by ``type`` (e.g. ``DurationRegression``);
    none for a finding whose words were all it had (one read back from a report)."""
    if isinstance(detail, Written):
        return None
    return {"type": type(detail).__name__, **_plain(dataclasses.asdict(detail))}


def _run(run: RunRef | None) -> dict[str, Any] | None:
    return None if run is None else {"run": run.run_id, "revision": run.revision}


def _finding(finding: Finding, folded_under: str | None) -> dict[str, Any]:
    said = words(finding)
    data = {
        "id": finding.id,
        "kind": finding.kind,
        "key": finding.key,
        "severity": finding.severity,
        "status": finding.status,
        "began": _run(finding.began),
        "ended": _run(finding.ended),
        "age": finding.age,
        "folded_under": folded_under,
        "title": said.title,
        "location": _location(finding.location),
        "measurements": [_measurement(item) for item in finding.measurements],
        "confidence": said.confidence,
        "suggestion": said.suggestion,
        "saving": _number(finding.saving),
        "claims": [{"cost": claim.cost, "seconds": _number(claim.seconds)} for claim in finding.claims],
        "provisional": finding.provisional,
        "evidence": {**finding.evidence, **said.evidence},
        "history": [{"run": run, "value": _number(amount)} for run, amount in finding.history],
    }
    detail = _detail(finding.detail)
    if detail is not None:
        data["detail"] = detail
    return data


def _waterfall(waterfall: Waterfall | None) -> dict[str, Any] | None:
    if waterfall is None:
        return None
    return {
        "test": waterfall.test,
        "run": waterfall.run_id,
        "duration": _number(waterfall.duration),
        "omitted": waterfall.omitted,
        "bars": [
            {
                "name": bar.name,
                "start": _number(bar.start),
                "duration": _number(bar.duration),
                "depth": bar.depth,
                "kind": bar.kind,
            }
            for bar in waterfall.bars
        ],
    }


def to_data(analysis: Analysis) -> dict[str, Any]:
    """The report as plain JSON-able data, keys in the documented order."""
    findings = analysis.findings
    under = wording.folded_under(findings)
    by_severity: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for finding in findings:
        by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
        by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "current_run": analysis.current_run,
        "current_revision": analysis.current_revision,
        "runs_analyzed": analysis.runs_analyzed,
        "summary": {
            "findings": len(findings),
            "by_severity": by_severity,
            "by_kind": by_kind,
            "provisional": sum(1 for finding in findings if finding.provisional),
            "total_saving": _number(analysis.total_saving),
        },
        "notes": list(analysis.notes),
        "findings": [_finding(finding, under.get(id(finding))) for finding in findings],
        "waterfall": _waterfall(analysis.waterfall),
    }


def render(analysis: Analysis) -> str:
    """The report as indented UTF-8 JSON text ending in a newline.

    Text is data here and kept exactly, control characters included (JSON escapes C0
    ones itself). A lone surrogate (from a file name that is not UTF-8) has no UTF-8
    form: it is written as its JSON escape, which reads back as the same string.
    """
    text = json.dumps(to_data(analysis), indent=2, ensure_ascii=False, allow_nan=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


# Reading a report back: the JSON is the canonical form, so any view can be drawn from a
# saved report (e.g. a CI artifact) without the history it came from.


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _run_back(value: Mapping[str, Any] | None) -> RunRef | None:
    return None if value is None else RunRef(value["run"], value.get("revision"))


def from_data(data: Mapping[str, Any]) -> Analysis:
    """An :class:`Analysis` from :func:`to_data`'s output; ``ValueError`` names what is wrong.

    Non-finite numbers, written as ``null``, come back as NaN.
    """
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not an otel-pytest analysis report (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        readable = " and ".join(str(number) for number in READABLE_VERSIONS)
        raise ValueError(f"report version {version!r} is not supported; this otel-pytest reads versions {readable}")
    try:
        findings = tuple(
            Finding(
                kind=item["kind"],
                severity=item["severity"],
                location=Location(
                    **{key: item["location"].get(key) for key in ("test", "fixture", "file", "line", "fingerprint")}
                ),
                measurements=tuple(
                    Measurement(
                        m["name"],
                        _float(m["value"]),
                        m["unit"],
                        None if m.get("baseline") is None else float(m["baseline"]),
                        m.get("key", ""),
                    )
                    for m in item["measurements"]
                ),
                detail=Written(item["title"], item["confidence"], item["suggestion"]),
                saving=_float(item.get("saving", 0.0)),
                claims=tuple(Claim(claim["cost"], _float(claim["seconds"])) for claim in item.get("claims", ())),
                evidence=dict(item.get("evidence", {})),
                history=tuple((point["run"], _float(point["value"])) for point in item.get("history", ())),
                provisional=bool(item.get("provisional", False)),
                key=item.get("key", ""),
                status=item.get("status", "open"),
                began=_run_back(item.get("began")),
                ended=_run_back(item.get("ended")),
                age=item.get("age"),
            )
            for item in data["findings"]
        )
        plain_waterfall = data.get("waterfall")
        waterfall = None
        if plain_waterfall is not None:
            waterfall = Waterfall(
                test=plain_waterfall["test"],
                run_id=plain_waterfall["run"],
                duration=_float(plain_waterfall["duration"]),
                bars=tuple(
                    WaterfallBar(bar["name"], _float(bar["start"]), _float(bar["duration"]), bar["depth"], bar["kind"])
                    for bar in plain_waterfall["bars"]
                ),
                omitted=int(plain_waterfall.get("omitted", 0)),
            )
        return Analysis(
            findings=findings,
            runs_analyzed=int(data["runs_analyzed"]),
            current_run=data["current_run"],
            notes=tuple(data.get("notes", ())),
            current_revision=data.get("current_revision"),
            waterfall=waterfall,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"malformed analysis report: {type(error).__name__} {error}") from None


def loads(text: str | bytes) -> Analysis:
    """An :class:`Analysis` from a JSON report's text."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("malformed analysis report: the top level is not an object")
    return from_data(data)
