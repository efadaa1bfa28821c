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
from otel_pytest.analyze.findings import SEVERITIES, Finding, Location, Measurement, RunRef, total_saving
from otel_pytest.plural import plural

# Between a number and its unit, so that no renderer wraps "62 %" into "62" and "%".
NBSP = "\u00a0"
TIMES = "\u00d7"  # the multiplication sign after a ratio: "1.34" + TIMES
DASH = "\u2013"  # an en dash: "no value" in a table cell
UNKNOWN = "n/a"  # a number that is not known (not finite), wherever one is shown
ELLIPSIS = "\u2026"  # where text was cut
REVISION_SHOWN = 12  # characters of a revision shown

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


# The section of findings that are good news: improvements, and regressions that were fixed.
GOOD = "fixed or improved"


def is_good(finding: Finding) -> bool:
    """An improvement, or a finding that held in earlier runs and is gone now."""
    return finding.kind == "improvement" or finding.status == "closed"


def to_save(section: str, findings: Sequence[Finding]) -> float:
    """What fixing a section's findings saves per run: nothing for :data:`GOOD`, which
    holds no fix to make (an improvement's saving is what it saved already)."""
    return 0.0 if section == GOOD else total_saving(findings)  # each cost once


def sections(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    """The findings as every view groups them: first what got better (:data:`GOOD`: after
    a fix the report leads with what it saved), then the open problems by severity, most
    severe first (the order to act in; each line still names its kind), each section in
    the analysis's order (by saving for an analysis from ``analyze``), but for the suite's
    setup improvement, which leads its section: it is what the fix saved in all, and the
    improvements of the tests it sped up fold under it (:func:`folds`). Empty sections are
    left out."""
    good = sorted((finding for finding in findings if is_good(finding)), key=lambda f: not _leads_a_fold(f))
    open_ = by_severity([finding for finding in findings if not is_good(finding)])
    return ([(GOOD, good)] if good else []) + open_


# The series of the suite's setup per run (Finding.key of its duration findings): an
# improvement of it is what a fix of the suite's fixtures saved, and leads a fold.
SUITE_SETUP = "suite setup"


def folds(findings: Sequence[Finding]) -> dict[str, tuple[Finding, ...]]:
    """The findings each view folds under another, by the :attr:`~Finding.id` of the one they
    are folded under: after a fix, the suite's setup improvement and the per-test,
    per-fixture and per-statement improvements of the same step, one change seen from many
    series (31 lines of one fix, else). The same step: the same first faster run
    (``evidence["change_point_run"]``) when the suite's setup improvement names one, for the
    analysis that first reports each series' improvement depends on its noise (one a run
    later than another); else the same ``began``. Only open improvements fold, under an open
    improvement of the suite's setup; regressions and fixed ones never do. The JSON report
    names the lead of each folded finding (``folded_under``)."""
    found = {}
    for lead in findings:
        if not _leads_a_fold(lead) or _step(lead) is None:
            continue
        members = tuple(
            finding
            for finding in findings
            if finding is not lead
            and _may_fold(finding)
            and finding.key != SUITE_SETUP
            and _step(finding) == _step(lead)
        )
        if members:
            found[lead.id] = members
    return found


def _step(finding: Finding) -> tuple[str, str] | None:
    """What tells one fix's improvements apart: ("step", its first faster run), or, when no
    step was located, ("began", the run it began in)."""
    step = finding.evidence.get("change_point_run")
    if step:
        return ("step", step)
    return None if finding.began is None else ("began", finding.began.run_id)


def _may_fold(finding: Finding) -> bool:
    return finding.kind == "improvement" and finding.status == "open"


def _leads_a_fold(finding: Finding) -> bool:
    return _may_fold(finding) and finding.key == SUITE_SETUP


def folded_under(findings: Sequence[Finding]) -> dict[int, str]:
    """For each folded finding (by ``id()`` of the object, as ids of two findings may be
    equal), the :attr:`~Finding.id` of the finding it is folded under."""
    return {id(member): lead for lead, members in folds(findings).items() for member in members}


def unfolded(findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` without the ones :func:`folds` puts under another, in their order."""
    under = folded_under(findings)
    return [finding for finding in findings if id(finding) not in under]


def in_report_order(findings: Sequence[Finding]) -> list[Finding]:
    """The findings as every view lists and numbers them: in :func:`sections` order, the
    findings folded under one (:func:`folds`) right after it."""
    folded = folds(findings)
    return [
        shown
        for _, group in sections(unfolded(findings))
        for finding in group
        for shown in (finding, *folded.get(finding.id, ()))
    ]


def fold_summary(lead: Finding, members: Sequence[Finding]) -> str:
    """``and 29 tests, 2 fixtures faster from the same step (first faster run …)`` (or ``…
    faster since run …``: the run they all began in, when no step is named): what a fold
    holds, counted by what each points at; the lead's own status names the runs' revisions."""
    counts: dict[str, set[str]] = {"test": set(), "fixture": set(), "statement": set(), "other finding": set()}
    for member in members:
        where = member.location
        if where.test:
            counts["test"].add(where.test)
        elif where.fixture:
            counts["fixture"].add(where.fixture)
        elif where.fingerprint:
            counts["statement"].add(where.fingerprint)
        else:
            counts["other finding"].add(member.id)
    named = [plural(len(names), noun) for noun, names in counts.items() if names]
    step = lead.evidence.get("change_point_run")
    if step:
        since = f" from the same step ({step_role(lead.kind)} {step})"
    else:
        since = f" since run {lead.began.run_id}" if lead.began is not None else ""
    return f"and {', '.join(named)} faster{since}"


def run_named(run: RunRef) -> str:
    """``run 7f3a0c9e1b2d4a6f (revision 9c1d2e3f4a5b)``."""
    return f"run {_run_and_revision(run)}"


def _run_and_revision(run: RunRef) -> str:
    return run.run_id + (f" (revision {run.revision[:REVISION_SHOWN]})" if run.revision else "")


# A duration finding names two runs: ``began``, the first whose analysis reported it (its
# start, what "since" and "new in" name and the gate counts from), and the step, the first
# run at the changed level (``evidence["change_point_run"]``), which is often a run or two
# earlier: it takes runs at the new level before a test can tell them from noise. Every
# view names the step by what it is, never as a second "since".
_FIRST_CHANGED_RUN = {"regression": "first slower run", "improvement": "first faster run"}


def step_role(kind: str) -> str:
    """What the step's run is to a finding of ``kind``: ``first slower run``, ``first faster run``."""
    return _FIRST_CHANGED_RUN.get(kind, "first changed run")


def first_changed(finding: Finding) -> str | None:
    """``first slower run … (revision …)``: the run where a duration finding's step
    happened, when it is not the run the finding began in (then "since" says it); None
    when the finding names no step."""
    run = finding.evidence.get("change_point_run")
    if not run or (finding.began is not None and finding.began.run_id == run):
        return None
    return f"{step_role(finding.kind)} {_run_and_revision(RunRef(run, finding.evidence.get('change_point_revision')))}"


def state(finding: Finding) -> str | None:
    """Since when a finding holds, or when it was fixed, in full: ``open since run … (revision
    …), 7 runs``, ``new in run …``, ``fixed in run …; it held from run …``, and the
    :func:`first_changed` run when it is another; None when its detector could not tell."""
    said = [part for part in (since_when(finding), first_changed(finding)) if part]
    return "; ".join(said) or None


def since_when(finding: Finding) -> str | None:
    """:func:`state` without the step's run: where the finding began, or when it was fixed."""
    began, ended, age = finding.began, finding.ended, finding.age
    runs = "" if age is None else f", {plural(age, 'run')}"
    if finding.status == "closed":
        fixed = f"fixed in {run_named(ended)}" if ended is not None else "fixed: gone in the newest run"
        held = f"; it held from {run_named(began)}" if began is not None else ""
        return fixed + held
    if began is None:  # an age without a start is a lower bound (detectors.evidence.dated)
        return None if age is None else f"open for at least {plural(age, 'run')}"
    if age == 1:
        return f"new in {run_named(began)}"
    return f"{'better' if finding.kind == 'improvement' else 'open'} since {run_named(began)}{runs}"


def state_short(finding: Finding) -> str:
    """The same in a word or two for a one-line view: ``new``, ``7 runs``, ``26 runs+`` (at
    least), ``fixed``; empty when unknown."""
    if finding.status == "closed":
        return "fixed"
    if finding.age is None:
        return "open" if finding.began is not None else ""
    if finding.began is None:
        return f"{plural(finding.age, 'run')}+"
    return "new" if finding.age == 1 else plural(finding.age, "run")


def places(location: Location) -> list[tuple[str, str]]:
    """Where a finding points, short, as (what, name) pairs a view can mark up: the test
    by its file without folders (``("", "test_orders.py::test_checkout[card]")``), a fixture
    (``("fixture", "engine")``), a file and line, or a statement cut to 40 characters.
    :meth:`Location.describe` says it in full."""
    found = []
    if location.test:
        path, sep, name = location.test.partition("::")
        found.append(("", path.rsplit("/", 1)[-1] + sep + name))
    if location.fixture:
        found.append(("fixture", location.fixture))
    elif location.file and not location.test:
        found.append(("", f"{location.file.rsplit('/', 1)[-1]}:{location.line}"))
    if location.fingerprint and not found:
        found.append(("statement", short(location.fingerprint, 40)))
    return found


def where(location: Location) -> str:
    """:func:`places` as plain text: ``test_orders.py::test_checkout[card], fixture db``;
    ``the suite`` when the finding points nowhere in particular."""
    return ", ".join(f"{what} {name}".strip() for what, name in places(location)) or "the suite"


def short(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters, an ellipsis marking the cut: the
    one way every view shortens what it shows."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def headline(analysis: Analysis) -> str:
    """What was analyzed: ``run 7f3a0c9e1b2d4a6f (revision 0123456789), 25 runs``."""
    if analysis.current_run is None:
        return "no runs analyzed"
    revision = f" (revision {analysis.current_revision[:REVISION_SHOWN]})" if analysis.current_revision else ""
    return f"run {analysis.current_run}{revision}, {plural(analysis.runs_analyzed, 'run')} analyzed"


def saving_sentence(findings: Sequence[Finding]) -> str | None:
    """``Fixing these 3 findings saves ~41 s per run.``, or None when none has an estimate."""
    saving = [finding for finding in findings if finding.saving > 0]
    if not saving:
        return None
    total = about_seconds(total_saving(saving))  # each cost once, however many findings claim it
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
    counts = ", ".join(f"{len(group)} {severity}" for severity, group in sections(findings))
    lines = [f"{plural(len(findings), 'finding')} ({counts})."]
    saving = saving_sentence([finding for finding in findings if not is_good(finding)])  # nothing left to fix
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
