"""Span names: the operation names Jaeger lists, low-cardinality (details go in attributes).

A test's root span is named by its node id, a module's by its module; the rest are here.
"""

from __future__ import annotations

# -- the recorder (otel_pytest.recorder) --------------------------------------------------

SESSION = "pytest session"  # the root of the session trace; one per xdist worker under the controller's
SETUP = "setup"
CALL = "call"
TEARDOWN = "teardown"
PHASES = (SETUP, CALL, TEARDOWN)  # children of a test span (or of its attempt spans)
FIXTURE_PREFIX = "fixture "
EXCEPTION_EVENT = "exception"  # the span event of a failure (OTel's exception event)


def fixture_setup(name: str) -> str:
    """The span of one setup of fixture ``name``."""
    return f"{FIXTURE_PREFIX}{name}"


def fixture_teardown(name: str) -> str:
    """The span of one teardown of fixture ``name``."""
    return f"{FIXTURE_PREFIX}{name} teardown"


def waited_for(scope: str, fixture_span: str) -> str:
    """The span under a phase for the wider-scoped fixture span ``fixture_span`` (of
    ``scope``) that the phase waited for: ``session fixture engine``."""
    return f"{scope} {fixture_span}"


GC_PREFIX = "gc gen "


def gc_pause(generation: int) -> str:
    """The span of one garbage-collection pause of ``generation`` (0, 1 or 2)."""
    return f"{GC_PREFIX}{generation}"


def attempt(number: int) -> str:
    """The span of attempt ``number`` (from 1) of a test a rerun plugin ran again."""
    return f"attempt {number}"


# -- the database instrumentation (otel_pytest.db) ----------------------------------------
# Queries are named by their summary (``SELECT orders``), transaction steps by the step
# (otel_pytest.semconv.statements.TRANSACTION_STEPS).

CONNECT = "connect"  # a physical connection made
POOL_CHECKOUT = "pool checkout"  # a connection taken from the pool (the connect inside it, when new)
POOL_CHECKIN = "pool checkin"  # a connection given back (the pool's reset inside it)
ENGINE_CREATE = "engine create"
ENGINE_DISPOSE = "engine dispose"
CONNECTION_SPANS = frozenset({CONNECT, POOL_CHECKOUT, POOL_CHECKIN, ENGINE_CREATE, ENGINE_DISPOSE})
