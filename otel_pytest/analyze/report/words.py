"""Each finding's words: its title, how sure it is, and what to change, made from its data.

Detectors return data (:attr:`Finding.detail`); this is the one place that turns it into
sentences, with the numbers formatted by :mod:`~otel_pytest.analyze.report.wording` (one
formatter of durations, one of counts, one marker for an unknown value), so that every
format (terminal, Markdown, HTML, JSON) says the same thing the same way. Plain text:
each renderer escapes it for its own format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from otel_pytest.analyze.findings import (
    COUNTED,
    CommitThenClean,
    ConnectionChurn,
    CountIncrease,
    CountRegression,
    Detail,
    DurationChange,
    DurationImprovement,
    DurationRegression,
    EngineDisposals,
    EnginePerSetup,
    EnginesInTests,
    Finding,
    FixtureRef,
    Flaky,
    GcDominated,
    LeakedTransactions,
    Location,
    NPlusOne,
    PinnedFixture,
    PoolWaits,
    RunRef,
    SchemaRebuild,
    ScopeChange,
    SetupDominated,
    SetupsChange,
    SlowFixture,
    Written,
)
from otel_pytest.analyze.report import wording
from otel_pytest.analyze.report.wording import REVISION_SHOWN, number, seconds, short

TITLE_STATEMENT = 80  # characters of a statement shown in a title
NAMED_TESTS = 3  # tests named in a merged count finding


@dataclass(frozen=True)
class Words:
    """What a reader sees of a finding, beside its numbers."""

    title: str  # one line: what happened
    confidence: str  # how sure, in words a reader can check
    suggestion: str  # the concrete change to make
    # Evidence told in words (the change point's method and p), added to the finding's run ids.
    evidence: Mapping[str, str] = field(default_factory=dict)


def words(finding: Finding) -> Words:
    """The words of ``finding``, made from its detail; a finding without a saving estimate
    says why in its confidence, and one fixture defined in several places lists them."""
    detail = finding.detail
    maker: Callable[[Any, Finding], Words] = _MAKERS[type(detail)]
    said = maker(detail, finding)
    if isinstance(detail, Written):
        return said
    why = no_saving(detail) if finding.saving <= 0 else None
    if why:
        said = replace(said, confidence=f"{said.confidence}; {why}")
    fixture = getattr(detail, "fixture", None)
    if isinstance(fixture, FixtureRef) and fixture.places:
        said = replace(said, evidence={**said.evidence, "definitions": ", ".join(fixture.places)})
    return said


def evidence(finding: Finding) -> dict[str, str]:
    """The finding's evidence as reports show it: its run ids, then what is told in words."""
    return {**finding.evidence, **words(finding).evidence}


# -- shared phrases ------------------------------------------------------------------------


def of_tests(count: int, total: int) -> str:
    """``28 of 28 tests``, ``1 of 3 tests``."""
    return f"{count} of {total} {'test' if total == 1 else 'tests'}"


def fixture_label(fixture: FixtureRef) -> str:
    """``fixture `engine` (function scope)``, ``fixture `db` (function scope, defined in 13 places)``."""
    return f"fixture `{fixture.name}` ({fixture_scope(fixture)})"


def fixture_scope(fixture: FixtureRef) -> str:
    """``function scope``, or ``function scope, defined in 13 places`` for one fixture name
    defined in several modules (one finding for them all)."""
    defined = f", defined in {len(fixture.places)} places" if fixture.places else ""
    return f"{fixture.scope} scope{defined}"


def _noun(plural: str, count: float) -> str:
    """'1 commit', '2 commits', '1 query'."""
    if count != 1:
        return plural
    return plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")


def _runs(count: int) -> str:
    return "run" if count == 1 else f"{count} runs"


def _changed_in(run_id: str, revision: str | None, sure: str = "", previous: str | None = None) -> str:
    """``the change in <revision> (run <id>, <sure>)``, or ``what changed in run <id> (<sure>)``
    when the run has no revision, or the same one as the run before it (``previous``): then
    no change of the code is there to look at."""
    if revision and revision == previous:
        unchanged = f"same revision, {revision[:REVISION_SHOWN]}, as the run before it: look at data, "
        unchanged += "dependencies, configuration or the machine"
        return f"what changed in run {run_id} ({unchanged}{'; ' + sure if sure else ''})"
    if revision:
        return f"the change in {revision} (run {run_id}{', ' + sure if sure else ''})"
    return f"what changed in run {run_id}" + (f" ({sure})" if sure else "")


# -- duration regressions and improvements --------------------------------------------------

_SERIES_LABEL = {
    "fixture setup": "fixture {} setup",
    "fixture teardown": "fixture {} teardown",
    "fixture setup total": "fixture {} setup",
    "suite setup": "the suite's setup",
}


def series_label(detail: DurationChange) -> str:
    """How a reader names a series: the node id, ``fixture db setup``, ``statement SELECT …``."""
    if detail.series == "statement":
        return f"statement {short(detail.name, TITLE_STATEMENT)}"
    return _SERIES_LABEL.get(detail.series, "{}").format(detail.name)


def _per(detail: DurationChange) -> str:
    if detail.series in ("fixture setup total", "suite setup"):
        return "per run"
    return "per execution" if detail.series == "statement" else "per call"


def _levels(detail: DurationChange, before: float, after: float) -> str:
    """``30 ms -> 45 ms per call, 100 setups per run`` (a test: ``30 ms -> 45 ms``)."""
    per = "" if detail.series == "test" else f" {_per(detail)}"
    calls = (
        ""
        if detail.series == "test" or detail.counted == "runs"
        else f", {number(detail.calls)} {detail.counted} per run"
    )
    return f"{seconds(before)} -> {seconds(after)}{per}{calls}"


def _scope(scope: SetupsChange) -> str:
    return f"scope change: {number(scope.setups_before)} -> {number(scope.setups_now)} setups per run"


def _duration(detail: DurationRegression, finding: Finding) -> Words:
    told = {} if detail.step is None else {"change_point": _change_point(detail)}
    if finding.status == "closed":
        return _fixed(detail, finding, told)
    percent = (detail.ratio - 1.0) * 100.0
    scope = f" ({_scope(detail.scope)})" if detail.scope is not None else ""
    title = (
        f"{series_label(detail)} got {percent:.0f} % slower ({_levels(detail, detail.baseline, detail.current)}){scope}"
    )
    return Words(title, _duration_confidence(detail, finding.provisional), _duration_suggestion(detail, finding), told)


def _fixed(detail: DurationRegression, finding: Finding, told: Mapping[str, str]) -> Words:
    raised = detail.raised if detail.raised is not None else detail.current
    percent = (raised / detail.baseline - 1.0) * 100.0 if detail.baseline > 0 else 0.0
    ended = finding.ended
    fixed = (
        f"fixed in run {ended.run_id}" + (f" ({ended.revision[:REVISION_SHOWN]})" if ended and ended.revision else "")
        if ended
        else "fixed"
    )
    title = (
        f"{series_label(detail)}: {fixed}; it was {percent:.0f} % slower "
        f"({_levels(detail, detail.baseline, raised)}), now {seconds(detail.current)}"
    )
    confidence = (
        "the newest runs are significantly below the level since the step (one-sided t on winsorized log "
        f"durations, p x windows < the detection's threshold) and nearer the baseline of {detail.n_baseline} "
        "runs before it than that level"
    )
    return Words(title, confidence, "Nothing to do: this regression is gone. Keep the change that fixed it.", told)


def _improvement(detail: DurationImprovement, finding: Finding) -> Words:
    told = {} if detail.step is None else {"change_point": _change_point(detail)}
    levels = _levels(detail, detail.baseline, detail.current)
    if detail.series == "suite setup":
        title = f"the suite's setup fell from {seconds(detail.baseline)} to {seconds(detail.current)} per run"
    elif detail.scope is not None:
        title = f"{series_label(detail)}: {_scope(detail.scope)}; {levels}"
    else:
        percent = (1.0 - detail.ratio) * 100.0
        title = f"{series_label(detail)} got {percent:.0f} % faster ({levels})"
    title += f", saving {seconds(detail.saved)} per run"
    suggestion = "Nothing to do: keep the change. Reported so that the fix and what it saved are seen."
    return Words(title, _duration_confidence(detail, finding.provisional), suggestion, told)


def _change_point(detail: DurationChange) -> str:
    step, limit = detail.step, detail.rule.change_point_p
    if step is not None and step.significant:
        return f"E-divisive means, permutation p={step.p:.2g} <= {limit:g}"
    return f"most likely split (E-divisive energy statistic); not significant at p <= {limit:g}"


def _duration_confidence(detail: DurationChange, provisional: bool) -> str:
    rule = detail.rule
    index = (
        f"durations divided by the per-run speed index (newest run {detail.speed_index:.2f})"
        if detail.index_applied
        else f"not speed-normalised (fewer than {rule.min_tests_for_index} tests per run)"
    )
    newest = _runs(rule.persistence)
    if provisional:
        reason = (
            f"only {detail.runs} runs, fewer than the {rule.needed_runs} the statistical test needs"
            if detail.runs < rule.needed_runs
            else "too few runs of this series for the statistical test"
        )
        each = (
            f"each of the newest {newest} with the median of the runs before it"
            if rule.persistence > 1
            else "the newest run with the median of the runs before it"
        )
        return (
            f"provisional: {reason}; simple comparison of {each} (newest run {detail.ratio:.2f}x the "
            f"median of the {detail.n_baseline} before it, rule >= {rule.provisional_ratio:.3g}x); no significance "
            f"claimed; {index}"
        )
    pooled = (
        "; each series' noise moderated towards all series' (empirical Bayes, from 20 series on)"
        if rule.pool_noise
        else ""
    )
    way = "below" if isinstance(detail, DurationImprovement) else "above"
    return (
        f"p={detail.p:.2g} when first reported, one-sided t on winsorized log durations of the newest runs vs "
        f"the {detail.n_baseline} baseline runs before the step, the most significant of {detail.windows} "
        f"current windows (p x {detail.windows}, Bonferroni){pooled}; q={detail.q:.2g} after "
        f"Benjamini-Hochberg over {detail.hypotheses} series (rate {rule.false_discovery_rate:g}); the newest "
        f"{newest} {way} the baseline median; held since: all {detail.n_current} runs since the step together; "
        f"{index}"
    )


def _duration_suggestion(detail: DurationRegression, finding: Finding) -> str:
    per = "" if detail.series == "test" else f" {_per(detail)}"
    change = f"now takes {seconds(detail.current)}{per} instead of {seconds(detail.baseline)}"
    step = detail.step
    if step is not None:
        sure = f"{'the' if step.significant else 'most likely the'} {wording.step_role('regression')}"
        where = _changed_in(step.run_id, step.revision, sure, step.previous_revision)
        head = f"Look at {where}: {series_label(detail)} {change}."
    else:
        head = f"Look at what changed in the last runs: {series_label(detail)} {change}."
    if detail.series == "test":
        tail = " Compare its trace with one from before the step to see which span grew."
    elif detail.series == "statement":
        tail = (
            f" It runs {number(detail.calls)} times per run: check its plan (EXPLAIN ANALYZE), indexes and the "
            f"data the tests create."
        )
    elif detail.scope is not None:
        tail = (
            f" Its setups per run went from {number(detail.scope.setups_before)} to "
            f"{number(detail.scope.setups_now)}: a narrower scope, or more tests using it, costs "
            f"{seconds(finding.saving)} per run."
        )
    elif detail.series == "fixture setup total":
        tail = f" It costs {seconds(finding.saving)} more per run."
    else:
        tail = (
            f" It runs {number(detail.calls)} times per run, so the change costs {seconds(finding.saving)} "
            f"per run; if its result can be shared, a wider scope would pay it once."
        )
    return head + tail


# -- count regressions -----------------------------------------------------------------------


def count_words(metric: str) -> str:
    return COUNTED.get(metric, metric)


def _count_changes(detail: CountRegression, closed: bool) -> list[str]:
    """``12 queries instead of 3``, or once closed ``back to 3 queries (12 while raised)``."""
    changes = []
    for i in detail.increases:
        now = f"{number(i.current)} {_noun(count_words(i.metric), i.current)}"
        changes.append(
            f"back to {now} ({number(i.raised)} while raised)" if closed else f"{now} instead of {number(i.baseline)}"
        )
    texts = [statement.text for statement in detail.new_statements]
    if texts:
        noun = "new statement" if len(texts) == 1 else f"{len(texts)} new statements"
        changes.append(f"{'no more ' if closed else ''}{noun} {short(texts[0], 60)}")
    return changes


def _tests_named(tests: Sequence[str]) -> str:
    shown = ", ".join(tests[:NAMED_TESTS])
    return shown + (f" and {len(tests) - NAMED_TESTS} more" if len(tests) > NAMED_TESTS else "")


def since(began: RunRef | None, age: int | None) -> str:
    """``since run <id> (<revision>), 3 runs``: where an open finding began and how long it held."""
    if began is None:
        return ""
    revision = f" ({began.revision[:REVISION_SHOWN]})" if began.revision else ""
    held = f", {_runs_held(age)}" if age is not None else ""
    return f"since run {began.run_id}{revision}{held}"


def _runs_held(age: int | None) -> str:
    return "the newest run only" if age == 1 else f"{age} runs"


def _count(detail: CountRegression, finding: Finding) -> Words:
    closed = finding.status == "closed"
    changes = _count_changes(detail, closed)
    if len(detail.tests) == 1:
        title = f"{detail.tests[0]}: " + ", ".join(changes)
    else:
        title = f"{', '.join(changes)}, in {len(detail.tests)} tests"
    began = finding.began.run_id if finding.began else detail.current_run
    if closed:
        ended = finding.ended.run_id if finding.ended else detail.current_run
        title = f"fixed in run {ended}: {title}"
        return Words(
            title,
            f"exact counts: raised from run {began} to the run before {ended}, back to its baseline in every run since",
            f"Nothing to do: {_tests_named(detail.tests)} runs what it ran before run {began} again.",
        )
    done = []
    if detail.increases:
        done.append(", ".join(changes[: len(detail.increases)]))
    texts = [statement.text for statement in detail.new_statements]
    if texts:
        more = f" and {len(texts) - 3} more" if len(texts) > 3 else ""
        done.append("new: " + "; ".join(short(text, 120) for text in texts[:3]) + more)
    revision = finding.began.revision if finding.began else detail.current_revision
    where = _changed_in(began, revision, previous=detail.previous_revision)
    suggestion = (
        f"Look at {where}: {_tests_named(detail.tests)} now runs {'; '.join(done)}.{_count_advice(detail.increases)}"
    )
    confidence = (
        f"exact counts: every passed run {since(finding.began, finding.age)} above every one of the "
        f"{detail.baseline_runs} passed runs before it (their median shown as the baseline)"
    )
    return Words(title, confidence, suggestion)


def _count_advice(increases: Sequence[CountIncrease]) -> str:
    metrics = {i.metric for i in increases}
    advice = []
    if "queries" in metrics:
        advice.append(
            " More queries for the same test usually mean a loop that loads rows one by one (N+1) or a "
            "lost eager load; compare the statements of its trace with an earlier run."
        )
    if "connections" in metrics:
        advice.append(
            " New physical connections cost 7-25 ms each: share one engine (session-scoped fixture) and "
            "let the pool reuse connections."
        )
    if metrics & {"commits", "transactions"}:
        advice.append(
            " More commits or transactions: roll back a savepoint at the end of the test instead of "
            "committing and deleting."
        )
    return "".join(advice)


# -- connections -------------------------------------------------------------------------------

SESSION_ENGINE = (
    'Make it session-scoped (@pytest.fixture(scope="session"); for an async engine also '
    'loop_scope="session") so one engine and its pool serve every test, and dispose it once at the end. '
    "Keep tests isolated with a transaction per test that is rolled back, not with a new engine."
)


def _engine_per_setup(detail: EnginePerSetup, finding: Finding) -> Words:
    return Words(
        title=(
            f"A new engine on every setup of {fixture_label(detail.fixture)}: {number(detail.engines)} engines in "
            f"{detail.setups} setups cost {seconds(detail.cost)}"
        ),
        confidence=(
            f"exact counts: {number(detail.engines)} engines in {detail.setups} setups, new engines or connections "
            f"in {of_tests(detail.affected, detail.tests)}; cost from measured times"
        ),
        suggestion=f"`{detail.fixture.name}` creates an engine every time it runs. {_engine_scope(detail)}",
    )


def _engine_disposals(detail: EngineDisposals, finding: Finding) -> Words:
    every = (
        "every setup" if detail.disposals >= detail.setups else f"{number(detail.disposals)} of {detail.setups} setups"
    )
    where = of_tests(detail.affected, detail.tests)
    return Words(
        title=(
            f"An engine disposed on {every} of {fixture_label(detail.fixture)}: {number(detail.reconnects)} "
            f"reconnects cost {seconds(detail.cost)}"
        ),
        confidence=(
            f"exact counts: {number(detail.disposals)} engines disposed in {detail.setups} setups of a fixture that "
            f"created none of them; {number(detail.reconnects)} new physical connections in the {where} that set it "
            "up; cost from measured connect and dispose times"
        ),
        suggestion=(
            f"`{detail.fixture.name}` disposes an engine it did not create (engine.dispose()) every time it runs: "
            "the pool is emptied and the next test connects again (7-25 ms each). Dispose the engine once, in the "
            "teardown of the session-scoped fixture that creates it. If the dispose works around asyncpg's "
            '"attached to a different loop" errors, run the engine and the tests in one event loop instead '
            '(pytest-asyncio: loop_scope="session" on the engine fixture and the tests that use it).'
        ),
    )


def _engine_scope(detail: EnginePerSetup) -> str:
    """Session scope for an engine fixture, with what it takes; or, when what it requests
    keeps it at its scope, a new session-scoped engine beside it."""
    name, change = detail.fixture.name, detail.change
    if change.pinned:
        return (
            f"{_pinned_off(name, change, 'session')} Create the engine in a new session-scoped fixture that "
            f"requests nothing narrower (the database URL only), and let `{name}` hand it out; dispose it once at "
            "the end. Keep tests isolated with a transaction per test that is rolled back, not with a new engine."
        )
    return SESSION_ENGINE + _widening(change, "session")


def _engines_in_tests(detail: EnginesInTests, finding: Finding) -> Words:
    where = of_tests(detail.affected, detail.tests)
    return Words(
        title=f"Engines created inside {where}: {number(detail.engines)} engines cost {seconds(detail.cost)}",
        confidence=(
            f"exact counts: engines created in {where}, in the test bodies or in fixtures that do not create "
            "one on every setup; cost from measured times"
        ),
        suggestion=(
            "Create the engine once, in a session-scoped fixture the tests request, instead of "
            f"calling create_engine()/create_async_engine() per test. {SESSION_ENGINE}"
        ),
    )


def _churn(detail: ConnectionChurn, finding: Finding) -> Words:
    if detail.nullpool:
        shape = (
            f"{number(detail.connections)} connects for {number(detail.checkouts)} pool checkouts: "
            "the pool keeps nothing"
        )
        fix = (
            "Let the pool keep connections: drop poolclass=NullPool (and anything that invalidates "
            "connections on return) from the test engine, and share one session-scoped engine."
        )
    else:
        shape = f"{detail.excess / detail.affected:.1f} new connections per affected test"
        fix = (
            "Reuse connections: check them out of one session-scoped engine's pool (or hold one "
            "session-scoped connection) instead of connecting per test with asyncpg.connect(), "
            "a new engine, or engine.raw_connection() that is never returned."
        )
    if detail.fixture is not None:
        fix = f"{fixture_label(detail.fixture)} connects on every setup. {fix}"
    where = of_tests(detail.affected, detail.tests)
    return Words(
        title=f"New physical connections in {where} ({shape}), costing {seconds(detail.cost)}",
        confidence=(
            f"exact counts: {number(detail.excess)} new physical connections in {where}; cost from measured "
            "connect times"
        ),
        suggestion=fix,
    )


def _pool_waits(detail: PoolWaits, finding: Finding) -> Words:
    return Words(
        title=(
            f"Tests wait {seconds(detail.per_checkout)} per pool checkout: {seconds(detail.waited)} over "
            f"{number(detail.checkouts)} checkouts"
        ),
        confidence=(
            f"measured: checkout waits in {of_tests(detail.waiting, detail.tests)} that opened no new "
            "connection (baseline: a pooled checkout on loopback)"
        ),
        suggestion=(
            "Size the pool for the concurrency the tests use (create_engine(..., pool_size=…, "
            "max_overflow=…)) and return connections promptly: close sessions and connections "
            "in fixture teardown, and do not hold one in a wide-scoped fixture while tests check "
            "out more. Under xdist every worker has its own pool."
        ),
    )


# -- schema and cleanup ------------------------------------------------------------------------


# What the savepoint recipe cannot do, and what to do instead: said wherever it is advised.
ROLLBACK_LIMITS = (
    "The rollback isolates only what runs through that connection: code that opens its own session, "
    "connection or engine (a second session, a background task, another process) neither sees the test's "
    "uncommitted rows nor has its writes rolled back, and triggers or deferred constraints that act at COMMIT "
    "never fire. For those tests keep a cleanup per test (TRUNCATE … RESTART IDENTITY CASCADE of the tables "
    "they write) or give each test a copy of a template database (CREATE DATABASE … TEMPLATE …)."
)
_SAVEPOINT_SESSION = 'the session joins it with join_transaction_mode="create_savepoint"'


def _setups_with_ddl(ddl_setups: int, setups: int) -> str:
    """``on every setup`` or ``on 3 of 4 setups``."""
    if ddl_setups >= setups:
        return "on every setup"
    return f"on {ddl_setups} of {setups} setups"


def _ddl_calls(verbs: Sequence[str]) -> str:
    """What the fixture's DDL most likely is, in the terms its code uses."""
    calls = [call for verb, call in (("CREATE", "create_all"), ("DROP", "drop_all")) if verb in verbs]
    others = [verb for verb in verbs if verb not in ("CREATE", "DROP")]
    return "/".join(calls) + (", " if calls and others else "") + ", ".join(others)


def _schema(detail: SchemaRebuild, finding: Finding) -> Words:
    name = detail.fixture.name
    statements = detail.ddl / detail.ddl_setups if detail.ddl_setups else detail.ddl
    confidence = (
        f"exact counts: {number(detail.ddl)} DDL statements in {detail.ddl_setups} of {detail.setups} setups of a "
        f"{detail.fixture.scope}-scoped fixture; times measured"
    )
    if detail.verbs:
        confidence += f"; its DDL: {', '.join(detail.verbs)}"
    if detail.connection_setup > 0 and not detail.connection_counted:
        confidence += (
            f"; the {seconds(detail.connection_setup)} of connection set-up inside are in this cost (no connection "
            "finding counts them)"
        )
    if detail.truncating:
        what = "Tables truncated"
        fix = (
            f"Stop emptying the tables in `{name}`: run each test in a transaction that is rolled back "
            f"at the end ({_SAVEPOINT_SESSION}), so nothing the test writes is committed and nothing needs "
            f"truncating. {ROLLBACK_LIMITS}"
        )
    elif "DROP" in detail.verbs or "TRUNCATE" in detail.verbs:
        what = "Schema rebuilt"
        fix = (
            f"Move the DDL in `{name}` ({_ddl_calls(detail.verbs)}) to a session-scoped fixture: build the "
            "schema once before the first test and drop it once after the last. Isolate tests with a "
            f"transaction per test that is rolled back at the end ({_SAVEPOINT_SESSION}), not by rebuilding "
            f"the tables. {ROLLBACK_LIMITS}"
        )
    else:
        what = "Schema built"
        fix = (
            f"Move the DDL in `{name}` ({_ddl_calls(detail.verbs)}) to a session-scoped fixture that builds the "
            "schema once before the first test: it changes nothing the tests write, so no test needs it again."
        )
    per = "per setup" if detail.ddl_setups >= detail.setups else "per such setup"
    title = (
        f"{what} {_setups_with_ddl(detail.ddl_setups, detail.setups)} of {fixture_label(detail.fixture)}: "
        f"{number(statements)} DDL {'statement' if statements == 1 else 'statements'} {per}, "
        f"{seconds(detail.cost)} over {detail.setups} setups"
    )
    return Words(title, confidence, fix)


SAVEPOINT_PATTERN = (
    "Roll back instead: per test, open a connection from the shared engine, begin a transaction, "
    'bind the session to it with join_transaction_mode="create_savepoint" (the code\'s commit() then only '
    "releases a savepoint) and roll the transaction back in the fixture's teardown. Nothing is committed, "
    "so nothing needs deleting."
)


def _commit_then_clean(detail: CommitThenClean, finding: Finding) -> Words:
    title = f"{of_tests(detail.committing, detail.tests)} commit their data, then {_how(detail)}"
    return Words(title, _cleanup_confidence(detail), f"{SAVEPOINT_PATTERN}{_then(detail)} {ROLLBACK_LIMITS}")


def _how(detail: CommitThenClean) -> str:
    ways = [
        f"fixture `{cleaner.fixture}` {'truncates' if cleaner.truncates else 'drops'} the tables "
        f"(DDL {_setups_with_ddl(cleaner.ddl_setups, cleaner.setups)})"
        for cleaner in detail.cleaners
    ]
    if detail.deletes:
        which = "1 DELETE statement removes" if detail.deletes == 1 else f"{detail.deletes} DELETE statements remove"
        ways.append(f"{which} it ({seconds(detail.delete_time)})")
    if not ways:
        return "nothing rolls it back: later tests see it"
    return " and ".join(ways) + " instead of rolling back"


def _cleanup_confidence(detail: CommitThenClean) -> str:
    parts = [f"exact counts: COMMITs in {of_tests(detail.committing, detail.tests)}"]
    if detail.schema_commits:
        parts.append(
            f"less the {number(detail.schema_commits)} COMMITs of schema fixtures (their DDL) in the tests that set "
            "them up"
        )
    if not detail.cleaners and not detail.deletes:
        parts.append("inferred: no DDL fixture and no DELETE in most committing tests were seen")
    if not detail.rollback_measured:
        parts.append("no ROLLBACK in this run, so its cost is not measured")
    parts.append("COMMIT time is not in the summaries and not in the saving")
    return "; ".join(parts)


def _then(detail: CommitThenClean) -> str:
    rebuilding = [f"`{cleaner.fixture}`" for cleaner in detail.cleaners if not cleaner.truncates]
    truncating = [f"`{cleaner.fixture}`" for cleaner in detail.cleaners if cleaner.truncates]
    steps = []
    if rebuilding:
        steps.append(f" Then {', '.join(rebuilding)} can build the schema once per session (see the schema finding).")
    if truncating:
        steps.append(f" Then drop the TRUNCATE in {', '.join(truncating)}.")
    if detail.deletes:
        steps.append(" Then drop the DELETE cleanup.")
    return "".join(steps) or " Until then, tests depend on the order they run in."


def _leaked(detail: LeakedTransactions, finding: Finding) -> Words:
    return Words(
        title=(
            f"{number(detail.leaked)} {'transaction' if detail.leaked == 1 else 'transactions'} never committed "
            f"or rolled back in {of_tests(detail.leaking, detail.tests)}"
        ),
        confidence=(
            "counts from the per-test summaries: BEGINs less COMMITs and ROLLBACKs; a transaction "
            "ended only by the pool's reset-on-return counts as left open"
        ),
        suggestion=(
            "End every transaction the code opens: use `async with session.begin():` or "
            "`async with engine.begin():`, or roll back in the fixture's teardown. A transaction "
            "left to the pool's reset holds its locks until the connection goes back, and one left "
            "open past the test leaks its data into the next."
        ),
    )


# -- N+1 ---------------------------------------------------------------------------------------

_N_PLUS_ONE_FIXES = {
    "SELECT": (
        "Load the related rows in one query: eager-load the relationship the loop touches "
        "(selectinload(...) or joinedload(...) in the query's .options()), or collect the keys "
        "and run one SELECT ... WHERE key IN (...)."
    ),
    "INSERT": (
        "Insert the rows in one statement: session.add_all(...) and one flush (SQLAlchemy batches "
        "them), or insert(table).values([...]) / executemany."
    ),
    "UPDATE": "Update the rows in one statement: UPDATE ... WHERE key IN (...), or one executemany.",
    "DELETE": "Delete the rows in one statement: DELETE ... WHERE key IN (...).",
}
_N_PLUS_ONE_ANY = (
    "Run the repeated statement once for all the rows (one statement with IN (...), "
    "or executemany) instead of once per row."
)


def _n_plus_one(detail: NPlusOne, finding: Finding) -> Words:
    shown = detail.statement
    shown = shown if len(shown) <= TITLE_STATEMENT else shown[: TITLE_STATEMENT - 1] + "…"
    if detail.cases == 1:
        title = f"N+1: `{shown}` runs {detail.longest} times in a row under {detail.parent} in {detail.test}"
    else:
        where = f"in {detail.cases} tests (up to {detail.longest} in a row)"
        title = f"N+1: `{shown}` repeated under one parent {where}, {seconds(detail.cost)} in all"
    confidence = (
        f"exact: {detail.longest} consecutive executions after a different statement (Sentry's N+1 rule, "
        f"at least {detail.minimum}), in {of_tests(detail.cases, detail.tests)}"
    )
    fix = _N_PLUS_ONE_FIXES.get(detail.operation, _N_PLUS_ONE_ANY)
    return Words(title, confidence, f"{fix} The statement: {detail.statement}")


# -- fixtures ----------------------------------------------------------------------------------


_PINNED_WHY = {
    "external": "pytest's or a plugin's own",
    "transaction": "it gives each test its own transaction",
    "untraced": "not traced in this run: a parametrize argument?",
}


def _pinned(pinned: PinnedFixture) -> str:
    scope = f"{pinned.scope} scope, " if pinned.scope else ""
    return f"`{pinned.name}` ({scope}{_PINNED_WHY[pinned.why]})"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _widening(change: ScopeChange, target: str) -> str:
    """What else the scope change takes: fixtures that widen with it, pytest fixtures to swap."""
    said = []
    if change.widen:
        named = _and([f"`{ref.name}` ({ref.scope} scope)" for ref in change.widen])
        said.append(
            f' It requests {named}: {"it" if len(change.widen) == 1 else "they"} must take scope="{target}" '
            f"with it, since pytest rejects a {target}-scoped fixture that requests a narrower one."
        )
    for replaced in change.replaced:
        said.append(f" Request {replaced.instead} instead of `{replaced.name}` (function scope).")
    if not change.known:
        said.append(
            " This run did not record which fixtures it requests: pytest rejects the wider scope if any of "
            "them is narrower."
        )
    return "".join(said)


def _pinned_off(name: str, change: ScopeChange, target: str) -> str:
    """Why ``name`` cannot take scope ``target`` as it is."""
    return (
        f'`{name}` cannot take scope="{target}" as it is: it requests '
        f"{_and([_pinned(pinned) for pinned in change.pinned])}, and pytest rejects a {target}-scoped fixture "
        "that requests a narrower one."
    )


def _slow_fixture(detail: SlowFixture, finding: Finding) -> Words:
    name = detail.fixture.name
    target = detail.target_scope
    change = detail.change
    if change.pinned:
        advice = (
            f"{_pinned_off(name, change, target)} Make each setup cheaper (one bulk statement, the shared engine), or "
            + (
                "build its rows in a module-scoped fixture on a module-scoped connection and transaction, each "
                "test rolling back to a savepoint of its own."
                if detail.writes_rows
                else "compute what it returns once in a session-scoped fixture that requests nothing narrower, "
                "and let this one hand it out."
            )
        )
    elif target == "session":
        ddl = f" and its DDL ({', '.join(detail.ddl)}) runs once" if detail.ddl else ""
        advice = (
            f'Give `{name}` scope="session" so it is built once per run (per worker under xdist){ddl}. '
            "If tests change what it returns, return an immutable value or hand each test a cheap copy."
            + _widening(change, target)
        )
    else:
        advice = (
            f'Give `{name}` scope="module" so its rows are written once per test module (at most '
            f"{detail.setups_after} times here), inside a module-wide transaction, each test rolling back to a "
            "savepoint of its own. If tests must see fresh rows, keep it per test and make each setup cheaper "
            f"(one bulk insert, the shared engine).{_widening(change, target)} {ROLLBACK_LIMITS}"
        )
    return Words(
        title=(
            f"Fixture `{name}` ({fixture_scope(detail.fixture)}) runs {detail.setups} times, {seconds(detail.mean)} "
            f"each: {detail.share:.0%} of the suite's setup and teardown time"
        ),
        confidence=(
            f"exact: {detail.setups} setups taking {seconds(detail.total)}; "
            + (
                "no saving: the fixtures it requests keep it at its scope"
                if change.pinned
                else "per-setup spread is not in the summary, so the saving assumes each costs the mean"
            )
        ),
        suggestion=advice,
    )


def _setup_dominated(detail: SetupDominated, finding: Finding) -> Words:
    if detail.costly:
        named = ", ".join(f"`{fixture.name}` ({seconds(fixture.total)})" for fixture in detail.costly)
        advice = (
            f"Most repeated fixture time is in {named}: the findings on those fixtures say what to "
            "share; a fixture that does the same work for every test can take a wider scope."
        )
    else:
        advice = (
            "Their setup is in wider-scoped fixtures or in hooks: look at the slowest test's trace "
            "to see which span takes the time."
        )
    tests = of_tests(detail.dominated, detail.ran)
    return Words(
        title=(
            f"{tests} spend longer in setup than in the test: {seconds(detail.setup)} of setup against "
            f"{seconds(detail.call)} of test bodies"
        ),
        confidence=(
            f"measured phases of {tests}, setup without wider-scoped fixtures, at least {seconds(detail.floor)} each"
        ),
        suggestion=advice,
    )


# -- garbage collection (detectors/gc.py) ----------------------------------------------------


def _gc_dominated(detail: GcDominated, finding: Finding) -> Words:
    if detail.fixture is not None:
        what = f"Fixture `{detail.fixture.name}` ({detail.fixture.scope} scope) spends"
        whose = "of its setup and teardown time"
    else:
        what = f"Test `{detail.test}` spends"
        whose = "of its own time"
    collections = f"{detail.collections} {'collection' if detail.collections == 1 else 'collections'}"
    return Words(
        title=(
            f"{what} {detail.share:.0%} {whose} in garbage collection: {seconds(detail.gc_time)} of "
            f"{seconds(detail.duration)}, {collections}"
        ),
        confidence=(
            f"measured: the collector's pauses, timed through gc.callbacks while it ran; mostly GC in "
            f"{detail.dominated_runs} of the {detail.judged_runs} newest runs it ran in"
        ),
        suggestion=(
            "A collection stops everything, and a full one walks every object the process holds, so it "
            "lands in whichever test allocates when the heap is big. Call `gc.freeze()` in conftest.py once "
            "the imports and the collected tests exist (a `pytest_collection_finish` hook, or a session "
            "fixture), so the collector no longer walks what lives for the whole run. If the code under test "
            "makes the garbage itself (many short-lived objects in reference cycles: parent pointers, "
            "closures, exceptions kept with their tracebacks), break the cycles (`weakref` for back-pointers). "
            "No saving is estimated: what either saves depends on what the heap holds."
        ),
    )


# -- flaky -------------------------------------------------------------------------------------


def _flaky(detail: Flaky, finding: Finding) -> Words:
    passes = detail.runs - detail.failures
    advice = (
        f"Reproduce it: run `pytest '{detail.nodeid}'` repeatedly, alone and after the tests that run "
        "before it in the suite. Look for state shared between tests (rows other tests committed, a "
        "wider-scoped fixture's mutable value), assumptions about time or order, and tasks left running."
    )
    if detail.commits:
        advice += (
            f" It commits ({number(detail.commits)} COMMITs in its latest run): rows left by other tests or by "
            "itself can change its result; roll back per test instead (a savepoint per test)."
        )
    return Words(
        title=(
            f"Flaky: {detail.test} failed {detail.failures} of {detail.runs} runs of revision "
            f"{detail.revision[:REVISION_SHOWN]}"
        ),
        confidence=(
            f"exact: outcomes in {detail.runs} runs of revision {detail.revision}: {passes} passed, "
            f"{detail.failures} failed or errored"
        ),
        suggestion=advice,
    )


# -- why a finding has no saving estimate ---------------------------------------------------


def no_saving(detail: Detail) -> str | None:
    """Why a finding of this kind comes without a saving estimate (and so is never
    ``high``); None for kinds that have one whenever they are found, or say themselves why
    not (a slow fixture kept at its scope by what it requests)."""
    if isinstance(detail, SetupDominated):
        return "no saving of its own: the fixture, schema and connection findings carry this time"
    if isinstance(detail, LeakedTransactions):
        return "no saving estimate: open transactions cost isolation between tests, not time"
    if isinstance(detail, Flaky):
        return "no saving estimate: a flaky test costs re-runs and trust, not time in one run"
    if isinstance(detail, CountRegression):
        return "no saving estimate: the summaries hold no time for the extra transactions and commits"
    if isinstance(detail, CommitThenClean):
        if detail.cleaners:
            return "no saving of its own: the schema finding's saving covers the tables it drops or empties"
        if not detail.deletes:
            return "no saving estimate: nothing cleans up, so the cost is data later tests see, not time"
        return "no saving estimate: a rollback per test costs as much as the DELETEs it replaces"
    return None


def _written(detail: Written, finding: Finding) -> Words:
    return Words(detail.title, detail.confidence, detail.suggestion)


_MAKERS: Mapping[type[Detail], Callable[[Any, Finding], Words]] = {
    Written: _written,
    DurationRegression: _duration,
    DurationImprovement: _improvement,
    CountRegression: _count,
    EnginePerSetup: _engine_per_setup,
    EnginesInTests: _engines_in_tests,
    EngineDisposals: _engine_disposals,
    ConnectionChurn: _churn,
    PoolWaits: _pool_waits,
    SchemaRebuild: _schema,
    CommitThenClean: _commit_then_clean,
    LeakedTransactions: _leaked,
    NPlusOne: _n_plus_one,
    SlowFixture: _slow_fixture,
    SetupDominated: _setup_dominated,
    GcDominated: _gc_dominated,
    Flaky: _flaky,
}


# -- briefs: what a finding says without where, for views with a column for the place --------


def _mentions(location: Location) -> list[str]:
    """Patterns of how titles name ``location``: the node id (or ``test `t.py::test_a` ``),
    ``fixture `db` (function scope)`` or ``fixture db``, ``statement SELECT …``."""
    found = [rf"(?:[Tt]est `{re.escape(location.test)}`|{re.escape(location.test)})"] if location.test else []
    if location.fixture:
        found.append(rf"[Ff]ixture `?{re.escape(location.fixture)}`?(?: \(\w+ scope[^()]*\))?")
    if location.fingerprint:
        found.append(re.escape(f"statement {short(location.fingerprint, TITLE_STATEMENT)}"))
    return found


def brief(finding: Finding) -> str:
    """The title without the place it names and without a leading kind label, for a view
    that shows kind and place in columns of their own (each said once):
    ``tests/t.py::test_a got 34 % slower (…)`` -> ``got 34 % slower (…)``; ``Schema rebuilt on
    every setup of fixture `db` (function scope): …`` -> ``Schema rebuilt on every setup: …``;
    ``Flaky: t.py::test_a failed 2 of 6 runs …`` -> ``failed 2 of 6 runs …``. A title that
    names its place in no such way is kept whole."""
    whole = words(finding).title
    title = re.sub(rf"^{re.escape(finding.kind)}: ", "", whole, count=1, flags=re.I)
    mentions = _mentions(finding.location)
    if mentions:
        place = "|".join(mentions)
        title = re.sub(rf"^(?:{place})[:,]?\s+", "", title, count=1)
        title = re.sub(rf"\s+(?:of|in) (?:{place})(?=[:,.]|$)", "", title, count=1)
    return title or whole
