"""What every encoding puts around a record: scopes, the run id, the attribute sets in order."""

from __future__ import annotations

from otel_pytest.encode.shape import ExportShape, by_scope
from otel_pytest.records import Attributes, SharedAttributes, SpanRecord
from otel_pytest.semconv import attributes as attr

SHAPE = ExportShape({"service.name": "shop"}, "5f2b0c9d1e3a4b6c", "1.2.3")


def test_the_plugins_own_scopes_carry_its_version_and_an_applications_scope_none() -> None:
    assert [SHAPE.scope_version(scope) for scope in ("otel_pytest", "otel_pytest.db", "shop.orders")] == [
        "1.2.3",
        "1.2.3",
        "",
    ]


def test_the_run_id_is_one_shared_set_for_the_whole_run() -> None:
    assert SHAPE.run_attributes == {attr.RUN_ID: "5f2b0c9d1e3a4b6c"} == {"pytest.run.id": "5f2b0c9d1e3a4b6c"}
    assert isinstance(SHAPE.run_attributes, SharedAttributes)


def test_a_span_without_per_span_values_is_its_static_set_then_the_run_id() -> None:
    shared = SharedAttributes({"pytest.fixture.name": "db"})
    record = SpanRecord("fixture db", 1, 2, 0, 0, shared)
    sets = SHAPE.attribute_sets(record)
    assert len(sets) == 2
    assert (sets[0], sets[1]) == (shared, SHAPE.run_attributes)
    assert sets[0] is shared


def test_per_span_values_follow_the_static_set_they_do_not_touch() -> None:
    record = SpanRecord("t", 1, 2, 0, 0, {"test.case.name": "t"})
    record.set("pytest.outcome", "passed")
    assert SHAPE.attribute_sets(record) == (
        {"test.case.name": "t"},
        {"pytest.outcome": "passed"},
        {"pytest.run.id": "5f2b0c9d1e3a4b6c"},
    )


def test_a_per_span_value_replacing_a_static_one_merges_the_two_sets() -> None:
    shared = SharedAttributes({"pytest.outcome": "passed", "test.case.name": "t"})
    record = SpanRecord("t", 1, 2, 0, 0, shared)
    record.set("pytest.outcome", "failed")
    assert SHAPE.attribute_sets(record) == (
        {"pytest.outcome": "failed", "test.case.name": "t"},
        {"pytest.run.id": "5f2b0c9d1e3a4b6c"},
    )
    assert shared == {"pytest.outcome": "passed", "test.case.name": "t"}


def test_a_shared_set_is_encoded_once_per_encoding_and_an_empty_one_left_out() -> None:
    calls: list[tuple[str, dict[str, object]]] = []

    def upper(attributes: Attributes) -> bytes:
        calls.append(("upper", dict(attributes)))
        return ",".join(attributes).upper().encode()

    def lower(attributes: Attributes) -> bytes:
        calls.append(("lower", dict(attributes)))
        return ",".join(attributes).encode()

    shape = ExportShape({}, "r", "1")
    fixture = SharedAttributes({"pytest.fixture.name": "db"})
    first, second = SpanRecord("fixture db", 1, 2, 0, 0, fixture), SpanRecord("fixture db", 1, 3, 0, 0, fixture)
    phase = SpanRecord("call", 1, 4, 0, 0, SharedAttributes())
    second.set("pytest.fixture.param", "sqlite")
    assert shape.encoded_attributes(first, upper) == [b"PYTEST.FIXTURE.NAME", b"PYTEST.RUN.ID"]
    assert shape.encoded_attributes(second, upper) == [
        b"PYTEST.FIXTURE.NAME",
        b"PYTEST.FIXTURE.PARAM",
        b"PYTEST.RUN.ID",
    ]
    assert shape.encoded_attributes(phase, upper) == [b"PYTEST.RUN.ID"]
    assert shape.encoded_attributes(first, lower) == [b"pytest.fixture.name", b"pytest.run.id"]
    assert calls == [
        ("upper", {"pytest.fixture.name": "db"}),
        ("upper", {"pytest.run.id": "r"}),
        ("upper", {"pytest.fixture.param": "sqlite"}),
        ("upper", {}),
        ("lower", {"pytest.fixture.name": "db"}),
        ("lower", {"pytest.run.id": "r"}),
    ]


def test_spans_are_grouped_by_scope_in_the_order_scopes_first_appear() -> None:
    records = [
        SpanRecord("SELECT", 1, 1, 0, 0, {}, scope="sqlalchemy"),
        SpanRecord("setup", 1, 2, 0, 0, {}),
        SpanRecord("INSERT", 1, 3, 0, 0, {}, scope="sqlalchemy"),
    ]
    assert by_scope(records, lambda record: record.name) == {
        "sqlalchemy": ["SELECT", "INSERT"],
        "otel_pytest": ["setup"],
    }
