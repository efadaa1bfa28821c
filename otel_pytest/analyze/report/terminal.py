"""The report for a terminal: one line per finding, grouped, fitted to the width.

Each finding is one line: its kind, where (short: :func:`~otel_pytest.analyze.report.wording.where`),
what (its title without the place: :func:`~otel_pytest.analyze.report.words.brief`), since
when (:func:`~otel_pytest.analyze.report.wording.state_short`) and what fixing it saves. The
improvements of one fix (:func:`~otel_pytest.analyze.report.wording.folds`) are one line
under the suite's setup improvement, ``… and 29 tests, 2 fixtures faster from the same step
(first faster run …)``, and listed (in full) only with ``details``. The lines are grouped
as every view groups them (:func:`~otel_pytest.analyze.report.wording.sections`: what got
better first, then the open problems by severity, the order to act in), the
group's heading naming the severity once. What does not fit is cut with an ellipsis: the
place from the left (a node id ends in the test's name), the rest from the right. With
``details`` each line is followed by the finding in full: where, the numbers, how sure,
since when, and the fix.

rich is imported inside :func:`render`, so neither the plugin nor the other commands pay
for it. Every piece of text from the analysis goes through :func:`escape` and in as a
``Text`` object, never as markup: node ids such as ``test_x[a]`` would otherwise be read
as style tags, and a test id holding ``ESC [2J`` would clear the reader's screen.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import brief, words
from otel_pytest.plural import plural

if TYPE_CHECKING:
    from rich.padding import Padding
    from rich.text import Text


def escape(text: str) -> str:
    """The terminal's one escaping: what would act on the terminal (escape sequences,
    carriage returns, C1 controls, bidirectional overrides) is shown as its escape
    (:func:`~otel_pytest.analyze.report.wording.visible`); no-break spaces become spaces.
    rich's ``Text`` takes no markup, so brackets need nothing."""
    return wording.visible(text).replace(wording.NBSP, " ")


def _tight(text: str) -> str:
    """Numbers glued to their units (``412ms``, ``62%``) in text rich may wrap: it wraps at
    any space, even a no-break one, and must never split a number from its unit."""
    return wording.visible(text).replace(wording.NBSP, "")


_HEADING_STYLE = {
    "high": "bold white on red",
    "medium": "bold black on yellow",
    "low": "bold white on blue",
    wording.GOOD: "bold white on green",
}
_STATE_STYLE = {"new": "bold yellow", "fixed": "green", "provisional": "yellow"}
GAP = 2  # spaces between columns
WHERE_SHARE = 0.25  # at most this share of the line for the place
WHAT_MIN = 20  # columns the statement keeps, however long the place


@dataclass(frozen=True)
class Line:
    """One finding as the one-line view shows it, before fitting."""

    kind: str
    where: str
    what: str
    state: str
    saving: str

    @classmethod
    def of(cls, finding: Finding) -> Line:
        saving = wording.about_seconds(finding.saving) if finding.saving > 0 else "-"
        state = [wording.state_short(finding), "provisional" if finding.provisional else ""]
        return cls(
            escape(finding.kind),
            escape(wording.where(finding.location)),
            escape(brief(finding)),
            ", ".join(part for part in state if part),
            escape(saving),
        )


HEADER = Line("kind", "where", "finding", "status", "saves")


@dataclass(frozen=True)
class Columns:
    """The width of each column, fitted to a line of ``width`` cells."""

    kind: int
    where: int
    what: int
    state: int
    saving: int

    @classmethod
    def fit(cls, lines: Sequence[Line], width: int) -> Columns:
        """Kind, state and saving as wide as their longest; the place at most
        :data:`WHERE_SHARE` of the line, and never so wide that the statement gets fewer
        than :data:`WHAT_MIN` columns; the statement the rest."""
        from rich.cells import cell_len

        def widest(texts: Sequence[str]) -> int:
            return max((cell_len(text) for text in texts), default=0)

        kind = widest([line.kind for line in (HEADER, *lines)])
        # A status column only when some finding has a status to show.
        state = widest([line.state for line in (HEADER, *lines)]) if any(line.state for line in lines) else 0
        saving = widest([line.saving for line in (HEADER, *lines)])
        gaps = GAP * (3 + (state > 0))
        rest = max(width - kind - state - saving - gaps, 2)
        where = min(widest([line.where for line in lines]), int(width * WHERE_SHARE), max(rest - WHAT_MIN, rest // 2))
        return cls(kind, where, rest - where, state, saving)


def _cell(text: str, width: int, *, keep_end: bool = False, right: bool = False) -> str:
    """``text`` in exactly ``width`` cells: padded, or cut with an ellipsis (from the left
    when ``keep_end``)."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) > width:
        if keep_end:
            while text and cell_len(text) > width - 1:
                text = text[1:]
            text = wording.ELLIPSIS + text
        else:
            text = set_cell_size(text, width - 1) + wording.ELLIPSIS
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def _row(line: Line, columns: Columns, *, header: bool = False) -> Text:
    from rich.text import Text

    def style(usual: str) -> str:
        return "bold" if header else usual

    gap = " " * GAP
    parts: list[tuple[str, str]] = [
        (_cell(line.kind, columns.kind), style("")),
        (gap, ""),
        (_cell(line.where, columns.where, keep_end=True), style("cyan")),
        (gap, ""),
        (_cell(line.what, columns.what), style("")),
    ]
    if columns.state:
        state = _STATE_STYLE.get(line.state.split(", ")[0], "")
        parts += [(gap, ""), (_cell(line.state, columns.state), style(state))]
    parts += [(gap, ""), (_cell(line.saving, columns.saving, right=True), style("green"))]
    row = Text.assemble(*parts)
    row.rstrip()
    return row


def _fold_row(summary: str, columns: Columns, width: int) -> Text:
    """What a fold holds (its findings are listed only with ``details``), under the line of
    the finding it is folded under, from the place column on."""
    from rich.text import Text

    indent = columns.kind + GAP
    return Text.assemble(" " * indent, (_cell(f"{wording.ELLIPSIS} {escape(summary)}", width - indent).rstrip(), "dim"))


def _details(finding: Finding) -> list[tuple[str, str, str]]:
    """The finding in full, each statement once: (label, text, style) per line."""
    said = words(finding)
    lines = [("where", escape(finding.location.describe()), "cyan")]
    numbers = "; ".join(_tight(wording.measurement(item)) for item in finding.measurements)
    if numbers:
        lines.append(("numbers", numbers, ""))
    lines.append(("how sure", escape(said.confidence), "dim"))
    state = wording.state(finding)
    if state:
        lines.append(("status", escape(state), ""))
    lines.append(("fix", escape(said.suggestion), "green"))
    return lines


def _in_full(finding: Finding, columns: Columns) -> Padding:
    """The finding in full (:func:`_details`), under its line's statement."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, GAP))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, text, style in _details(finding):
        grid.add_row(name, Text(text, style=style))
    return Padding(grid, (0, 0, 0, columns.kind + GAP), expand=False)


def render(analysis: Analysis, *, width: int = 100, color: bool = False, details: bool = False) -> str:
    """The report as text ``width`` columns wide; ANSI colours only when ``color``; each
    finding in full under its line when ``details``."""
    from rich.console import Console
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

    console.print(Text.assemble(("otel-pytest analyze", "bold"), ": ", escape(wording.headline(analysis))))
    console.print()
    for sentence in wording.summary(analysis):
        console.print(Text(escape(sentence)))

    sections = wording.sections(wording.unfolded(analysis.findings))
    folds = wording.folds(analysis.findings)
    shown = [finding for _, group in sections for finding in group]
    if details:  # the folded findings are listed too
        shown = [each for finding in shown for each in (finding, *folds.get(finding.id, ()))]
    columns = Columns.fit([Line.of(finding) for finding in shown], width)
    if sections:
        console.print()
        console.print(_row(HEADER, columns, header=True), overflow="crop", no_wrap=True)
    for section, findings in sections:
        console.print()
        counted = len(findings) + sum(len(folds.get(finding.id, ())) for finding in findings)
        title = Text.assemble(
            (f" {section.upper()} ", _HEADING_STYLE.get(section, "bold")), f"  {plural(counted, 'finding')}"
        )
        saving = wording.to_save(section, findings)
        if saving > 0:
            title.append(f", saves {escape(wording.about_seconds(saving))} per run")
        console.print(title)
        for index, finding in enumerate(findings):
            if details and index:
                console.print()
            console.print(_row(Line.of(finding), columns), overflow="crop", no_wrap=True)
            if details:
                console.print(_in_full(finding, columns))
            members = folds.get(finding.id, ())
            if members:
                console.print(_fold_row(wording.fold_summary(finding, members), columns, width), no_wrap=True)
            for member in members if details else ():
                console.print()
                console.print(_row(Line.of(member), columns), overflow="crop", no_wrap=True)
                console.print(_in_full(member, columns))

    if analysis.notes:
        console.print()
        console.print(Text("Notes", style="bold"))
        for note in analysis.notes:
            console.print(Text(f"- {escape(note)}"))
    return out.getvalue()
