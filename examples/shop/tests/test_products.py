from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from examples.shop import service
from examples.shop.models import Product


async def test_a_product_is_stored_with_its_price(session: AsyncSession) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=3)
    session.expunge_all()

    product = await service.get_product(session, "TEA-1")

    assert (product.name, product.price, product.stock) == ("Green tea", Decimal("4.50"), 3)


async def test_a_new_product_has_no_stock_by_default(session: AsyncSession) -> None:
    product = await service.create_product(session, "MUG-1", "Mug", Decimal("8.00"))

    assert product.stock == 0


async def test_skus_are_unique(session: AsyncSession) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"))

    with pytest.raises(IntegrityError):
        await service.create_product(session, "TEA-1", "Black tea", Decimal("3.90"))
    await session.rollback()

    assert await session.scalar(select(func.count()).select_from(Product)) == 1


async def test_an_unknown_sku_is_reported(session: AsyncSession) -> None:
    with pytest.raises(service.UnknownProduct, match="NOPE"):
        await service.get_product(session, "NOPE")


async def test_restocking_adds_to_the_stock(session: AsyncSession) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=2)

    assert await service.restock(session, "TEA-1", 5) == 7
    assert await service.restock(session, "TEA-1", 1) == 8


@pytest.mark.parametrize("quantity", [0, -3])
async def test_restocking_needs_a_positive_quantity(session: AsyncSession, quantity: int) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=2)

    with pytest.raises(service.ShopError, match="must be positive"):
        await service.restock(session, "TEA-1", quantity)
    assert (await service.get_product(session, "TEA-1")).stock == 2


async def test_restocking_an_unknown_product_fails(session: AsyncSession) -> None:
    with pytest.raises(service.UnknownProduct):
        await service.restock(session, "NOPE", 5)


async def test_the_database_refuses_negative_stock(session: AsyncSession) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=1)

    with pytest.raises(IntegrityError, match="stock_not_negative"):
        await session.execute(update(Product).where(Product.sku == "TEA-1").values(stock=-1))
    await session.rollback()


async def test_each_test_starts_with_no_products(session: AsyncSession) -> None:
    assert await session.scalar(select(func.count()).select_from(Product)) == 0
