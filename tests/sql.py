"""What a captured SQL statement does, for tests that assert statement kinds: on PostgreSQL
the hot session lookup is a prepared statement (``PREPARE byo_hot_...; EXECUTE ...`` on a
connection's first request, ``EXECUTE byo_hot_...`` after; selectors.py), a SELECT all the same."""

from __future__ import annotations


def statement_kind(sql: str) -> str:
    first = sql.split(None, 1)[0].upper()
    if first in ("PREPARE", "EXECUTE") and "BYO_HOT_" in sql.upper():
        return "SELECT"
    return first
