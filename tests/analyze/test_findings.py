from dataclasses import replace

from otel_pytest.analyze.findings import Finding, Location, Written


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
