"""Run summaries as the summary cache keeps them: plain data that reads back to the same summary."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from otel_pytest.analyze.model import Repetition, TestSample, run_from_plain, to_plain
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


def test_a_cached_test_sample_is_a_frozen_test_sample_whatever_fields_the_cache_holds() -> None:
    run = slow_shop_run()
    sample = dataclasses.replace(next(iter(run.tests.values())), repetitions=(Repetition("f1", "call", 6, 0.012),))
    plain = orjson.loads(orjson.dumps(to_plain(sample)))
    read = run_from_plain({**to_plain(run), "tests": {"t": plain}}).tests["t"]
    assert (read, type(read), read.repetitions) == (sample, TestSample, sample.repetitions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.outcome = "failed"  # type: ignore[misc]

    fewer = {key: value for key, value in plain.items() if key not in ("gc_time", "gc_collections")}
    older = run_from_plain({**to_plain(run), "tests": {"t": fewer}}).tests["t"]
    assert older == dataclasses.replace(sample, gc_time=0.0, gc_collections=0)  # the defaults, as __init__ gives
    with pytest.raises(TypeError, match="unexpected keyword argument 'speed'"):
        run_from_plain({**to_plain(run), "tests": {"t": {**plain, "speed": 1.0}}})
