"""The report as a pull-request comment (GitHub-flavoured Markdown): a summary, a narrow
table with one row per finding (severity | finding | saves/run), and each finding in full,
its fix and evidence, folded under ``<details>``. The improvements of one fix
(:func:`~otel_pytest.analyze.report.wording.folds`) are listed in a ``<details>`` of the
suite's setup improvement's cell, not in rows and items of their own.

Everything taken from the analysis goes through :func:`text`, :func:`prose` or
:func:`code`: what would act on a terminal showing the raw comment or reorder the text
(escape sequences, C1 controls, bidirectional overrides) is written as its escape,
HTML-significant characters become entities (a comment renders inline HTML), Markdown
punctuation gets a backslash, ``|`` cannot end a table cell, and line breaks cannot end a
row. Names the words put in backticks (`` `engine` ``) become code spans, with a fence
longer than any run of backticks inside them, so they render as code, not as backticks. A
comment has a size limit (65,536 characters on GitHub), so at most ``limit`` findings are
listed and the rest counted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import brief, words
from otel_pytest.plural import plural

_ICON = {"high": "🔴", "medium": "🟠", "low": "🔵", wording.GOOD: "🟢"}
# Characters that start emphasis, code, links, strikethrough or end a table cell anywhere
# on a line; ( ) and ! only matter after ] or before [, which are escaped themselves.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]~|])")
# What only matters at the start of a line: a heading, a list item, a setext underline,
# a numbered item (whose dot or parenthesis is escaped, since "\1" is no escape).
_LINE_START = re.compile(r"^([#+=\-])")
_NUMBERED = re.compile(r"^(\d+)([.)])")
_WHITESPACE = re.compile(r"[^\S\u00a0]+")  # any whitespace but the no-break space of "62 %"
_BACKTICKED = re.compile(r"`([^`]+)`")  # a name the words mark as code


def _flat(value: str) -> str:
    return _WHITESPACE.sub(" ", wording.visible(value)).strip()


def _inline(flat: str) -> str:
    """Entities for ``& < >`` and a backslash before Markdown punctuation."""
    return _PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))


def _line_start(escaped: str) -> str:
    """What would start a heading, a list or a numbered item, escaped."""
    if _NUMBERED.match(escaped):
        return _NUMBERED.sub(r"\1\\\2", escaped)
    return _LINE_START.sub(r"\\\1", escaped)


def text(value: str) -> str:
    """Inline text shown exactly as it is: one line, control characters as escapes,
    entities for ``& < >``, backslash before Markdown punctuation (backticks included)."""
    return _line_start(_inline(_flat(value)))


def prose(value: str, *, table: bool = True) -> str:
    """Like :func:`text`, except that what the words put in backticks is a code span
    (:func:`code`; ``table`` as there)."""
    parts = _BACKTICKED.split(_flat(value))  # odd indices: the names in backticks
    marked = "".join(code(part, table=table) if odd % 2 else _inline(part) for odd, part in enumerate(parts))
    return _line_start(marked) if parts[0] else marked


def code(value: str, *, table: bool = True) -> str:
    """An inline code span that shows ``value`` literally, whatever backticks it holds.

    Inside a table GitHub still splits cells at ``|`` in a code span unless it is written
    ``\\|`` (and then shows ``|``), so in a span for a table (``table``) pipes are escaped;
    elsewhere the backslash would show."""
    flat = _flat(value)
    if table:
        flat = flat.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _where(finding: Finding) -> str:
    """The place, short, names as code: ``fixture `engine` ``."""
    shown = [f"{what} {code(name)}".strip() for what, name in wording.places(finding.location)]
    return ", ".join(shown) or "the suite"


def _where_in_full(finding: Finding) -> str:
    """The place in full, as :meth:`Location.describe` says it, names as code."""
    location = finding.location
    parts = []
    if location.test:
        parts.append(code(location.test, table=False))
    if location.fixture:
        site = f" ({code(f'{location.file}:{location.line}', table=False)})" if location.file else ""
        parts.append(f"fixture {code(location.fixture, table=False)}{site}")
    elif location.file and not location.test:
        parts.append(code(f"{location.file}:{location.line}", table=False))
    if location.fingerprint:
        parts.append(f"statement {code(location.fingerprint, table=False)}")
    return ", ".join(parts) or "the suite"


def _severity(finding: Finding) -> str:
    if not wording.is_good(finding):
        return f"{_ICON.get(finding.severity, '')} {text(finding.severity)}".strip()
    return f"{_ICON[wording.GOOD]} {'fixed' if finding.status == 'closed' else 'better'}"


def _facts(finding: Finding) -> str:
    """Its kind, place and status: ``**regression** · `t.py::test_a` · 7 runs``."""
    facts = [f"**{text(finding.kind)}**", _where(finding)]
    state = wording.state_short(finding)
    if state:
        facts.append(text(state))
    if finding.provisional:
        facts.append("_provisional_")
    return " · ".join(facts)


def _cell(finding: Finding, folded: Sequence[Finding] = ()) -> str:
    """What the finding says, and below it its kind, place and status; the findings folded
    under it (:func:`~otel_pytest.analyze.report.wording.folds`) in a ``<details>`` below,
    one per line."""
    cell = f"{prose(brief(finding))}<br>{_facts(finding)}"
    if folded:
        listed = "<br>".join(f"{prose(brief(member))} · {_where(member)}" for member in folded)
        cell += f"<details><summary>{text(wording.fold_summary(finding, folded))}</summary>{listed}</details>"
    return cell


def _in_full(number: int, finding: Finding) -> list[str]:
    """A numbered item of the fold, each statement once: what (the row's), where in full,
    since when, the fix, the numbers and how sure."""
    said = words(finding)
    lines = [f"{number}. **{prose(brief(finding), table=False)}**  "]
    lines.append(f"   Where: {_where_in_full(finding)}  ")
    state = wording.state(finding)
    if state:
        lines.append(f"   Status: {text(state)}  ")
    lines.append(f"   Fix: {prose(said.suggestion, table=False)}  ")
    numbers = "; ".join(text(wording.measurement(item)) for item in finding.measurements)
    if numbers:
        lines.append(f"   {numbers}  ")
    lines.append(f"   _{prose(said.confidence, table=False)}_")
    return lines


def render(analysis: Analysis, *, limit: int = 30) -> str:
    """The comment's Markdown, ending in a newline."""
    out = ["### otel-pytest analyze", "", f"_{text(wording.headline(analysis))}_", ""]
    out.extend(text(sentence) for sentence in wording.summary(analysis))
    folds = wording.folds(analysis.findings)
    findings = [finding for _, group in wording.sections(wording.unfolded(analysis.findings)) for finding in group]
    shown = findings[:limit]
    if shown:
        out += ["", "| | finding | saves/run |", "|---|---|--:|"]
        for finding in shown:
            saving = text(wording.about_seconds(finding.saving)) if finding.saving > 0 else wording.DASH
            out.append(f"| {_severity(finding)} | {_cell(finding, folds.get(finding.id, ()))} | {saving} |")
        if len(findings) > limit:
            rest = findings[limit:]
            out += [
                "",
                f"…and {plural(len(rest), 'more finding')} "
                f"({', '.join(f'{len(group)} {name}' for name, group in wording.sections(rest))}); "
                "the JSON or HTML report lists them all.",
            ]
        out += ["", "<details><summary>Each finding in full: what to change, and the evidence</summary>", ""]
        for number, finding in enumerate(shown, 1):
            out += _in_full(number, finding)
        out += ["", "</details>"]
    if analysis.notes:
        out += ["", "<details><summary>Notes on the input</summary>", ""]
        out.extend(f"- {text(note)}" for note in analysis.notes)
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
