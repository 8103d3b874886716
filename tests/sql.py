"""What a captured SQL statement does, for tests that assert statement kinds: on PostgreSQL
the hot session lookup is a prepared statement (``PREPARE byo_hot_...; EXECUTE ...`` on a
connection's first request, ``EXECUTE byo_hot_...`` after; selectors.py), a SELECT all the same."""

from __future__ import annotations

from typing import Any

from django.db import connection


def statement_kind(sql: str) -> str:
    first = sql.split(None, 1)[0].upper()
    if first in ("PREPARE", "EXECUTE") and "BYO_HOT_" in sql.upper():
        return "SELECT"
    return first


def query_plan(queryset: Any) -> str:
    """The database's plan for ``queryset``, as one string, for tests that assert which index
    serves a query. On PostgreSQL the table is analysed first (statistics left by earlier
    tests, of rows since rolled back, would mislead the planner) and sequential scans are
    ruled out for the transaction (test tables are tiny)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {connection.ops.quote_name(queryset.model._meta.db_table)}")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " ".join(str(row) for row in cursor.fetchall())
