"""The words and numbers every human-facing report shares, and what makes text safe to show."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from otel_pytest.analyze.findings import (
    CommitThenClean,
    Detail,
    EngineDisposals,
    EnginePerSetup,
    Finding,
    FixtureRef,
    Location,
    PinnedFixture,
    ReplacedFixture,
    RunRef,
    SchemaCleaner,
    SchemaRebuild,
    ScopeChange,
    SlowFixture,
)
from otel_pytest.analyze.report.wording import (
    GOOD,
    fold_summary,
    folds,
    in_report_order,
    sections,
    short,
    state,
    state_short,
    summary,
    to_save,
    unfolded,
    visible,
    where,
)
from otel_pytest.analyze.report.words import Words, words
from tests.analyze.detectors.runs import plain
from tests.analyze.report.samples import (
    ENGINE_PER_TEST,
    FIXED,
    FOLDED,
    IMPROVEMENT,
    LATER,
    NEW_COUNT,
    REGRESSION,
    SLOWER_AT_THE_FIX,
    SUITE_SETUP,
    run_id,
    status_analysis,
)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),  # clear screen
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # window title
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\x85", "\\x85"),  # C1 next line
        ("a\rb", "a\\rb"),
        ("\x00\x08\x0b\x0c\x7f", "\\x00\\x08\\x0b\\x0c\\x7f"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),  # right-to-left override, pop
        ("\u2066\u2069\u061c\u200f\u200b\ufeff", "\\u2066\\u2069\\u061c\\u200f\\u200b\\ufeff"),
        ("\u2028", "\\u2028"),
        ("\udcff", "\\udcff"),  # a byte of a file name that is not UTF-8
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("café ü 🔴 \u00d7 µs \u00a0%", "café ü 🔴 \u00d7 µs \u00a0%"),
        ("already \\x1b escaped", "already \\x1b escaped"),
    ],
)
def test_characters_that_act_are_shown_as_their_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown


# -- the pattern findings' words (issue 10, items 6 and 7) -----------------------------------

SCHEMA = FixtureRef("prepare_database", "function")
LIMITS = (
    "The rollback isolates only what runs through that connection: code that opens its own session, connection "
    "or engine (a second session, a background task, another process) neither sees the test's uncommitted rows "
    "nor has its writes rolled back, and triggers or deferred constraints that act at COMMIT never fire. For "
    "those tests keep a cleanup per test (TRUNCATE … RESTART IDENTITY CASCADE of the tables they write) or give "
    "each test a copy of a template database (CREATE DATABASE … TEMPLATE …)."
)
SAVEPOINTS = (
    "Roll back instead: per test, open a connection from the shared engine, begin a transaction, bind the "
    'session to it with join_transaction_mode="create_savepoint" (the code\'s commit() then only releases a '
    "savepoint) and roll the transaction back in the fixture's teardown. Nothing is committed, so nothing needs "
    "deleting."
)


def said(detail: Detail) -> Words:
    """The words of a finding with ``detail``, no-break spaces made plain."""
    made = words(Finding(kind="schema", severity="low", location=Location(), measurements=(), detail=detail))
    return Words(plain(made.title), plain(made.confidence), plain(made.suggestion), made.evidence)


def schema_rebuild(verbs: tuple[str, ...], ddl_setups: int = 4, counted: bool = True) -> SchemaRebuild:
    return SchemaRebuild(SCHEMA, 4, 2.0 * ddl_setups, 0.2, verbs, verbs == ("TRUNCATE",), ddl_setups, 0.03, counted)


def slow_fixture(target: str = "module", **change: Any) -> SlowFixture:
    return SlowFixture(
        FixtureRef("customers", "function"),
        10,
        0.02,
        0.2,
        0.25,
        target,
        2,
        target == "module",
        (),
        ScopeChange(**change),
    )


def test_a_schema_rebuilt_on_every_setup_is_told_to_move_its_ddl_and_the_recipes_limits() -> None:
    assert said(schema_rebuild(("CREATE", "DROP"))) == Words(
        title=(
            "Schema rebuilt on every setup of fixture `prepare_database` (function scope): 2 DDL statements per "
            "setup, 200 ms over 4 setups"
        ),
        confidence=(
            "exact counts: 8 DDL statements in 4 of 4 setups of a function-scoped fixture; times measured; its DDL: "
            "CREATE, DROP"
        ),
        suggestion=(
            "Move the DDL in `prepare_database` (create_all/drop_all) to a session-scoped fixture: build the schema "
            "once before the first test and drop it once after the last. Isolate tests with a transaction per test "
            'that is rolled back at the end (the session joins it with join_transaction_mode="create_savepoint"), '
            "not by rebuilding the tables. " + LIMITS
        ),
    )


def test_a_schema_built_on_some_setups_says_on_how_many_and_names_only_its_own_ddl() -> None:
    words_said = said(schema_rebuild(("ALTER", "CREATE"), ddl_setups=3, counted=False))

    assert words_said.title == (
        "Schema built on 3 of 4 setups of fixture `prepare_database` (function scope): 2 DDL statements per such "
        "setup, 200 ms over 4 setups"
    )
    assert words_said.confidence == (
        "exact counts: 6 DDL statements in 3 of 4 setups of a function-scoped fixture; times measured; its DDL: "
        "ALTER, CREATE; the 30 ms of connection set-up inside are in this cost (no connection finding counts them)"
    )
    assert words_said.suggestion == (
        "Move the DDL in `prepare_database` (create_all, ALTER) to a session-scoped fixture that builds the schema "
        "once before the first test: it changes nothing the tests write, so no test needs it again."
    )


def test_truncated_tables_are_told_to_roll_back_with_the_recipes_limits() -> None:
    words_said = said(schema_rebuild(("TRUNCATE",)))

    assert words_said.title.startswith("Tables truncated on every setup of fixture `prepare_database`")
    assert words_said.suggestion == (
        "Stop emptying the tables in `prepare_database`: run each test in a transaction that is rolled back at the "
        'end (the session joins it with join_transaction_mode="create_savepoint"), so nothing the test writes is '
        "committed and nothing needs truncating. " + LIMITS
    )


def test_commit_then_clean_names_the_schema_commits_taken_off_and_ends_with_the_recipes_limits() -> None:
    detail = CommitThenClean(77, 201, (SchemaCleaner("prepare_database", False, 3, 4),), 0, 0.0, 402.0, True)

    assert said(detail) == Words(
        title=(
            "77 of 201 tests commit their data, then fixture `prepare_database` drops the tables (DDL on 3 of 4 "
            "setups) instead of rolling back"
        ),
        confidence=(
            "exact counts: COMMITs in 77 of 201 tests; less the 402 COMMITs of schema fixtures (their DDL) in the "
            "tests that set them up; COMMIT time is not in the summaries and not in the saving; no saving of its "
            "own: the schema finding's saving covers the tables it drops or empties"
        ),
        suggestion=(
            f"{SAVEPOINTS} Then `prepare_database` can build the schema once per session (see the schema finding). "
            f"{LIMITS}"
        ),
    )


def test_an_engine_disposed_on_some_setups_says_on_how_many() -> None:
    detail = EngineDisposals(FixtureRef("client", "function"), 70.0, 77, 70.0, 0.64, 77, 201)

    assert said(detail).title == (
        "An engine disposed on 70 of 77 setups of fixture `client` (function scope): 70 reconnects cost 640 ms"
    )
    assert said(detail).confidence == (
        "exact counts: 70 engines disposed in 77 setups of a fixture that created none of them; 70 new physical "
        "connections in the 77 of 201 tests that set it up; cost from measured connect and dispose times"
    )


def test_a_scope_change_names_the_fixtures_that_widen_with_it_and_pytests_equivalents() -> None:
    detail = slow_fixture(
        "session",
        widen=(FixtureRef("settings", "function"), FixtureRef("paths", "module")),
        replaced=(ReplacedFixture("monkeypatch", "pytest.MonkeyPatch.context()"),),
        known=False,
    )

    assert said(detail).suggestion == (
        'Give `customers` scope="session" so it is built once per run (per worker under xdist). If tests change what '
        "it returns, return an immutable value or hand each test a cheap copy. It requests `settings` (function "
        'scope) and `paths` (module scope): they must take scope="session" with it, since pytest rejects a '
        "session-scoped fixture that requests a narrower one. Request pytest.MonkeyPatch.context() instead of "
        "`monkeypatch` (function scope). This run did not record which fixtures it requests: pytest rejects the "
        "wider scope if any of them is narrower."
    )


def test_a_pinned_fixture_is_told_why_it_keeps_its_scope_and_what_to_do_instead() -> None:
    detail = slow_fixture(
        pinned=(PinnedFixture("db_session", "function", "transaction"), PinnedFixture("email", "", "untraced"))
    )

    assert said(detail).suggestion == (
        '`customers` cannot take scope="module" as it is: it requests `db_session` (function scope, it gives each '
        "test its own transaction) and `email` (not traced in this run: a parametrize argument?), and pytest rejects "
        "a module-scoped fixture that requests a narrower one. Make each setup cheaper (one bulk statement, the "
        "shared engine), or build its rows in a module-scoped fixture on a module-scoped connection and transaction, "
        "each test rolling back to a savepoint of its own."
    )
    assert said(detail).confidence == (
        "exact: 10 setups taking 200 ms; no saving: the fixtures it requests keep it at its scope"
    )


def test_an_engine_fixture_kept_at_its_scope_is_told_to_leave_the_engine_to_a_new_session_fixture() -> None:
    change = ScopeChange(pinned=(PinnedFixture("tmp_settings", "function", "external"),))
    detail = EnginePerSetup(FixtureRef("engine", "function"), 28.0, 28, 0.4, 28, 28, change)

    assert said(detail).suggestion == (
        '`engine` creates an engine every time it runs. `engine` cannot take scope="session" as it is: it requests '
        "`tmp_settings` (function scope, pytest's or a plugin's own), and pytest rejects a session-scoped fixture "
        "that requests a narrower one. Create the engine in a new session-scoped fixture that requests nothing "
        "narrower (the database URL only), and let `engine` hand it out; dispose it once at the end. Keep tests "
        "isolated with a transaction per test that is rolled back, not with a new engine."
    )


def test_an_engine_fixture_that_can_be_session_scoped_names_what_widens_with_it() -> None:
    change = ScopeChange(widen=(FixtureRef("database_url", "module"),))
    detail = EnginePerSetup(FixtureRef("engine", "function"), 28.0, 28, 0.4, 28, 28, change)

    assert said(detail).suggestion.endswith(
        ' It requests `database_url` (module scope): it must take scope="session" with it, since pytest rejects a '
        "session-scoped fixture that requests a narrower one."
    )


def test_the_state_of_a_finding_says_since_when_or_when_it_was_fixed() -> None:
    assert [(state(finding), state_short(finding)) for finding in status_analysis().findings] == [
        (f"new in run {run_id(24)} (revision 9c1d2e3f4a5b)", "new"),
        (f"open since run {run_id(18)} (revision 9c1d2e3f4a5b), 7 runs", "7 runs"),
        (
            f"fixed in run {run_id(10)} (revision 2222222222bb); it held from run {run_id(3)} (revision 1111111111aa)",
            "fixed",
        ),
        (f"better since run {run_id(19)} (revision 3333333333cc), 6 runs", "6 runs"),
    ]


@pytest.mark.parametrize(
    ("change", "long", "brief"),
    [
        ({}, None, ""),  # a detector that cannot tell
        ({"age": 3}, "open for at least 3 runs", "3 runs+"),  # no start: held in every run looked at
        ({"began": RunRef("r1")}, "open since run r1", "open"),
        ({"status": "closed"}, "fixed: gone in the newest run", "fixed"),
    ],
)
def test_what_is_not_known_of_a_state_is_not_made_up(change: dict[str, Any], long: str | None, brief: str) -> None:
    finding = replace(ENGINE_PER_TEST, **change)
    assert (state(finding), state_short(finding)) == (long, brief)


def test_what_got_better_comes_first_then_the_open_problems_by_severity() -> None:
    assert [(name, [finding.kind for finding in group]) for name, group in sections(status_analysis().findings)] == [
        (GOOD, ["regression", "improvement"]),
        ("high", ["count", "regression"]),
    ]
    assert in_report_order(status_analysis().findings) == [FIXED, IMPROVEMENT, NEW_COUNT, REGRESSION]


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (
            Location(test="tests/unit/test_orders.py::TestCart::test_add[a/b]"),
            "test_orders.py::TestCart::test_add[a/b]",
        ),
        (Location(fixture="db", file="tests/conftest.py", line=3), "fixture db"),
        (Location(test="t.py::test_a", fixture="db"), "t.py::test_a, fixture db"),
        (Location(file="tests/conftest.py", line=3), "conftest.py:3"),
        (
            Location(fingerprint="SELECT a,\n  b FROM t WHERE x = $1 AND y = $2 ORDER BY z"),
            "statement SELECT a, b FROM t WHERE x = $1 AND y =…",
        ),
        (Location(), "the suite"),
    ],
)
def test_a_place_is_shown_short(location: Location, shown: str) -> None:
    assert where(location) == shown


def test_text_is_shortened_on_one_line_with_an_ellipsis() -> None:
    assert short("a  b\nc", 10) == "a b c"
    assert short("abcdefghijk", 5) == "abcd\u2026"


def test_what_an_improvement_saved_is_not_offered_as_a_saving_still_to_make() -> None:
    improved = replace(IMPROVEMENT, saving=1.3)
    analysis = replace(status_analysis(), findings=(improved, NEW_COUNT))
    assert summary(analysis)[1] == "Fixing this finding saves ~12\u00a0ms per run."
    assert [to_save(name, group) for name, group in sections(analysis.findings)] == [0.0, 0.012]


def test_the_fix_s_improvements_fold_under_the_suite_s_setup_improvement_which_leads_its_section() -> None:
    later_first = (LATER, *FOLDED, SLOWER_AT_THE_FIX, SUITE_SETUP)

    assert folds(later_first) == {SUITE_SETUP.id: FOLDED}
    assert sections(later_first) == [(GOOD, [SUITE_SETUP, LATER, *FOLDED]), ("high", [SLOWER_AT_THE_FIX])]
    assert in_report_order(later_first) == [SUITE_SETUP, *FOLDED, LATER, SLOWER_AT_THE_FIX]
    assert unfolded(later_first) == [LATER, SLOWER_AT_THE_FIX, SUITE_SETUP]
    assert fold_summary(SUITE_SETUP, FOLDED) == (
        f"and 3 tests, 1 fixture faster from the same step (first faster run {run_id(18)})"
    )
    # Without a located step, the same run of first report: the test first reported a run later is not folded.
    lead, *members = (replace(finding, evidence={}) for finding in (SUITE_SETUP, *FOLDED))
    assert folds((lead, *members)) == {lead.id: (members[0], members[2], members[3])}
    assert fold_summary(lead, members) == f"and 3 tests, 1 fixture faster since run {run_id(19)}"
    fixed = replace(SUITE_SETUP, status="closed")
    assert folds((fixed, *FOLDED)) == {}  # only an open improvement of the suite's setup leads one
