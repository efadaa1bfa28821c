"""A database fixture under a frozen or moved clock, against the real PostgreSQL: its
teardown ROLLBACKs stay under the fixture's teardown span and in the test's summary."""

from __future__ import annotations

import time

from tests.db import CHECKOUT, RESET_CHECKIN, Suite, counts, span, summary, trace

FROZEN_FIXTURES = {
    "test_frozen_db": """
        import datetime

        import freezegun
        import pytest
        import time_machine
        from sqlalchemy import create_engine, text

        from dburls import SYNC_URL

        engine = create_engine(SYNC_URL)

        @pytest.fixture(scope="module")
        def warm():
            with engine.connect():  # the first connection's checks stay out of the tests
                pass

        @pytest.fixture(params=["freezegun-past", "freezegun-future-ticking", "time-machine", "monkeypatch"])
        def moved_clock(request, monkeypatch):
            now = datetime.datetime.now(datetime.timezone.utc)
            if request.param == "freezegun-past":
                with freezegun.freeze_time(now - datetime.timedelta(days=365 * 25)):
                    yield
            elif request.param == "freezegun-future-ticking":
                with freezegun.freeze_time(now + datetime.timedelta(days=365 * 25), tick=True):
                    yield
            elif request.param == "time-machine":
                with time_machine.travel(datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc), tick=False):
                    yield
            else:
                import time
                monkeypatch.setattr(time, "time_ns", lambda: 0)
                monkeypatch.setattr(time, "time", lambda: 0.0)
                yield

        @pytest.fixture
        def connection(warm, moved_clock):
            with engine.connect() as connection:
                transaction = connection.begin()
                yield connection
                transaction.rollback()

        def test_rolled_back(connection):
            connection.execute(text("SELECT 1"))
        """,
}
PARAMS = ("freezegun-past", "freezegun-future-ticking", "time-machine", "monkeypatch")


def test_teardown_rollbacks_stay_under_their_fixture_and_in_the_summary_whatever_the_clock(suite: Suite) -> None:
    suite.pytester.makepyfile(**FROZEN_FIXTURES)
    before = time.time_ns()
    result, run = suite.run()
    after = time.time_ns()
    result.assert_outcomes(passed=4)
    for read in run.spans:
        start, end = read.start_ns, read.end_ns
        assert before <= start <= end <= after, f"{read.name}: {start}..{end} outside {before}..{after}"
    for param in PARAMS:
        name = f"test_frozen_db.py::test_rolled_back[{param}]"
        test = run.root(name)
        assert test.shape(waits=False) == trace(
            name,
            setup=(
                span("fixture monkeypatch"),
                span("fixture moved_clock"),
                span("fixture connection", CHECKOUT, span("BEGIN")),
            ),
            call=(span("SELECT"),),
            teardown=(
                span("fixture connection teardown", span("ROLLBACK"), RESET_CHECKIN),
                span("fixture moved_clock teardown"),
                span("fixture monkeypatch teardown"),
            ),
        )
        assert summary(test) == counts(queries=1, transactions=1, rollbacks=1, pool_resets=1, checkouts=1)
        rollback = test.child("teardown").child("fixture connection teardown").child("ROLLBACK")
        assert test.attributes["db.summary.rollback_time"] == rollback.duration_ns * 1e-9
