"""Session ids sort by creation time, in Python and in the database's collation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection

from byo_sessions import sessions
from byo_sessions.core.ids import RANDOM_BYTES, time_ordered_id
from byo_sessions.models import SESSION_ID_MAX_LENGTH, Session, new_session_id

# Moments whose millisecond counts cross digit-to-letter boundaries of the time characters.
MOMENTS = [
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 9000, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 10000, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 31000, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 32000, tzinfo=UTC),
    datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
    datetime(2026, 11, 29, 12, 0, 0, 1000, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
    datetime(2100, 1, 1, tzinfo=UTC),
]


def test_ids_sort_as_their_moments_whatever_the_random_part():
    ids = [time_ordered_id("ses_", at, bytes([255 - i]) * RANDOM_BYTES) for i, at in enumerate(MOMENTS)]
    assert sorted(ids) == ids
    assert len(set(i[4:14] for i in ids)) == len(MOMENTS)  # the time part differs per moment


def test_a_new_id_has_its_prefix_time_and_128_random_bits():
    made = {new_session_id() for _ in range(1000)}
    assert len(made) == 1000
    for sid in made:
        assert re.fullmatch(r"ses_[0-9a-hjkmnp-tv-z]{10}[A-Za-z0-9_-]{22}", sid), sid
        assert len(sid) <= SESSION_ID_MAX_LENGTH
    with pytest.raises(ValueError, match="16 bytes"):
        time_ordered_id("ses_", MOMENTS[0], b"short")


@pytest.mark.django_db
def test_the_database_orders_sessions_by_id_as_they_were_created(user, clock):
    """The table's collation (natural-language on most PostgreSQL servers) keeps the order,
    which is what lets pruning and bulk ending walk neighbouring rows."""
    made = []
    for step in (0, 1, 9, 22, 1000, 86_400_000, 3):  # milliseconds between sessions
        clock.advance(step / 1000)
        made.append(sessions.create(user_id=user.pk).data.session_id)
    assert list(Session.objects.order_by("pk").values_list("pk", flat=True)) == made


@pytest.mark.django_db
def test_natural_language_collations_keep_the_order(on_postgres):
    """Most servers are initialised with a language's collation, not C: the ids' order must
    hold there too, whatever ``-`` and ``_`` the random part holds."""
    if not on_postgres:
        pytest.skip("collations by name are PostgreSQL's")
    tails = [b"\xfb\xef" * 8, b"\x00" * 16, b"\xff" * 16, b"\xf8\x3f" * 8]  # "--_77_vv…", "AAAA…", "____…", "-D_4P_g_…"
    ids = [time_ordered_id("ses_", at, tails[i % len(tails)]) for i, at in enumerate(MOMENTS)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT collname FROM pg_collation WHERE collname IN ('en-US-x-icu', 'und-x-icu', 'C')")
        collations = [row[0] for row in cursor.fetchall()]
        assert "C" in collations
        for collation in collations:
            cursor.execute(f'SELECT x FROM unnest(%s::text[]) AS x ORDER BY x COLLATE "{collation}"', [ids[::-1]])
            assert [row[0] for row in cursor.fetchall()] == ids, collation


@pytest.mark.django_db
def test_a_created_session_id_holds_its_creation_time(user, clock):
    clock.advance(0.0123456)
    row = Session.objects.get(pk=sessions.create(user_id=user.pk).data.session_id)
    assert row.id[:14] == time_ordered_id("ses_", row.created_at, bytes(RANDOM_BYTES))[:14]
