import math
from dataclasses import replace

import pytest

from otel_pytest.analyze.findings import Claim, Finding, Location, Written, claims_of, total_saving


def finding(line: int, key: str = "fixture setup") -> Finding:
    where = Location(fixture="engine", file="tests/conftest.py", line=line)
    return Finding("regression", "high", where, (), Written("t", "c", "s"), key=key)


def test_the_id_survives_a_moved_definition() -> None:
    assert finding(12).id == finding(40).id


def test_the_id_tells_series_of_one_location_apart() -> None:
    assert finding(12).id != finding(12, key="fixture teardown").id


def test_the_id_tells_kinds_apart() -> None:
    assert finding(12).id != replace(finding(12), kind="fixture").id


def test_the_id_is_twelve_hex_digits() -> None:
    assert len(finding(12).id) == 12
    int(finding(12).id, 16)


def saving(cost: str, seconds: float, *claims: Claim) -> Finding:
    return Finding("schema", "high", Location(fixture=cost), (), Written("t", "c", "s"), saving=seconds, claims=claims)


def test_the_total_saving_counts_each_claimed_cost_once_at_its_largest_claim() -> None:
    engine = saving("engine", 0.5, Claim("fixture db: connection set-up", 0.2), Claim("fixture db: other work", 0.3))
    schema = saving("schema", 0.4, Claim("fixture db: other work", 0.4))

    assert total_saving([engine, schema]) == pytest.approx(0.6)
    assert total_saving([engine]) == pytest.approx(0.5)


def test_a_finding_that_claims_nothing_by_name_counts_its_own_saving() -> None:
    regression = replace(finding(12), saving=0.25)

    assert claims_of(regression) == (Claim(f"finding {regression.id}", 0.25),)
    assert total_saving([regression, replace(finding(12, key="fixture teardown"), saving=0.5)]) == 0.75
    assert claims_of(finding(12)) == ()


def test_an_unknown_saving_makes_the_total_unknown() -> None:
    assert math.isnan(total_saving([replace(finding(12), saving=math.nan)]))
