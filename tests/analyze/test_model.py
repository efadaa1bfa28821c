"""Run summaries as the summary cache keeps them: plain data that reads back to the same summary."""

from __future__ import annotations

import dataclasses

import orjson

from otel_pytest.analyze.model import run_from_plain, to_plain
from tests.analyze.detectors.runs import slow_shop_run


def test_a_summary_read_back_from_its_cache_form_is_the_same_summary() -> None:
    run = slow_shop_run()
    unrecorded = dataclasses.replace(run.fixtures["examples/shop/fixtures_slow.py:17:engine"], argnames=None)
    both = dataclasses.replace(run, fixtures={**run.fixtures, "other:1:engine": unrecorded})

    again = run_from_plain(orjson.loads(orjson.dumps(to_plain(both))))

    assert again == both
    assert again.fixtures["examples/shop/fixtures_slow.py:33:session"].argnames == ("engine", "schema")
    assert again.fixtures["other:1:engine"].argnames is None
    assert isinstance(next(iter(again.tests.values())).fixtures, frozenset)


def test_samples_read_back_share_one_set_per_distinct_statement_or_fixture_set() -> None:
    shop = slow_shop_run()
    key, sample = next(iter(shop.tests.items()))
    other = dataclasses.replace(sample, statements=frozenset({"f00d"}), fixtures=frozenset())
    run = dataclasses.replace(shop, tests={**shop.tests, key: other})

    again = run_from_plain(orjson.loads(orjson.dumps(to_plain(run))))

    assert again == run
    for name in ("statements", "fixtures"):
        distinct = {getattr(sample, name) for sample in run.tests.values()}
        assert len({id(getattr(sample, name)) for sample in again.tests.values()}) == len(distinct)
