"""Extending a session when validating (``session_duration_minutes``, Stytch's name, and
``SLIDING_ABSOLUTE_LIFETIME_SECS`` for the middleware and DRF): within the policy's
``max_extended_lifetime_secs``, never for a policy that does not allow it, folded into the
write validation already makes, audited as ``session_extended``. Runs on SQLite and, in the
PostgreSQL pass, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from byo_sessions import sessions
from byo_sessions.core.policy import PolicySet, PolicyValueError, parse_policy_document
from byo_sessions.models import AuditEvent, Session, TagPolicy
from byo_sessions.values import ErrorType
from tests.sql import statement_kind

pytestmark = pytest.mark.django_db

HOUR = 3600
EXTENDING = {"allow_session_extension": True, "max_extended_lifetime_secs": 4 * HOUR}


@pytest.fixture
def extending(settings):
    settings.BYO_SESSIONS = {
        **settings.BYO_SESSIONS,
        "ABSOLUTE_LIFETIME_SECS": HOUR,
        "INACTIVITY_TIMEOUT_SECS": None,
        "ROTATION_INTERVAL_SECS": None,
        "DEFAULT_POLICY": EXTENDING,
    }


def stored_expiry(session_id):
    return Session.objects.get(pk=session_id).expires_at


def extended_events(session_id):
    return list(AuditEvent.objects.filter(event_type="session_extended", session_id=session_id))


def session_updates(queries):
    return [q for q in queries if q["sql"].startswith("UPDATE") and "byo_sessions_session" in q["sql"]]


def test_validate_extends_to_now_plus_the_duration_in_one_update(extending, user, clock, django_assert_num_queries):
    created = sessions.create(user_id=user.pk).data
    clock.advance(30 * 60)
    with CaptureQueriesContext(connection) as queries:
        result = sessions.validate(session_token=created.session_token, session_duration_minutes=90)
    wanted = clock.now() + timedelta(minutes=90)
    assert result.data.absolute_expires_at == wanted == result.data.expires_at and result.data.extended
    assert stored_expiry(created.session_id) == wanted
    assert len(session_updates(queries.captured_queries)) == 1  # the touch and the extension: one UPDATE
    [event] = extended_events(created.session_id)
    assert event.details["after"] == wanted.isoformat() and event.details["requested_secs"] == 90 * 60
    assert event.details["before"] == created.expires_at.isoformat()
    with django_assert_num_queries(1):  # asked again at once: no extension due, no write
        again = sessions.validate(session_token=created.session_token, session_duration_minutes=90)
    assert again.data.absolute_expires_at == wanted and not again.data.extended


def test_an_extended_session_lives_past_its_first_end(extending, user, clock):
    created = sessions.create(user_id=user.pk).data
    clock.advance(50 * 60)
    sessions.validate(session_token=created.session_token, session_duration_minutes=60)
    clock.advance(30 * 60)  # 80 minutes: past the hour it was created with
    assert sessions.validate(session_token=created.session_token).data.session_id == created.session_id


def test_never_beyond_the_policy_maximum(extending, user, clock):
    created = sessions.create(user_id=user.pk).data
    cap = created.created_at + timedelta(seconds=4 * HOUR)
    clock.advance(50 * 60)
    result = sessions.validate(session_token=created.session_token, session_duration_minutes=10 * 60)
    assert result.data.absolute_expires_at == cap == stored_expiry(created.session_id)
    clock.advance(3 * HOUR)  # 3h50: within the cap, asking for more changes nothing
    assert sessions.validate(session_token=created.session_token, session_duration_minutes=60).data.expires_at == cap
    clock.advance(11 * 60)
    assert sessions.validate(session_token=created.session_token).error.type == ErrorType.SESSION_EXPIRED


def test_an_extension_never_shortens(extending, user, clock):
    created = sessions.create(user_id=user.pk).data
    result = sessions.validate(session_token=created.session_token, session_duration_minutes=5)
    assert result.data.absolute_expires_at == created.expires_at and not result.data.extended
    assert stored_expiry(created.session_id) == created.expires_at and not extended_events(created.session_id)


@pytest.mark.parametrize(
    "policy",
    [{}, {"allow_session_extension": True}, {"allow_session_extension": False, "max_extended_lifetime_secs": 4 * HOUR}],
)
def test_no_extension_unless_the_policy_allows_it_with_a_maximum(settings, user, clock, policy):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "ABSOLUTE_LIFETIME_SECS": HOUR, "DEFAULT_POLICY": policy}
    created = sessions.create(user_id=user.pk).data
    clock.advance(30)  # within the touch interval: the steady path
    with CaptureQueriesContext(connection) as queries:
        result = sessions.validate(session_token=created.session_token, session_duration_minutes=120)
    # the row, the policy version
    assert [statement_kind(q["sql"]) for q in queries.captured_queries] == ["SELECT", "SELECT"]
    assert result.data.absolute_expires_at == created.expires_at == stored_expiry(created.session_id)
    assert not extended_events(created.session_id)


def test_a_tag_rule_can_forbid_what_the_defaults_allow(extending, user, clock):
    TagPolicy.objects.create(selector="role:admin", allow_session_extension=False)
    created = sessions.create(user_id=user.pk, tags=["role:admin"]).data
    clock.advance(30 * 60)
    result = sessions.validate(session_token=created.session_token, session_duration_minutes=90)
    assert result.data.absolute_expires_at == created.expires_at and not result.data.extended


def test_extension_rides_on_the_rotation_update(extending, settings, user, clock):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "ROTATION_INTERVAL_SECS": 600}
    created = sessions.create(user_id=user.pk).data
    clock.advance(20 * 60)
    with CaptureQueriesContext(connection) as queries:
        result = sessions.validate_and_refresh(session_token=created.session_token, session_duration_minutes=120)
    assert result.data.new_session_token and result.data.extended
    assert len(session_updates(queries.captured_queries)) == 1  # the rotation's compare-and-swap carries it
    row = Session.objects.get(pk=created.session_id)
    assert row.expires_at == clock.now() + timedelta(minutes=120) and row.generation == 1
    assert len(extended_events(created.session_id)) == 1


@pytest.mark.parametrize("minutes", [0, -5, 400 * 24 * 60 + 1, 1.5, "60", True])
def test_a_bad_duration_is_a_typed_error(extending, user, minutes):
    created = sessions.create(user_id=user.pk).data
    result = sessions.validate(session_token=created.session_token, session_duration_minutes=minutes)
    assert (
        result.error.type == ErrorType.INVALID_PARAMETERS and result.error.details["reason"] == "bad_session_duration"
    )
    assert stored_expiry(created.session_id) == created.expires_at


def test_policy_values_are_checked():
    with pytest.raises(PolicyValueError, match="allow_session_extension: must be true or false"):
        PolicySet(defaults={"allow_session_extension": "yes"})
    with pytest.raises(PolicyValueError, match="max_extended_lifetime_secs: must be a whole number"):
        PolicySet(defaults={"max_extended_lifetime_secs": 0})
    with pytest.raises(PolicyValueError, match="shorter than the absolute lifetime"):
        parse_policy_document(
            {"tags": [{"tag": "org:a", "absolute_lifetime_secs": 7200, "max_extended_lifetime_secs": 3600}]}
        )
    document = parse_policy_document({"tags": [{"tag": "org:a", **EXTENDING}]})
    assert document.resolve(["org:a"]).extends and not document.resolve(["org:b"]).extends


# --- the sliding absolute lifetime: middleware and DRF ------------------------------------------


@pytest.fixture
def sliding(extending, settings):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "SLIDING_ABSOLUTE_LIFETIME_SECS": 2 * HOUR}


def test_sliding_lifetime_through_the_middleware(sliding, user, clock, django_assert_num_queries):
    created = sessions.create(user_id=user.pk).data
    browser = Client()
    browser.cookies["session_token"] = created.session_token
    clock.advance(10 * 60)
    response = browser.get("/whoami/")
    wanted = clock.now() + timedelta(hours=2)
    assert response.status_code == 200 and stored_expiry(created.session_id) == wanted
    cookie = response.cookies["session_token"]
    assert cookie.value == created.session_token and int(cookie["max-age"]) == 2 * HOUR  # the cookie follows
    with django_assert_num_queries(1):  # the steady request: one SELECT, no write, no cookie
        response = browser.get("/whoami/")
    assert response.status_code == 200 and "session_token" not in response.cookies
    assert len(extended_events(created.session_id)) == 1


def test_sliding_lifetime_through_drf_with_a_bearer_token(sliding, user, clock):
    created = sessions.create(user_id=user.pk).data
    api = Client(HTTP_AUTHORIZATION=f"Bearer {created.session_token}")
    for _ in range(3):  # active every 40 minutes, past the first hour, up to the 4 h cap
        clock.advance(40 * 60)
        assert api.get("/drf/me/").status_code == 200
    assert (
        stored_expiry(created.session_id) == clock.now() + timedelta(hours=2) == created.created_at + timedelta(hours=4)
    )
    assert len(extended_events(created.session_id)) == 3
    clock.advance(2 * HOUR)
    response = api.get("/drf/me/")
    assert response.status_code == 401 and response.json()["type"] == "SessionExpired"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_extensions_never_shorten_one_another(extending, user, clock):
    """Requests asking for different durations at once: whichever writes last, the end is
    the furthest asked for (the UPDATE takes GREATEST of the stored end and its own)."""
    from itertools import count

    from tests.concurrency import run_in_parallel

    created = sessions.create(user_id=user.pk).data
    clock.advance(30 * 60)
    numbers = count()

    def validate():
        minutes = 180 if next(numbers) == 0 else 60  # the first to start asks for the most
        return sessions.validate(session_token=created.session_token, session_duration_minutes=minutes)

    results = run_in_parallel(12, validate)
    assert all(r.__class__.__name__ == "Ok" for r in results), results
    assert stored_expiry(created.session_id) == clock.now() + timedelta(minutes=180)
