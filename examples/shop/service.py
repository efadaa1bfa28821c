"""The shop's operations. Each one is a unit of work that commits, as application code does."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from examples.shop.models import Customer, Order, OrderLine, Product


class ShopError(Exception):
    """A request the shop refuses; the message says what and why."""


class UnknownProduct(ShopError):
    pass


class OutOfStock(ShopError):
    pass


async def create_customer(session: AsyncSession, email: str, name: str) -> Customer:
    customer = Customer(email=email, name=name)
    session.add(customer)
    await session.commit()
    return customer


async def create_product(session: AsyncSession, sku: str, name: str, price: Decimal, stock: int = 0) -> Product:
    product = Product(sku=sku, name=name, price=price, stock=stock)
    session.add(product)
    await session.commit()
    return product


async def get_product(session: AsyncSession, sku: str) -> Product:
    product = await session.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        raise UnknownProduct(f"no product with SKU {sku!r}")
    return product


async def restock(session: AsyncSession, sku: str, quantity: int) -> int:
    """Add ``quantity`` to a product's stock in one UPDATE; return the new stock."""
    if quantity <= 0:
        raise ShopError(f"cannot restock {quantity} units: the quantity must be positive")
    stock: int | None = await session.scalar(
        update(Product).where(Product.sku == sku).values(stock=Product.stock + quantity).returning(Product.stock)
    )
    if stock is None:
        raise UnknownProduct(f"no product with SKU {sku!r}")
    await session.commit()
    return stock


async def place_order(session: AsyncSession, customer_id: int, items: Mapping[str, int]) -> Order:
    """Order ``items`` (SKU to quantity) at today's prices, taking them out of stock.

    The products are locked (``SELECT … FOR UPDATE``) so two orders cannot both take the
    last unit; nothing is written unless every line can be served.
    """
    if not items or any(quantity <= 0 for quantity in items.values()):
        raise ShopError(f"an order needs at least one line and positive quantities: {dict(items)}")
    rows = await session.scalars(select(Product).where(Product.sku.in_(items)).order_by(Product.id).with_for_update())
    products = {product.sku: product for product in rows}
    try:
        for sku, quantity in items.items():
            product = products.get(sku)
            if product is None:
                raise UnknownProduct(f"no product with SKU {sku!r}")
            if product.stock < quantity:
                raise OutOfStock(f"{sku}: {quantity} ordered, {product.stock} in stock")
    except ShopError:
        await session.rollback()
        raise
    order = Order(customer_id=customer_id)
    for sku, quantity in items.items():
        product = products[sku]
        product.stock -= quantity
        order.lines.append(OrderLine(product=product, quantity=quantity, unit_price=product.price))
    session.add(order)
    await session.commit()
    return order


async def order_total(session: AsyncSession, order_id: int) -> Decimal:
    total = await session.scalar(
        select(func.sum(OrderLine.unit_price * OrderLine.quantity)).where(OrderLine.order_id == order_id)
    )
    return total or Decimal(0)


async def customer_orders(session: AsyncSession, customer_id: int) -> Sequence[Order]:
    """A customer's orders, newest first, with their lines and products loaded.

    ``SHOP_REGRESSION=n+1`` in the environment swaps in the classic N+1 way of loading the
    lines (one query per order): the demo's deliberately regressed variant, for the
    analyzer to catch.
    """
    if os.environ.get("SHOP_REGRESSION") == "n+1":
        orders = (
            await session.scalars(
                select(Order).where(Order.customer_id == customer_id).order_by(Order.created_at.desc(), Order.id.desc())
            )
        ).all()
        for order in orders:
            lines = await session.scalars(
                select(OrderLine).options(joinedload(OrderLine.product)).where(OrderLine.order_id == order.id)
            )
            set_committed_value(order, "lines", list(lines))
        return orders
    result = await session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .options(selectinload(Order.lines).selectinload(OrderLine.product))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    return result.all()


async def cancel_order(session: AsyncSession, order_id: int) -> Order:
    """Cancel a placed order and put its items back in stock."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines)).with_for_update()
    )
    if order is None:
        raise ShopError(f"no order {order_id}")
    if order.status != "placed":
        raise ShopError(f"order {order_id} is {order.status}: only a placed order can be cancelled")
    for line in order.lines:
        await session.execute(
            update(Product).where(Product.id == line.product_id).values(stock=Product.stock + line.quantity)
        )
    order.status = "cancelled"
    await session.commit()
    return order


async def best_sellers(session: AsyncSession, limit: int = 3) -> list[tuple[str, int]]:
    """The SKUs sold the most (cancelled orders excluded), with the units sold."""
    sold = func.sum(OrderLine.quantity).label("sold")
    rows = await session.execute(
        select(Product.sku, sold)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status != "cancelled")
        .group_by(Product.sku)
        .order_by(sold.desc(), Product.sku)
        .limit(limit)
    )
    return [(sku, int(units)) for sku, units in rows]
