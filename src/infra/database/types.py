"""Column types that are PostgreSQL-specific in production and still create on SQLite."""

from __future__ import annotations

from sqlalchemy import JSON, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# A list of strings: text[] in PostgreSQL (array operators, GIN-able), JSON elsewhere.
TextList = JSON().with_variant(ARRAY(Text()), "postgresql")
