"""Django's own auth views, admin password forms, login guards and system checks on the
byo session engine: what a project keeps when it switches SESSION_ENGINE."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core import mail
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

from byo_sessions import sessions
from byo_sessions.adapter import SessionAdapter
from byo_sessions.models import AuditEvent, Session
from byo_sessions.server.integration_keys import key_digest
from byo_sessions.values import LoginOptions
from tests.compat.conftest import COOKIE, live_sessions, login_through_django
from tests.sql import statement_kind

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.compat.urls")]

INTEGRATION_KEY = "byo_ik_compat-integration-key-0123456789abcdef"


class LoginTagsAdapter(SessionAdapter):
    """Tags and metadata for logins through ``auth.login()``."""

    def login_options(self, request: HttpRequest | None, user: AbstractBaseUser) -> LoginOptions:
        return LoginOptions(
            tags=["login:django", f"role:{'staff' if user.is_staff else 'member'}"],
            metadata={"via": "LoginView" if request is not None and request.path else "other"},
        )


def invalidated(session_id: str, reason: str) -> bool:
    """The session ended for ``reason`` and that was audited."""
    session = Session.objects.get(pk=session_id)
    return (
        session.ended_at is not None
        and session.end_reason == reason
        and AuditEvent.objects.filter(
            event_type=AuditEvent.Type.SESSION_INVALIDATED, session_id=session_id, reason=reason
        ).exists()
    )


# --- 1. LoginView / LogoutView -----------------------------------------------------------


def test_login_view_starts_a_byo_session_with_the_adapter_tags(client, user, settings):
    settings.BYO_SESSIONS = {"ADAPTER": f"{__name__}.LoginTagsAdapter"}
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302 and response["Location"] == "/whoami/"
    token = response.cookies[COOKIE].value
    assert token.startswith("byo_s_")
    (session,) = Session.objects.all()  # no visitor row left behind
    assert session.user == user and session.ended_at is None
    assert session.token_hash != token  # only the hash is stored
    assert session.tags == ["login:django", "role:member"]
    assert session.metadata == {"via": "LoginView"}
    assert client.get("/whoami/").json()["user"] == "alice"

    wrong = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and COOKIE not in wrong.cookies
    assert Session.objects.count() == 1


def test_logout_view_ends_the_session_and_clears_the_cookie(client, user):
    token = login_through_django(client, "alice", "pw-alice-123")
    (session,) = live_sessions(user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 200 and b"Logged out" in response.content
    cookie = response.cookies[COOKIE]
    assert cookie.value == "" and cookie["max-age"] == 0
    assert invalidated(session.id, "logout")
    assert client.get("/whoami/").json()["user"] is None
    replay = Client()
    replay.cookies[COOKIE] = token
    assert replay.get("/whoami/").json()["user"] is None


# --- 2. PasswordChangeView -------------------------------------------------------------


def test_password_change_view_ends_other_sessions_and_keeps_this_one(client, user, other_user):
    login_through_django(client, "alice", "pw-alice-123")
    (current,) = live_sessions(user)
    api_session = sessions.create(user_id=user.pk).data
    second_browser = Client()
    assert second_browser.login(username="alice", password="pw-alice-123")
    second_id = Session.objects.filter(user=user).exclude(pk__in=[current.id, api_session.session_id]).get().id
    bystander = sessions.create(user_id=other_user.pk).data
    old_cookie = client.cookies[COOKIE].value

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "pw-alice-123", "new_password1": "new-pw-alice-456", "new_password2": "new-pw-alice-456"},
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"

    assert invalidated(api_session.session_id, "password_changed")
    assert invalidated(second_id, "password_changed")
    assert second_browser.get("/whoami/").json()["user"] is None
    new_cookie = response.cookies[COOKIE].value
    assert new_cookie and new_cookie != old_cookie
    assert [s.id for s in live_sessions(user)] == [current.id]  # the same session, under a new token
    assert Session.objects.get(pk=current.id).token_hash != current.token_hash
    assert client.get("/accounts/password_change/done/").status_code == 200
    assert client.get("/whoami/").json()["user"] == "alice"
    assert Session.objects.get(pk=bystander.session_id).ended_at is None
    assert not AuditEvent.objects.filter(user_ref=str(other_user.pk), event_type="session_invalidated").exists()


# --- 3. Password reset -----------------------------------------------------------------


def test_password_reset_by_mail_ends_every_session_and_the_new_password_works(client, user, other_user):
    user.email = "alice@example.com"
    user.save()
    api_session = sessions.create(user_id=user.pk).data
    browser = Client()
    assert browser.login(username="alice", password="pw-alice-123")
    browser_id = Session.objects.filter(user=user).exclude(pk=api_session.session_id).get().id
    bystander = sessions.create(user_id=other_user.pk).data

    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert link is not None, mail.outbox[0].body

    # The confirm view keeps the token in the visitor's session and redirects to set-password.
    confirm = client.get(link.group(1), follow=True)
    assert confirm.status_code == 200 and confirm.context["validlink"] is True
    assert confirm.redirect_chain[0][0].endswith("/set-password/")
    done = client.post(confirm.redirect_chain[0][0], {"new_password1": "reset-pw-789", "new_password2": "reset-pw-789"})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"

    assert invalidated(api_session.session_id, "password_changed")
    assert invalidated(browser_id, "password_changed")
    assert browser.get("/whoami/").json()["user"] is None
    assert Session.objects.get(pk=bystander.session_id).ended_at is None

    assert Client().login(username="alice", password="pw-alice-123") is False
    fresh = Client()
    login_through_django(fresh, "alice", "reset-pw-789")
    assert fresh.get("/whoami/").json()["user"] == "alice"


# --- 4. The admin's password forms -------------------------------------------------------


def test_admin_changes_own_password_and_stays_logged_in(admin_client, admin_user):
    assert admin_client.get("/admin/").status_code == 200
    (current,) = live_sessions(admin_user)
    elsewhere = sessions.create(user_id=admin_user.pk).data
    old_cookie = admin_client.cookies[COOKIE].value
    response = admin_client.post(
        "/admin/password_change/",
        {"old_password": "password", "new_password1": "admin-new-pw-1", "new_password2": "admin-new-pw-1"},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/password_change/done/"
    assert response.cookies[COOKIE].value not in ("", old_cookie)  # update_session_auth_hash rotated it
    assert invalidated(elsewhere.session_id, "password_changed")
    assert [s.id for s in live_sessions(admin_user)] == [current.id]
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/password_change/done/").status_code == 200


def test_admin_sets_another_users_password_and_stays_logged_in(admin_client, admin_user, user):
    browser = Client()
    assert browser.login(username="alice", password="pw-alice-123")
    api_session = sessions.create(user_id=user.pk).data
    (admin_session,) = live_sessions(admin_user)
    page = admin_client.get(f"/admin/auth/user/{user.pk}/password/")
    assert page.status_code == 200
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/", {"password1": "set-by-admin-1", "password2": "set-by-admin-1"}
    )
    assert response.status_code == 302 and response["Location"] == f"/admin/auth/user/{user.pk}/change/"
    assert live_sessions(user) == []
    assert invalidated(api_session.session_id, "password_changed")
    assert browser.get("/whoami/").json()["user"] is None
    assert [s.id for s in live_sessions(admin_user)] == [admin_session.id]
    assert admin_client.get("/admin/").status_code == 200
    assert Client().login(username="alice", password="set-by-admin-1")


# --- 5. Login guards and system checks -------------------------------------------------


@pytest.mark.parametrize("url", ["/protected/", "/protected-cbv/"])
def test_login_required_and_mixin_redirect_visitors_and_serve_users(client, user, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={url}"
    client.force_login(user)
    assert client.get(url).json() == {"user": "alice"}


@pytest.fixture
def login_required_middleware(settings: Any) -> None:
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("byo_sessions.middleware.AuthenticationMiddleware") + 1,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    )
    settings.MIDDLEWARE = middleware


def test_login_required_middleware_guards_views_but_not_byo_public_ones(
    client, user, settings, login_required_middleware
):
    settings.BYO_SESSIONS = {"SERVER_INTEGRATION_KEYS": [key_digest(INTEGRATION_KEY)]}
    response = client.get("/plain/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/plain/"
    assert client.get("/accounts/login/").status_code == 200  # Django's LoginView is login_not_required

    challenge = client.get("/byo/device/challenge")
    assert challenge.status_code == 200 and challenge.json()["deviceChallenge"]
    jwks = client.get("/byo/.well-known/jwks.json")
    assert jwks.status_code == 200 and "keys" in jwks.json()
    ping = client.post(
        "/byo-server/run-command",
        {"command": "Ping"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {INTEGRATION_KEY}"},
    )
    assert ping.status_code == 200 and "timestamp" in ping.json()
    refused = client.post("/byo-server/run-command", {"command": "Ping"}, content_type="application/json")
    assert refused.status_code == 401  # its own key check answers, not a login redirect

    login_through_django(client, "alice", "pw-alice-123")
    assert client.get("/plain/").json() == {"user": "alice"}


def test_system_checks_accept_our_middlewares(settings, login_required_middleware):
    """auth.E013 (LoginRequiredMiddleware needs auth middleware) and admin.E408/E410 (the
    admin needs auth and session middleware) accept our subclasses, nothing silenced."""
    settings.SILENCED_SYSTEM_CHECKS = []
    call_command("check")  # raises SystemCheckError on any error
    messages = run_checks()
    ids = {message.id for message in messages}
    assert not ids & {"auth.E013", "admin.E408", "admin.E410"}
    assert [m for m in messages if m.level >= Error.level] == []

    # The checks are live: without our AuthenticationMiddleware they fire.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "byo_sessions.middleware.AuthenticationMiddleware"]
    assert {"auth.E013", "admin.E408"} <= {message.id for message in run_checks()}


# --- 11. The hot path through Django's login_required --------------------------------------


def test_steady_request_through_login_required_costs_one_select(client, user, django_assert_num_queries):
    login_through_django(client, "alice", "pw-alice-123")
    client.get("/protected/")  # warm the policy cache
    with django_assert_num_queries(1) as ctx:
        assert client.get("/protected/").json() == {"user": "alice"}
    sql = ctx.captured_queries[0]["sql"]
    assert statement_kind(sql) == "SELECT" and "UPDATE" not in sql.upper()
