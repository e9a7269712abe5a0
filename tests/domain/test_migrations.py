from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import src.domain.alerts.entities
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


_OLD_ROWS = [
    # (source, procedure_id, lot_id, cig, key as written before 0004)
    ("anac", "ocds-hu01ve-1", "1234567A0B", "1234567A0B", "anac:1234567A0B"),
    ("ocds:ocds-abc123", "ocds-abc123-1", "1", None, "ocds:ocds-abc123:ocds-abc123-1:1"),
    ("ted", "A:B", "C", None, "ted:A:B:C"),
    ("ted", "folder", "LOT\\1", None, "ted:folder:LOT\\1"),
    ("ted", "folder-2", None, None, "ted:folder-2:"),
]


async def test_0004_rekeys_the_rows_written_with_ambiguous_keys(fresh_database_url: str) -> None:
    """A database holding keys in the old format: the rows whose ids hold a separator or a
    backslash get the new key, the others (ANAC, ordinary ids) keep theirs, history still
    points at its tender, and the lot that used to share a key gets a row of its own."""
    from sqlalchemy import text

    from configs.config import Settings
    from src.domain.tender.entities import Tender, TenderChange
    from src.domain.tender.schemas import TenderRecord, identity_key
    from src.domain.tender.services import TenderService
    from src.infra.database import create_engine, create_session_factory
    from src.infra.database.migrate import downgrade, upgrade

    engine = create_engine(Settings(database_url=fresh_database_url))
    sessions = create_session_factory(engine)
    try:
        await downgrade(engine, "0003_tender_filters")
        ids = [uuid.uuid4() for _ in _OLD_ROWS]
        async with sessions() as session, session.begin():
            # Columns of that revision only (the model has more since).
            await session.execute(
                text(
                    "INSERT INTO tenders (id, title, source, procedure_id, lot_id, cig, "
                    "identity_key) VALUES (:id, 't', :s, :p, :lot, :c, :k)"
                ),
                [
                    {"id": i, "s": s, "p": p, "lot": lot, "c": c, "k": k}
                    for i, (s, p, lot, c, k) in zip(ids, _OLD_ROWS, strict=True)
                ],
            )
            await session.execute(
                text(
                    "INSERT INTO tender_changes (id, tender_id, field, new_value) "
                    "VALUES (:id, :tender, 'title', 't')"
                ),
                {"id": uuid.uuid4(), "tender": ids[2]},
            )
        await upgrade(engine)

        async with sessions() as session:
            rows = (await session.execute(select(Tender.identity_key, Tender.id))).all()
            keys = {key for key, _ in rows}
            change = await session.scalar(select(TenderChange.tender_id))
        assert keys == {identity_key(s, p, lot, c) for s, p, lot, c, _ in _OLD_ROWS}
        assert keys == {
            "anac:1234567A0B",
            "ocds:ocds-abc123:ocds-abc123-1:1",
            "ted:A\\:B:C",
            "ted:folder:LOT\\\\1",
            "ted:folder-2:",
        }
        assert change == ids[2]

        other_lot = TenderRecord(title="t", source="ted", procedure_id="A", lot_id="B:C")
        async with sessions() as session, session.begin():
            counts = await TenderService.upsert_many(session, [other_lot])
        assert counts.inserted == 1, "procedure A lot B:C no longer lands on A:B's row"

        with pytest.raises(RuntimeError, match="would be shared by two tenders"):
            await downgrade(engine, "0003_tender_filters")
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_0007_keys_each_stored_eforms_notice_by_its_id(fresh_database_url: str) -> None:
    """eForms publications stored once per procedure get their notice's id as key, so the
    next notice of the procedure is stored beside them instead of replacing them."""
    from sqlalchemy import text

    from configs.config import Settings
    from src.infra.database import create_engine
    from src.infra.database.migrate import downgrade, upgrade

    engine = create_engine(Settings(database_url=fresh_database_url))
    insert = text(
        "INSERT INTO publications (id, source, procedure_id, document_key, format, raw, "
        "content_hash) VALUES (gen_random_uuid(), 'ted', :procedure, :procedure, :format, "
        "CAST(:raw AS jsonb), 'h')"
    )
    try:
        await downgrade(engine, "0006_run_submitter")
        async with engine.begin() as connection:
            await connection.execute(
                insert, {"procedure": "F1", "format": "eforms", "raw": '{"notice_id": "N1"}'}
            )
            await connection.execute(
                insert, {"procedure": "F2", "format": "eforms", "raw": '{"xml": "<a/>"}'}
            )
            await connection.execute(
                insert, {"procedure": "ocid-1", "format": "ocds", "raw": '{"notice_id": "x"}'}
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT procedure_id, document_key FROM publications")
            )
            keys = {procedure: key for procedure, key in found}
        assert keys == {"F1": "N1", "F2": "F2", "ocid-1": "ocid-1"}
    finally:
        await engine.dispose()


async def test_0012_keeps_stored_publications_as_json_text(fresh_database_url: str) -> None:
    """Publications stored as jsonb read back the same once the column is json, and again
    after the downgrade; new ones keep the text they were stored with."""
    from sqlalchemy import text

    from configs.config import Settings
    from src.domain.tender.entities import Publication
    from src.infra.database import create_engine
    from src.infra.database.migrate import downgrade, upgrade

    engine = create_engine(Settings(database_url=fresh_database_url))
    document = {"ocid": "ocds-abc123-1", "tender": {"value": {"amount": 1.5}, "items": [1, "é"]}}
    insert = text(
        "INSERT INTO publications (id, source, procedure_id, document_key, format, raw, "
        "content_hash) VALUES (gen_random_uuid(), 'ocds:ocds-abc123', :key, :key, 'ocds', "
        "CAST(:raw AS {kind}), 'h')"
    )
    column_type = text(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'publications' AND column_name = 'raw'"
    )
    stored = select(Publication.document_key, Publication.raw).order_by(Publication.document_key)
    try:
        await downgrade(engine, "0011_publication_lz4")
        async with engine.begin() as connection:
            raw = (
                '{"tender": {"items": [1, "é"], "value": {"amount": 1.5}}, "ocid": "ocds-abc123-1"}'
            )
            await connection.execute(
                text(insert.text.format(kind="jsonb")), {"key": "a", "raw": raw}
            )
        await upgrade(engine)
        async with engine.begin() as connection:
            assert await connection.scalar(column_type) == "json"
            spaced = '{"ocid" : "ocds-abc123-1",  "tender": {"value": {"amount": 1.5}, '
            spaced += '"items": [1, "é"]}}'
            await connection.execute(
                text(insert.text.format(kind="json")), {"key": "b", "raw": spaced}
            )
            kept = await connection.scalar(
                text("SELECT raw::text FROM publications WHERE document_key = 'b'")
            )
            assert kept == spaced  # the text as stored, not taken apart
            assert (await connection.execute(stored)).all() == [("a", document), ("b", document)]
        await downgrade(engine, "0011_publication_lz4")
        await engine.dispose()  # statements prepared for the json column
        async with engine.begin() as connection:
            assert await connection.scalar(column_type) == "jsonb"
            assert (await connection.execute(stored)).all() == [("a", document), ("b", document)]
        await upgrade(engine)
    finally:
        await engine.dispose()


async def test_0013_sets_lz4_again_after_0012_changed_the_type(fresh_database_url: str) -> None:
    """A column's new type takes the default compression: 0012 lost 0011's lz4, 0013 sets
    it again (where the server has lz4), and its downgrade leaves the default."""
    from sqlalchemy import text

    from configs.config import Settings
    from src.infra.database import create_engine
    from src.infra.database.migrate import downgrade, upgrade

    engine = create_engine(Settings(database_url=fresh_database_url))
    method = text(
        "SELECT attcompression::text FROM pg_attribute "
        "WHERE attrelid = 'publications'::regclass AND attname = 'raw'"
    )
    has_lz4 = text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    try:
        async with engine.connect() as connection:
            expected = "l" if await connection.scalar(has_lz4) else ""
            assert await connection.scalar(method) == expected
        await downgrade(engine, "0012_publication_json")
        async with engine.connect() as connection:
            assert await connection.scalar(method) == ""
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.scalar(method) == expected
    finally:
        await engine.dispose()
