"""Opt-in revocation of stateless tokens (services/revocation.py): every path that ends
sessions records them, verification that asks refuses their tokens at one cache read and
no query, and an unreadable cache fails closed (or open, when a project says so).

Each test runs on Django's local-memory cache and on a real Redis through
``django.core.cache.backends.redis.RedisCache`` (``revocation_cache``, tests/conftest.py).
Endings record after commit: the tests run them under ``django_capture_on_commit_callbacks``.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from byo_sessions import sessions
from byo_sessions.conf import byo_settings
from byo_sessions.models import EndReason, Session
from byo_sessions.server.integration_keys import key_digest
from byo_sessions.services import ending, engine, revocation
from byo_sessions.values import ErrorType
from tests.conftest import REDIS_BACKEND

pytestmark = pytest.mark.django_db

KEY = "byo_ik_revocation-test-key-0123456789abcdef"


def mint(session_id: str) -> str:
    """A token that outlives the clock moves of the slowest ending below (two rotations)."""
    return sessions.create_stateless_token(session_id=session_id, lifetime_secs=3600).data.stateless_token


def refused_as_ended(token: str) -> bool:
    result = sessions.verify_stateless_token(token, check_revocation=True)
    if result.__class__.__name__ == "Ok":
        return False
    assert result.error.type == ErrorType.INVALID_STATELESS_TOKEN, result
    assert result.error.details["reason"] == "session_ended"
    return True


# --- every path that ends sessions ---------------------------------------------------------


def _logout(user, created, client):
    client.cookies["session_token"] = created.session_token
    assert client.get("/logout/").status_code == 200


def _engine_flush(user, created, client):
    engine.end_by_token(session_token=created.session_token, reason=EndReason.LOGOUT)


def _by_token(user, created, client):
    sessions.invalidate_by_token(session_token=created.session_token)


def _by_id(user, created, client):
    sessions.invalidate_by_id(session_id=created.session_id)


def _all_for_user(user, created, client):
    sessions.invalidate_all_for_user(user_id=user.pk)


def _all_but_one(user, created, client):
    sessions.invalidate_all_for_user_except_one(user_id=user.pk, session_id_to_keep="ses_other")


def _bulk_command(user, created, client):
    call_command("byo_invalidate", "--user", user.get_username(), "--noinput", stdout=open("/dev/null", "w"))


def _admin_action(user, created, client, django_user_model=None):
    admin = type(user)._default_manager.create_superuser(username="root", password="pw-root-123")
    client.force_login(admin)
    response = client.post(
        "/admin/byo_sessions/session/", {"action": "end_selected", "_selected_action": [created.session_id]}
    )
    assert response.status_code == 302


def _password_change(user, created, client):
    user.set_password("a-new-password-456")
    user.save()


def _token_reuse(user, created, client, settings=None):
    first = sessions.validate_and_refresh(session_token=created.session_token)
    assert first.data.new_session_token is None  # not due yet: make it due, rotate twice
    from byo_sessions.core import clock

    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + 1)
    rotated = sessions.validate_and_refresh(session_token=created.session_token).data.new_session_token
    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + 1)
    sessions.validate_and_refresh(session_token=rotated)
    reused = sessions.validate(session_token=created.session_token)  # two generations old: theft
    assert reused.error.type == ErrorType.TOKEN_REUSE_DETECTED


def _policy_ip_change(user, created, client):
    policy = {"on_ip_address_change": "invalidate"}
    from django.test import override_settings

    with override_settings(BYO_SESSIONS={**byo_settings.user_keys(), "DEFAULT_POLICY": policy}):
        sessions.validate(session_token=created.session_token, ip_address="10.0.0.1")
        result = sessions.validate(session_token=created.session_token, ip_address="10.0.0.2")
    assert result.error.type == ErrorType.IP_ADDRESS_CHANGED


def _session_limit(user, created, client):
    from django.test import override_settings

    with override_settings(BYO_SESSIONS={**byo_settings.user_keys(), "MAX_SESSIONS_PER_USER": 1}):
        sessions.create(user_id=user.pk)  # drop_oldest ends the first session


def _user_deleted(user, created, client):
    user.delete()


ENDERS = [
    _logout,
    _engine_flush,
    _by_token,
    _by_id,
    _all_for_user,
    _all_but_one,
    _bulk_command,
    _admin_action,
    _password_change,
    _token_reuse,
    _policy_ip_change,
    _session_limit,
    _user_deleted,
]


@pytest.mark.parametrize("end", ENDERS, ids=lambda f: f.__name__.strip("_"))
def test_every_ending_revokes_the_tokens_of_the_session(
    end, revocation_cache, user, client, django_capture_on_commit_callbacks
):
    created = sessions.create(user_id=user.pk).data
    token = mint(created.session_id)
    assert not refused_as_ended(token)
    with django_capture_on_commit_callbacks(execute=True):
        end(user, created, client)
    assert refused_as_ended(token)
    assert sessions.verify_stateless_token(token).data["sid"] == created.session_id  # check off by default


@pytest.mark.urls("tests.server.urls")
def test_the_session_servers_invalidate_commands_revoke(revocation_cache, settings, django_capture_on_commit_callbacks):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "SERVER_INTEGRATION_KEYS": [key_digest(KEY)]}
    api = Client(HTTP_AUTHORIZATION=f"Bearer {KEY}")
    commands = [
        ("InvalidateSessionByToken", lambda s: {"sessionToken": s.session_token}),
        ("InvalidateSessionById", lambda s: {"sessionId": s.session_id}),
        ("InvalidateAllSessionsForUser", lambda s: {"userId": "ext-1"}),
        (
            "InvalidateAllSessionsForUserExceptOne",
            lambda s: {
                "userId": "ext-1",
                "sessionTokenToKeep": sessions.create(external_user_id="ext-1").data.session_token,
            },
        ),
    ]
    for command, data in commands:
        created = sessions.create(external_user_id="ext-1").data
        token = mint(created.session_id)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/byo-server/run-command",
                json.dumps({"command": command, "data": data(created)}),
                content_type="application/json",
            )
        assert response.status_code == 200, (command, response.content)
        assert refused_as_ended(token), command


def test_an_ending_that_rolls_back_revokes_nothing(revocation_cache, user, django_capture_on_commit_callbacks):
    created = sessions.create(user_id=user.pk).data
    token = mint(created.session_id)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            assert sessions.invalidate_by_id(session_id=created.session_id).data == 1
            transaction.set_rollback(True)
    assert Session.objects.get(pk=created.session_id).ended_at is None
    assert not refused_as_ended(token)


def test_bulk_endings_write_the_cache_in_the_batches_of_the_update(
    revocation_cache, user, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ending, "BATCH_SIZE", 3)
    created = [sessions.create(user_id=user.pk).data for _ in range(7)]
    tokens = [mint(c.session_id) for c in created]
    cache = caches[revocation_cache]
    writes: list[int] = []
    real_set_many = cache.set_many

    def counting_set_many(data, timeout=None, version=None):
        writes.append(len(data))
        return real_set_many(data, timeout=timeout, version=version)

    monkeypatch.setattr(cache, "set_many", counting_set_many)
    with django_capture_on_commit_callbacks(execute=True):
        assert sessions.invalidate_where(queryset=Session.objects.all(), reason="bulk").data == 7
    assert sorted(writes) == [1, 3, 3]
    assert all(refused_as_ended(t) for t in tokens)


def test_records_live_as_long_as_the_longest_lived_token(
    revocation_cache, settings, user, django_capture_on_commit_callbacks
):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_TOKEN_MAX_LIFETIME_SECS": 900}
    created = sessions.create(user_id=user.pk).data
    with django_capture_on_commit_callbacks(execute=True):
        sessions.invalidate_by_id(session_id=created.session_id)
    cache = caches[revocation_cache]
    if settings.CACHES[revocation_cache]["BACKEND"] == REDIS_BACKEND:
        client = cache._cache.get_client(write=False)
        ttl = client.ttl(cache.make_and_validate_key(revocation.key(created.session_id)))
        assert 900 < ttl <= 900 + revocation.MARGIN_SECS
    else:
        expiry = cache._expire_info[cache.make_and_validate_key(revocation.key(created.session_id))]
        import time

        assert 900 < expiry - time.time() <= 900 + revocation.MARGIN_SECS


# --- verification ------------------------------------------------------------------------


def test_the_check_costs_no_query_and_one_cache_read(
    revocation_cache, user, settings, monkeypatch, django_assert_num_queries
):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_REVOCATION_CHECK": True}
    created = sessions.create(user_id=user.pk).data
    token = mint(created.session_id)
    sessions.verify_stateless_token(token)  # the keys are cached from minting already
    cache = caches[revocation_cache]
    reads: list[str] = []
    real_get = cache.get
    monkeypatch.setattr(
        cache, "get", lambda key, default=None, version=None: reads.append(key) or real_get(key, default, version)
    )
    with django_assert_num_queries(0):
        assert sessions.verify_stateless_token(token).data["sid"] == created.session_id
    assert reads == [revocation.key(created.session_id)]
    reads.clear()
    with django_assert_num_queries(0):
        assert sessions.verify_stateless_token(token, check_revocation=False).data["sid"] == created.session_id
    user_token = sessions.create_stateless_token(user_id=user.pk).data.stateless_token  # no session: nothing to look up
    assert sessions.verify_stateless_token(user_token).data["sub"] == str(user.pk)
    assert reads == []


def test_other_sessions_tokens_stay_valid(revocation_cache, user, django_capture_on_commit_callbacks):
    kept, ended = sessions.create(user_id=user.pk).data, sessions.create(user_id=user.pk).data
    kept_token, ended_token = mint(kept.session_id), mint(ended.session_id)
    with django_capture_on_commit_callbacks(execute=True):
        sessions.invalidate_by_id(session_id=ended.session_id)
    assert refused_as_ended(ended_token) and not refused_as_ended(kept_token)


def test_asking_for_the_check_without_a_cache_is_a_503_not_a_pass(user):
    assert byo_settings.STATELESS_REVOCATION_CACHE is None
    token = mint(sessions.create(user_id=user.pk).data.session_id)
    result = sessions.verify_stateless_token(token, check_revocation=True)
    assert result.error.type == ErrorType.UNEXPECTED_ERROR
    assert result.error.details["reason"] == "revocation_not_configured"


# --- an unreachable cache ------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: nothing listens there


@pytest.fixture
def unreachable_redis(settings):
    """A RedisCache whose server is not there (stopped, or the network is down)."""
    settings.CACHES = {
        **settings.CACHES,
        "revocation": {
            "BACKEND": REDIS_BACKEND,
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        },
    }
    settings.BYO_SESSIONS = {
        **settings.BYO_SESSIONS,
        "STATELESS_REVOCATION_CACHE": "revocation",
        "STATELESS_REVOCATION_CHECK": True,
    }
    pytest.importorskip("redis", reason="the redis package (test extra) is not installed")
    return "revocation"


def test_an_unreachable_cache_fails_closed_with_a_503_error(unreachable_redis, user):
    token = mint(sessions.create(user_id=user.pk).data.session_id)
    result = sessions.verify_stateless_token(token)
    assert result.error.type == ErrorType.UNEXPECTED_ERROR
    assert result.error.details["reason"] == "revocation_cache_unavailable"


def test_fail_open_accepts_tokens_while_the_cache_is_unreachable(unreachable_redis, user, settings, caplog):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_REVOCATION_FAIL_OPEN": True}
    created = sessions.create(user_id=user.pk).data
    token = mint(created.session_id)
    with caplog.at_level(logging.WARNING, logger="byo_sessions"):
        assert sessions.verify_stateless_token(token).data["sid"] == created.session_id
    assert "unchecked" in caplog.text


def test_an_ending_while_the_cache_is_unreachable_still_ends_and_says_so(
    unreachable_redis, user, caplog, django_capture_on_commit_callbacks
):
    created = sessions.create(user_id=user.pk).data
    with caplog.at_level(logging.ERROR, logger="byo_sessions"):
        with django_capture_on_commit_callbacks(execute=True):
            assert sessions.invalidate_by_id(session_id=created.session_id).data == 1
    assert Session.objects.get(pk=created.session_id).ended_at is not None
    assert "could not record 1 ended session(s)" in caplog.text
