"""Transaction-scoped named locks, for check-then-insert steps that must not interleave.

On PostgreSQL a ``pg_advisory_xact_lock`` on a hash of the name: held until the current
transaction ends, so callers must be inside ``transaction.atomic()``. On SQLite it is a
no-op: SQLite admits one writer at a time, so two check-then-insert transactions cannot
both write; the second waits (``timeout``) or fails with "database is locked" rather
than inserting a duplicate. Concurrency guarantees are tested on PostgreSQL.
"""

from __future__ import annotations

import hashlib

from django.db import connection


def lock_for_transaction(name: str) -> None:
    """Wait until no other transaction holds ``name``; hold it until this one ends."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"byo:{name}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
