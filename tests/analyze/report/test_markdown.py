"""The pull-request comment: compact, and whatever a finding holds, inert.

The Markdown is checked by rendering it with markdown-it-py (CommonMark plus GitHub's
tables and strikethrough, raw HTML allowed as on GitHub), which rich already depends on.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from otel_pytest.analyze.analysis import Analysis
from otel_pytest.analyze.findings import Finding, Location, Measurement, Written
from otel_pytest.analyze.report.markdown import code, prose, render, text
from otel_pytest.analyze.report.words import words
from tests.analyze.report.samples import (
    ACTING,
    ACTING_TEST,
    ENGINE_PER_TEST,
    VISIBLE_NOTE,
    VISIBLE_TEST,
    VISIBLE_TITLE,
    acting_analysis,
    empty_analysis,
    fold_analysis,
    run_id,
    sample_analysis,
    written,
)


def to_html(markdown: str) -> str:
    rendered: str = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    return rendered


class Page(HTMLParser):
    """The elements and the visible text of rendered Markdown, and the table's cells per row."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_the_comment_has_a_summary_and_a_narrow_table_one_row_per_finding() -> None:
    markdown = render(sample_analysis())
    assert markdown.startswith("### otel-pytest analyze\n\n")
    page = Page(to_html(markdown))
    header, *rows = page.rows
    assert header == ["", "finding", "saves/run"]
    assert rows == [
        ["🔴 high", "A new engine and physical connection for every test\nconnection · fixture engine", "~18\u00a0s"],
        ["🔴 high", "got 34 % slower\nregression · test_orders.py::test_checkout[card] · 7 runs", "~100\u00a0ms"],
        ["🟠 medium", "create_all/drop_all run in a function-scoped fixture\nschema · fixture db", "~15\u00a0s"],
        [
            "🟠 medium",
            "Tests commit and then delete their rows instead of rolling back\ncleanup · fixture session",
            "~6.1\u00a0s",
        ],
        [
            "🔵 low",
            "SELECT items by id executed 24 times in a row\nn+1 · test_orders.py::test_list_orders · provisional",
            "~28\u00a0ms",
        ],
        ["🔵 low", "passed and failed on the same revision\nflaky · test_auth.py::test_token_expiry", "\u2013"],
    ]
    assert max(len(line) for line in markdown.splitlines() if line.startswith("| ")) < 140
    body = "".join(page.text)
    assert "Fixing the 5 findings with a saving estimate saves ~39\u00a0s per run." in body
    assert "1 of 6 findings is provisional" in body


def test_fixes_and_evidence_are_folded_under_details() -> None:
    markdown = render(sample_analysis())
    details = markdown[markdown.index("<details><summary>Each finding in full") :]
    assert details.startswith(
        "<details><summary>Each finding in full: what to change, and the evidence</summary>\n\n"
        "1. **A new engine and physical connection for every test**  \n"
        "   Where: fixture `engine` (`tests/conftest.py:14`)  \n"
        "   Fix: Make the `engine` fixture session-scoped and share its pool across tests.  \n"
        "   engines created 200 (baseline 1); physical connections 400; connection time 18.9\u00a0s; "
        "share of database time 62\u00a0%  \n"
        "   _exact counts over 200 tests_\n"
        "2. **got 34 % slower**  \n"
        "   Where: `tests/test_orders.py::test_checkout[card]`  \n"
        f"   Status: open since run {run_id(18)} (revision 9c1d2e3f4a5b), 7 runs  \n"
    )
    assert details.endswith(
        "\n\n</details>\n\n<details><summary>Notes on the input</summary>\n\n" + NOTE_LINE + "\n\n</details>\n"
    )


NOTE_LINE = "- /ci/artifacts/run-3.otlp.jsonl:812: skipped an unreadable line (truncated)"


def test_names_the_words_put_in_backticks_render_as_code_and_the_rest_stays_text() -> None:
    finding = written(
        "Setup of `db` is slow; `<b>x</b>` and `a|b` are not markup, *nor* this",
        Location(fixture="db"),
        suggestion="Give `db` a wider scope; an odd ` stays.",
    )
    html = to_html(render(Analysis(findings=(finding,), runs_analyzed=2, current_run="r")))
    assert "<td>Setup of <code>db</code> is slow; <code>&lt;b&gt;x&lt;/b&gt;</code> and <code>a|b</code> " in html
    assert "are not markup, *nor* this<br>" in html
    assert "Fix: Give <code>db</code> a wider scope; an odd ` stays." in html
    assert "\\`" not in html
    assert "<b>" not in html


@pytest.mark.parametrize("value", ["a `b` c", "`a` b", "a `b`", "1. `x`", "# `h`", "`a|b` | c"])
def test_prose_renders_its_code_spans_as_code_and_nothing_else(value: str) -> None:
    page = Page(to_html(prose(value, table=False)))
    assert page.tags == ["p"] + ["code"] * (value.count("`") // 2)
    assert "".join(page.text).strip() == value.replace("`", "")


def test_no_findings_is_a_short_comment() -> None:
    assert render(empty_analysis()) == (
        "### otel-pytest analyze\n\n"
        f"_run {run_id(24)}, 25 runs analyzed_\n\n"
        f"No findings: run {run_id(24)} was compared with 24 earlier runs.\n"
    )


HOSTILE = Finding(
    kind="n+1",
    severity="high",
    location=Location(test="tests/t.py::test_x[a|b]", fingerprint="SELECT `weird``name` FROM t WHERE a = '|'"),
    measurements=(Measurement("rows | <i>", 3, "count"),),
    detail=Written(
        title="<script>alert(1)</script> | *not bold* _nor this_ [a link](https://example.com) ~~struck~~ <b>x</b>",
        confidence="line one\nline two | three",
        suggestion="# not a heading\n- nor a list <img src=x onerror=alert(1)>",
    ),
    saving=1.0,
)


def test_text_from_a_finding_cannot_inject_html_markup_links_or_table_cells() -> None:
    html = to_html(render(Analysis(findings=(HOSTILE, ENGINE_PER_TEST), runs_analyzed=2, current_run="r")))
    page = Page(html)
    structure = {
        "h3",
        "p",
        "em",
        "strong",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "code",
        "br",
        "details",
        "summary",
        "ol",
        "li",
    }
    assert set(page.tags) <= structure  # no script, b, i, img, a, del, h1 or ul from the finding
    # em: the headline and two confidences; strong: two kinds in the table and two titles in the fold
    assert (page.tags.count("em"), page.tags.count("strong")) == (3, 4)
    header, first, second = page.rows
    assert len(first) == len(header) == len(second) == 3
    assert first[1] == f"{words(HOSTILE).title}\nn+1 · t.py::test_x[a|b]"
    body = "".join(page.text)
    assert "statement SELECT `weird``name` FROM t WHERE a = '|'" in body
    assert "# not a heading - nor a list <img src=x onerror=alert(1)>" in body
    assert "line one line two | three" in body


@pytest.mark.parametrize(
    "value",
    [
        "# heading",
        "1. item",
        "12) item",
        "- item",
        "+ item",
        "=== underline",
        "> quote",
        "a\\b",
        "*a* _b_ `c`",
        "[x](y)",
        "~~s~~",
        "&amp; &lt;",
        "a | b",
    ],
)
def test_escaped_text_renders_as_exactly_the_text(value: str) -> None:
    html = to_html(text(value))
    page = Page(html)
    assert page.tags == ["p"]
    assert "".join(page.text).strip() == value


@pytest.mark.parametrize("value", ["plain", "a`b", "``x``", "`start", "end`", "a|b"])
def test_code_spans_show_backticks_and_pipes_literally_in_a_table(value: str) -> None:
    html = to_html(f"| h |\n|---|\n| {code(value)} |\n")
    assert Page(html).rows[1] == [value]


def test_a_long_list_is_cut_to_the_limit_and_the_rest_counted() -> None:
    many = tuple(
        Finding(
            kind="fixture",
            severity="low" if n % 2 else "medium",
            location=Location(test=f"t{n}"),
            measurements=(),
            detail=Written(title=f"finding {n}", confidence="c", suggestion="s"),
        )
        for n in range(40)
    )
    markdown = render(Analysis(findings=many, runs_analyzed=5, current_run="r"), limit=30)
    rows = Page(to_html(markdown)).rows
    assert len(rows) == 31
    assert "…and 10 more findings (10 low); the JSON or HTML report lists them all." in markdown
    assert markdown.count("\n1. **") == 1
    assert "\n30. **" in markdown
    assert "\n31. **" not in markdown


def test_rows_are_in_severity_order_even_for_an_unsorted_analysis() -> None:
    analysis = sample_analysis()
    unsorted = Analysis(findings=tuple(reversed(analysis.findings)), runs_analyzed=25, current_run="r")
    severities = [row[0].split()[-1] for row in Page(to_html(render(unsorted))).rows[1:]]
    assert severities == ["high", "high", "medium", "medium", "low", "low"]


def test_characters_that_act_on_a_terminal_or_reorder_text_are_written_as_their_escapes() -> None:
    assert text(words(ACTING).title) == (
        "t.py::test\\_x\\[\\\\x1b\\[2J\\\\x1b\\]0;pwned\\\\x07\\] \\\\x9b31mred \\\\rover "
        "\\\\u202eevil \\[bold\\]x\\[/bold\\]"
    )
    assert code(ACTING_TEST) == f"`{VISIBLE_TEST}`"
    markdown = render(acting_analysis())
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\udcff]", markdown), repr(markdown)
    page = Page(to_html(markdown))
    _header, row = page.rows
    said = VISIBLE_TITLE.removeprefix(f"{VISIBLE_TEST} ")  # the place is the row's second line
    assert row[1] == f"{said}\nfixture · {VISIBLE_TEST}, fixture db\\x1b[31m"
    assert (
        f"Where: `{VISIBLE_TEST}`, fixture `db\\x1b[31m` (`conftest.py:3`), statement `SELECT '\\u202e' FROM t\\x00`"
        in markdown
    )
    body = "".join(page.text)
    assert VISIBLE_NOTE in body
    assert "run r2\\x1b[2J (revision 9c1d\\u202e)" in body


def test_improvements_of_the_fix_are_folded_in_a_details_of_the_suite_s_setup_row() -> None:
    markdown = render(fold_analysis())
    rows = [line.replace("\u00a0", " ") for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| 🟢 better | the suite's setup fell from 1.50 s to 200 ms per run, saving 1.3 s per run<br>**improvement** · "
        "the suite · 6 runs<details><summary>and 3 tests, 1 fixture faster from the same step (first faster run "
        f"{run_id(18)})</summary>got 83 % faster (160 ms -&gt; 28 ms) · "
        "`test_orders.py::test_checkout[card]`<br>got 79 % faster (120 ms -&gt; 25 ms) · `test_orders.py::test_refund`"
        "<br>got 95 % faster (180 ms -&gt; 9.6 ms) · `test_stock.py::test_restock`<br>setup got 79 % faster "
        "(16 ms -&gt; 3.3 ms per call) · fixture `catalogue`</details> | \u2013 |",
        "| 🟢 better | got 86 % faster (2.2 ms -&gt; 313 µs per execution)<br>**improvement** · statement "
        "`SELECT count(*) FROM product` · 2 runs | \u2013 |",
        "| 🔴 high | got 34 % slower<br>**regression** · `test_orders.py::test_checkout[card]` · 6 runs | \\~100 ms |",
    ]
    page = Page(to_html(markdown))
    assert page.rows[1][1].startswith("the suite's setup fell")
    # The fold in the cell (before the table ends: its rows' cells are after it), then "each finding in full".
    assert [tag for tag in page.tags if tag in ("details", "summary")] == ["details", "summary"] * 2
    assert page.tags.index("details") < len(page.tags) - page.tags[::-1].index("td")
    assert len(page.rows) == 4  # the header and three rows: the folded findings have none
    assert markdown.count("   Where: ") == 3  # and no item of their own in full
