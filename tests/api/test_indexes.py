"""The filters stay fast on a big table: on 200k generated tenders (and as many changes), the
plan of every list query the API builds reads an index, never the whole table. Plans, not
timings: they do not depend on the machine.

The statements are the API's own (`tender_page_query`, `change_page_query`) with their values
inlined: the API's statements are planned with their values (asyncpg runs them unnamed, so
PostgreSQL makes a custom plan each time).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import ClauseElement

from configs.config import Settings
from src.api.cursors import Key
from src.api.queries import (
    TenderFilters,
    change_page_query,
    search_words,
    since_key,
    tender_page_query,
)
from src.infra.database import create_engine

pytestmark = pytest.mark.slow

ROWS = 200_000
GENERATE_TENDERS = f"""
INSERT INTO tenders (id, identity_key, title, description, cig, source, procedure_id,
    buyer_id, cpv, status, published_at, deadline_at, content_hash, created_at, updated_at)
SELECT gen_random_uuid(), 'gen:' || i,
    'Lotto ' || i || ' ' || (ARRAY['lavori stradali', 'servizi di pulizia', 'fornitura arredi',
        'manutenzione impianti', 'servizi informatici'])[1 + i % 5]
        || CASE WHEN i % 997 = 0 THEN ' ponte sospeso' ELSE '' END,
    'Procedura aperta per ' || (ARRAY['comune', 'regione', 'asl', 'universita'])[1 + i % 4],
    upper(lpad(to_hex(i), 10, '0')),
    CASE WHEN i % 10 = 0 THEN 'ted' WHEN i % 1000 = 1 THEN 'ocds:rare' ELSE 'anac' END,
    'P' || (i / 3),
    'B' || (i % 20000),
    lpad(((i::bigint * 7919) % 100000000)::text, 8, '0'),
    (ARRAY['planning', 'planned', 'active', 'cancelled', 'unsuccessful', 'complete',
        'withdrawn'])[1 + i % 7],
    timestamptz '2020-01-01' + (i % 2000) * interval '1 day',
    timestamptz '2020-02-01' + (i % 2500) * interval '1 day' + (i % 24) * interval '1 hour',
    md5(i::text),
    timestamptz '2024-01-01' + i * interval '1 second',
    now()
FROM generate_series(1, {ROWS}) AS i
"""
GENERATE_CHANGES = """
INSERT INTO tender_changes (id, tender_id, field, old_value, new_value, changed_at)
SELECT gen_random_uuid(), id, 'status', 'active', status, created_at + interval '1 hour'
FROM tenders
"""
UTC_2022 = datetime(2022, 1, 1, tzinfo=UTC)
MIDDLE = Key(datetime(2024, 1, 2, tzinfo=UTC), uuid.UUID(int=0))


@pytest.fixture(scope="module")
async def big_engine(servers: Any, template_database: str) -> AsyncIterator[AsyncEngine]:
    """A database of its own with 200k tenders, analysed; shared by this module's tests."""
    from tests.support.servers import admin, copy_database

    name = await copy_database(servers, template_database)
    engine = create_engine(Settings(database_url=servers.database(name)))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(GENERATE_TENDERS))
            await connection.execute(text(GENERATE_CHANGES))
        async with engine.begin() as connection:  # ANALYZE's statistics are transactional
            await connection.execute(text("ANALYZE tenders"))
            await connection.execute(text("ANALYZE tender_changes"))
        yield engine
    finally:
        await engine.dispose()
        await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


async def plan(engine: AsyncEngine, statement: ClauseElement) -> list[dict[str, Any]]:
    sql = statement.compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}")
        document = result.scalar_one()
    if isinstance(document, str | bytes):
        document = orjson.loads(document)
    return list(_nodes(document[0]["Plan"]))


def scans(nodes: list[dict[str, Any]], table: str) -> tuple[set[str], set[str]]:
    """The node types that read `table`, and the indexes they use."""
    kinds = {n["Node Type"] for n in nodes if n.get("Relation Name") == table}
    indexes = {n["Index Name"] for n in nodes if "Index Name" in n}
    return kinds, indexes


KEYSET = "ix_tenders_created_at_id"
CASES: list[tuple[str, TenderFilters, set[str]]] = [
    ("no filter", TenderFilters(), {KEYSET}),
    ("cig", TenderFilters(cig="00000003E8"), {"uq_tenders_cig"}),
    ("cpv prefix", TenderFilters(cpv_prefix="4523"), {"ix_tenders_cpv_prefix"}),
    ("buyer", TenderFilters(buyer_id="B123"), {"ix_tenders_buyer_id_created_at_id"}),
    ("status", TenderFilters(status="cancelled"), {"ix_tenders_status_created_at_id", KEYSET}),
    ("source", TenderFilters(source="ocds:rare"), {"ix_tenders_source_created_at_id"}),
    (
        "deadline window",
        TenderFilters(deadline_after=UTC_2022, deadline_before=datetime(2022, 1, 2, tzinfo=UTC)),
        {"ix_tenders_deadline_at"},
    ),
    (
        "published after",
        TenderFilters(published_after=datetime(2025, 6, 20, tzinfo=UTC)),
        {"ix_tenders_published_at"},
    ),
    ("free text", TenderFilters(words=search_words("ponte sosp")), {"ix_tenders_search"}),
    ("common word", TenderFilters(words=search_words("lavori")), {"ix_tenders_search", KEYSET}),
    (
        "combined",
        TenderFilters(status="active", source="anac", cpv_prefix="45"),
        {
            "ix_tenders_cpv_prefix",
            "ix_tenders_status_created_at_id",
            "ix_tenders_source_created_at_id",
            KEYSET,
        },
    ),
]


@pytest.mark.parametrize("after", [None, MIDDLE], ids=["first page", "next page"])
@pytest.mark.parametrize(("label", "filters", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_every_filter_reads_an_index(
    big_engine: AsyncEngine,
    label: str,
    filters: TenderFilters,
    expected: set[str],
    after: Key | None,
) -> None:
    nodes = await plan(big_engine, tender_page_query(filters, after, 50))
    kinds, indexes = scans(nodes, "tenders")
    assert "Seq Scan" not in kinds, f"{label}: {kinds}"
    assert indexes & expected, f"{label}: uses {indexes}, expected one of {expected}"


async def test_the_change_feed_reads_its_index(big_engine: AsyncEngine) -> None:
    for after in (since_key(datetime(2024, 1, 2, 12, tzinfo=UTC)), MIDDLE):
        nodes = await plan(big_engine, change_page_query(after, 100))
        kinds, indexes = scans(nodes, "tender_changes")
        assert "Seq Scan" not in kinds, kinds
        assert "ix_tender_changes_changed_at" in indexes
        assert "Seq Scan" not in scans(nodes, "tenders")[0]
