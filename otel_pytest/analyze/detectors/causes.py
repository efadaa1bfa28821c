"""One cause, one finding: a fixture copied into many modules is one fixture to fix.

A suite that defines the same ``prepare_database`` in each of its 13 test modules has one
habit, not 13 problems; a finding per definition repeats one title 13 times and hides what
the habit costs in all. Method: in a run, the definitions of one fixture name and scope
that each repeat (narrower than the session, at least two setups) and show the same
pattern (the same of ``PATTERN_KEYS`` are non-zero: DDL, engines made, rollbacks; not
connections, since the first definition to run also opens the pool's first connection) are
merged into one :class:`Definitions`: setups, teardowns, times, database work and
statements added up, the places kept (the fixtures they request too, when all request
the same; else unknown); each test that set one of them up names the merged one. A
definition alone of its kind, or one doing other work, stays as it is. The pattern
detectors judge the merged run, so every per-definition finding (engine, schema, slow
fixture, disposals) is made once per cause, its cost the sum over the places.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from otel_pytest.analyze.detectors.db_work import repeats
from otel_pytest.analyze.model import FixtureStats, History, RunSummary

# The db counts whose presence makes a fixture's pattern: what the detectors tell apart.
PATTERN_KEYS = ("ddl", "engines_created", "rollbacks", "savepoint_rollbacks")


@dataclass(frozen=True)
class Definitions(FixtureStats):
    """Several definitions of one fixture, added up; ``file`` and ``line`` are empty."""

    places: tuple[str, ...] = ()  # "file:line" of each definition, sorted

    @property
    def key(self) -> str:
        return f"{self.name} ({self.scope}, defined {len(self.places)} times)"


def place(fixture: FixtureStats) -> str:
    """``tests/test_a.py:12``: where a definition is."""
    return f"{fixture.file}:{fixture.line}"


def current(history: History) -> RunSummary | None:
    """The newest run of ``history`` with its causes merged; None without runs."""
    run = history.current
    return merged(run) if run is not None else None


def merged(run: RunSummary) -> RunSummary:
    """``run`` with the definitions of each cause merged (see the module docstring)."""
    groups: dict[Hashable, dict[str, FixtureStats]] = {}
    for key, fixture in run.fixtures.items():
        cause = _cause(fixture)
        if cause is not None:
            groups.setdefault(cause, {})[key] = fixture
    several = [group for group in groups.values() if len(group) > 1]
    if not several:
        return run
    fixtures = dict(run.fixtures)
    renamed: dict[str, str] = {}
    for group in several:
        definitions = _merge(list(group.values()))
        for key in group:
            del fixtures[key]
            renamed[key] = definitions.key
        fixtures[definitions.key] = definitions
    tests = {
        key: dataclasses.replace(test, fixtures=frozenset(renamed.get(name, name) for name in test.fixtures))
        if test.fixtures & renamed.keys()
        else test
        for key, test in run.tests.items()
    }
    return dataclasses.replace(run, fixtures=fixtures, tests=tests)


def _cause(fixture: FixtureStats) -> Hashable:
    """What definitions must share to be one cause; None for one that is never merged."""
    if not repeats(fixture):
        return None
    pattern = tuple(fixture.db.get(key, 0.0) > 0 for key in PATTERN_KEYS)
    return (fixture.name, fixture.scope, pattern)


def _merge(group: Sequence[FixtureStats]) -> Definitions:
    first = group[0]
    keys = sorted({key for fixture in group for key in fixture.db})
    return Definitions(
        name=first.name,
        scope=first.scope,
        file="",
        line=0,
        setups=sum(fixture.setups for fixture in group),
        setup_time=sum(fixture.setup_time for fixture in group),
        teardowns=sum(fixture.teardowns for fixture in group),
        teardown_time=sum(fixture.teardown_time for fixture in group),
        db={key: sum(float(fixture.db.get(key, 0.0)) for fixture in group) for key in keys},
        argnames=first.argnames if all(fixture.argnames == first.argnames for fixture in group) else None,
        statements={
            fingerprint: sum(fixture.statements.get(fingerprint, 0) for fixture in group)
            for fingerprint in sorted({fingerprint for fixture in group for fingerprint in fixture.statements})
        },
        ddl_setups=sum(fixture.ddl_setups for fixture in group),
        places=tuple(sorted(place(fixture) for fixture in group)),
    )
