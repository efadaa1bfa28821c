"""The report as a pull-request comment (GitHub-flavoured Markdown): a summary, one table
row per finding, and the fixes and evidence folded under ``<details>``.

Everything taken from the analysis goes through :func:`text` or :func:`code`: what would
act on a terminal showing the raw comment or reorder the text (escape sequences, C1
controls, bidirectional overrides) is written as its escape, HTML-significant characters
become entities (a comment renders inline HTML), Markdown punctuation gets a backslash,
``|`` cannot end a table cell, and line breaks cannot end a row. Code spans get a fence longer than any
run of backticks inside them. A comment has a size limit (65,536 characters on GitHub),
so at most ``limit`` findings are listed and the rest counted.
"""

from __future__ import annotations

import html
import re

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import words
from otel_pytest.plural import plural

_ICON = {"high": "🔴", "medium": "🟠", "low": "🔵"}
# Characters that start emphasis, code, links, strikethrough or end a table cell anywhere
# on a line; ( ) and ! only matter after ] or before [, which are escaped themselves.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]~|])")
# What only matters at the start of a line: a heading, a list item, a setext underline,
# a numbered item (whose dot or parenthesis is escaped, since "\1" is no escape).
_LINE_START = re.compile(r"^([#+=\-])")
_NUMBERED = re.compile(r"^(\d+)([.)])")
_WHITESPACE = re.compile(r"[^\S\u00a0]+")  # any whitespace but the no-break space of "62 %"


def text(value: str) -> str:
    """Inline text: one line, control characters as escapes, entities for ``& < >``,
    backslash before Markdown punctuation."""
    flat = _WHITESPACE.sub(" ", wording.visible(value)).strip()
    escaped = _PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))
    if _NUMBERED.match(escaped):
        return _NUMBERED.sub(r"\1\\\2", escaped)
    return _LINE_START.sub(r"\\\1", escaped)


def code(value: str) -> str:
    """An inline code span that shows ``value`` literally, whatever backticks it holds.

    Inside a table GitHub still splits cells at ``|`` in a code span unless it is written
    ``\\|`` (and then shows ``|``), so pipes are always escaped: the span is for tables."""
    flat = _WHITESPACE.sub(" ", wording.visible(value)).strip().replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _where(finding: Finding) -> str:
    location = finding.location
    parts = []
    if location.test:
        parts.append(code(location.test))
    if location.fixture:
        site = f" ({code(f'{location.file}:{location.line}')})" if location.file else ""
        parts.append(f"fixture {code(location.fixture)}{site}")
    elif location.file and not location.test:
        parts.append(code(f"{location.file}:{location.line}"))
    if location.fingerprint:
        parts.append(code(location.fingerprint))
    return "<br>".join(parts) or "the suite"


def render(analysis: Analysis, *, limit: int = 30) -> str:
    """The comment's Markdown, ending in a newline."""
    out = ["### otel-pytest analyze", "", f"_{text(wording.headline(analysis))}_", ""]
    out.extend(text(sentence) for sentence in wording.summary(analysis))
    findings = wording.in_severity_order(analysis.findings)
    shown = findings[:limit]
    if shown:
        out += ["", "| | kind | finding | where | saves/run |", "|---|---|---|---|--:|"]
        for finding in shown:
            kind = text(finding.kind) + (" _(provisional)_" if finding.provisional else "")
            saving = text(wording.about_seconds(finding.saving)) if finding.saving > 0 else wording.DASH
            icon = _ICON.get(finding.severity, "")
            title = text(words(finding).title)
            out.append(f"| {icon} {text(finding.severity)} | {kind} | {title} | {_where(finding)} | {saving} |")
        if len(findings) > limit:
            rest = findings[limit:]
            out += [
                "",
                f"…and {plural(len(rest), 'more finding')} "
                f"({', '.join(f'{len(group)} {severity}' for severity, group in wording.by_severity(rest))}); "
                "the JSON or HTML report lists them all.",
            ]
        out += ["", "<details><summary>What to change, and the evidence</summary>", ""]
        for number, finding in enumerate(shown, 1):
            said = words(finding)
            out.append(f"{number}. **{text(said.title)}**  ")
            out.append(f"   Fix: {text(said.suggestion)}  ")
            numbers = "; ".join(text(wording.measurement(item)) for item in finding.measurements)
            if numbers:
                out.append(f"   {numbers}  ")
            out.append(f"   _{text(said.confidence)}_")
        out += ["", "</details>"]
    if analysis.notes:
        out += ["", "<details><summary>Notes on the input</summary>", ""]
        out.extend(f"- {text(note)}" for note in analysis.notes)
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
