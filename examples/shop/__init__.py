"""A small async shop on SQLAlchemy 2 (asyncio) and asyncpg: the demo's application."""
