"""Events to deliveries, in SQL, one batch of pending events at a time.

A tender's index entries (`*`, `source:…`, `buyer:…`, every prefix of its CPV and NUTS codes,
and the first 4 letters of each word of 4 or more of its title and description) meet the watches'
entries (`watch_keys`, whose primary key leads with `key`): only watches whose most selective
filter fits are candidates, and each candidate's every filter is then checked against the
tender's current state. So a batch costs its events times the few watches that could match,
not times every watch. A tender's search document is computed once per event.

Each event is matched once (`matched_at`); a delivery is unique per watch and event, so
matching again changes nothing. An event no watch wanted is deleted as it is matched: the
outbox keeps only what was or is to be sent (the history of changes is `tender_changes`), so
a fresh ingest of millions of tenders leaves no million rows behind."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.schemas import CLOSED_STATUSES, WORD_KEY_CHARS

SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, left((t.title || ' ') || coalesce(t.description, ''),"
    " 100000))"
)
# The tender's entries, as `WatchSpec.index_keys` writes a watch's; `p.document` is its
# search document.
_TENDER_KEYS = f"""
    ARRAY['*', 'source:' || coalesce(t.source, ''), 'buyer:' || coalesce(t.buyer_id, '')]
    || ARRAY(SELECT 'cpv:' || left(t.cpv, n)
             FROM generate_series(1, least(length(coalesce(t.cpv, '')), 8)) AS n)
    || ARRAY(SELECT 'nuts:' || left(t.nuts, n)
             FROM generate_series(2, length(coalesce(t.nuts, ''))) AS n)
    || CASE WHEN (SELECT words FROM worded)
            THEN ARRAY(SELECT DISTINCT 'word:' || left(l.lexeme, {WORD_KEY_CHARS})
                       FROM unnest(p.document) AS l
                       WHERE length(l.lexeme) >= {WORD_KEY_CHARS})
            ELSE '{{}}' END
"""  # noqa: S608 - constants only


def _query(words: str) -> str:
    """A watch's normalised words (`a b`) as an all-words prefix query (`a:* & b:*`)."""
    return f"to_tsquery('simple'::regconfig, replace({words}, ' ', ':* & ') || ':*')"


_BUYER = "to_tsvector('simple'::regconfig, coalesce(t.buyer_name, ''))"
_CLOSED = ", ".join(f"'{status}'" for status in CLOSED_STATUSES)


def watch_matches(document: str) -> str:
    """Every filter of watch `w` against tender `t` for event `p` (empty filters hold);
    `document` is the tender's search document."""
    return f"""
    (p.kind = ANY(w.events))
    AND (p.kind <> 'changed' OR w.fields = '{{}}' OR p.changes ?| w.fields)
    AND (p.kind <> 'deadline_near' OR (coalesce(t.status, '') NOT IN ({_CLOSED})
                                       AND t.awarded_at IS NULL AND t.supplier_name IS NULL))
    AND (w.cpv = '{{}}' OR EXISTS (SELECT 1 FROM unnest(w.cpv) AS c(prefix)
                                   WHERE t.cpv LIKE c.prefix || '%'))
    AND (w.nuts = '{{}}' OR EXISTS (SELECT 1 FROM unnest(w.nuts) AS c(prefix)
                                    WHERE t.nuts LIKE c.prefix || '%'))
    AND (w.buyer_ids = '{{}}' OR t.buyer_id = ANY(w.buyer_ids))
    AND (w.sources = '{{}}' OR t.source = ANY(w.sources))
    AND (w.statuses = '{{}}' OR t.status = ANY(w.statuses))
    AND (w.amount_min IS NULL OR t.amount >= w.amount_min)
    AND (w.amount_max IS NULL OR t.amount <= w.amount_max)
    AND (w.words IS NULL OR {document} @@ {_query("w.words")})
    AND (w.buyer_words IS NULL OR {_BUYER} @@ {_query("w.buyer_words")})
"""  # noqa: S608 - constants only


_PENDING = """
    SELECT e.id, e.tender_id, e.kind, e.changes, e.watch_id, e.created_at
    FROM tender_events e WHERE e.matched_at IS NULL
    ORDER BY e.seq LIMIT :limit FOR UPDATE SKIP LOCKED
"""
_MATCH = text(f"""
WITH locked AS ({_PENDING}
), pending AS MATERIALIZED (
    SELECT e.*, {SEARCH_DOCUMENT} AS document
    FROM locked e JOIN tenders t ON t.id = e.tender_id
), worded AS (
    SELECT EXISTS (SELECT 1 FROM watch_keys WHERE key LIKE 'word:%') AS words
), keys AS MATERIALIZED (
    SELECT p.id AS event_id, tk.key
    FROM pending p JOIN tenders t ON t.id = p.tender_id
    CROSS JOIN LATERAL unnest({_TENDER_KEYS}) AS tk(key)
    WHERE p.watch_id IS NULL
), candidates AS (
    SELECT x.event_id, k.watch_id FROM keys x JOIN watch_keys k ON k.key = x.key
    UNION
    SELECT p.id, p.watch_id FROM pending p WHERE p.watch_id IS NOT NULL
), matched AS (
    INSERT INTO deliveries (id, watch_id, event_id)
    SELECT gen_random_uuid(), w.id, p.id
    FROM candidates c
    JOIN pending p ON p.id = c.event_id
    JOIN watches w ON w.id = c.watch_id
    JOIN tenders t ON t.id = p.tender_id
    WHERE w.created_at <= p.created_at AND {watch_matches("p.document")}
    ON CONFLICT (watch_id, event_id) WHERE NOT replay DO NOTHING
    RETURNING event_id
), kept AS (
    UPDATE tender_events SET matched_at = clock_timestamp()
    WHERE id IN (SELECT id FROM locked)
      AND (id IN (SELECT event_id FROM matched)
           OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = tender_events.id))
    RETURNING 1
), dropped AS (
    DELETE FROM tender_events
    WHERE id IN (SELECT id FROM locked)
      AND id NOT IN (SELECT event_id FROM matched)
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = tender_events.id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM kept) + (SELECT count(*) FROM dropped),
       (SELECT count(*) FROM matched)
""")  # noqa: S608 - no input in the text: every value is a bound parameter
# No watch at all: every pending event goes, unread (a watch sees only the events made after
# it, so none of these could ever be its).
_DROP = text(f"""
WITH locked AS ({_PENDING})
DELETE FROM tender_events
WHERE id IN (SELECT id FROM locked) AND NOT EXISTS (SELECT 1 FROM watches)
""")  # noqa: S608 - constants only
_ANY_WATCH = text("SELECT EXISTS (SELECT 1 FROM watches)")


@dataclass(frozen=True)
class Matched:
    events: int
    deliveries: int


async def match_pending(session: AsyncSession, *, limit: int = 5000) -> Matched:
    """Match up to `limit` pending events (oldest first; events another matcher holds are
    skipped) to the watches, in the caller's transaction."""
    if not await session.scalar(_ANY_WATCH):
        dropped = await session.execute(_DROP, {"limit": limit})
        return Matched(events=int(dropped.rowcount or 0), deliveries=0)  # type: ignore[attr-defined]
    row = (await session.execute(_MATCH, {"limit": limit})).one()
    return Matched(events=int(row[0]), deliveries=int(row[1]))
