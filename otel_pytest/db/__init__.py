"""Database instrumentation, switched on as the database libraries appear.

Importing SQLAlchemy costs ~100 ms: a run that never uses it must not pay for it. So
nothing is imported here; :meth:`DbInstrumentation.refresh` instruments a library once it
is in ``sys.modules`` (checked at start-up, after collection, and before each test, a
dictionary lookup each), and :meth:`close` removes every hook.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_pytest.db.asyncpg import AsyncpgInstrumentation
    from otel_pytest.db.metrics import DbMetrics
    from otel_pytest.db.spans import DbSpans
    from otel_pytest.db.sqlalchemy import SqlAlchemyInstrumentation
    from otel_pytest.recorder import Recorder


class DbInstrumentation:
    def __init__(self, recorder: Recorder, metrics: Callable[[], DbMetrics] | None = None) -> None:
        self.recorder = recorder
        self._make_metrics = metrics
        # Made with the first library seen: a run without a database never imports the span
        # code and its statement parser (~3 ms at start-up).
        self.spans: DbSpans | None = None
        self.sqlalchemy: SqlAlchemyInstrumentation | None = None
        self.asyncpg: AsyncpgInstrumentation | None = None

    def refresh(self) -> None:
        """Instrument whichever supported library has been imported since the last call."""
        modules = sys.modules
        spans = self.spans
        if spans is None:
            if "asyncpg" not in modules and "sqlalchemy" not in modules:
                return
            from otel_pytest.db.spans import DbSpans, summary_attributes

            spans = self.spans = DbSpans(self.recorder)
            # Only a run that uses a database pays for its summary and metrics.
            self.recorder.summarizers.append(summary_attributes)
            if self._make_metrics is not None:
                spans.metrics = self._make_metrics()
        if self.asyncpg is None and "asyncpg" in modules:
            from otel_pytest.db.asyncpg import AsyncpgInstrumentation

            self.asyncpg = AsyncpgInstrumentation(spans)
            self.asyncpg.instrument()
        if self.sqlalchemy is None and "sqlalchemy" in modules:
            from otel_pytest.db.sqlalchemy import SqlAlchemyInstrumentation

            self.sqlalchemy = SqlAlchemyInstrumentation(spans, self.refresh)
            self.sqlalchemy.instrument()

    @property
    def metrics(self) -> DbMetrics | None:
        """The run's database metrics; None until a library is instrumented."""
        return None if self.spans is None else self.spans.metrics

    def close(self) -> None:
        """Remove every hook, the recorder's summary of database work among them."""
        for layer in (self.sqlalchemy, self.asyncpg):
            if layer is not None:
                layer.uninstrument()
        if self.spans is None:
            return
        from otel_pytest.db.spans import summary_attributes

        summarizers = self.recorder.summarizers
        if summary_attributes in summarizers:
            summarizers.remove(summary_attributes)
