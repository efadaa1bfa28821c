"""The HTML report: one self-contained, inert file, checked as markup and in a real browser.

The browser tests run Debian's Chromium headless (``apt-get install -y chromium``). They
are skipped when it is absent, except on CI (``CI`` set), where its absence fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from dataclasses import fields, replace
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from otel_pytest.analyze.analysis import Analysis, Waterfall, WaterfallBar
from otel_pytest.analyze.findings import (
    DurationImprovement,
    DurationRegression,
    Finding,
    Location,
    Measurement,
    RegressionRule,
    Written,
)
from otel_pytest.analyze.report.html import CSP, history_chart, render
from otel_pytest.analyze.report.words import brief, words
from tests.analyze.report.samples import (
    ACTING_TEST,
    DURATIONS,
    IMPROVEMENT,
    REGRESSION,
    STEP_RUN,
    VISIBLE_NOTE,
    VISIBLE_TEST,
    VISIBLE_TITLE,
    WATERFALL,
    acting_analysis,
    empty_analysis,
    fold_analysis,
    run_id,
    sample_analysis,
    status_analysis,
    written,
)

CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')
INJECTED = '<script>document.title="PWNED"</script><img src=x onerror="document.title=\'PWNED\'"></h3><b>bold</b>'
HOSTILE = Finding(
    kind="flaky",
    severity="low",
    location=Location(test='tests/t.py::test_login["><script>x</script>]'),
    measurements=(Measurement("<i>runs</i>", 4, "count"),),
    detail=Written(
        title=f"test_login {INJECTED} flips",
        confidence="<em>sure</em>",
        suggestion="<a href='https://example.com'>click</a>",
    ),
    evidence={"change_point_run": '"><script>x</script>'},
    history=(("r1<", 0.1), ("r2&", 0.2)),
)


class Dom(HTMLParser):
    """Elements (tag, attributes) and text by element of an HTML document."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[tuple[str, str]] = []  # (innermost open tag with its class, text)
        self._open: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag not in ("meta", "br", "line", "circle", "polyline", "rect", "img", "input", "link"):
            self._open.append(f"{tag}.{attributes.get('class', '')}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].split(".")[0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((self._open[-1] if self._open else "", data))

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and (cls is None or cls in attrs.get("class", "").split())
        ]

    def text_of(self, tag_and_class: str) -> list[str]:
        return [text for where, text in self.texts if where == tag_and_class]


# -- the markup ----------------------------------------------------------------------------


def test_the_page_is_self_contained_no_script_no_external_resource() -> None:
    page = render(sample_analysis())
    assert page.startswith("<!DOCTYPE html>\n")
    assert "<script" not in page.lower()
    references = re.findall(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?([^"' >]*)""", page)
    assert references
    assert all(reference.startswith("#finding-") for reference in references)
    assert "url(" not in page
    assert "@import" not in page
    assert "@font-face" not in page
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    dom = Dom(page)
    assert dom.find("meta", None)[1] == {"http-equiv": "Content-Security-Policy", "content": CSP}
    assert "default-src 'none'" in CSP
    assert "script-src" not in CSP


def test_text_from_a_finding_is_escaped_everywhere() -> None:
    page = render(Analysis(findings=(HOSTILE,), runs_analyzed=2, current_run="r2&"))
    dom = Dom(page)
    assert not dom.find("script")
    assert not dom.find("img")
    assert not dom.find("i")
    assert not dom.find("em")
    assert "bold" not in dom.text_of("b.")
    assert dom.text_of("h3.title") == [words(HOSTILE).title]
    assert "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;" in page
    assert [attrs["href"] for attrs in dom.find("a")] == ["#finding-1"]


def test_each_finding_is_a_card_with_its_numbers_confidence_fix_and_saving() -> None:
    dom = Dom(render(sample_analysis()))
    cards = dom.find("article", "finding")
    assert [card["class"] for card in cards] == ["finding high"] * 2 + ["finding medium"] * 2 + ["finding low"] * 2
    assert [card["id"] for card in cards] == [f"finding-{n}" for n in range(1, 7)]
    titles = dom.text_of("h3.title")
    assert titles[:2] == ["A new engine and physical connection for every test", "got 34 % slower"]
    assert '<p class="where"><code>tests/test_orders.py::test_checkout[card]</code></p>' in render(sample_analysis())
    assert dom.text_of("p.state") == [f"Open since run {run_id(STEP_RUN)} (revision 9c1d2e3f4a5b), 7 runs."]
    assert dom.text_of("span.tag state") == ["7 runs", "7 runs"]  # overview row and card
    assert dom.text_of("td.baseline")[:1] == ["baseline 1"]
    assert "exact counts over 200 tests" in dom.text_of("p.confidence")
    assert dom.text_of("span.tag provisional") == ["provisional", "provisional"]  # overview row and card


def test_a_finding_with_a_history_gets_a_chart_with_its_change_point_between_the_right_runs() -> None:
    dom = Dom(history_chart(REGRESSION))
    points = dom.find("circle", "point")
    assert len(points) == len(DURATIONS)
    xs = [float(point["cx"]) for point in points]
    (change,) = dom.find("line", "change-point")
    assert xs[STEP_RUN - 1] < float(change["x1"]) == float(change["x2"]) < xs[STEP_RUN]
    assert len(dom.find("circle", "after")) == len(DURATIONS) - STEP_RUN
    assert dom.find("circle", "current")[0]["cx"] == points[-1]["cx"]
    assert dom.text_of("text.change-label") == [f"first slower run {run_id(STEP_RUN)[:8]} (9c1d2e3f)"]
    assert dom.text_of("title.") == (
        ["baseline 307\u00a0ms", "now 412\u00a0ms"]
        + [f"first slower run {run_id(STEP_RUN)}, revision 9c1d2e3f4a5b6c7d8e9f"]
        + [f"run {run_id(n)}: {round(duration * 1000)}\u00a0ms" for n, duration in enumerate(DURATIONS)]
    )
    # Higher values are drawn higher: the step shows as a jump upwards.
    ys = [float(point["cy"]) for point in points]
    assert max(ys[STEP_RUN:]) < min(ys[:STEP_RUN])


def test_no_chart_without_a_series_and_no_marker_without_a_change_point() -> None:
    assert history_chart(replace(REGRESSION, history=())) == ""
    assert history_chart(replace(REGRESSION, history=((run_id(1), 0.3),))) == ""
    plain = Dom(history_chart(replace(REGRESSION, evidence={})))
    assert plain.find("polyline", "series")
    assert not plain.find("line", "change-point")
    unknown_run = Dom(history_chart(replace(REGRESSION, evidence={"change_point_run": "not-in-history"})))
    assert not unknown_run.find("line", "change-point")


def test_values_that_are_not_finite_are_left_out_of_the_chart() -> None:
    dom = Dom(
        history_chart(replace(REGRESSION, history=(("a", 1.0), ("b", float("nan")), ("c", float("inf")), ("d", 2.0))))
    )
    assert len(dom.find("circle", "point")) == 2


def test_a_series_of_counts_is_labelled_in_its_unit() -> None:
    counts = replace(
        REGRESSION,
        evidence={"history_unit": "count"},
        history=tuple((run_id(n), float(4 + (n > 10) * 3)) for n in range(20)),
    )
    dom = Dom(render(Analysis(findings=(counts,), runs_analyzed=20, current_run=run_id(19))))
    assert dom.text_of("figcaption.") == ["value per run (count) as measured"]
    assert dom.text_of("text.")[:4] == ["4", "5", "6", "7"]


def test_a_count_finding_s_series_is_counts_unless_it_says_otherwise() -> None:
    counts = replace(REGRESSION, kind="count", evidence={}, history=((run_id(1), 12.0), (run_id(2), 40.0)))
    assert Dom(history_chart(counts)).text_of("text.")[:3] == ["0", "10", "20"]
    seconds = replace(counts, evidence={"history_unit": "s"})
    assert Dom(history_chart(seconds)).text_of("text.")[:3] == ["0\u00a0s", "10.0\u00a0s", "20.0\u00a0s"]


def test_the_slowest_test_s_waterfall_draws_every_span_on_the_test_s_time_axis() -> None:
    dom = Dom(render(sample_analysis()))
    bars = dom.find("rect", "bar")
    assert len(bars) == len(WATERFALL.bars)
    assert [bar["class"].split()[1] for bar in bars] == [bar.kind for bar in WATERFALL.bars]
    setup, call = float(bars[0]["x"]), float(bars[7]["x"])
    assert setup < call
    assert float(bars[0]["width"]) > float(bars[7]["width"])
    labels = dom.text_of("text.label")
    assert labels[:3] == ["setup", "fixture engine", "connect"]
    assert dom.text_of("code.")[-1] == WATERFALL.test


def test_a_waterfall_cut_short_says_how_many_spans_are_not_drawn() -> None:
    waterfall = Waterfall("t", "r", 1.0, (WaterfallBar("setup", 0.0, 1.0, 0, "phase"),), omitted=12)
    page = render(Analysis(findings=(), runs_analyzed=3, current_run="r", waterfall=waterfall))
    assert "12 more spans not drawn." in page
    assert "Slowest test, span by span" not in render(empty_analysis())


def test_no_findings_is_said_plainly() -> None:
    dom = Dom(render(empty_analysis()))
    assert dom.text_of("p.") == [f"No findings: run {run_id(24)} was compared with 24 earlier runs."]
    assert not dom.find("article")


# -- in a real browser ---------------------------------------------------------------------

BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
)


def chromium() -> str:
    """Debian's Chromium, or a skip (a failure on CI, where it must be installed)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the HTML report's browser tests need Chromium on CI: apt-get install -y chromium")
        pytest.skip("Chromium is not installed (apt-get install -y chromium); required on CI")
    return found


def browse(tmp_path: Path, page: Path, *flags: str) -> str:
    """Run a fresh headless Chromium on ``page`` with ``flags``; its standard output."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run(
        [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dom]:
    """The sample report with a hostile finding added, as the browser built it."""
    folder = tmp_path_factory.mktemp("html")
    analysis = sample_analysis()
    page = folder / "report.html"
    page.write_text(render(replace(analysis, findings=(*analysis.findings, HOSTILE))), encoding="utf-8")
    return page, Dom(browse(folder, page, "--dump-dom"))


def test_the_browser_shows_every_finding_title_and_the_summary(shown: tuple[Path, Dom]) -> None:
    _, dom = shown
    assert dom.text_of("h3.title") == [*(brief(finding) for finding in sample_analysis().findings), brief(HOSTILE)]
    summary = dom.text_of("p.")
    assert "Fixing the 5 findings with a saving estimate saves ~39\u00a0s per run." in summary
    assert dom.text_of("h1.") == ["otel-pytest analyze"]


def test_the_browser_draws_the_history_chart_with_its_change_point(shown: tuple[Path, Dom]) -> None:
    _, dom = shown
    charts = dom.find("svg", "history")
    assert len(charts) == 2  # the regression's and the hostile finding's
    assert len(dom.find("polyline", "series")) == 2
    assert len(dom.find("circle", "point")) == len(DURATIONS) + 2
    assert len(dom.find("line", "change-point")) == 1
    assert dom.text_of("text.change-label") == [f"first slower run {run_id(STEP_RUN)[:8]} (9c1d2e3f)"]
    assert len(dom.find("rect", "bar")) == len(WATERFALL.bars)


def test_no_script_from_an_injected_title_runs_in_the_browser(shown: tuple[Path, Dom], tmp_path: Path) -> None:
    _, dom = shown
    page_title = f"otel-pytest analyze: run {run_id(24)} (revision 9c1d2e3f4a5b), 25 runs analyzed"
    assert dom.text_of("title.")[0] == page_title
    assert not dom.find("script")
    assert not dom.find("img")
    assert words(HOSTILE).title in dom.text_of("h3.title")
    # The control: in this browser, with these flags, an inline script does run.
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>before</title></head><body>{INJECTED}</body></html>")
    assert "<title>PWNED</title>" in browse(tmp_path, control, "--dump-dom")


def test_the_browser_renders_a_screenshot_of_the_page(shown: tuple[Path, Dom], tmp_path: Path) -> None:
    page, _ = shown
    shot = tmp_path / "report.png"
    browse(tmp_path, page, "--window-size=1200,2600", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2600)
    assert len(data) > 100_000  # a page of text and charts, not a blank one (blank: ~10 kB)


def test_backticked_names_in_a_fix_are_shown_as_code_and_stay_escaped() -> None:
    fix = "Make `engine` session-scoped; not `<b>x</b>`, nor `a & b`."
    said = words(REGRESSION)
    finding = replace(REGRESSION, detail=Written(said.title, said.confidence, fix))
    page = render(Analysis(findings=(finding,), runs_analyzed=2, current_run="r"))
    assert (
        "<b>Fix:</b> Make <code>engine</code> session-scoped; not <code>&lt;b&gt;x&lt;/b&gt;</code>, "
        "nor <code>a &amp; b</code>."
    ) in page


def test_the_overview_links_each_row_to_its_own_card_even_for_an_unsorted_analysis() -> None:
    analysis = sample_analysis()
    dom = Dom(render(replace(analysis, findings=tuple(reversed(analysis.findings)))))
    assert dom.text_of("a.") == dom.text_of("h3.title")  # row n's title is card n's title
    assert [link["href"] for link in dom.find("a")] == [f"#{card['id']}" for card in dom.find("article")]
    assert [card["class"] for card in dom.find("article")][::2] == ["finding high", "finding medium", "finding low"]


def test_characters_that_act_on_a_terminal_or_reorder_text_are_shown_as_their_escapes() -> None:
    analysis = replace(
        acting_analysis(),
        waterfall=replace(
            WATERFALL, test=ACTING_TEST, bars=(WaterfallBar("SELECT \u202e\x1b[2J", 0.0, 0.01, 0, "query"),)
        ),
    )
    page = render(analysis)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\udcff]", page), repr(page)
    dom = Dom(page)
    assert dom.text_of("h3.title") == [VISIBLE_TITLE.removeprefix(f"{VISIBLE_TEST} ")]
    assert dom.text_of("li.") == [VISIBLE_NOTE]
    assert f"<code>{VISIBLE_TEST}</code>" in page
    assert "fixture <code>db\\x1b[31m</code>" in page
    assert "<title>SELECT \\u202e\\x1b[2J: 10 ms, from +0 s</title>" in page.replace("\u00a0", " ")


# -- at a glance: titles, status, scales, untraced time, layout ------------------------------


def test_fixes_and_improvements_lead_with_their_own_badge_and_each_card_says_since_when() -> None:
    dom = Dom(render(status_analysis()))
    assert [card["class"] for card in dom.find("article")] == [
        "finding good",
        "finding good",
        "finding high",
        "finding high",
    ]
    assert dom.text_of("h2.")[1:3] == ["Fixed or improved ", "High "]
    assert dom.text_of("span.badge good") == ["fixed", "better"] * 2  # overview and cards
    assert dom.text_of("p.state") == [
        f"Fixed in run {run_id(10)} (revision 2222222222bb); it held from run {run_id(3)} (revision 1111111111aa).",
        f"Better since run {run_id(19)} (revision 3333333333cc), 6 runs.",
        f"New in run {run_id(24)} (revision 9c1d2e3f4a5b).",
        f"Open since run {run_id(STEP_RUN)} (revision 9c1d2e3f4a5b), 7 runs.",
    ]


def test_titles_show_backticked_names_as_code_escaped_and_without_the_place() -> None:
    titled = written(
        "Fixture `engine` (function scope) runs 8 times; not `<b>x</b>`",
        Location(fixture="engine", file="conftest.py", line=3),
    )
    page = render(Analysis(findings=(titled,), runs_analyzed=2, current_run="r"))
    assert '<h3 class="title">runs 8 times; not <code>&lt;b&gt;x&lt;/b&gt;</code></h3>' in page
    assert '<a href="#finding-1">runs 8 times; not <code>&lt;b&gt;x&lt;/b&gt;</code></a>' in page
    assert "fixture <code>engine</code> <code>conftest.py:3</code>" in page  # the place, below the title


def _duration(*, index_applied: bool) -> DurationRegression:
    rule = RegressionRule(5, 25, 1.5, True, 0.05, 0.05, 10)
    return DurationRegression(
        "test", REGRESSION.location.test or "", 1, "runs", 0.412, 0.307, 1.342, 0.0004, 0.001, 5, 20, 3, 40,
        1.08, index_applied, 25, run_id(24), None, None, rule,
    )  # fmt: skip


def test_a_chart_says_whether_its_values_are_the_numbers_beside_and_draws_their_levels_only_then() -> None:
    raw_beside_normalised = replace(REGRESSION, detail=_duration(index_applied=True))
    dom = Dom(render(Analysis(findings=(raw_beside_normalised,), runs_analyzed=25, current_run="r")))
    assert dom.text_of("figcaption.") == ["duration per run as measured, not speed-normalised like the numbers beside"]
    assert dom.text_of("caption.") == ["durations speed-normalised"]
    assert not dom.find("line", "level")
    normalised = replace(raw_beside_normalised, evidence={**REGRESSION.evidence, "history_scale": "normalised"})
    dom = Dom(render(Analysis(findings=(normalised,), runs_analyzed=25, current_run="r")))
    assert dom.text_of("figcaption.") == ["duration per run, speed-normalised, as the numbers beside"]
    assert dom.text_of("text.level-label") == ["baseline 307\u00a0ms", "now 412\u00a0ms"]
    raw = replace(REGRESSION, detail=_duration(index_applied=False))
    dom = Dom(render(Analysis(findings=(raw,), runs_analyzed=25, current_run="r")))
    assert dom.text_of("figcaption.") == ["duration per run as measured"]
    assert not dom.find("caption")
    levels = dom.find("line", "level")
    points = {round(float(point["cy"]), 1) for point in dom.find("circle", "point")}
    assert len(levels) == 2
    # The lines sit among the points: the baseline below the newest ones, above the oldest.
    assert min(points) < float(levels[0]["y1"]) < max(points)


def test_an_improvement_s_numbers_are_said_to_be_speed_normalised_as_a_regression_s_are() -> None:
    faster = _duration(index_applied=True)
    improvement = replace(
        IMPROVEMENT, detail=DurationImprovement(**{f.name: getattr(faster, f.name) for f in fields(faster)})
    )
    dom = Dom(
        render(
            Analysis(findings=(replace(improvement, history=REGRESSION.history),), runs_analyzed=25, current_run="r")
        )
    )
    assert dom.text_of("figcaption.") == ["duration per run as measured, not speed-normalised like the numbers beside"]
    assert dom.text_of("caption.") == ["durations speed-normalised"]


def test_the_waterfall_draws_untraced_time_dashed_and_says_how_much_and_gc_pauses_in_their_colour() -> None:
    waterfall = Waterfall(
        "t",
        "r",
        1.0,
        (
            WaterfallBar("setup", 0.0, 0.45, 0, "phase"),
            WaterfallBar("fixture db", 0.0, 0.1, 1, "fixture"),
            WaterfallBar("untraced", 0.1, 0.35, 1, "untraced"),
            WaterfallBar("call", 0.45, 0.55, 0, "phase"),
            WaterfallBar("gc gen 2", 0.5, 0.05, 1, "gc"),
            WaterfallBar("untraced", 0.97, 0.03, 0, "untraced"),
        ),
    )
    page = render(Analysis(findings=(), runs_analyzed=2, current_run="r", waterfall=waterfall))
    dom = Dom(page)
    assert [bar["class"] for bar in dom.find("rect", "bar")] == [
        "bar phase",
        "bar fixture",
        "bar untraced",
        "bar phase",
        "bar gc",
        "bar untraced",
    ]
    assert dom.text_of("text.label") == ["setup", "fixture db", "untraced", "call", "gc gen 2", "untraced"]
    titles = dom.text_of("title.")
    assert "untraced: 350\u00a0ms, from +100\u00a0ms: no span accounts for this time" in titles
    assert "gc gen 2: 50\u00a0ms, from +500\u00a0ms" in titles
    assert dom.text_of("span.") == ["phase", "fixture", "garbage collection", "untraced"]
    assert "Untraced: 380\u00a0ms in 2 places (dashed), where no span accounts for the time." in page


LONG_ID = (
    "tests/integration/" + "deeply_nested_package/" * 3 + "test_" + "long_module_name_" * 4 + ".py::TestCheckout::"
    "test_" + "x" * 80 + "[card-" + "y" * 50 + "]"
)
LONG = replace(
    REGRESSION,
    location=Location(test=LONG_ID, fixture="engine_" + "z" * 70, file="tests/conftest.py", line=9),
    detail=Written(
        f"{LONG_ID} got 34 % slower, in `fixture_{'w' * 90}`",
        "p=0.0004 " + "q" * 120,
        f"Make `engine_{'z' * 70}` session-scoped.",
    ),
)
# Layout, measured by the browser inside the report: an iframe (its width is the viewport
# the report sees) whose srcdoc page is the report, the CSP left out so the harness can read it.
HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="report" style="width:{width}px;height:3000px;border:0" srcdoc="{page}"></iframe>
<script>
const frame = document.getElementById("report");
frame.addEventListener("load", () => {{
  const view = frame.contentWindow, doc = frame.contentDocument, width = view.innerWidth;
  const beyond = [...doc.querySelectorAll("body *")]
    .filter(element => element.getBoundingClientRect().right > width + 0.5)
    .map(element => element.tagName.toLowerCase() + "." + (element.getAttribute("class") || ""));
  const scrolling = [...doc.querySelectorAll("body *")]  // boxes whose content is wider than they are
    .filter(element => element.clientWidth && element.scrollWidth > element.clientWidth + 1)
    .map(element => element.tagName.toLowerCase() + "." + (element.getAttribute("class") || ""));
  const result = {{
    width, scrolled: doc.documentElement.scrollWidth, beyond, scrolling,
    titles: [...doc.querySelectorAll("h3.title, table.overview a")].map(element => element.textContent),
    codes: doc.querySelectorAll("h3.title code").length,
  }};
  const out = document.createElement("pre");
  out.id = "layout";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}});
</script></body></html>"""


@pytest.mark.parametrize("width", [1280, 390])
def test_in_the_browser_nothing_overflows_and_no_title_shows_a_backtick(tmp_path: Path, width: int) -> None:
    analysis = replace(sample_analysis(), findings=(*sample_analysis().findings, HOSTILE, LONG))
    page = CSP_META.sub("", render(analysis))
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS.format(width=width, page=escape(page)), encoding="utf-8")
    dumped = browse(tmp_path, harness, "--window-size=1400,3000", "--dump-dom")
    found = re.search(r'<pre id="layout">(.*?)</pre>', dumped, flags=re.S)
    assert found, dumped[-2000:]
    layout = json.loads(unescape(found.group(1)))
    assert (layout["width"], layout["scrolled"], layout["beyond"], layout["scrolling"]) == (width, width, [], [])
    assert len(layout["titles"]) == 2 * len(analysis.findings)
    assert not [title for title in layout["titles"] if "`" in title]
    assert layout["codes"] == 1  # the long finding's backticked fixture, as code


def test_improvements_of_the_fix_are_folded_under_the_suite_s_setup_in_the_overview_and_the_cards() -> None:
    page = render(fold_analysis())
    dom = Dom(page)
    summary = f"and 3 tests, 1 fixture faster from the same step (first faster run {run_id(18)})"
    assert dom.text_of("summary.") == [summary, summary]  # the overview's fold and the cards'
    assert [card["id"] for card in dom.find("article")] == [f"finding-{number}" for number in range(1, 8)]
    overview = page[page.index('<table class="overview">') : page.index("</table>")]
    folded = overview[overview.index('<details class="fold">') : overview.index("</details>")]
    assert re.findall(r'<a href="#(finding-\d)">([^<]*)</a>', folded) == [
        ("finding-2", "got 83 % faster (160 ms -&gt; 28 ms)"),
        ("finding-3", "got 79 % faster (120 ms -&gt; 25 ms)"),
        ("finding-4", "got 95 % faster (180 ms -&gt; 9.6 ms)"),
        ("finding-5", "setup got 79 % faster (16 ms -&gt; 3.3 ms per call)"),
    ]
    assert overview.count("<tr>") == 4  # the header and three rows: the folded findings have none
    cards = page[page.index("</table>") :]
    fold = cards[cards.index('<details class="fold">') : cards.index("</details>")]
    assert re.findall(r'<article class="finding (\w+)" id="(finding-\d)">', fold) == [
        ("good", f"finding-{number}") for number in range(2, 6)
    ]
    assert cards.index('id="finding-1"') < cards.index('<details class="fold">') < cards.index('id="finding-6"')
    assert dom.text_of("h2.")[1:3] == ["Fixed or improved ", "High "]
    assert dom.text_of("span.count")[:2] == ["6 findings", "1 finding, saves ~100\u00a0ms per run"]
