from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from examples.shop import service
from examples.shop.models import Customer


@pytest.fixture
async def customer(session: AsyncSession) -> Customer:
    return await service.create_customer(session, "ada@example.com", "Ada")


@pytest.fixture
async def catalogue(session: AsyncSession) -> None:
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=10)
    await service.create_product(session, "MUG-1", "Mug", Decimal("8.00"), stock=2)


@pytest.mark.usefixtures("catalogue")
async def test_an_order_takes_items_out_of_stock(session: AsyncSession, customer: Customer) -> None:
    await service.place_order(session, customer.id, {"TEA-1": 3, "MUG-1": 2})

    assert (await service.get_product(session, "TEA-1")).stock == 7
    assert (await service.get_product(session, "MUG-1")).stock == 0


@pytest.mark.usefixtures("catalogue")
async def test_the_total_is_the_sum_of_its_lines(session: AsyncSession, customer: Customer) -> None:
    order = await service.place_order(session, customer.id, {"TEA-1": 3, "MUG-1": 1})

    assert await service.order_total(session, order.id) == Decimal("21.50")


@pytest.mark.usefixtures("catalogue")
async def test_a_price_change_does_not_alter_a_placed_order(session: AsyncSession, customer: Customer) -> None:
    order = await service.place_order(session, customer.id, {"TEA-1": 2})
    (await service.get_product(session, "TEA-1")).price = Decimal("5.00")
    await session.commit()

    assert await service.order_total(session, order.id) == Decimal("9.00")


@pytest.mark.usefixtures("catalogue")
async def test_ordering_more_than_the_stock_fails_and_changes_nothing(
    session: AsyncSession, customer: Customer
) -> None:
    customer_id = customer.id  # the failed order's rollback expires every loaded object
    with pytest.raises(service.OutOfStock, match="MUG-1: 3 ordered, 2 in stock"):
        await service.place_order(session, customer_id, {"TEA-1": 1, "MUG-1": 3})

    assert (await service.get_product(session, "TEA-1")).stock == 10
    assert list(await service.customer_orders(session, customer_id)) == []


@pytest.mark.usefixtures("catalogue")
async def test_ordering_an_unknown_product_fails(session: AsyncSession, customer: Customer) -> None:
    with pytest.raises(service.UnknownProduct, match="NOPE"):
        await service.place_order(session, customer.id, {"TEA-1": 1, "NOPE": 1})


@pytest.mark.parametrize("items", [{}, {"TEA-1": 0}], ids=["no lines", "zero quantity"])
async def test_an_order_needs_lines_with_positive_quantities(
    session: AsyncSession, customer: Customer, items: dict[str, int]
) -> None:
    with pytest.raises(service.ShopError, match="at least one line"):
        await service.place_order(session, customer.id, items)


async def test_an_empty_order_id_totals_zero(session: AsyncSession) -> None:
    assert await service.order_total(session, 404) == Decimal(0)


@pytest.mark.usefixtures("catalogue")
async def test_cancelling_puts_the_items_back(session: AsyncSession, customer: Customer) -> None:
    order = await service.place_order(session, customer.id, {"TEA-1": 4, "MUG-1": 2})

    cancelled = await service.cancel_order(session, order.id)

    assert cancelled.status == "cancelled"
    assert (await service.get_product(session, "TEA-1")).stock == 10
    assert (await service.get_product(session, "MUG-1")).stock == 2


@pytest.mark.usefixtures("catalogue")
async def test_an_order_cannot_be_cancelled_twice(session: AsyncSession, customer: Customer) -> None:
    order = await service.place_order(session, customer.id, {"TEA-1": 1})
    await service.cancel_order(session, order.id)

    with pytest.raises(service.ShopError, match="is cancelled"):
        await service.cancel_order(session, order.id)


@pytest.mark.usefixtures("catalogue")
async def test_best_sellers_count_units_and_skip_cancelled_orders(session: AsyncSession, customer: Customer) -> None:
    await service.place_order(session, customer.id, {"TEA-1": 2, "MUG-1": 1})
    await service.place_order(session, customer.id, {"TEA-1": 1})
    cancelled = await service.place_order(session, customer.id, {"MUG-1": 1})
    await service.cancel_order(session, cancelled.id)

    assert await service.best_sellers(session) == [("TEA-1", 3), ("MUG-1", 1)]
