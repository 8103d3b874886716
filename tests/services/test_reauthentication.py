"""services/reauthentication.py: what a login records, how recent is recent, marking a
re-authentication, and wrong passwords counted until the session ends (ASVS 3.7.1)."""

from __future__ import annotations

import pytest

from byo_sessions import sessions
from byo_sessions.models import AuditEvent, EndReason, Session
from byo_sessions.services import reauthentication
from byo_sessions.values import ErrorType
from tests.concurrency import run_in_parallel
from tests.constants import IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import login as login_with_device

pytestmark = pytest.mark.django_db


def _row(session_id: str) -> Session:
    return Session.objects.get(pk=session_id)


def test_a_login_records_its_factors_and_time(user, clock):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, authentication=["password"]).data
    row = _row(created.session_id)
    assert row.authenticated_at == clock.now()
    assert row.authentication_factors == {"password": clock.now().isoformat()}


def test_a_login_with_a_device_registration_also_proved_the_device(user, clock):
    created = login_with_device(user, TestDevice(), clock).data
    assert set(_row(created.session_id).authentication_factors) == {"device_proof"}


def test_a_migrated_session_was_not_authenticated(user, clock):
    created = sessions.create(user_id=user.pk, authentication=None).data
    assert _row(created.session_id).authenticated_at is None
    refused = reauthentication.require_recent(session_id=created.session_id, max_age_secs=3600)
    assert refused.error.type == ErrorType.REAUTHENTICATION_REQUIRED
    assert refused.error.details["reason"] == "no_authentication"


def test_recent_means_within_max_age(user, clock):
    created = sessions.create(user_id=user.pk, authentication=["password"]).data
    clock.advance(300)
    assert reauthentication.require_recent(session_id=created.session_id, max_age_secs=300).data.authenticated_at
    clock.advance(1)
    refused = reauthentication.require_recent(session_id=created.session_id, max_age_secs=300)
    assert refused.error.type == ErrorType.REAUTHENTICATION_REQUIRED
    assert refused.error.details["reason"] == "stale_authentication"
    assert refused.error.details["max_age"] == 300


def test_the_default_max_age_is_the_setting(user, clock, settings):
    settings.BYO_SESSIONS = {"REAUTH_MAX_AGE_SECS": 10}
    created = sessions.create(user_id=user.pk, authentication=["password"]).data
    clock.advance(11)
    assert reauthentication.require_recent(session_id=created.session_id).error.details["max_age"] == 10


def test_factors_narrow_what_counts(user, clock):
    created = sessions.create(user_id=user.pk, authentication=["password"]).data
    refused = reauthentication.require_recent(session_id=created.session_id, max_age_secs=60, factors=["totp"])
    assert refused.error.details["accepted_factors"] == ["totp"]
    assert reauthentication.mark_reauthenticated(session_id=created.session_id, factor="totp").data
    assert reauthentication.require_recent(session_id=created.session_id, max_age_secs=60, factors=["totp"]).data


def test_marking_refreshes_the_time_and_is_audited(user, clock):
    created = sessions.create(user_id=user.pk, authentication=["password"]).data
    clock.advance(1000)
    marked = reauthentication.mark_reauthenticated(
        session_id=created.session_id, factor="password", actor="user:1", ip_address="203.0.113.9", user_agent="UA/2"
    )
    assert marked.data.authenticated_at == clock.now()
    assert _row(created.session_id).authentication_factors["password"] == clock.now().isoformat()
    event = AuditEvent.objects.get(event_type="session_reauthenticated")
    assert (event.session_id, event.details, event.ip_address) == (
        created.session_id,
        {"factor": "password"},
        "203.0.113.9",
    )


@pytest.mark.parametrize("factor", ["", "Password", "x" * 41, None, 3, "has space"])
def test_a_malformed_factor_is_refused(user, factor):
    created = sessions.create(user_id=user.pk).data
    refused = reauthentication.mark_reauthenticated(session_id=created.session_id, factor=factor)
    assert refused.error.type == ErrorType.INVALID_PARAMETERS


def test_an_ended_session_cannot_be_reauthenticated(user, clock):
    created = sessions.create(user_id=user.pk).data
    sessions.invalidate_by_id(session_id=created.session_id)
    assert (
        reauthentication.mark_reauthenticated(session_id=created.session_id, factor="password").error.type
        == ErrorType.SESSION_NOT_FOUND
    )
    assert reauthentication.require_recent(session_id=created.session_id).error.type == ErrorType.SESSION_NOT_FOUND
    assert (
        reauthentication.reauthenticate_with_password(
            session_id=created.session_id, user=user, password="pw-alice-123"
        ).error.type
        == ErrorType.SESSION_NOT_FOUND
    )


def test_the_right_password_reauthenticates(user, clock):
    created = sessions.create(user_id=user.pk).data
    clock.advance(1000)
    assert reauthentication.reauthenticate_with_password(
        session_id=created.session_id, user=user, password="pw-alice-123"
    ).data
    assert reauthentication.require_recent(session_id=created.session_id, max_age_secs=1, factors=["password"]).data


def test_wrong_passwords_count_down_then_end_the_session(user, clock, settings):
    settings.BYO_SESSIONS = {"REAUTH_MAX_FAILURES": 3}
    created = sessions.create(user_id=user.pk).data
    lefts = [
        reauthentication.reauthenticate_with_password(session_id=created.session_id, user=user, password="wrong").error
        for _ in range(2)
    ]
    assert [(e.type, e.details["attempts_left"]) for e in lefts] == [
        (ErrorType.REAUTHENTICATION_FAILED, 2),
        (ErrorType.REAUTHENTICATION_FAILED, 1),
    ]
    last = reauthentication.reauthenticate_with_password(session_id=created.session_id, user=user, password="wrong")
    assert last.error.type == ErrorType.SESSION_INVALIDATED
    row = _row(created.session_id)
    assert row.ended_at is not None and row.end_reason == EndReason.REAUTHENTICATION_FAILED
    assert AuditEvent.objects.filter(event_type="reauthentication_failed").count() == 3
    assert sessions.validate(session_token=created.session_token).error.type == ErrorType.SESSION_INVALIDATED


def test_a_right_answer_clears_the_count(user, clock, settings):
    settings.BYO_SESSIONS = {"REAUTH_MAX_FAILURES": 2}
    created = sessions.create(user_id=user.pk).data
    reauthentication.reauthenticate_with_password(session_id=created.session_id, user=user, password="wrong")
    assert reauthentication.reauthenticate_with_password(
        session_id=created.session_id, user=user, password="pw-alice-123"
    ).data
    again = reauthentication.reauthenticate_with_password(session_id=created.session_id, user=user, password="wrong")
    assert again.error.details["attempts_left"] == 1


@pytest.mark.parametrize("password", ["", None, 12, ["pw-alice-123"]])
def test_a_missing_or_non_text_password_is_a_wrong_answer(user, password):
    created = sessions.create(user_id=user.pk).data
    refused = reauthentication.reauthenticate_with_password(session_id=created.session_id, user=user, password=password)
    assert refused.error.type == ErrorType.REAUTHENTICATION_FAILED


def test_another_users_session_is_not_found(user, other_user):
    created = sessions.create(user_id=user.pk).data
    refused = reauthentication.reauthenticate_with_password(
        session_id=created.session_id, user=other_user, password="pw-bob-123"
    )
    assert refused.error.type == ErrorType.SESSION_NOT_FOUND
    assert _row(created.session_id).reauthentication_failures == 0


def test_an_inactive_user_cannot_reauthenticate(user):
    created = sessions.create(user_id=user.pk).data
    user.is_active = False
    refused = reauthentication.reauthenticate_with_password(
        session_id=created.session_id, user=user, password="pw-alice-123"
    )
    assert refused.error.type == ErrorType.REAUTHENTICATION_FAILED


@pytest.mark.parametrize(
    ("backend", "factors"),
    [
        ("django.contrib.auth.backends.ModelBackend", ("password",)),
        ("allauth.account.auth_backends.AuthenticationBackend", ()),
        (None, ()),
    ],
)
def test_factors_for_backend(backend, factors):
    assert reauthentication.factors_for_backend(backend) == factors


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_get_no_more_than_the_limit(user, clock, settings):
    """Guesses sent at once are counted under the row's lock: exactly REAUTH_MAX_FAILURES
    are answered as wrong (the last one ending the session), the rest find it ended."""
    settings.BYO_SESSIONS = {"REAUTH_MAX_FAILURES": 5}
    created = sessions.create(user_id=user.pk).data
    results = run_in_parallel(
        12,
        lambda: reauthentication.reauthenticate_with_password(
            session_id=created.session_id, user=user, password="wrong"
        ),
    )
    types = sorted(str(r.error.type) for r in results)
    assert types.count(ErrorType.REAUTHENTICATION_FAILED) == 4
    assert types.count(ErrorType.SESSION_INVALIDATED) == 1
    assert types.count(ErrorType.SESSION_NOT_FOUND) == 7
    assert AuditEvent.objects.filter(event_type="reauthentication_failed").count() == 5
    assert _row(created.session_id).end_reason == EndReason.REAUTHENTICATION_FAILED
