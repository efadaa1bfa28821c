from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from examples.shop import service
from examples.shop.models import Customer


async def test_a_new_customer_gets_an_id(session: AsyncSession) -> None:
    customer = await service.create_customer(session, "ada@example.com", "Ada")

    assert customer.id > 0
    assert await session.get(Customer, customer.id) is customer


async def test_two_customers_cannot_share_an_email(session: AsyncSession) -> None:
    await service.create_customer(session, "ada@example.com", "Ada")

    with pytest.raises(IntegrityError):
        await service.create_customer(session, "ada@example.com", "Another Ada")
    await session.rollback()

    assert await session.scalar(select(func.count()).select_from(Customer)) == 1


async def test_each_test_starts_with_no_customers(session: AsyncSession) -> None:
    # Other tests create customers with the same emails: none may be left over.
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_a_customer_without_orders_has_an_empty_history(session: AsyncSession) -> None:
    customer = await service.create_customer(session, "grace@example.com", "Grace")

    assert list(await service.customer_orders(session, customer.id)) == []


async def test_order_history_is_newest_first(session: AsyncSession) -> None:
    customer = await service.create_customer(session, "ada@example.com", "Ada")
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=10)
    first = await service.place_order(session, customer.id, {"TEA-1": 1})
    second = await service.place_order(session, customer.id, {"TEA-1": 2})

    orders = await service.customer_orders(session, customer.id)

    assert [order.id for order in orders] == [second.id, first.id]


async def test_a_regular_customer_sees_every_order_with_its_lines(session: AsyncSession) -> None:
    customer = await service.create_customer(session, "ada@example.com", "Ada")
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=30)
    for quantity in range(1, 7):
        await service.place_order(session, customer.id, {"TEA-1": quantity})
    session.expunge_all()

    orders = await service.customer_orders(session, customer.id)

    assert [line.quantity for order in orders for line in order.lines] == [6, 5, 4, 3, 2, 1]
    assert {line.product.sku for order in orders for line in order.lines} == {"TEA-1"}


async def test_order_history_loads_lines_and_products(session: AsyncSession) -> None:
    customer = await service.create_customer(session, "ada@example.com", "Ada")
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=10)
    await service.create_product(session, "MUG-1", "Mug", Decimal("8.00"), stock=5)
    await service.place_order(session, customer.id, {"TEA-1": 2, "MUG-1": 1})
    session.expunge_all()  # what follows must come from the database, not the identity map

    (order,) = await service.customer_orders(session, customer.id)

    assert sorted((line.product.name, line.quantity) for line in order.lines) == [
        ("Green tea", 2),
        ("Mug", 1),
    ]


async def test_order_history_is_per_customer(session: AsyncSession) -> None:
    ada = await service.create_customer(session, "ada@example.com", "Ada")
    grace = await service.create_customer(session, "grace@example.com", "Grace")
    await service.create_product(session, "TEA-1", "Green tea", Decimal("4.50"), stock=10)
    await service.place_order(session, ada.id, {"TEA-1": 1})

    assert len(await service.customer_orders(session, ada.id)) == 1
    assert list(await service.customer_orders(session, grace.id)) == []
