"""Reads (selectors.py): the hot lookup is one query with the user joined and the cold
columns deferred; the previous-token and retired-token lookups find the session a rotated
token belongs to."""
from __future__ import annotations

import pytest

from byo_sessions import sessions
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Session
from byo_sessions.selectors import (
    COLD_SESSION_COLUMNS,
    retired_token,
    session_by_previous_hash,
    session_by_token_hash,
)
from tests.constants import CHROME_MAC, IP

pytestmark = pytest.mark.django_db


def _create(user, **kwargs):
    return sessions.create(user_id=user.pk, ip_address=IP, user_agent=CHROME_MAC, tags=["org:acme"],
                           metadata={"plan": "pro"}, **kwargs).data


def test_one_query_with_the_user_joined(user, django_assert_num_queries):
    created = _create(user)
    with django_assert_num_queries(1):
        session = session_by_token_hash(hash_token(created.session_token))
        assert session.user.get_username() == "alice" and session.user.pk == user.pk  # no second query
        assert (session.id, session.tags, session.metadata, session.last_ip_address) == (
            created.session_id, ["org:acme"], {"plan": "pro"}, IP)
    assert session.user.check_password("pw-alice-123")  # a whole user row, not a stub


def test_values_come_back_as_the_orm_would_give_them(user):
    """Rows are turned into instances with the backend's converters: JSON, datetimes and
    booleans must match what the ORM reads."""
    created = _create(user)
    fast = session_by_token_hash(hash_token(created.session_token))
    orm = Session.objects.get(pk=created.session_id)
    hot = [f.attname for f in Session._meta.concrete_fields if f.attname not in COLD_SESSION_COLUMNS]
    assert {name: getattr(fast, name) for name in hot} == {name: getattr(orm, name) for name in hot}
    assert fast.user.is_active is True and fast.user.date_joined == user.date_joined


def test_cold_columns_are_deferred_and_reading_one_costs_a_query(user, django_assert_num_queries):
    created = _create(user)
    session = session_by_token_hash(hash_token(created.session_token))
    assert session.get_deferred_fields() == set(COLD_SESSION_COLUMNS)
    with django_assert_num_queries(1):
        assert session.user_agent == CHROME_MAC  # loaded on first access, with its true value
    with django_assert_num_queries(0):
        assert session.user_agent == CHROME_MAC


def test_unknown_hash_is_none_in_one_query(db, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert session_by_token_hash(hash_token("byo_s_" + "A" * 43)) is None


def test_a_session_without_a_django_user(db, django_assert_num_queries):
    created = sessions.create(external_user_id="ext-7").data
    with django_assert_num_queries(1):
        session = session_by_token_hash(hash_token(created.session_token))
        assert session.user is None and session.external_user_id == "ext-7"


def test_a_session_whose_user_was_deleted_is_gone(user):
    created = _create(user)
    user.delete()
    assert session_by_token_hash(hash_token(created.session_token)) is None


def test_rotated_tokens_are_found_by_their_own_lookups(user, clock, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 60, "ROTATION_GRACE_SECS": 30}
    tokens = [_create(user).session_token]
    for _ in range(2):
        clock.advance(61)
        tokens.append(sessions.validate_and_refresh(session_token=tokens[-1], ip_address=IP,
                                                    user_agent=CHROME_MAC).data.new_session_token)
    oldest, previous, current = (hash_token(t) for t in tokens)
    session_id = session_by_token_hash(current).id
    assert session_by_token_hash(previous) is None and session_by_token_hash(oldest) is None

    with django_assert_num_queries(1):
        by_previous = session_by_previous_hash(previous)
        assert by_previous.id == session_id and by_previous.user.pk == user.pk  # user joined
    assert session_by_previous_hash(current) is None and session_by_previous_hash(oldest) is None

    with django_assert_num_queries(1):
        retired = retired_token(oldest)
        assert retired.session.id == session_id and retired.session.user_id == user.pk  # session joined
    assert retired_token(previous) is None and retired_token(current) is None
