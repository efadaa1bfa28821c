"""The report for a terminal: rich tables grouped by severity, with what fixing them saves.

rich is imported inside :func:`render`, so neither the plugin nor the other commands pay
for it. Every piece of text from the analysis goes through :func:`escape` and in as a
``Text`` object, never as markup: node ids such as ``test_x[a]`` would otherwise be read
as style tags, and a test id holding ``ESC [2J`` would clear the reader's screen.
"""

from __future__ import annotations

import io

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import words
from otel_pytest.plural import plural


def escape(text: str) -> str:
    """The terminal's one escaping: what would act on the terminal (escape sequences,
    carriage returns, C1 controls, bidirectional overrides) is shown as its escape
    (:func:`~otel_pytest.analyze.report.wording.visible`). rich's ``Text`` takes no
    markup, so brackets need nothing."""
    return wording.visible(text)


def _tight(text: str) -> str:
    """Numbers glued to their units (``412ms``, ``62%``): rich wraps at any space, even a
    no-break one, and a table cell must never split a number from its unit."""
    return escape(text).replace(wording.NBSP, "")


def _plain(text: str) -> str:
    return escape(text).replace(wording.NBSP, " ")


_SEVERITY_STYLE = {"high": "bold white on red", "medium": "bold black on yellow", "low": "bold white on blue"}


def render(analysis: Analysis, *, width: int = 100, color: bool = False) -> str:
    """The report as text ``width`` columns wide; ANSI colours only when ``color``."""
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )

    def finding_cell(finding: Finding) -> Group:
        said = words(finding)
        parts = [Text(escape(said.title), style="bold"), Text(escape(finding.location.describe()), style="cyan")]
        parts.append(Text.assemble(("fix: ", "green bold"), (escape(said.suggestion), "green")))
        return Group(*parts)

    def numbers_cell(finding: Finding) -> Group:
        lines = [Text(_tight(wording.measurement(item))) for item in finding.measurements]
        lines.append(Text(escape(words(finding).confidence), style="dim"))
        change = finding.evidence.get("change_point_run")
        if change:
            revision = finding.evidence.get("change_point_revision")
            lines.append(
                Text(escape(f"changed in run {change}" + (f" ({revision[:12]})" if revision else "")), style="dim")
            )
        return Group(*lines)

    def kind_cell(finding: Finding) -> Text:
        text = Text(escape(finding.kind))
        if finding.provisional:
            text.append("\nprovisional", style="yellow")
        return text

    console.print(Text.assemble(("otel-pytest analyze", "bold"), ": ", _plain(wording.headline(analysis))))
    console.print()
    for sentence in wording.summary(analysis):
        console.print(Text(_plain(sentence)))

    for severity, findings in wording.by_severity(analysis.findings):
        console.print()
        title = Text.assemble(
            (escape(f" {severity.upper()} "), _SEVERITY_STYLE.get(severity, "bold")),
            f"  {plural(len(findings), 'finding')}",
        )
        saving = sum(finding.saving for finding in findings)
        if saving > 0:
            title.append(f", saves {_plain(wording.about_seconds(saving))} per run")
        console.print(title)
        table = Table(show_lines=True, expand=True, header_style="bold")
        table.add_column("kind", no_wrap=True, width=11)
        table.add_column("finding · where · fix", ratio=3, overflow="fold")
        table.add_column("numbers", ratio=2, overflow="fold")
        table.add_column("saves/run", justify="right", no_wrap=True, width=9)
        for finding in findings:
            table.add_row(
                kind_cell(finding),
                finding_cell(finding),
                numbers_cell(finding),
                Text(_tight(wording.about_seconds(finding.saving)) if finding.saving > 0 else "-"),
            )
        console.print(table)

    if analysis.notes:
        console.print()
        console.print(Text("Notes", style="bold"))
        for note in analysis.notes:
            console.print(Text(f"- {escape(note)}"))
    return out.getvalue()
