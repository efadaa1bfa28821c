"""The terminal report: one line per finding, grouped, fitted to the width; in full with details."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding, Location, Measurement, RunRef, Written
from otel_pytest.analyze.report.terminal import render
from tests.analyze.report.samples import (
    COMMIT_CLEANUP,
    ENGINE_PER_TEST,
    REGRESSION,
    SCHEMA_PER_TEST,
    VISIBLE_NOTE,
    VISIBLE_TEST,
    VISIBLE_TITLE,
    acting_analysis,
    empty_analysis,
    fold_analysis,
    provisional_only,
    run_id,
    sample_analysis,
    status_analysis,
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


def test_each_finding_is_one_line_of_kind_where_what_status_and_saving_under_a_header() -> None:
    out = lines_of(render(sample_analysis(), width=160))
    header = next(line for line in out if line.startswith("kind"))
    assert header.split() == ["kind", "where", "finding", "status", "saves"]
    rows = [line for line in out if line.startswith(("connection ", "regression ", "n+1 ", "flaky "))]
    assert [re.split(r"  +", row) for row in rows] == [
        ["connection", "fixture engine", "A new engine and physical connection for every test", "~18 s"],
        ["regression", "test_orders.py::test_checkout[card]", "got 34 % slower", "7 runs", "~100 ms"],
        [
            "n+1",
            "test_orders.py::test_list_orders",
            "SELECT items by id executed 24 times in a row",
            "provisional",
            "~28 ms",
        ],
        ["flaky", "test_auth.py::test_token_expiry", "passed and failed on the same revision", "-"],
    ]
    assert len({len(row) for row in rows}) == 1  # the columns line up: savings end at one column
    assert len({header.index(name) for name in ("where",)} | {row.index("test_") for row in rows[1:]}) == 1


def test_the_place_is_said_once_not_again_in_the_statement() -> None:
    out = render(sample_analysis(), width=200)
    assert out.count("test_checkout[card]") == 1
    assert out.count("test_token_expiry") == 1
    assert "got 34 % slower" in out


def test_what_does_not_fit_the_width_is_cut_with_an_ellipsis_the_place_from_the_left() -> None:
    for width in (60, 80, 100, 132):
        out = render(status_analysis(), width=width, details=True)
        assert max(len(line) for line in out.splitlines()) <= width, width
    rows = lines_of(render(sample_analysis(), width=80))
    (regression,) = [line for line in rows if line.startswith("regression")]
    assert regression == "regression  …test_checkout[card]  got 34 % slower           7 runs       ~100 ms"
    (engine,) = [line for line in rows if line.startswith("connection")]
    assert engine == "connection  fixture engine        A new engine and physic…                 ~18 s"


def test_details_add_each_finding_in_full_under_its_line_each_statement_once() -> None:
    out = lines_of(render(sample_analysis(), width=160, details=True))
    start = next(index for index, line in enumerate(out) if line.startswith("regression"))
    assert out[start + 1 : start + 7] == [
        "            where     tests/test_orders.py::test_checkout[card]",
        "            numbers   median duration 412ms (baseline 307ms); ratio 1.34\u00d7; Mann-Whitney = 0.00041",
        "            how sure  p=0.00041 (FDR 5 %), last 5 vs previous 20 runs, held for 2 analyses",
        f"            status    open since run {run_id(18)} (revision 9c1d2e3f4a5b), 7 runs",
        f"            fix       Look at what changed in revision 9c1d2e3f4a5b: the step started in run {run_id(18)}.",
        "",
    ]
    plain = render(sample_analysis(), width=160)
    assert "how sure" not in plain  # without details: the lines only
    assert "Look at what changed" not in plain


def test_a_change_point_other_than_where_the_finding_began_is_named_by_its_role_in_the_status() -> None:
    unknown = replace(REGRESSION, began=None, age=None)
    out = lines_of(render(Analysis(findings=(unknown,), runs_analyzed=25, current_run="r"), width=160, details=True))
    assert f"            status    first slower run {run_id(18)} (revision 9c1d2e3f4a5b)" in out
    later = replace(REGRESSION, began=RunRef(run_id(20), "9c1d2e3f4a5b6c7d8e9f"), age=5)
    out = lines_of(render(Analysis(findings=(later,), runs_analyzed=25, current_run="r"), width=200, details=True))
    assert (
        f"            status    open since run {run_id(20)} (revision 9c1d2e3f4a5b), 5 runs; first slower run "
        f"{run_id(18)} (revision 9c1d2e3f4a5b)"
    ) in out


def test_fixes_and_improvements_lead_and_each_finding_says_since_when() -> None:
    out = lines_of(render(status_analysis(), width=120))
    assert out[2] == "4 findings (2 fixed or improved, 2 high)."
    headings = [line.strip() for line in out if re.match(r"^ [A-Z ]+ {3}\d", line)]
    assert headings == ["FIXED OR IMPROVED   2 findings", "HIGH   2 findings, saves ~120 ms per run"]
    rows = [re.split(r"  +", line) for line in out if line.startswith(("regression", "count", "improvement"))]
    assert [(row[0], row[-2]) for row in rows] == [
        ("regression", "fixed"),
        ("improvement", "6 runs"),
        ("count", "new"),
        ("regression", "7 runs"),
    ]
    detailed = lines_of(render(status_analysis(), width=200, details=True))
    assert (
        f"             status    fixed in run {run_id(10)} (revision 2222222222bb); it held from run {run_id(3)} "
        "(revision 1111111111aa)"
    ) in detailed
    assert f"             status    better since run {run_id(19)} (revision 3333333333cc), 6 runs" in detailed
    assert f"             status    new in run {run_id(24)} (revision 9c1d2e3f4a5b)" in detailed


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
    out = render(Analysis(findings=(finding,), runs_analyzed=2, current_run="r"), width=160, details=True)
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
    assert re.search(r"^n\+1 .* provisional +~28 ms$", out, flags=re.M)


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
        out = render(acting_analysis(), width=400, color=color, details=True)
        sent = ANSI.sub("", out) if color else out  # rich's own colours, when asked for
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\udcff]", sent), repr(sent)
        lines = lines_of(sent)
        assert lines[0] == "otel-pytest analyze: run r2\\x1b[2J (revision 9c1d\\u202e), 2 runs analyzed"
        assert any(VISIBLE_TITLE.removeprefix(f"{VISIBLE_TEST} ") in line for line in lines)
        assert any(
            f"where     {VISIBLE_TEST}, fixture db\\x1b[31m (conftest.py:3), statement SELECT '\\u202e' FROM t\\x00"
            in line
            for line in lines
        )
        assert any("fix       Open \\x1b]8;;https://evil.example\\x07this\\x1b]8;;\\x07." in line for line in lines)
        assert any("setup\\x1b[5m 250ms" in line for line in lines)
        assert any("exact\\x1b[8m" in line for line in lines)
        assert any("status    first changed run r\\x1b[2J (revision abc\\u202e)" in line for line in lines)
        assert lines[-1] == f"- {VISIBLE_NOTE}"


def test_a_status_column_is_shown_only_when_some_finding_has_a_status() -> None:
    out = lines_of(render(Analysis(findings=(ENGINE_PER_TEST, SCHEMA_PER_TEST), runs_analyzed=2, current_run="r")))
    assert next(line for line in out if line.startswith("kind")).split() == ["kind", "where", "finding", "saves"]


def test_improvements_of_the_fix_are_one_line_under_the_suite_s_setup_and_listed_with_details() -> None:
    out = lines_of(render(fold_analysis(), width=120))
    start = out.index(" FIXED OR IMPROVED   6 findings")
    assert out[start + 1 : start + 7] == [
        "improvement  the suite                       the suite's setup fell from 1.50 s to 200 ms per run, sav…  "
        "6 runs        -",
        f"             … and 3 tests, 1 fixture faster from the same step (first faster run {run_id(18)})",
        "improvement  … SELECT count(*) FROM product  got 86 % faster (2.2 ms -> 313 µs per execution)            "
        "2 runs        -",
        "",
        " HIGH   1 finding, saves ~100 ms per run",
        "regression   …rders.py::test_checkout[card]  got 34 % slower                                             "
        "6 runs  ~100 ms",
    ]
    detailed = lines_of(render(fold_analysis(), width=120, details=True))
    rows = [re.split(r"  +", line) for line in detailed if line.startswith(("improvement", "regression", "  "))]
    assert [row[1] for row in rows if row[0] in ("improvement", "regression")] == [
        "the suite",
        "…rders.py::test_checkout[card]",
        "test_orders.py::test_refund",
        "test_stock.py::test_restock",
        "fixture catalogue",
        "… SELECT count(*) FROM product",
        "…rders.py::test_checkout[card]",
    ]
    assert detailed.index(
        f"             … and 3 tests, 1 fixture faster from the same step (first faster run {run_id(18)})"
    ) < (detailed.index("             where     tests/test_orders.py::test_refund"))
