"""Migration 0015 replaces two audit indexes with partial ones: on PostgreSQL built
CONCURRENTLY under a temporary name and renamed (the audit table is never locked for the
build), elsewhere replaced in place; both ways, and a rerun after an interrupted build."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("byo_sessions", "0014_session_children_without_constraints")
AFTER = ("byo_sessions", "0015_audit_indexes_without_lifecycle_rows")
INDEXES = ("byo_audit_type_idx", "byo_audit_ip_idx", "byo_audit_type_idx_new", "byo_audit_ip_idx_new")


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def audit_indexes() -> dict[str, str]:
    """The audit table's indexes of interest, by name: their definitions."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'byo_sessions_auditevent'")
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'byo_sessions_auditevent'"
            )
        return {name: sql for name, sql in cursor.fetchall() if name in INDEXES}


def test_0015_makes_the_type_and_ip_indexes_partial_and_back(user):
    try:
        migrate(BEFORE)
        before = audit_indexes()
        assert set(before) == {"byo_audit_type_idx", "byo_audit_ip_idx"}
        assert not any("WHERE" in sql.upper() for sql in before.values())
        if connection.vendor == "postgresql":  # a build interrupted earlier left its index behind
            with connection.cursor() as cursor:
                cursor.execute("CREATE INDEX byo_audit_type_idx_new ON byo_sessions_auditevent (id)")
        migrate(AFTER)
        after = audit_indexes()
        assert set(after) == {"byo_audit_type_idx", "byo_audit_ip_idx"}
        assert "session_rotated" in after["byo_audit_type_idx"] and "session_expired" in after["byo_audit_ip_idx"]
        migrate(BEFORE)
        assert audit_indexes() == before
    finally:
        migrate(AFTER)
    assert set(audit_indexes()) == {"byo_audit_type_idx", "byo_audit_ip_idx"}
