"""Constructed analyses the renderer tests share: what the demo's slow suite would yield."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from otel_pytest.analyze.analysis import Analysis, Waterfall, WaterfallBar
from otel_pytest.analyze.findings import Finding, Location, Measurement, RunRef, Written


def written(
    title: str, location: Location, *, confidence: str = "c", suggestion: str = "s", kind: str = "fixture"
) -> Finding:
    """A low finding with hand-written words and no numbers, for what a view does with words."""
    return Finding(kind, "low", location, (), Written(title, confidence, suggestion))


def run_id(number: int) -> str:
    """A run id as the plugin makes them (16 hex digits), stable for the golden file."""
    return hashlib.blake2b(str(number).encode(), digest_size=8).hexdigest()


# A test's duration over 25 runs: steady near 0.31 s, then a step to ~0.41 s at run 18.
STEP_RUN = 18
DURATIONS = (
    0.305,
    0.312,
    0.298,
    0.309,
    0.315,
    0.301,
    0.307,
    0.296,
    0.311,
    0.304,
    0.318,
    0.302,
    0.306,
    0.309,
    0.299,
    0.313,
    0.305,
    0.308,
    0.412,
    0.405,
    0.421,
    0.409,
    0.415,
    0.402,
    0.418,
)

REGRESSION = Finding(
    kind="regression",
    severity="high",
    location=Location(test="tests/test_orders.py::test_checkout[card]", file="tests/test_orders.py", line=41),
    measurements=(
        Measurement("median duration", 0.412, "s", baseline=0.307),
        Measurement("ratio", 1.342, "ratio"),
        Measurement("Mann-Whitney", 0.00041, "p", key="p_mann_whitney"),
    ),
    detail=Written(
        title="tests/test_orders.py::test_checkout[card] got 34 % slower",
        confidence="p=0.00041 (FDR 5 %), last 5 vs previous 20 runs, held for 2 analyses",
        suggestion=f"Look at what changed in revision 9c1d2e3f4a5b: the step started in run {run_id(STEP_RUN)}.",
    ),
    saving=0.105,
    evidence={"change_point_run": run_id(STEP_RUN), "change_point_revision": "9c1d2e3f4a5b6c7d8e9f"},
    history=tuple((run_id(number), duration) for number, duration in enumerate(DURATIONS)),
    key="test",
    began=RunRef(run_id(STEP_RUN), "9c1d2e3f4a5b6c7d8e9f"),
    age=len(DURATIONS) - STEP_RUN,
)

ENGINE_PER_TEST = Finding(
    kind="connection",
    severity="high",
    location=Location(fixture="engine", file="tests/conftest.py", line=14),
    measurements=(
        Measurement("engines created", 200, "count", baseline=1),
        Measurement("physical connections", 400, "count"),
        Measurement("connection time", 18.9, "s"),
        Measurement("share of database time", 62.0, "%"),
    ),
    detail=Written(
        title="A new engine and physical connection for every test",
        confidence="exact counts over 200 tests",
        suggestion="Make the `engine` fixture session-scoped and share its pool across tests.",
    ),
    saving=18.4,
)

SCHEMA_PER_TEST = Finding(
    kind="schema",
    severity="medium",
    location=Location(fixture="db", file="tests/conftest.py", line=30),
    measurements=(Measurement("DDL statements", 1600, "count"), Measurement("DDL time", 15.2, "s")),
    detail=Written(
        title="create_all/drop_all run in a function-scoped fixture",
        confidence="exact count: 8 DDL statements in each of 200 setups",
        suggestion="Create the schema once in a session-scoped fixture; give each test a transaction instead.",
    ),
    saving=14.8,
)

COMMIT_CLEANUP = Finding(
    kind="cleanup",
    severity="medium",
    location=Location(fixture="session", file="tests/conftest.py", line=52),
    measurements=(Measurement("commits per test", 3, "count"), Measurement("cleanup time", 6.4, "s")),
    detail=Written(
        title="Tests commit and then delete their rows instead of rolling back",
        confidence="exact count: 600 COMMITs, 200 DELETE sweeps",
        suggestion="Wrap each test in a SAVEPOINT (join_transaction_mode='create_savepoint') and roll it back.",
    ),
    saving=6.1,
)

N_PLUS_ONE = Finding(
    kind="n+1",
    severity="low",
    location=Location(test="tests/test_orders.py::test_list_orders", fingerprint="SELECT * FROM items WHERE id = $1"),
    measurements=(Measurement("repetitions", 24, "count"), Measurement("time", 0.031, "s")),
    detail=Written(
        title="SELECT items by id executed 24 times in a row",
        confidence="24 consecutive executions under `call`, after SELECT orders",
        suggestion="Load the items with selectinload(Order.items) or one WHERE id = ANY($1) query.",
    ),
    saving=0.028,
    provisional=True,
)

FLAKY = Finding(
    kind="flaky",
    severity="low",
    location=Location(test="tests/test_auth.py::test_token_expiry"),
    measurements=(Measurement("failures", 2, "count", baseline=0), Measurement("runs", 6, "count")),
    detail=Written(
        title="tests/test_auth.py::test_token_expiry passed and failed on the same revision",
        confidence="2 failures in 6 runs of revision 9c1d2e3f4a5b",
        suggestion="Freeze the clock in the test instead of sleeping past the token's expiry.",
    ),
)

WATERFALL = Waterfall(
    test="tests/test_orders.py::test_checkout[card]",
    run_id=run_id(24),
    duration=0.418,
    bars=(
        WaterfallBar("setup", 0.0, 0.301, 0, "phase"),
        WaterfallBar("fixture engine", 0.001, 0.118, 1, "fixture"),
        WaterfallBar("connect", 0.004, 0.021, 2, "connection"),
        WaterfallBar("fixture db", 0.120, 0.179, 1, "fixture"),
        WaterfallBar("CREATE TABLE", 0.125, 0.062, 2, "query"),
        WaterfallBar("CREATE TABLE", 0.190, 0.071, 2, "query"),
        WaterfallBar("COMMIT", 0.265, 0.012, 2, "transaction"),
        WaterfallBar("call", 0.301, 0.052, 0, "phase"),
        WaterfallBar("SELECT", 0.305, 0.004, 1, "query"),
        WaterfallBar("INSERT", 0.312, 0.006, 1, "query"),
        WaterfallBar("COMMIT", 0.320, 0.011, 1, "transaction"),
        WaterfallBar("teardown", 0.353, 0.065, 0, "phase"),
        WaterfallBar("fixture db teardown", 0.354, 0.063, 1, "fixture"),
        WaterfallBar("DROP TABLE", 0.356, 0.058, 2, "query"),
    ),
)


def sample_analysis() -> Analysis:
    """Six findings of every severity, two provisional, a change point and a waterfall."""
    return Analysis(
        findings=(ENGINE_PER_TEST, REGRESSION, SCHEMA_PER_TEST, COMMIT_CLEANUP, N_PLUS_ONE, FLAKY),
        runs_analyzed=25,
        current_run=run_id(24),
        notes=("/ci/artifacts/run-3.otlp.jsonl:812: skipped an unreadable line (truncated)",),
        current_revision="9c1d2e3f4a5b6c7d8e9f",
        waterfall=WATERFALL,
    )


def empty_analysis(runs: int = 25) -> Analysis:
    return Analysis(findings=(), runs_analyzed=runs, current_run=run_id(runs - 1))


def provisional_only() -> Analysis:
    return Analysis(findings=(N_PLUS_ONE,), runs_analyzed=3, current_run=run_id(2))


# User-controlled text that acts on a terminal or reorders what is shown: a test id that
# clears the screen and sets the window title, a C1 CSI, a carriage return, a right-to-left
# override, rich markup; a fixture name, a statement and a fix with more of the same; a
# note naming a file that is not UTF-8.
ACTING_TEST = "t.py::test_x[\x1b[2J\x1b]0;pwned\x07]"
ACTING = Finding(
    kind="fixture",
    severity="low",
    location=Location(
        test=ACTING_TEST, fixture="db\x1b[31m", file="conftest.py", line=3, fingerprint="SELECT '\u202e' FROM t\x00"
    ),
    measurements=(Measurement("setup\x1b[5m", 0.25, "s"),),
    detail=Written(
        title=f"{ACTING_TEST} \x9b31mred \rover \u202eevil [bold]x[/bold]",
        confidence="exact\x1b[8m",
        suggestion="Open \x1b]8;;https://evil.example\x07this\x1b]8;;\x07.",
    ),
    saving=0.25,
    evidence={"change_point_run": "r\x1b[2J", "change_point_revision": "abc\u202e"},
)
ACTING_NOTE = "run r2 (/tmp/\udcff\x1b[2J.otlp.jsonl): skipped a line"
VISIBLE_TEST = "t.py::test_x[\\x1b[2J\\x1b]0;pwned\\x07]"
VISIBLE_TITLE = f"{VISIBLE_TEST} \\x9b31mred \\rover \\u202eevil [bold]x[/bold]"
VISIBLE_NOTE = "run r2 (/tmp/\\udcff\\x1b[2J.otlp.jsonl): skipped a line"


def acting_analysis() -> Analysis:
    return Analysis(
        findings=(ACTING,),
        runs_analyzed=2,
        current_run="r2\x1b[2J",
        notes=(ACTING_NOTE,),
        current_revision="9c1d\u202e",
    )


# What other detectors set as issue 10 lands: a regression that was fixed (closed), one
# that began in the newest run, and an improvement; in the hand-made form the renderers
# must show, whatever detector makes them.
FIXED = Finding(
    kind="regression",
    severity="low",
    location=Location(fixture="engine", file="tests/conftest.py", line=14),
    measurements=(Measurement("setup per call", 0.021, "s", baseline=0.118),),
    detail=Written(
        title="fixture `engine` setup was 5.6 times slower from run 3 to run 9",
        confidence="exact: back at its baseline for 4 runs",
        suggestion="Nothing to do: it is fixed.",
    ),
    key="fixture setup",
    status="closed",
    began=RunRef(run_id(3), "1111111111aaaaaaaaaa"),
    ended=RunRef(run_id(10), "2222222222bbbbbbbbbb"),
    age=22,
)
NEW_COUNT = Finding(
    kind="count",
    severity="high",
    location=Location(test="tests/test_orders.py::test_list_orders"),
    measurements=(Measurement("queries", 8, "count", baseline=2),),
    detail=Written(
        title="tests/test_orders.py::test_list_orders: 8 queries instead of 2",
        confidence="exact counts",
        suggestion="Eager-load `Order.items` with selectinload().",
    ),
    saving=0.012,
    began=RunRef(run_id(24), "9c1d2e3f4a5b6c7d8e9f"),
    age=1,
)
IMPROVEMENT = Finding(
    kind="improvement",
    severity="low",
    location=Location(),
    measurements=(Measurement("setup per run", 0.2, "s", baseline=1.5),),
    detail=Written(
        title="The suite's setup fell from 1.5 s to 200 ms per run",
        confidence="exact: 6 runs since the change",
        suggestion="Keep it: the fix in `conftest.py` worked.",
    ),
    began=RunRef(run_id(19), "3333333333cccccccccc"),
    age=6,
)


def status_analysis() -> Analysis:
    """A new count regression, a long-open regression, a fixed one and an improvement."""
    return Analysis(
        findings=(NEW_COUNT, REGRESSION, FIXED, IMPROVEMENT),
        runs_analyzed=25,
        current_run=run_id(24),
        current_revision="9c1d2e3f4a5b6c7d8e9f",
    )


# After a fix (first faster run 18, first reported in run 19): the suite's setup
# improvement, and the tests and the fixture the same step sped up (one first reported a run
# later), which every view folds under it; a statement that got faster from a later step,
# and a test that got slower at the fix, are not folded.
FIX_RUN = RunRef(run_id(19), "3333333333cccccccccc")
FIX_STEP = {"change_point_run": run_id(18), "change_point_revision": "3333333333cccccccccc"}


def improved(location: Location, title: str, *, key: str = "test", began: RunRef = FIX_RUN, step: int = 18) -> Finding:
    return Finding(
        kind="improvement",
        severity="medium",
        location=location,
        measurements=(),
        detail=Written(title=title, confidence="p=0.001", suggestion="Nothing to do: keep the change."),
        evidence={**FIX_STEP, "change_point_run": run_id(step)},
        key=key,
        began=began,
        age=25 - int(next(n for n in range(25) if run_id(n) == began.run_id)),
    )


SUITE_SETUP = replace(
    improved(
        Location(), "the suite's setup fell from 1.50 s to 200 ms per run, saving 1.3 s per run", key="suite setup"
    ),
    severity="high",
)
FOLDED = (
    improved(Location(test="tests/test_orders.py::test_checkout[card]"), "got 83 % faster (160 ms -> 28 ms)"),
    improved(
        Location(test="tests/test_orders.py::test_refund"),
        "got 79 % faster (120 ms -> 25 ms)",
        began=RunRef(run_id(20), "3333333333cccccccccc"),
    ),
    improved(Location(test="tests/test_stock.py::test_restock"), "got 95 % faster (180 ms -> 9.6 ms)"),
    improved(
        Location(fixture="catalogue", file="tests/conftest.py", line=40),
        "fixture catalogue setup got 79 % faster (16 ms -> 3.3 ms per call)",
        key="fixture setup",
    ),
)
LATER = improved(
    Location(fingerprint="SELECT count(*) FROM product"),
    "got 86 % faster (2.2 ms -> 313 µs per execution)",
    key="statement",
    began=RunRef(run_id(23), "4444444444dddddddddd"),
    step=22,
)
SLOWER_AT_THE_FIX = replace(REGRESSION, began=FIX_RUN, age=6)


def fold_analysis() -> Analysis:
    return Analysis(
        findings=(SLOWER_AT_THE_FIX, SUITE_SETUP, *FOLDED, LATER),
        runs_analyzed=25,
        current_run=run_id(24),
        current_revision="9c1d2e3f4a5b6c7d8e9f",
    )
