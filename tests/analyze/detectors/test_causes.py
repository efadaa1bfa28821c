"""One cause, one finding: the same fixture defined in many modules is merged."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.detectors import causes, schema
from otel_pytest.analyze.detectors.causes import Definitions
from otel_pytest.analyze.findings import FixtureRef, Location
from otel_pytest.analyze.model import FixtureStats, TestSample
from otel_pytest.analyze.options import AnalysisOptions
from otel_pytest.analyze.report.wording import seconds
from tests.analyze.detectors.runs import fixture, history, reported, run, sample, statement

OPTIONS = AnalysisOptions()
MODULES = 13
SCHEMA_DB = {"ddl": 12.0, "ddl_time": 0.06, "commits": 2.0}


CREATE = statement("c1", "CREATE TABLE customers (id SERIAL, name VARCHAR(50))", count=52, total_time=0.4, tests=52)
DROP = statement("d1", "DROP TABLE customers", count=52, total_time=0.3, tests=52)


def prepare_database(module: int, *, db: dict[str, float] | None = None) -> FixtureStats:
    path = f"tests/test_module_{module:02d}.py"
    return fixture(
        "prepare_database",
        setups=4,
        setup_time=0.08,
        teardown_time=0.02,
        file=path,
        line=9,
        db=db or SCHEMA_DB,
        statements={"c1": 4, "d1": 4},
    )


def module_tests() -> list[TestSample]:
    return [
        sample(f"tests/test_module_{m:02d}.py::test_{n}", setup=0.02, call=0.01)
        for m in range(MODULES)
        for n in range(4)
    ]


def test_definitions_of_one_name_and_pattern_are_one_fixture_with_their_sums_and_places() -> None:
    definitions = [prepare_database(module) for module in range(MODULES)]

    merged = causes.merged(run("r1", module_tests(), fixtures=definitions))

    [one] = merged.fixtures.values()
    assert isinstance(one, Definitions)
    assert (one.name, one.scope, one.setups, one.teardowns) == ("prepare_database", "function", 52, 52)
    assert [one.setup_time, one.teardown_time] == pytest.approx([1.04, 0.26])
    assert one.db == {"commits": 26.0, "ddl": 156.0, "ddl_time": pytest.approx(0.78)}
    assert (one.statements, one.ddl_setups) == ({"c1": 52, "d1": 52}, 52)
    assert one.places == tuple(f"tests/test_module_{module:02d}.py:9" for module in range(MODULES))
    assert (one.file, one.line, one.key) == ("", 0, "prepare_database (function, defined 13 times)")


def test_definitions_with_another_pattern_or_that_do_not_repeat_stay_apart() -> None:
    engine = prepare_database(1, db={"engines_created": 4.0})
    once = fixture("prepare_database", scope="module", setups=1, setup_time=0.1, file="tests/test_x.py", line=3)
    again = fixture("prepare_database", scope="module", setups=1, setup_time=0.1, file="tests/test_y.py", line=3)
    alone = run("r1", module_tests(), fixtures=[prepare_database(0), engine, once, again])

    assert causes.merged(alone) is alone


def test_connections_do_not_tell_definitions_apart() -> None:
    # The first definition to run also opens the pool's first connection.
    first = prepare_database(0, db={**SCHEMA_DB, "connections": 1.0, "connection_time": 0.01})

    merged = causes.merged(run("r1", module_tests(), fixtures=[first, prepare_database(1)]))

    [one] = merged.fixtures.values()
    assert one.db["connections"] == 1.0


def test_a_schema_fixture_copied_into_13_modules_is_one_finding_listing_the_places() -> None:
    definitions = [prepare_database(module) for module in range(MODULES)]

    suite = run("r1", module_tests(), fixtures=definitions, statements=[CREATE, DROP], wall_time=2.0)

    [finding] = schema.detect(history(suite), OPTIONS)

    shown = reported(finding)
    assert shown.location == Location(fixture="prepare_database")
    assert shown.title == (
        "Schema rebuilt on every setup of fixture `prepare_database` (function scope, defined in 13 places): "
        f"2 DDL statements per setup, {seconds(1.3)} over 52 setups"
    )
    assert shown.saving == pytest.approx(1.3 * 51 / 52)
    assert shown.severity == "high"
    assert shown.evidence["definitions"] == ", ".join(f"tests/test_module_{m:02d}.py:9" for m in range(MODULES))
    assert finding.detail.fixture == FixtureRef(  # type: ignore[union-attr]
        "prepare_database", "function", tuple(f"tests/test_module_{m:02d}.py:9" for m in range(MODULES))
    )
