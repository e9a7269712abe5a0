"""Alembic environment. `tenders db upgrade` hands over an open connection in
`config.attributes["connection"]`, so this never starts an event loop of its own when called
from code that is already inside one."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import src.domain.alerts.entities
import src.domain.runs.entities
import src.domain.tender.entities  # noqa: F401 - registers the tables on Base.metadata
from configs.config import get_settings
from src.infra.database import Base, create_engine

target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=get_settings().require_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        asyncio.run(_run_with_own_engine())
