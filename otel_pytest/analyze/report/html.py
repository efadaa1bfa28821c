"""The report as one self-contained HTML file: inline CSS, inline SVG charts drawn here,
no script, no font, no external resource of any kind (a Content-Security-Policy in the
page forbids them, so a report opened from a CI artifact cannot phone home or run code).

Per finding: what, where, the numbers, how sure, the fix, and, when the finding carries
a history, the series across runs with the change point marked. When the analysis
carries the slowest test's spans, a waterfall of them. Every piece of text from the
analysis goes through :func:`_escape` (control characters made visible, then
:func:`html.escape`).

Evidence keys this view understands: ``change_point_run`` (the run id where a step
started), ``change_point_revision``, ``history_unit`` (the unit of ``Finding.history``'s
values; when absent, counts for a ``count`` finding, else seconds) and ``history_scale``
(``raw``, the default, or ``normalised``: speed-normalised values, as a duration
regression's numbers are). The chart's caption says which values it shows, and draws the
numbers' baseline and current value as lines when they are on the chart's scale.

The improvements of one fix (:func:`~otel_pytest.analyze.report.wording.folds`) are folded
under the suite's setup improvement, in the overview and among the cards alike, each in a
``<details>`` that says what it holds.

Titles are shown without the place they name (:func:`~otel_pytest.analyze.report.words.brief`;
the place is the line below), and names the words put in backticks become ``<code>``.
Long names wrap anywhere rather than widen the page (checked in a browser at 1280 and
390 pixels). The waterfall draws the bars the analysis holds: spans by kind, garbage-collection
pauses (kind ``gc``), and untraced time (kind ``untraced``: where no span accounts for the
time, found by :mod:`otel_pytest.analyze.waterfall`) dashed and labelled, their total said
below the chart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape

from otel_pytest.analyze.analysis import Analysis, Waterfall
from otel_pytest.analyze.findings import DurationChange, Finding, Measurement
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.words import brief, words
from otel_pytest.analyze.waterfall import UNTRACED
from otel_pytest.plural import plural

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
:root {
  --ink: #1d2330; --muted: #5b6476; --line: #d9dde5; --paper: #ffffff; --panel: #f6f7f9;
  --high: #c62828; --medium: #e07b00; --low: #1e63b8; --good: #2e7d32;
  --phase: #8a94a6; --fixture: #8e44ad; --query: #1e88e5; --transaction: #2e9d57;
  --connection: #d84315; --gc: #6d4c41; --other: #9e9e9e;
}
@media (prefers-color-scheme: dark) {
  :root { --ink: #e4e7ee; --muted: #9aa3b5; --line: #3a4150; --paper: #161a22; --panel: #1f2430; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--paper); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main, body > header, body > footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
body > header { padding-top: 28px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 36px 0 12px; display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; }
h2 .count { font-size: 14px; font-weight: normal; color: var(--muted); }
h3 { font-size: 16px; margin: 0; overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
  overflow-wrap: anywhere; }
.meta { color: var(--muted); margin: 0 0 14px; }
.summary p { margin: 2px 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 8px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
  min-width: 120px; }
.tile b { display: block; font-size: 22px; }
.tile span { color: var(--muted); font-size: 13px; }
.tile.high b { color: var(--high); } .tile.medium b { color: var(--medium); } .tile.low b { color: var(--low); }
.tile.saving b, .tile.good b { color: var(--good); }
table.overview { width: 100%; border-collapse: collapse; margin: 8px 0; font-size: 14px; }
table.overview th, table.overview td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: anywhere; }
table.overview .facts { display: block; color: var(--muted); font-size: 13px; }
table.overview td.num, table.overview th.num { text-align: right; white-space: nowrap; }
table.overview a { color: inherit; }
.badge { display: inline-block; border-radius: 4px; padding: 0 7px; font-size: 12px; font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; color: #fff; white-space: nowrap; }
.badge.high { background: var(--high); } .badge.medium { background: var(--medium); }
.badge.low { background: var(--low); } .badge.good { background: var(--good); }
.tag { display: inline-block; border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; font-size: 12px;
  color: var(--muted); white-space: nowrap; }
.tag.provisional { border-color: var(--medium); color: var(--medium); }
article.finding { border: 1px solid var(--line); border-left: 5px solid var(--low); border-radius: 8px;
  padding: 14px 18px; margin: 0 0 16px; background: var(--paper); }
article.finding.high { border-left-color: var(--high); }
article.finding.medium { border-left-color: var(--medium); }
article.finding.good { border-left-color: var(--good); }
.finding .labels { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 4px; }
.finding .state { color: var(--muted); font-size: 13px; margin: -6px 0 10px; }
.finding .where { color: var(--muted); margin: 2px 0 10px; overflow-wrap: anywhere; }
.finding .body { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.25fr); gap: 20px; }
.finding .body.wide { grid-template-columns: minmax(0, 1fr); }
@media (max-width: 760px) { .finding .body { grid-template-columns: minmax(0, 1fr); } }
table.numbers { border-collapse: collapse; font-size: 14px; margin-bottom: 8px; }
table.numbers th { text-align: left; font-weight: normal; color: var(--muted); padding: 2px 14px 2px 0;
  overflow-wrap: anywhere; }
table.numbers caption { text-align: left; color: var(--muted); font-size: 12px; }
table.numbers td { padding: 2px 10px 2px 0; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.numbers td.baseline { color: var(--muted); }
main p, main li { overflow-wrap: anywhere; }
.confidence { color: var(--muted); font-size: 13px; margin: 4px 0; }
.fix { background: var(--panel); border-radius: 6px; padding: 8px 12px; margin: 10px 0 4px; }
.fix b { color: var(--good); }
.saving { font-size: 14px; margin: 6px 0 0; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12px; margin-bottom: 2px; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { fill: var(--muted); font-size: 11px; font-family: inherit; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .series { fill: none; stroke: var(--muted); stroke-width: 1.5; }
svg .point { fill: var(--muted); }
svg .point.after { fill: var(--high); }
svg .point.current { stroke: var(--ink); stroke-width: 1.5; }
svg .change-point { stroke: var(--high); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .level { stroke: var(--ink); stroke-width: 1; stroke-dasharray: 2 3; opacity: .7; }
svg text.level-label { fill: var(--ink); }
svg text.change-label { fill: var(--high); font-weight: 600; }
svg .bar { rx: 2; }
svg .bar.phase { fill: var(--phase); } svg .bar.fixture { fill: var(--fixture); }
svg .bar.query { fill: var(--query); } svg .bar.transaction { fill: var(--transaction); }
svg .bar.connection { fill: var(--connection); } svg .bar.other { fill: var(--other); }
svg .bar.gc { fill: var(--gc); }
svg .bar.untraced { fill: none; stroke: var(--high); stroke-width: 1; stroke-dasharray: 3 2; }
svg text.label { fill: var(--ink); }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: var(--muted); margin: 6px 0; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.legend i.phase { background: var(--phase); } .legend i.fixture { background: var(--fixture); }
.legend i.query { background: var(--query); } .legend i.transaction { background: var(--transaction); }
.legend i.connection { background: var(--connection); } .legend i.gc { background: var(--gc); }
.legend i.other { background: var(--other); } .legend i.untraced { border: 1px dashed var(--high); }
details.fold { margin: -6px 0 16px; }
details.fold > summary { cursor: pointer; color: var(--muted); margin-bottom: 10px; }
table.overview details.fold { margin: 4px 0 0; font-size: 13px; }
table.overview details.fold > summary { margin: 0; }
table.overview details.fold ul { margin: 4px 0 0; padding-left: 18px; }
.empty { background: var(--panel); border-radius: 8px; padding: 18px 20px; font-size: 16px; }
.notes li { overflow-wrap: anywhere; }
body > footer { color: var(--muted); font-size: 12px; padding: 30px 24px 40px; }
"""

_BACKTICKED = re.compile(r"`([^`]+)`")
_KIND_LABEL = {
    "phase": "phase",
    "fixture": "fixture",
    "query": "query",
    "transaction": "transaction",
    "connection": "connection",
    "gc": "garbage collection",
    UNTRACED: "untraced",
    "other": "other",
}


def _escape(text: str) -> str:
    """The page's one escaping: characters that act instead of showing (escape sequences
    for whoever reads the file in a terminal, bidirectional overrides that would show a
    test id reversed) as their escapes (:func:`~otel_pytest.analyze.report.wording.visible`),
    then ``& < > " '`` as entities."""
    return escape(wording.visible(text))


def _number(value: float) -> str:
    """A coordinate for SVG: short, and never in exponent form."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def _nice_step(span: float, target: int) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``target`` ticks over ``span``."""
    raw = span / max(target, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop always returns


def _ticks(low: float, high: float, target: int = 4) -> list[float]:
    """Round values between ``low`` and ``high``, about ``target`` steps apart."""
    step = _nice_step(high - low, target)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _scale(values: Sequence[float]) -> tuple[float, float, list[float]]:
    """An axis for ``values``: from zero when the data is near it, otherwise hugging the
    data (so a 20 % step shows), with both ends on a round tick."""
    low, high = min(values), max(values)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad
    elif 0 <= low <= 0.4 * high:
        low = 0.0
    step = _nice_step(high - low, 4)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    ticks = [round(k * step, 12) for k in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def history_unit(finding: Finding) -> str:
    """The unit of ``finding.history``'s values (see the module docstring)."""
    return finding.evidence.get("history_unit") or ("count" if finding.kind == "count" else "s")


def history_scale(finding: Finding) -> str:
    """``raw`` or ``normalised``: the scale of ``finding.history``'s values (see the module docstring)."""
    return finding.evidence.get("history_scale") or "raw"


def _normalised_numbers(finding: Finding) -> bool:
    """Whether the finding's numbers are speed-normalised (a duration regression's or
    improvement's are, when the speed index was applied)."""
    return isinstance(finding.detail, DurationChange) and finding.detail.index_applied


def chart_caption(finding: Finding) -> str:
    """What the chart of ``finding.history`` shows, and whether that is the numbers' scale."""
    unit = history_unit(finding)
    what = "duration per run" if unit == "s" else f"value per run ({unit})"
    if history_scale(finding) == "normalised":
        return f"{what}, speed-normalised, as the numbers beside"
    if _normalised_numbers(finding):
        return f"{what} as measured, not speed-normalised like the numbers beside"
    return f"{what} as measured"


def levels(finding: Finding) -> list[tuple[str, float]]:
    """The numbers' baseline and current value, to draw on the chart as lines: those of
    the first measurement in the chart's unit that has a baseline, and only when the chart
    is on the numbers' scale (a raw series beside speed-normalised numbers gets none)."""
    raw_beside_normalised = history_scale(finding) == "raw" and _normalised_numbers(finding)
    unit = history_unit(finding)
    for item in finding.measurements:
        if item.unit == unit and item.baseline is not None and not raw_beside_normalised:
            shown = [("baseline", item.baseline), ("now", item.value)]
            return [(name, amount) for name, amount in shown if math.isfinite(amount)]
    return []


def history_chart(finding: Finding) -> str:
    """An SVG line chart of ``finding.history``, with the change point marked when the
    finding names one (``evidence["change_point_run"]``) and the numbers' baseline and
    current value as dotted lines (:func:`levels`). Empty when there is no series."""
    points = [(run, amount) for run, amount in finding.history if math.isfinite(amount)]
    if len(points) < 2:
        return ""
    unit = history_unit(finding)
    width, height = 560.0, 190.0
    left, right, top, bottom = 64.0, 14.0, 22.0, 30.0
    marked = levels(finding)
    low, high, ticks = _scale([amount for _, amount in points] + [amount for _, amount in marked])
    span = (high - low) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(index: int) -> float:
        return left + plot_w * index / (len(points) - 1)

    def y(amount: float) -> float:
        return top + plot_h * (1 - (amount - low) / span)

    runs = [run for run, _ in points]
    change_run = finding.evidence.get("change_point_run")
    change = runs.index(change_run) if change_run in runs else None
    parts = [
        f'<svg class="history" viewBox="0 0 {_number(width)} {_number(height)}" role="img" '
        f'aria-label="{_escape(f"{words(finding).title}: value per run")}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{_number(left)}" x2="{_number(width - right)}" '
            f'y1="{_number(ty)}" y2="{_number(ty)}"/>'
        )
        parts.append(
            f'<text x="{_number(left - 6)}" y="{_number(ty + 4)}" text-anchor="end">'
            f"{_escape(wording.value(tick, unit))}</text>"
        )
    for name, amount in marked:
        ly = y(amount)
        label = f"{name} {wording.value(amount, unit)}"
        parts.append(
            f'<line class="level" x1="{_number(left)}" x2="{_number(width - right)}" '
            f'y1="{_number(ly)}" y2="{_number(ly)}"><title>{_escape(label)}</title></line>'
        )
        parts.append(f'<text class="level-label" x="{_number(left + 4)}" y="{_number(ly - 3)}">{_escape(label)}</text>')
    path = " ".join(f"{_number(x(i))},{_number(y(amount))}" for i, (_, amount) in enumerate(points))
    parts.append(f'<polyline class="series" points="{path}"/>')
    if change is not None:
        cx = x(change) - (plot_w / (len(points) - 1) / 2 if change > 0 else 0)
        revision = finding.evidence.get("change_point_revision")
        role = wording.step_role(finding.kind)
        label = f"{role} {runs[change][:8]}" + (f" ({revision[:8]})" if revision else "")
        anchor = "end" if cx > left + plot_w * 0.6 else "start"
        offset = -4 if anchor == "end" else 4
        tooltip = f"{role} {runs[change]}" + (f", revision {revision}" if revision else "")
        parts.append(
            f'<line class="change-point" x1="{_number(cx)}" x2="{_number(cx)}" '
            f'y1="{_number(top - 6)}" y2="{_number(top + plot_h)}"><title>{_escape(tooltip)}</title></line>'
        )
        parts.append(
            f'<text class="change-label" x="{_number(cx + offset)}" y="{_number(top - 9)}" '
            f'text-anchor="{anchor}">{_escape(label)}</text>'
        )
    for index, (run, amount) in enumerate(points):
        classes = ["point"]
        if change is not None and index >= change:
            classes.append("after")
        if index == len(points) - 1:
            classes.append("current")
        radius = 3.6 if index == len(points) - 1 else 2.6
        parts.append(
            f'<circle class="{" ".join(classes)}" cx="{_number(x(index))}" cy="{_number(y(amount))}" '
            f'r="{radius}"><title>{_escape(f"run {run}: {wording.value(amount, unit)}")}</title></circle>'
        )
    baseline_y = top + plot_h + 18
    parts.append(f'<text x="{_number(left)}" y="{_number(baseline_y)}">{_escape(runs[0][:8])}</text>')
    parts.append(
        f'<text x="{_number(width - right)}" y="{_number(baseline_y)}" text-anchor="end">'
        f"{_escape(runs[-1][:8])} (current)</text>"
    )
    parts.append(
        f'<text x="{_number(left + plot_w / 2)}" y="{_number(baseline_y)}" text-anchor="middle">'
        f"{len(points)} runs, oldest to newest</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def waterfall_chart(waterfall: Waterfall) -> str:
    """An SVG waterfall: one row per bar, placed on the test's own time axis; untraced
    time dashed, its tooltip saying that no span accounts for it."""
    bars = list(waterfall.bars)
    if not bars:
        return ""
    row, label_w, right, top = 20.0, 230.0, 70.0, 26.0
    width = 1000.0
    height = top + row * len(bars) + 8
    total = max([waterfall.duration, *(bar.start + bar.duration for bar in bars)]) or 1.0
    plot_w = width - label_w - right

    def x(at: float) -> float:
        return label_w + plot_w * at / total

    parts = [
        f'<svg class="waterfall" viewBox="0 0 {_number(width)} {_number(height)}" role="img" '
        f'aria-label="{_escape(f"spans of {waterfall.test}")}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in _ticks(0.0, total, 6):
        tx = x(tick)
        parts.append(
            f'<line class="grid" x1="{_number(tx)}" x2="{_number(tx)}" y1="{_number(top - 6)}" '
            f'y2="{_number(height - 4)}"/>'
        )
        parts.append(
            f'<text x="{_number(tx)}" y="{_number(top - 10)}" text-anchor="middle">'
            f"{_escape(wording.seconds(tick))}</text>"
        )
    for index, bar in enumerate(bars):
        ty = top + row * index
        kind = bar.kind if bar.kind in _KIND_LABEL else "other"
        name = bar.name if len(bar.name) <= 32 else bar.name[:31] + "…"
        parts.append(
            f'<text class="label" x="{_number(8 + 14 * bar.depth)}" y="{_number(ty + 14)}">{_escape(name)}</text>'
        )
        bar_w = max(plot_w * bar.duration / total, 1.5)
        why = ": no span accounts for this time" if kind == UNTRACED else ""
        tooltip = f"{bar.name}: {wording.seconds(bar.duration)}, from +{wording.seconds(bar.start)}{why}"
        parts.append(
            f'<rect class="bar {kind}" x="{_number(x(bar.start))}" y="{_number(ty + 3)}" '
            f'width="{_number(bar_w)}" height="{_number(row - 6)}"><title>{_escape(tooltip)}</title></rect>'
        )
        parts.append(
            f'<text x="{_number(x(bar.start) + bar_w + 5)}" y="{_number(ty + 14)}">'
            f"{_escape(wording.seconds(bar.duration))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _prose(text: str) -> str:
    """Escaped text in which `backticked` names (as detectors write them) become code."""
    return _BACKTICKED.sub(r"<code>\1</code>", _escape(text))


def _measurements(items: Sequence[Measurement], *, normalised: bool = False) -> str:
    if not items:
        return ""
    rows = []
    for item in items:
        baseline = "" if item.baseline is None else f"baseline {wording.value(item.baseline, item.unit)}"
        rows.append(
            f"<tr><th>{_escape(item.name)}</th><td>{_escape(wording.value(item.value, item.unit))}</td>"
            f'<td class="baseline">{_escape(baseline)}</td></tr>'
        )
    caption = "<caption>durations speed-normalised</caption>" if normalised else ""
    return f'<table class="numbers">{caption}{"".join(rows)}</table>'


def _where(finding: Finding) -> str:
    location = finding.location
    parts = []
    if location.test:
        parts.append(f"<code>{_escape(location.test)}</code>")
    if location.fixture:
        site = f" <code>{_escape(f'{location.file}:{location.line}')}</code>" if location.file else ""
        parts.append(f"fixture <code>{_escape(location.fixture)}</code>{site}")
    elif location.file and not location.test:
        parts.append(f"<code>{_escape(f'{location.file}:{location.line}')}</code>")
    if location.fingerprint:
        parts.append(f"statement <code>{_escape(location.fingerprint)}</code>")
    return " · ".join(parts) or "the suite"


def _short_where(finding: Finding) -> str:
    """The place, short (:func:`~otel_pytest.analyze.report.wording.places`), names as code."""
    shown = [f"{_escape(what)} <code>{_escape(name)}</code>".strip() for what, name in wording.places(finding.location)]
    return ", ".join(shown) or "the suite"


def _badge(finding: Finding) -> str:
    """The severity of an open problem; ``fixed`` or ``better`` for good news."""
    if wording.is_good(finding):
        return f'<span class="badge good">{"fixed" if finding.status == "closed" else "better"}</span>'
    severity = _escape(finding.severity)
    return f'<span class="badge {severity}">{severity}</span>'


def _tags(finding: Finding) -> str:
    """The status in a word (``new``, ``7 runs``) and the provisional mark."""
    tags = []
    state = wording.state_short(finding)
    if state:
        tags.append(
            f'<span class="tag state" title="{_escape(wording.state(finding) or state)}">{_escape(state)}</span>'
        )
    if finding.provisional:
        tags.append(
            '<span class="tag provisional" title="too little history for the statistical test">provisional</span>'
        )
    return "".join(tags)


def _finding(number: int, finding: Finding) -> str:
    labels = [_badge(finding), f'<span class="tag">{_escape(finding.kind)}</span>', _tags(finding)]
    chart = history_chart(finding)
    figure = f"<figure><figcaption>{_escape(chart_caption(finding))}</figcaption>{chart}</figure>" if chart else ""
    saving = (
        f'<p class="saving">Saves <b>{_escape(wording.about_seconds(finding.saving))}</b> per run</p>'
        if finding.saving > 0
        else ""
    )
    said = words(finding)
    state = wording.state(finding)
    shown_state = f'<p class="state">{_escape(state[0].upper() + state[1:])}.</p>' if state else ""
    group = "good" if wording.is_good(finding) else _escape(finding.severity)
    return (
        f'<article class="finding {group}" id="finding-{number}">'
        f'<div class="labels">{"".join(labels)}</div>'
        f'<h3 class="title">{_prose(brief(finding))}</h3>'
        f'<p class="where">{_where(finding)}</p>{shown_state}'
        f'<div class="body{"" if figure else " wide"}"><div class="facts">'
        f"{_measurements(finding.measurements, normalised=_normalised_numbers(finding))}"
        f'<p class="confidence">{_prose(said.confidence)}</p>'
        f'<p class="fix"><b>Fix:</b> {_prose(said.suggestion)}</p>{saving}</div>'
        f"{figure}</div></article>"
    )


def _overview(findings: Sequence[Finding]) -> str:
    """A narrow table, as the Markdown's: severity, the finding (what; below it the
    kind, where and status), saving; the findings folded under one
    (:func:`~otel_pytest.analyze.report.wording.folds`) listed in a ``<details>`` of its
    cell, each linked to its card. Numbered as the cards are (``in_report_order``)."""
    ordered = wording.in_report_order(findings)
    numbers = {id(finding): number for number, finding in enumerate(ordered, 1)}
    folds = wording.folds(findings)
    under = wording.folded_under(findings)
    rows = []
    for finding in ordered:
        if id(finding) in under:
            continue
        saving = _escape(wording.about_seconds(finding.saving)) if finding.saving > 0 else wording.DASH
        facts = " · ".join([_escape(finding.kind), _short_where(finding)])
        members = folds.get(finding.id, ())
        listed = "".join(
            f'<li><a href="#finding-{numbers[id(member)]}">{_prose(brief(member))}</a> · {_short_where(member)}</li>'
            for member in members
        )
        fold = _fold(finding, members, f"<ul>{listed}</ul>") if members else ""
        rows.append(
            f"<tr><td>{_badge(finding)}</td>"
            f'<td><a href="#finding-{numbers[id(finding)]}">{_prose(brief(finding))}</a>'
            f'<span class="facts">{facts} {_tags(finding)}</span>{fold}</td>'
            f'<td class="num">{saving}</td></tr>'
        )
    return (
        '<table class="overview"><thead><tr><th></th><th>finding</th>'
        f'<th class="num">saves/run</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _fold(lead: Finding, members: Sequence[Finding], inside: str) -> str:
    """A fold: ``inside`` in a ``<details>`` whose ``<summary>`` says what it holds."""
    return f'<details class="fold"><summary>{_escape(wording.fold_summary(lead, members))}</summary>{inside}</details>'


def _tiles(analysis: Analysis) -> str:
    tiles = [f'<div class="tile"><b>{len(analysis.findings)}</b><span>findings</span></div>']
    for name, group in wording.sections(analysis.findings):
        kind = "good" if name == wording.GOOD else _escape(name)
        tiles.append(f'<div class="tile {kind}"><b>{len(group)}</b><span>{_escape(name)}</span></div>')
    if analysis.total_saving > 0:
        tiles.append(
            f'<div class="tile saving"><b>{_escape(wording.about_seconds(analysis.total_saving))}</b>'
            "<span>to save per run</span></div>"
        )
    tiles.append(f'<div class="tile"><b>{analysis.runs_analyzed}</b><span>runs analyzed</span></div>')
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _waterfall_section(waterfall: Waterfall) -> str:
    chart = waterfall_chart(waterfall)
    if not chart:
        return ""
    legend = "".join(
        f'<span><i class="{kind}"></i>{label}</span>'
        for kind, label in _KIND_LABEL.items()
        if any(bar.kind == kind or (kind == "other" and bar.kind not in _KIND_LABEL) for bar in waterfall.bars)
    )
    said = []
    gaps = [bar for bar in waterfall.bars if bar.kind == UNTRACED]
    if gaps:
        said.append(
            f"Untraced: {wording.seconds(sum(bar.duration for bar in gaps))} in {plural(len(gaps), 'place')} "
            "(dashed), where no span accounts for the time."
        )
    if waterfall.omitted:
        said.append(f"{plural(waterfall.omitted, 'more span')} not drawn.")
    note = f'<p class="confidence">{_escape(" ".join(said))}</p>' if said else ""
    return (
        '<section class="waterfall-section"><h2>Slowest test, span by span '
        f'<span class="count">{_escape(wording.seconds(waterfall.duration))} in run '
        f"{_escape(waterfall.run_id)}</span></h2>"
        f"<p><code>{_escape(waterfall.test)}</code></p>"
        f'<div class="legend">{legend}</div>{chart}{note}</section>'
    )


def render(analysis: Analysis) -> str:
    """The whole page."""
    title = f"otel-pytest analyze: {wording.headline(analysis)}"
    summary = "".join(f"<p>{_escape(sentence)}</p>" for sentence in wording.summary(analysis))
    body = []
    if analysis.findings:
        body.append(_tiles(analysis))
        body.append("<h2>Findings</h2>")
        body.append(_overview(analysis.findings))  # numbered as the cards below
        folds = wording.folds(analysis.findings)
        number = 0
        for name, group in wording.sections(wording.unfolded(analysis.findings)):
            saving = wording.to_save(name, group)
            extra = f", saves {wording.about_seconds(saving)} per run" if saving > 0 else ""
            section = "good" if name == wording.GOOD else _escape(name)
            counted = len(group) + sum(len(folds.get(finding.id, ())) for finding in group)
            body.append(
                f'<section class="severity {section}"><h2>{_escape(name.capitalize())} '
                f'<span class="count">{_escape(plural(counted, "finding") + extra)}</span></h2>'
            )
            for finding in group:
                number += 1
                body.append(_finding(number, finding))
                members = folds.get(finding.id, ())
                if members:
                    cards = [_finding(number + index, member) for index, member in enumerate(members, 1)]
                    number += len(members)
                    body.append(_fold(finding, members, "".join(cards)))
            body.append("</section>")
    else:
        body.append(f'<div class="empty">{summary}</div>')
    if analysis.waterfall is not None:
        body.append(_waterfall_section(analysis.waterfall))
    if analysis.notes:
        notes = "".join(f"<li>{_escape(note)}</li>" for note in analysis.notes)
        body.append(f'<section class="notes"><h2>Notes on the input</h2><ul>{notes}</ul></section>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="otel-pytest">'
        f"<title>{_escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><header><h1>otel-pytest analyze</h1>"
        f'<p class="meta">{_escape(wording.headline(analysis))}</p>'
        f'<div class="summary">{summary if analysis.findings else ""}</div></header>\n'
        f"<main>{''.join(body)}</main>\n"
        "<footer>Generated by otel-pytest analyze. Self-contained: no scripts, fonts or network requests.</footer>"
        "</body></html>\n"
    )
