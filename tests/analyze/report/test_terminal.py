"""The terminal report: grouped by severity, with totals, honest about thin evidence."""

from __future__ import annotations

import re
import subprocess
import sys

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding, Location, Measurement, Written
from otel_pytest.analyze.report.terminal import render
from tests.analyze.report.samples import (
    COMMIT_CLEANUP,
    ENGINE_PER_TEST,
    SCHEMA_PER_TEST,
    VISIBLE_NOTE,
    VISIBLE_TEST,
    VISIBLE_TITLE,
    acting_analysis,
    empty_analysis,
    provisional_only,
    run_id,
    sample_analysis,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_the_report_opens_with_what_was_analyzed_and_what_fixing_it_saves() -> None:
    three = Analysis(
        findings=(ENGINE_PER_TEST, SCHEMA_PER_TEST, COMMIT_CLEANUP),
        runs_analyzed=25,
        current_run=run_id(24),
        current_revision="9c1d2e3f4a5b6c7d8e9f",
    )
    out = lines_of(render(three))
    assert out[:5] == [
        f"otel-pytest analyze: run {run_id(24)} (revision 9c1d2e3f4a5b), 25 runs analyzed",
        "",
        "3 findings (1 high, 2 medium).",
        "Fixing these 3 findings saves ~39 s per run.",
        "",
    ]


def test_findings_are_grouped_by_severity_most_severe_first_with_each_group_s_saving() -> None:
    out = render(sample_analysis())
    headings = [line.strip() for line in out.splitlines() if re.match(r"^ (HIGH|MEDIUM|LOW) ", line)]
    assert headings == [
        "HIGH   2 findings, saves ~19 s per run",
        "MEDIUM   2 findings, saves ~21 s per run",
        "LOW   2 findings, saves ~28 ms per run",
    ]
    high, medium, low = (out.index(f" {name} ") for name in ("HIGH", "MEDIUM", "LOW"))
    assert high < out.index("A new engine and physical connection") < medium
    assert medium < out.index("create_all/drop_all run in a") < low
    assert low < out.index("SELECT items by id executed 24")
    assert low < out.index("passed and failed")


def test_each_finding_shows_where_its_numbers_how_sure_and_the_fix() -> None:
    out = render(sample_analysis(), width=160)
    for expected in (
        "fixture engine (tests/conftest.py:14)",
        "engines created 200 (baseline 1)",
        "share of database time 62%",
        "median duration 412ms (baseline 307ms)",
        "ratio 1.34\u00d7",
        "Mann-Whitney = 0.00041",
        "exact counts over 200 tests",
        "fix: Make the `engine` fixture session-scoped",
        f"changed in run {run_id(18)} (9c1d2e3f4a5b)",
        "~18s",
    ):
        assert expected in out, expected


def test_node_ids_with_brackets_are_shown_literally_not_taken_as_style_markup() -> None:
    finding = Finding(
        kind="fixture",
        severity="low",
        location=Location(test="tests/t.py::test_x[a-1]"),
        measurements=(),
        detail=Written(
            title="[bold]test_x[a-1][/bold] is slow", confidence="exact", suggestion="Use [red]less[/red] setup."
        ),
    )
    out = render(Analysis(findings=(finding,), runs_analyzed=2, current_run="r"), width=160)
    assert "[bold]test_x[a-1][/bold] is slow" in out
    assert "tests/t.py::test_x[a-1]" in out
    assert "Use [red]less[/red] setup." in out


def test_no_findings_says_so_and_how_many_runs_it_rests_on() -> None:
    assert lines_of(render(empty_analysis(25))) == [
        f"otel-pytest analyze: run {run_id(24)}, 25 runs analyzed",
        "",
        f"No findings: run {run_id(24)} was compared with 24 earlier runs.",
    ]


def test_a_single_run_is_not_passed_off_as_a_clean_bill_of_health() -> None:
    out = render(empty_analysis(1))
    assert "No findings, but there was only this one run: nothing to compare it with yet." in out


def test_no_runs_at_all_is_said_plainly() -> None:
    assert lines_of(render(Analysis(findings=(), runs_analyzed=0, current_run=None))) == [
        "otel-pytest analyze: no runs analyzed",
        "",
        "No runs to analyze.",
    ]


def test_provisional_findings_are_labelled_and_the_summary_says_they_do_not_fail_the_gate() -> None:
    out = render(provisional_only(), width=200)
    assert (
        "The finding is provisional: too little history for the statistical test, so a simple comparison "
        "was used. Treat it as a lead; it does not fail the CI gate."
    ) in out
    assert re.search(r"│ n\+1 +│", out)
    assert re.search(r"│ provisional +│", out)


def test_a_mix_of_provisional_and_firm_findings_counts_the_provisional_ones() -> None:
    out = render(sample_analysis(), width=200)
    assert "1 of 6 findings is provisional" in out


def test_notes_about_skipped_input_close_the_report() -> None:
    out = lines_of(render(sample_analysis()))
    assert out[-2:] == ["Notes", "- /ci/artifacts/run-3.otlp.jsonl:812: skipped an unreadable line (truncated)"]


def test_findings_without_a_saving_estimate_are_not_counted_in_the_total() -> None:
    no_estimate = Finding(
        kind="flaky",
        severity="low",
        location=Location(test="t"),
        measurements=(Measurement("failures", 2, "count"),),
        detail=Written(title="flaky", confidence="c", suggestion="s"),
    )
    out = render(Analysis(findings=(ENGINE_PER_TEST, no_estimate), runs_analyzed=3, current_run="r"), width=120)
    assert "Fixing the 1 finding with a saving estimate saves ~18 s per run." in out


def test_the_width_is_respected_and_there_is_no_colour_unless_asked() -> None:
    plain = render(sample_analysis(), width=80)
    assert max(len(line) for line in plain.splitlines()) <= 80
    assert not ANSI.search(plain)
    coloured = render(sample_analysis(), width=80, color=True)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == plain


def test_rich_is_imported_only_when_a_terminal_report_is_rendered() -> None:
    code = (
        "import sys\n"
        "from otel_pytest.analyze.report import terminal\n"
        "from otel_pytest.analyze.analysis import Analysis\n"
        "before = 'rich' in sys.modules\n"
        "terminal.render(Analysis(findings=(), runs_analyzed=1, current_run='r'))\n"
        "print(before, 'rich' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_escape_sequences_carriage_returns_and_overrides_from_the_analysis_never_reach_the_terminal() -> None:
    for color in (False, True):
        out = render(acting_analysis(), width=400, color=color)
        sent = ANSI.sub("", out) if color else out  # rich's own colours, when asked for
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\udcff]", sent), repr(sent)
        lines = lines_of(sent)
        assert lines[0] == "otel-pytest analyze: run r2\\x1b[2J (revision 9c1d\\u202e), 2 runs analyzed"
        assert any(VISIBLE_TITLE in line for line in lines)
        assert any(
            f"{VISIBLE_TEST}, fixture db\\x1b[31m (conftest.py:3), statement SELECT '\\u202e' FROM t\\x00" in line
            for line in lines
        )
        assert any("fix: Open \\x1b]8;;https://evil.example\\x07this\\x1b]8;;\\x07." in line for line in lines)
        assert any("setup\\x1b[5m 250ms" in line for line in lines)
        assert any("exact\\x1b[8m" in line for line in lines)
        assert any("changed in run r\\x1b[2J (abc\\u202e)" in line for line in lines)
        assert lines[-1] == f"- {VISIBLE_NOTE}"
