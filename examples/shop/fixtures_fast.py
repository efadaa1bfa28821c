"""The fast way: share what is expensive, and undo each test with a rollback.

One engine and one ``create_all`` for the whole session; per test, one pooled connection
in a transaction that is rolled back at the end. The test's session joins that transaction
with ``join_transaction_mode="create_savepoint"``, so the application's own ``commit()``
and ``rollback()`` only release or roll back a savepoint and nothing outlives the test.
Load with ``-p examples.shop.fixtures_fast``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from examples.shop.models import Base


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def schema(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)


@pytest_asyncio.fixture
async def connection(engine: AsyncEngine, schema: None) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest_asyncio.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session
