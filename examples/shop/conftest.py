"""What both fixture plugins share: the database URL, and a check that one of them is loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.postgres import database_url as provision

PLUGINS = ("examples.shop.fixtures_slow", "examples.shop.fixtures_fast")


def pytest_configure(config: pytest.Config) -> None:
    loaded = [name for name in PLUGINS if config.pluginmanager.has_plugin(name)]
    if len(loaded) != 1:
        choice = " or ".join(f"-p {name}" for name in PLUGINS)
        raise pytest.UsageError(
            f"the shop tests need exactly one fixture plugin, got {len(loaded)}: add {choice} "
            "(and run python -m pytest from the repository root, so `examples` is importable)"
        )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """``DATABASE_URL`` as an asyncpg URL, or a throwaway PostgreSQL for this run."""
    with provision() as url:
        yield url.render_as_string(hide_password=False)
