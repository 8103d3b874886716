"""The no-logout switch from ``django.contrib.sessions`` (``byo_sessions/django_sessions.py``).

The old sessions are made by Django's own code under Django's own engine (the project
before the switch); then the same browser comes back to our engine and middleware with
``MIGRATE_DJANGO_SESSIONS`` on. ``django.contrib.sessions`` is installed (and its table
made by its own migration) for this module only: the rest of the suite runs the
recommended setup, without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.utils import timezone

from byo_sessions import is_ok
from byo_sessions.adapter import SessionAdapter
from byo_sessions.checks import check_settings
from byo_sessions.conf import byo_settings
from byo_sessions.core.tokens import hash_token, is_well_formed
from byo_sessions.models import AuditEvent, Session
from byo_sessions.services import engine
from byo_sessions.values import LoginOptions
from tests.constants import COOKIE  # kept through the switch

DJANGO_ENGINE = "django.contrib.sessions.backends.db"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
MIGRATE = {"MIGRATE_DJANGO_SESSIONS": True}


def cart(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "cart": request.session.get("cart"),
        }
    )


urlpatterns = [path("cart/", cart), path("", include("tests.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture(scope="module", autouse=True)
def contrib_sessions(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The migration period's INSTALLED_APPS: django.contrib.sessions stays, for its table
    (made from its model here, not by ``migrate``, whose post_migrate handlers would write
    content types and permissions that outlive this module)."""
    with override_settings(INSTALLED_APPS=[*django_settings.INSTALLED_APPS, "django.contrib.sessions"]):
        model = DjangoSessionStore.get_model_class()
        with django_db_blocker.unblock(), connection.schema_editor() as editor:
            editor.create_model(model)
        yield
        with django_db_blocker.unblock(), connection.schema_editor() as editor:
            editor.delete_model(model)


def rows() -> Any:
    return DjangoSessionStore.get_model_class().objects


def login_before_the_switch(client: Client, user: Any) -> str:
    """``force_login`` under Django's engine, a cart added: the cookie a browser brings back."""
    with override_settings(SESSION_ENGINE=DJANGO_ENGINE):
        client.force_login(user, backend=MODEL_BACKEND)
        session = client.session
        session["cart"] = [1, 2]
        session.save()
    key = client.cookies[COOKIE].value
    assert rows().filter(session_key=key).exists() and not is_well_formed(key)
    return key


def django_row(data: dict[str, Any], *, expired: bool = False) -> str:
    store = DjangoSessionStore()
    store.update(data)
    store.create()
    if expired:
        rows().filter(session_key=store.session_key).update(expire_date=timezone.now() - timedelta(minutes=1))
    return store.session_key


def logged_in_data(user: Any) -> dict[str, Any]:
    return {
        SESSION_KEY: str(user.pk),
        BACKEND_SESSION_KEY: MODEL_BACKEND,
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }


def with_cookie(value: str) -> Client:
    client = Client()
    client.cookies[COOKIE] = value
    return client


def migrated_events() -> Any:
    return AuditEvent.objects.filter(event_type=AuditEvent.Type.SESSION_MIGRATED)


class MigrationAdapter(SessionAdapter):
    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        return LoginOptions(tags=["via:django"], metadata={"path": request.path if request else None})


# --- the upgrade --------------------------------------------------------------------------------


def test_logged_in_django_session_is_upgraded_on_the_first_request(client, user, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = MIGRATE
    old_key = login_before_the_switch(client, user)

    response = client.get("/cart/")

    assert response.json() == {"user": "alice", "cart": [1, 2]}  # logged in, the cart kept
    token = response.cookies[COOKIE].value
    assert is_well_formed(token)
    assert response.cookies[COOKIE]["httponly"] is True
    assert int(response.cookies[COOKIE]["max-age"]) == byo_settings.ABSOLUTE_LIFETIME_SECS
    assert not rows().filter(session_key=old_key).exists()
    session = Session.objects.get()
    assert session.user_id == user.pk and session.token_hash == hash_token(token)
    assert session.ip_address == "127.0.0.1"
    (event,) = migrated_events()
    assert (event.session_id, event.user_ref, event.actor) == (session.id, str(user.pk), "migration")
    assert event.details == {"from": "django.contrib.sessions"}
    assert AuditEvent.objects.filter(event_type=AuditEvent.Type.SESSION_CREATED, actor="migration").count() == 1

    with django_assert_num_queries(1):  # our cookie from now on: the usual single SELECT
        second = client.get("/cart/")
    assert second.json() == {"user": "alice", "cart": [1, 2]}
    assert COOKIE not in second.cookies
    assert migrated_events().count() == 1


def test_the_upgraded_session_is_a_full_byo_session(client, user, settings):
    """Data written after the switch lands in our row; logout ends our session."""
    settings.BYO_SESSIONS = MIGRATE
    login_before_the_switch(client, user)
    client.get("/cart/")
    session = client.session
    session["cart"] = [1, 2, 3]
    session.save()
    assert client.get("/cart/").json() == {"user": "alice", "cart": [1, 2, 3]}
    client.post("/logout/")
    assert Session.objects.get().end_reason == "logout"
    assert client.get("/cart/").json() == {"user": None, "cart": None}


def test_tags_and_metadata_come_from_the_adapter(client, user, settings):
    settings.BYO_SESSIONS = {**MIGRATE, "ADAPTER": f"{__name__}.MigrationAdapter"}
    login_before_the_switch(client, user)
    client.get("/cart/")
    session = Session.objects.get()
    assert session.tags == ["via:django"] and session.metadata == {"path": "/cart/"}


def test_an_explicit_expiry_is_kept(client, user, settings):
    settings.BYO_SESSIONS = MIGRATE
    with override_settings(SESSION_ENGINE=DJANGO_ENGINE):
        client.force_login(user, backend=MODEL_BACKEND)
        session = client.session
        session.set_expiry(3600)
        session.save()
    response = client.get("/cart/")
    assert response.json()["user"] == "alice"
    assert int(response.cookies[COOKIE]["max-age"]) == 3600
    left = Session.objects.get().expires_at - timezone.now()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


def test_a_visitors_django_session_keeps_its_data(settings):
    settings.BYO_SESSIONS = MIGRATE
    old_key = django_row({"cart": [7]})
    client = with_cookie(old_key)
    response = client.get("/cart/")
    assert response.json() == {"user": None, "cart": [7]}
    token = response.cookies[COOKIE].value
    session = Session.objects.get()
    assert session.user_id is None and session.token_hash == hash_token(token)
    assert not rows().filter(session_key=old_key).exists()
    assert not migrated_events().exists()  # visitors' data sessions are never audited
    assert client.get("/cart/").json() == {"user": None, "cart": [7]}


def test_a_secret_key_rotated_through_fallbacks_still_upgrades(client, user, settings):
    """As django.contrib.auth.get_user(): a session hash made with a fallback key counts,
    and the migrated session carries the hash of the current key."""
    settings.BYO_SESSIONS = MIGRATE
    login_before_the_switch(client, user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdef-0123456789abcdef"
    assert client.get("/cart/").json() == {"user": "alice", "cart": [1, 2]}
    assert not rows().exists()  # get_user()'s re-keyed row went too
    assert client.get("/cart/").json()["user"] == "alice"
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: our session's hash is the current one
    assert client.get("/cart/").json()["user"] == "alice"


# --- what is not upgraded --------------------------------------------------------------------


def test_setting_off_the_old_cookie_is_an_unknown_token(client, user, settings):
    settings.BYO_SESSIONS = {}
    old_key = login_before_the_switch(client, user)
    response = client.get("/cart/")
    assert response.json() == {"user": None, "cart": None}
    assert response.cookies[COOKIE].value == ""  # cleared, as any dead token's cookie
    assert rows().filter(session_key=old_key).exists()
    assert not Session.objects.exists()


def test_setting_off_costs_no_query(client, user, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = {}
    login_before_the_switch(client, user)
    with django_assert_num_queries(0):
        assert client.get("/cart/").json()["user"] is None


def test_setting_on_costs_nothing_without_a_cookie(settings, db, django_assert_num_queries):
    settings.BYO_SESSIONS = MIGRATE
    with django_assert_num_queries(0):
        assert Client().get("/cart/").json() == {"user": None, "cart": None}


def test_password_changed_since_is_not_upgraded(client, user, settings):
    settings.BYO_SESSIONS = MIGRATE
    old_key = login_before_the_switch(client, user)
    user.set_password("a-new-password-456")
    user.save()
    response = client.get("/cart/")
    assert response.json() == {"user": None, "cart": None}
    assert response.cookies[COOKIE].value == ""
    assert not rows().filter(session_key=old_key).exists()  # flushed, as get_user() does
    assert not Session.objects.exists() and not migrated_events().exists()


def test_inactive_user_is_not_upgraded(client, user, settings):
    settings.BYO_SESSIONS = MIGRATE
    old_key = login_before_the_switch(client, user)
    user.is_active = False
    user.save()
    assert client.get("/cart/").json() == {"user": None, "cart": None}
    assert not rows().filter(session_key=old_key).exists()
    assert not Session.objects.exists() and not migrated_events().exists()


def test_expired_django_session_is_an_unknown_token(user, settings):
    settings.BYO_SESSIONS = MIGRATE
    client = with_cookie(django_row({**logged_in_data(user), "cart": [1]}, expired=True))
    response = client.get("/cart/")
    assert response.json() == {"user": None, "cart": None}
    assert response.cookies[COOKIE].value == ""
    assert not Session.objects.exists()


def test_a_policy_refusal_is_a_logout(client, user, settings):
    settings.BYO_SESSIONS = {**MIGRATE, "DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.0/8"]}}
    old_key = login_before_the_switch(client, user)
    assert client.get("/cart/").json() == {"user": None, "cart": None}
    assert not Session.objects.exists() and not migrated_events().exists()
    assert not rows().filter(session_key=old_key).exists()


def test_a_django_key_sent_as_bearer_is_not_upgraded(user, settings):
    settings.BYO_SESSIONS = MIGRATE
    key = django_row(logged_in_data(user))
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/cart/")
    assert response.json() == {"user": None, "cart": None}
    assert rows().filter(session_key=key).exists() and not Session.objects.exists()


# --- requests that race the upgrade ------------------------------------------------------------


def test_a_request_that_raced_the_upgrade_gets_the_same_session(client, user, settings, clock):
    """Tabs restored together send the old cookie at once: the ones that find the row gone
    get the same new token (not an anonymous answer that would clear the new cookie)."""
    settings.BYO_SESSIONS = MIGRATE
    old_key = login_before_the_switch(client, user)
    token = client.get("/cart/").cookies[COOKIE].value

    clock.advance(byo_settings.ROTATION_GRACE_SECS)
    late = with_cookie(old_key).get("/cart/")
    assert late.json() == {"user": "alice", "cart": [1, 2]}
    assert late.cookies[COOKIE].value == token
    assert Session.objects.count() == 1 and migrated_events().count() == 1

    clock.advance(1)  # after the grace window the old key is worth nothing
    too_late = with_cookie(old_key).get("/cart/")
    assert too_late.json() == {"user": None, "cart": None}
    assert too_late.cookies[COOKIE].value == ""
    assert client.get("/cart/").json()["user"] == "alice"  # the browser's session is untouched


def test_two_requests_that_both_read_the_row_make_one_session(user):
    """Both loaded the old row before either deleted it: the unique token hash lets one
    create the session; the other gets the same token and writes nothing."""
    key = django_row(logged_in_data(user))
    first = engine.migrate_django_session(django_session_key=key, user_id=user.pk, session_data="")
    second = engine.migrate_django_session(django_session_key=key, user_id=user.pk, session_data="")
    assert is_ok(first) and is_ok(second) and first.data == second.data
    assert Session.objects.count() == 1 and migrated_events().count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEvent.Type.SESSION_CREATED).count() == 1


# --- manage.py byo_django_sessions ---------------------------------------------------------------


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("byo_django_sessions", *args, stdout=out)
    return out.getvalue()


def test_command_counts_what_is_left(client, user, other_user, settings):
    settings.BYO_SESSIONS = MIGRATE
    login_before_the_switch(client, user)
    django_row(logged_in_data(other_user))
    django_row({"cart": [3]})
    django_row(logged_in_data(other_user), expired=True)
    assert run_command() == (
        "django.contrib.sessions: 3 live session(s), 2 of them of logged-in users, 1 of visitors; 1 expired.\n"
    )

    client.get("/cart/")  # alice's browser comes back
    assert run_command().startswith("django.contrib.sessions: 2 live session(s), 1 of them of logged-in users,")

    assert run_command("--clear-expired") == (
        "Deleted 1 expired django.contrib.sessions row(s).\n"
        "django.contrib.sessions: 2 live session(s), 1 of them of logged-in users, 1 of visitors; 0 expired.\n"
    )

    settings.BYO_SESSIONS = {}
    assert run_command().endswith("BYO_SESSIONS['MIGRATE_DJANGO_SESSIONS'] is off: these are not being migrated.\n")


def test_command_needs_contrib_sessions(settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django.contrib.sessions"]
    with pytest.raises(CommandError, match="not in INSTALLED_APPS"):
        run_command()


# --- the system check ----------------------------------------------------------------------------


def test_e029_when_the_setting_is_on_without_contrib_sessions(settings):
    settings.BYO_SESSIONS = MIGRATE
    assert check_settings() == []  # the migration period's setup: nothing to say
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django.contrib.sessions"]
    (error,) = [m for m in check_settings() if m.id == "byo_sessions.E029"]
    assert "django.contrib.sessions" in error.msg and "docs/migrating.md" in error.hint
    settings.BYO_SESSIONS = {}
    assert "byo_sessions.E029" not in {m.id for m in check_settings()}


def test_the_migration_periods_setup_passes_every_check(settings):
    """contrib.sessions installed, our engine and middlewares, the setting on: no message
    of ours, and none of the admin's or auth's about the middlewares."""
    settings.BYO_SESSIONS = MIGRATE
    complaints = [
        m for m in run_checks() if m.id.startswith("byo_sessions.") or m.id in {"admin.E408", "admin.E410", "auth.E013"}
    ]
    assert complaints == []
