"""Fixture scopes: whether a fixture can take a wider one, given the fixtures it requests.

pytest rejects a fixture that requests a narrower-scoped one (a module-scoped fixture
requesting a function-scoped one fails with ScopeMismatch), so a wider scope is proposed
only with what it takes. From the fixture's recorded ``argnames``
(``pytest.fixture.argnames``), followed transitively, every requested fixture narrower
than the new scope (each definition of its name in the run: which one a request gets
depends on where it is made) either

- widens with it: defined in the project, and not one of the below; or
- is swapped: pytest's ``tmp_path``, ``tmpdir`` and ``monkeypatch`` have wider-scoped
  equivalents (``tmp_path_factory``, ``tmpdir_factory``, ``pytest.MonkeyPatch.context()``); or
- pins it, and the change is off: pytest's or a plugin's own (defined outside the
  rootdir, or in site-packages), one that gives each test its own transaction (rolls back
  on at least ``most_tests_share`` of its setups: widening it would share the
  transaction), or a name no fixture in the run has (a ``parametrize`` argument).

``request`` is no fixture. A fixture whose ``argnames`` the run did not record (an older
plugin, another tool) makes the answer unknown, and said so.
"""

from __future__ import annotations

from otel_pytest.analyze.detectors import db_work
from otel_pytest.analyze.detectors.evidence import fixture_ref
from otel_pytest.analyze.findings import FixtureRef, PinnedFixture, ReplacedFixture, ScopeChange
from otel_pytest.analyze.model import FixtureStats, RunSummary
from otel_pytest.analyze.options import AnalysisOptions

SCOPES = ("function", "class", "module", "package", "session")  # narrowest first
# pytest's function-scoped fixtures with a wider-scoped way to get the same thing.
WIDER_INSTEAD = {
    "tmp_path": "tmp_path_factory",
    "tmpdir": "tmpdir_factory",
    "monkeypatch": "pytest.MonkeyPatch.context()",
}
PSEUDO_FIXTURES = frozenset({"request"})  # in argnames, but no fixture of any scope


def isolates(fixture: FixtureStats, options: AnalysisOptions) -> bool:
    """Whether the fixture rolls back on most of its setups: a per-test transaction."""
    rollbacks = db_work.amount(fixture.db, "rollbacks") + db_work.amount(fixture.db, "savepoint_rollbacks")
    return rollbacks >= options.most_tests_share * fixture.setups


def rank(scope: str) -> int:
    """Position of ``scope`` from the narrowest (function: 0); an unknown scope counts as function."""
    return SCOPES.index(scope) if scope in SCOPES else 0


def outside_project(fixture: FixtureStats) -> bool:
    """Defined by pytest or a plugin: its file lies outside the rootdir or in site-packages."""
    return fixture.file.startswith(("..", "/")) or "site-packages" in fixture.file


def scope_change(run: RunSummary, fixture: FixtureStats, target: str, options: AnalysisOptions) -> ScopeChange:
    """What giving ``fixture`` scope ``target`` takes (see the module docstring)."""
    definitions: dict[str, list[FixtureStats]] = {}
    for candidate in sorted(run.fixtures.values(), key=lambda item: item.key):
        definitions.setdefault(candidate.name, []).append(candidate)
    widen: list[FixtureRef] = []
    pinned: list[PinnedFixture] = []
    replaced: list[ReplacedFixture] = []
    known = True
    seen = {fixture.name}
    stack = [fixture]
    while stack:
        current = stack.pop()
        if current.argnames is None:
            known = False
            continue
        for name in current.argnames:
            if name in PSEUDO_FIXTURES or name in seen:
                continue
            seen.add(name)
            found = definitions.get(name)
            if not found:
                pinned.append(PinnedFixture(name, "", "untraced"))
            for requested in found or ():
                if rank(requested.scope) >= rank(target):
                    continue
                if requested.name in WIDER_INSTEAD and outside_project(requested):
                    replaced.append(ReplacedFixture(requested.name, WIDER_INSTEAD[requested.name]))
                elif outside_project(requested):
                    pinned.append(PinnedFixture(requested.name, requested.scope, "external"))
                elif isolates(requested, options):
                    pinned.append(PinnedFixture(requested.name, requested.scope, "transaction"))
                else:
                    widen.append(fixture_ref(requested))
                    stack.append(requested)
    return ScopeChange(tuple(widen), tuple(pinned), tuple(replaced), known)
