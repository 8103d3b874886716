"""Transaction-scoped named locks, for check-then-insert steps that must not interleave.

On PostgreSQL a ``pg_advisory_xact_lock`` on a hash of the name: held until the current
transaction ends, so callers must be inside ``transaction.atomic()``. SQLite already
admits one writer at a time, so there it is a no-op.
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
