"""Numbers with units and the sentences every human-facing report shares.

The one formatter of durations (:func:`seconds`), of counts (:func:`number`) and the one
marker of an unknown value (:data:`UNKNOWN`) for every format and every finding's words
(:mod:`~otel_pytest.analyze.report.words`). Plain text only: each renderer escapes the
result for its own format, starting from :func:`visible`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import SEVERITIES, Finding, Measurement
from otel_pytest.plural import plural

# Between a number and its unit, so that no renderer wraps "62 %" into "62" and "%".
NBSP = "\u00a0"
TIMES = "\u00d7"  # the multiplication sign after a ratio: "1.34" + TIMES
DASH = "\u2013"  # an en dash: "no value" in a table cell
UNKNOWN = "n/a"  # a number that is not known (not finite), wherever one is shown

# Characters that act instead of showing: C0 controls but tab and newline (ESC starts
# terminal sequences: clear the screen, set the window title; CR overwrites a line),
# DEL, C1 controls (CSI and OSC as one byte), the bidirectional controls that reorder
# what is shown (U+202E writes the rest backwards), zero-width and invisible
# formatting characters, line and paragraph separators, and lone surrogates (a file
# name that is not UTF-8), which no encoding can write.
_ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every character that would act on a terminal, a page or the order
    of what is shown written as its escape (``\\x1b``, ``\\r``, ``\\u202e``), as Python and
    pytest write such characters in test ids. Tab and newline stay: each format lays them out."""
    return _ACTING.sub(_escaped, text)


def seconds(value: float) -> str:
    """A duration for reading: ``850 µs``, ``12.5 ms``, ``340 ms``, ``1.32 s``, ``41.2 s``, ``2 min 05 s``."""
    if not math.isfinite(value):
        return UNKNOWN
    size = abs(value)
    if size == 0:
        return f"0{NBSP}s"
    if size < 1e-3:
        return f"{value * 1e6:.0f}{NBSP}µs"
    if size < 0.01:
        return f"{value * 1e3:.1f}{NBSP}ms"
    if size < 1:
        return f"{value * 1e3:.0f}{NBSP}ms"
    if size < 10:
        return f"{value:.2f}{NBSP}s"
    if size < 60:
        return f"{value:.1f}{NBSP}s"
    minutes, rest = divmod(round(size), 60)
    sign = "-" if value < 0 else ""
    return f"{sign}{minutes}{NBSP}min {rest:02d}{NBSP}s"


def about_seconds(value: float) -> str:
    """An estimate, to two significant figures: ``~41 s``, ``~1.2 s``, ``~350 ms``."""
    if not math.isfinite(value) or value <= 0:
        return "~0 s"
    rounded = float(f"{value:.2g}")
    if rounded < 1e-3:
        return f"~{_two_figures(rounded * 1e6)}{NBSP}µs"
    if rounded < 1:
        return f"~{_two_figures(rounded * 1e3)}{NBSP}ms"
    if rounded < 60:
        return f"~{_two_figures(rounded)}{NBSP}s"
    return f"~{seconds(rounded)}"


def _two_figures(amount: float) -> str:
    """``41``, ``1.2``, ``350``: at most two significant figures, never in exponent form."""
    return f"{amount:.0f}" if amount >= 10 else f"{float(f'{amount:.2g}'):g}"


def number(value: float) -> str:
    """A count or plain number: ``12``, ``12.5``, ``0.25``, ``1,204``."""
    if not math.isfinite(value):
        return "∞" if value > 0 else "-∞" if value < 0 else UNKNOWN
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def value(amount: float, unit: str) -> str:
    """``amount`` in ``unit`` ("s", "count", "%", "ratio", "p" or any other label)."""
    if unit == "s":
        return seconds(amount)
    if not math.isfinite(amount):
        return number(amount)
    if unit == "count":
        return number(amount)
    if unit == "%":
        return f"{amount:.1f}{NBSP}%" if abs(amount) < 10 else f"{amount:.0f}{NBSP}%"
    if unit == "ratio":
        return f"{amount:.2f}{TIMES}"
    if unit == "p":
        return f"{amount:.1e}" if 0 < amount < 1e-4 else f"{amount:.2g}"
    return f"{number(amount)}{NBSP}{unit}"


def measurement(item: Measurement) -> str:
    """``median duration 1.32 s (baseline 980 ms)``; a p-value reads ``p = 0.0004``."""
    if item.unit == "p":
        text = f"{item.name} = {value(item.value, item.unit)}"
    else:
        text = f"{item.name} {value(item.value, item.unit)}"
    if item.baseline is not None:
        text += f" (baseline {value(item.baseline, item.unit)})"
    return text


def by_severity(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings grouped by severity, most severe first, keeping their order; empty groups left out."""
    groups = [(severity, [f for f in findings if f.severity == severity]) for severity in SEVERITIES]
    return [(severity, members) for severity, members in groups if members]


def in_severity_order(findings: Sequence[Finding]) -> list[Finding]:
    """The findings as every view lists them: grouped by severity, most severe first, in
    the analysis's order within a group (already by saving for an analysis from ``analyze``)."""
    return [finding for _, group in by_severity(findings) for finding in group]


def headline(analysis: Analysis) -> str:
    """What was analyzed: ``run 7f3a0c9e1b2d4a6f (revision 0123456789), 25 runs``."""
    if analysis.current_run is None:
        return "no runs analyzed"
    revision = f" (revision {analysis.current_revision[:12]})" if analysis.current_revision else ""
    return f"run {analysis.current_run}{revision}, {plural(analysis.runs_analyzed, 'run')} analyzed"


def saving_sentence(findings: Sequence[Finding]) -> str | None:
    """``Fixing these 3 findings saves ~41 s per run.``, or None when none has an estimate."""
    saving = [finding for finding in findings if finding.saving > 0]
    if not saving:
        return None
    total = about_seconds(sum(finding.saving for finding in saving))
    if len(saving) == len(findings):
        these = "this finding" if len(saving) == 1 else f"these {len(saving)} findings"
        return f"Fixing {these} saves {total} per run."
    return f"Fixing the {plural(len(saving), 'finding')} with a saving estimate saves {total} per run."


def summary(analysis: Analysis) -> list[str]:
    """The opening sentences: how many findings, what fixing them saves, and how sure they are.

    Honest in the corner cases: no runs, no findings (and how many runs that rests on), and
    findings that are only provisional because the history is short.
    """
    findings = analysis.findings
    if analysis.current_run is None:
        return ["No runs to analyze."]
    if not findings:
        earlier = analysis.runs_analyzed - 1
        if earlier <= 0:
            return ["No findings, but there was only this one run: nothing to compare it with yet."]
        return [f"No findings: run {analysis.current_run} was compared with {plural(earlier, 'earlier run')}."]
    counts = ", ".join(f"{len(group)} {severity}" for severity, group in by_severity(findings))
    lines = [f"{plural(len(findings), 'finding')} ({counts})."]
    saving = saving_sentence(findings)
    if saving:
        lines.append(saving)
    provisional = sum(1 for finding in findings if finding.provisional)
    if provisional:
        share = (
            "All findings are"
            if provisional == len(findings)
            else (
                f"{provisional} of {len(findings)} findings are"
                if provisional > 1
                else f"1 of {len(findings)} findings is"
            )
        )
        if provisional == len(findings) == 1:
            share = "The finding is"
        them = "it as a lead; it does" if provisional == 1 else "them as leads; they do"
        lines.append(
            f"{share} provisional: too little history for the statistical test, so a simple comparison "
            f"was used. Treat {them} not fail the CI gate."
        )
    return lines
