"""Whether a fixture can take a wider scope, from the fixtures it requests."""

from __future__ import annotations

import dataclasses

from otel_pytest.analyze.detectors import connections, scopes
from otel_pytest.analyze.findings import FixtureRef, PinnedFixture, ReplacedFixture, ScopeChange
from otel_pytest.analyze.model import FixtureStats
from otel_pytest.analyze.options import AnalysisOptions
from tests.analyze.detectors.runs import fixture, history, rounded, run, slow_shop_run

OPTIONS = AnalysisOptions()
PLUGIN = "../.venv/lib/python3.11/site-packages/pytest_postgresql/plugin.py"


def change(*defined: FixtureStats, target: str = "module") -> ScopeChange:
    """What giving the first fixture scope ``target`` takes, in a run with all of them."""
    return scopes.scope_change(run("r1", [], fixtures=defined), defined[0], target, OPTIONS)


def test_every_narrower_definition_on_the_way_widens_pins_or_is_swapped() -> None:
    top = fixture("orders", setups=4, setup_time=0.1, argnames=("customer", "tmp_path", "settings", "request"))
    customer = fixture("customer", setups=4, setup_time=0.01, argnames=("db_session",))
    overridden = fixture("customer", setups=2, setup_time=0.01, argnames=(), file="tests/api/conftest.py")
    db_session = fixture("db_session", setups=4, setup_time=0.01, argnames=(), db={"rollbacks": 4})
    tmp_path = fixture("tmp_path", setups=4, setup_time=0.001, argnames=("request",), file="../_pytest/tmpdir.py")
    settings = fixture("settings", scope="module", setups=2, setup_time=0.01, argnames=())

    assert change(top, customer, overridden, db_session, tmp_path, settings) == ScopeChange(
        widen=(FixtureRef("customer", "function"), FixtureRef("customer", "function")),
        pinned=(PinnedFixture("db_session", "function", "transaction"),),
        replaced=(ReplacedFixture("tmp_path", "tmp_path_factory"),),
    )


def test_a_plugins_fixture_or_an_untraced_name_pins_it() -> None:
    top = fixture("engine", setups=4, setup_time=0.1, argnames=("postgresql", "dsn"))
    postgresql = fixture("postgresql", setups=4, setup_time=0.05, argnames=("request",), file=PLUGIN)

    assert change(top, postgresql, target="session") == ScopeChange(
        pinned=(PinnedFixture("postgresql", "function", "external"), PinnedFixture("dsn", "", "untraced"))
    )


def test_unrecorded_argnames_on_the_way_make_it_unknown() -> None:
    top = fixture("orders", setups=4, setup_time=0.1, argnames=("customer",))
    customer = fixture("customer", setups=4, setup_time=0.01)

    assert change(top, customer) == ScopeChange(widen=(FixtureRef("customer", "function"),), known=False)


def test_an_engine_fixture_on_a_plugins_per_test_database_is_not_told_to_be_session_scoped() -> None:
    shop = slow_shop_run()
    engine_key = "examples/shop/fixtures_slow.py:17:engine"
    postgresql = fixture("postgresql", setups=28, setup_time=0.5, argnames=("request",), file=PLUGIN)
    engine = dataclasses.replace(shop.fixtures[engine_key], argnames=("postgresql",))
    summary = dataclasses.replace(shop, fixtures={**shop.fixtures, engine_key: engine, postgresql.key: postgresql})

    [finding] = rounded(connections.detect(history(summary), OPTIONS))

    assert finding.suggestion.startswith(
        '`engine` creates an engine every time it runs. `engine` cannot take scope="session" as it is: it requests '
        "`postgresql` (function scope, pytest's or a plugin's own)"
    )
