from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import src.domain.runs.entities
import src.domain.tender.entities  # noqa: F401 - registers every table
from src.infra.database import Base
from src.infra.database.migrate import current_revision, head_revision


async def test_migrations_reach_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], f"models and migrations differ: {differences}"


async def test_downgrade_to_base_and_back(fresh_database_url: str) -> None:
    """Every migration can be undone: down to an empty schema, then up to head again."""
    from configs.config import Settings
    from src.infra.database import create_engine
    from src.infra.database.migrate import downgrade, upgrade

    engine = create_engine(Settings(database_url=fresh_database_url))
    try:
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
